"""Forward mode: a core function ``f`` -> ``f_jvp(params..., tangents...) -> (out, t_out)``.

Before (core form, see normalize.py)::

    def f(x, n):
        exp1 = np.exp(x)
        s = np.sum(exp1)
        return s

After (tangents only for the active parameters, here ``x``)::

    def f_jvp(x, n, t_x):
        exp1 = np.exp(x)
        t_exp1 = t_x * exp1
        s = np.sum(exp1)
        t_s = np.sum(t_exp1)
        return (s, t_s)

Every statement keeps its place and gains the statement that computes its tangent ``t_<var>``
from the rule table's ``jvp`` template (``rules.py``).  Control flow is the primal's own:
``if``s, loops, item writes (``t_x[i] = t_v``), ``append``/``pop`` on a list's tangent list.
Tangents mirror their primals' structure: a tuple's tangent is the tuple of its items'
tangents, a list's tangent is a list, updated in place exactly when the primal list is.

Activity: only values that depend on a differentiated parameter get tangent code; an
inactive operand's tangent is a symbolic zero, simplified away (``t_x * y + x * t_y`` becomes
``t_x * y`` when ``y`` is a constant).  A helper called with active arguments is called
through its own ``<helper>_jvp`` specialized to which of its parameters are active; a helper
that mutates a list argument (the ``_tape`` of generated reverse code) makes that argument
active too, so forward mode over generated gradients (forward-over-reverse) simply works.

``forward_program(..., many=True)`` makes ``f_jvp_many`` for a list of tangents: the primal
statements run once and each tangent statement maps over the list
(``t_exp1 = [t_neg1_k * exp1 for t_neg1_k in t_neg1]``); jacfwd pushes its whole basis
through it, so a Hessian does not recompute the primal per column.
"""
import copy

from astjax.rules import registry as primitives
from astjax.frontend.syntax import assign, call, const, gast, name, parse_expr
from astjax.errors import NoRuleError, UnsupportedError
from astjax.core.form import Namer as _Namer, bind, check_effect, dotted_path, prim_key
from astjax.core.normalize import ExprNormalizer
from astjax.core.form import as_expr as _as_expr, is_append as _is_append, names_read as _names, with_origin as _stmt, text_of as _text, walk_stmts as _walk_stmts, where_of as _where

STRUCTURAL = ("copy", "getitem", "tuple", "list", "dict", "list.pop", "helper", "const")


def forward_program(program, wrt_entry, many=False):
    """Forward-mode functions for a core program.  ``wrt_entry`` lists the entry parameters
    that get tangents.  Returns (units, entry_name): units are (fdef, env) pairs for
    emit.compile_functions — the ``_jvp`` functions and the plain core function of each helper
    (for calls that carry no tangent).

    ``many=True`` makes ``f_jvp_many(params..., tangent lists...)``: each tangent parameter is
    a list of K tangents, the primal runs once and every tangent statement maps over the list
    (``t_y = [t_x_k * y for t_x_k in t_x]``) -- what jacfwd pushes its basis through."""
    mutated = mutated_params(program)
    names = {}
    queue = []
    taken = set(program.functions)

    def request(fname, mask):
        key = (fname, tuple(mask))
        if key not in names:
            core = program.functions[fname]
            base = f"{fname}_jvp_many" if many else f"{fname}_jvp"
            if fname != program.entry and not all(mask):
                base += "_" + "_".join(p for p, a in zip(core.params, mask) if a) if any(mask) \
                    else "_none"
            candidate, k = base, 1
            while candidate in taken:
                k += 1
                candidate = f"{base}{k}"
            taken.add(candidate)
            names[key] = candidate
            queue.append(key)
        return names[key]

    main = program.main
    entry = request(program.entry, [p in wrt_entry for p in main.params])
    units = []
    while queue:
        fname, mask = queue.pop(0)
        core = program.functions[fname]
        fdef, env = _FunctionForward(core, mask, program, request, mutated, many).build(
            names[(fname, mask)])
        units.append((fdef, env))
    for fname, core in program.functions.items():
        if fname != program.entry:
            units.append((core.node, core.env))
    return units, entry


def mutated_params(program):
    """{function name: set of parameter positions the function mutates}: lists it appends to
    or pops from, containers whose items it writes, directly or through helpers it calls."""
    out = {fname: set() for fname in program.functions}
    changed = True
    while changed:
        changed = False
        for fname, core in program.functions.items():
            params = core.params
            for s in _walk_stmts(core.node.body):
                hit = set()
                if isinstance(s, gast.Assign):
                    t = s.targets[0]
                    if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name):
                        hit.add(t.value.id)
                    if prim_key(s.value, core.helpers) == "list.pop":
                        hit.add(s.value.func.value.id)
                    if prim_key(s.value, core.helpers) == "helper":
                        callee = dotted_path(s.value.func)
                        for i in out.get(callee, ()):
                            if i < len(s.value.args) and isinstance(s.value.args[i], gast.Name):
                                hit.add(s.value.args[i].id)
                elif isinstance(s, gast.Expr) and _is_append(s):
                    hit.add(s.value.func.value.id)
                new = {params.index(v) for v in _aliased(core, hit) if v in params} - out[fname]
                if new:
                    out[fname] |= new
                    changed = True
    return out


def _aliased(core, names):
    """``names`` and the containers they were read from (``v = c[i]``, ``v = c``): changing v
    in place changes c."""
    out = set(names)
    pairs = [(s.targets[0].id, (s.value.value if isinstance(s.value, gast.Subscript)
                                else s.value).id)
             for s in _walk_stmts(core.node.body)
             if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
             and isinstance(s.value.value if isinstance(s.value, gast.Subscript) else s.value,
                            gast.Name)
             and isinstance(s.value, (gast.Subscript, gast.Name))]
    changed = True
    while changed:
        changed = False
        for v, c in pairs:
            if v in out and c not in out:
                out.add(c)
                changed = True
    return out


class _Zero:
    """Marks a symbolic zero tangent while a template is simplified (see _simplify)."""


class _FunctionForward:
    def __init__(self, core, mask, program, request, mutated, many=False):
        self.core = core
        self.many = many
        self.fdef = core.node
        self.helpers = core.helpers
        self.params = core.params
        self.wrt = [p for p, a in zip(self.params, mask) if a]
        self.program = program
        self.request = request
        self.mutated = mutated
        self.env = core.env.copy()
        names = {n.id for n in gast.walk(self.fdef) if isinstance(n, gast.Name)}
        generated = {f"{f}{suffix}" for f in program.functions
                     for suffix in ("", "_jvp", "_jvp_many")}
        self.fresh = _Namer(names | set(core.env) | generated | {"np", "math", "_ax"})
        self.tangent_names = {}
        self.temps = set()              # temporaries of tangent expressions
        for p in self.wrt:
            self.tan(p)
        self.discrete = _discrete(self.fdef, self.params)
        self._activity()
        self.owned = self._owned()

    # -- analyses -------------------------------------------------------------------------------
    def _activity(self):
        """Variables that depend on an active parameter (flow-insensitive fixed point).  A
        container mutated through an alias (``v = c[i]; v.append(a)``) is active with it."""
        mutated = self._mutated_vars()
        active = set(self.wrt)
        changed = True
        while changed:
            changed = False
            for s in _walk_stmts(self.fdef.body):
                new = set()
                if isinstance(s, gast.Assign):
                    target = s.targets[0]
                    if isinstance(target, gast.Name):
                        if self.op_active(s.value, active):
                            new.add(target.id)
                            if prim_key(s.value, self.helpers) == "helper":
                                new |= self._mutated_args(s.value)
                        source = s.value.value if isinstance(s.value, gast.Subscript) else \
                            s.value
                        if target.id in active and target.id in mutated and \
                                isinstance(source, gast.Name):
                            new.add(source.id)
                    elif isinstance(target, gast.Subscript) and _is_active_atom(s.value, active):
                        new.add(target.value.id)
                elif isinstance(s, gast.Expr) and _is_append(s):
                    if _is_active_atom(s.value.args[0], active):
                        new.add(s.value.func.value.id)
                new -= self.discrete
                if not new <= active:
                    active |= new
                    changed = True
        self.active = active

    def _mutated_vars(self):
        """Variables changed in place: appended to, popped from, item-written, or passed where
        a helper mutates its argument."""
        out = set()
        for s in _walk_stmts(self.fdef.body):
            if isinstance(s, gast.Expr) and _is_append(s):
                out.add(s.value.func.value.id)
            elif isinstance(s, gast.Assign):
                t = s.targets[0]
                if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name):
                    out.add(t.value.id)
                key = prim_key(s.value, self.helpers)
                if key == "list.pop":
                    out.add(s.value.func.value.id)
                elif key == "helper":
                    out |= self._mutated_args(s.value)
        return out

    def _mutated_args(self, op):
        callee = dotted_path(op.func)
        return {op.args[i].id for i in self.mutated.get(callee, ())
                if i < len(op.args) and isinstance(op.args[i], gast.Name)}

    def _owned(self):
        """Variables whose items are written: their tangents must not alias another tangent
        unless their primals alias too."""
        owned = {s.targets[0].value.id for s in _walk_stmts(self.fdef.body)
                 if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Subscript)}
        # and every name bound to the same object (``alias = acc; alias[i] = v`` writes acc)
        copies = [(s.targets[0].id, s.value.id) for s in _walk_stmts(self.fdef.body)
                  if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
                  and isinstance(s.value, gast.Name)]
        changed = True
        while changed:
            changed = False
            for a, b in copies:
                if (a in owned) != (b in owned):
                    owned |= {a, b}
                    changed = True
        return owned

    def op_active(self, op, active=None):
        active = self.active if active is None else active
        key = prim_key(op, self.helpers)
        if key == "const":
            return False
        if key == "copy":
            return op.id in active
        if key == "getitem":
            return _is_active_atom(op.value, active)
        if key in ("tuple", "list"):
            items = op.elts if hasattr(op, "elts") else op.args    # [a, b] or list(a)
            return any(_is_active_atom(a, active) for a in items)
        if key == "dict":
            return any(_is_active_atom(a, active) for a in op.values)
        if key == "list.pop":
            return op.func.value.id in active
        if key == "helper":
            return any(_is_active_atom(a, active) for a in op.args)
        prim = primitives.lookup(key)
        if prim is not None and prim.nondiff:
            return False
        if prim is None or prim.jvp is None:
            return any(_is_active_atom(a, active) for a in _operand_atoms(op))
        try:
            bound = bind(prim, op)
        except TypeError:
            return any(_is_active_atom(a, active) for a in _operand_atoms(op))
        for param in _tangent_params(prim):
            atoms = bound.get(param)
            atoms = atoms if isinstance(atoms, list) else [atoms]
            if any(_is_active_atom(a, active) for a in atoms):
                return True
        return False

    # -- names ----------------------------------------------------------------------------------
    def tan(self, var):
        if var not in self.tangent_names:
            self.tangent_names[var] = self.fresh.exact(f"t_{var}")
        return self.tangent_names[var]

    def is_active(self, atom):
        return _is_active_atom(atom, self.active)

    def tangent_or_zero(self, atom):
        """The tangent of an atom as an expression: ``t_v``, or a zero of the right shape."""
        if self.is_active(atom):
            return name(self.tan(atom.id))
        return self.zero_of(atom)

    def zero_of(self, atom):
        if isinstance(atom, gast.Name) and atom.id not in self.discrete:
            return call("_ax.zeros_like", [name(atom.id)])
        return const(0.0)

    # -- build ----------------------------------------------------------------------------------
    def build(self, gen_name):
        body = _drop_dead(self.block(self.fdef.body),
                          (set(self.tangent_names.values()) | self.temps) -
                          {self.tan(p) for p in self.wrt})
        if self.many:
            from astjax.autodiff.forward_many import OverTangents
            body = OverTangents(self).block(body)
        # a parameter made active inside (through an alias) that the caller gave no tangent
        late = [p for p in self.params if p in self.active and p not in self.wrt]
        body = [_stmt(assign(self.tan(p), self._late_zero(p)), self.fdef) for p in late] + body
        args = copy.deepcopy(self.fdef.args)
        args.defaults = []
        args.args += [name(self.tan(p), gast.Param()) for p in self.wrt]
        fdef = gast.FunctionDef(name=gen_name, args=args, body=body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.origin = getattr(self.fdef, "origin", None)
        wrt = ", ".join(self.tan(p) for p in self.wrt) or "no tangents"
        fdef.doc = (f"Forward mode of {self.core.name}: (its result, the result's tangent) "
                    f"from the tangents {wrt}.")
        if self.many:
            fdef.doc = (f"Forward mode of {self.core.name} for lists of tangents {wrt}: the "
                        f"primal runs once, each tangent statement maps over the lists.")
        return fdef, self.env

    def _late_zero(self, p):
        zero = call("_ax.zeros_like", [name(p)])
        if self.many:
            count = f"len({self.tan(self.wrt[0])})" if self.wrt else "0"
            return parse_expr(f"[_ax.zeros_like({p}) for _ in range({count})]")
        return zero

    def block(self, stmts):
        out = []
        for s in stmts:
            out += self.stmt(s)
        return out

    def stmt(self, s):
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                return self.assign(s, target.id, s.value)
            if isinstance(target, gast.Subscript):
                return self.setitem(s, target)
            return [s]
        if isinstance(s, gast.Expr):
            if _is_append(s):
                return self.append(s)
            check_effect(s, lambda n: n in self.active, "differentiate")
            return [s]
        if isinstance(s, gast.If):
            node = gast.If(test=s.test, body=self.block(s.body) or [gast.Pass()],
                           orelse=self.block(s.orelse))
            node.elif_ = getattr(s, "elif_", False)
            return [_stmt(node, s)]
        if isinstance(s, (gast.For, gast.While)):
            new = copy.copy(s)
            new.body = self.block(s.body) or [gast.Pass()]
            if isinstance(s, gast.For) and s.target.id in self.active:   # an integer index
                new.body.insert(0, _stmt(assign(self.tan(s.target.id), const(0.0)), s))
            return [_stmt(new, s)]
        if isinstance(s, gast.Return):
            value = s.value if s.value is not None else const(None)
            pair = gast.Tuple(elts=[value, self.tangent_or_zero(value)], ctx=gast.Load())
            return [_stmt(gast.Return(value=pair), s)]
        return [s]

    # -- assignments ----------------------------------------------------------------------------
    def assign(self, s, t, op):
        key = prim_key(op, self.helpers)
        if t not in self.active:
            return self.side_effects(s, key, op)
        t_t = self.tan(t)
        if not self.op_active(op):
            return [s, _stmt(assign(t_t, self.zero_for(t, op)), s)]
        if key == "helper":
            return self.helper_call(s, t, op)
        reads = _names(op)
        if key in STRUCTURAL:
            value = self.structural_tangent(key, op)
            tangent = [_stmt(assign(t_t, value), s)]
            return tangent + [s] if t in reads else [s] + tangent
        return self.prim_tangent(s, t, key, op, reads)

    def side_effects(self, s, key, op):
        """A statement whose result carries no tangent may still change an active list: a
        pop from it (``n = _tape.pop()``), or a helper call that mutates it."""
        if key == "list.pop" and op.func.value.id in self.active:
            pop = call(gast.Attribute(value=name(self.tan(op.func.value.id)), attr="pop",
                                      ctx=gast.Load()))
            return [s, _stmt(gast.Expr(value=pop), s)]
        if key == "helper" and self._mutated_args(op) & self.active:
            return self.helper_call(s, s.targets[0].id, op, keep_tangent=False)
        return [s]

    def zero_for(self, t, op):
        """The tangent of an active variable assigned a value that carries none."""
        if isinstance(op, gast.Constant) and (op.value is None or isinstance(
                op.value, (int, float, bool))):
            return const(0.0)
        if isinstance(op, (gast.List, gast.Tuple)) and not op.elts:
            return type(op)(elts=[], ctx=gast.Load())
        if isinstance(op, gast.Dict) and not op.keys:
            return gast.Dict(keys=[], values=[])
        if isinstance(op, gast.Name) and not self.is_active(op):
            return call("_ax.zeros_like", [name(op.id)])
        return call("_ax.zeros_like", [name(t)])

    def structural_tangent(self, key, op):
        if key == "copy":
            return name(self.tan(op.id))
        if key == "getitem":
            return gast.Subscript(value=name(self.tan(op.value.id)), slice=copy.deepcopy(op.slice),
                                  ctx=gast.Load())
        if key in ("tuple", "list"):
            return type(op)(elts=[self.tangent_or_zero(a) for a in op.elts], ctx=gast.Load())
        if key == "dict":
            return gast.Dict(keys=copy.deepcopy(op.keys),
                             values=[self.tangent_or_zero(a) for a in op.values])
        if key == "list.pop":
            return call(gast.Attribute(value=name(self.tan(op.func.value.id)), attr="pop",
                                       ctx=gast.Load()))
        raise AssertionError(key)

    def prim_tangent(self, s, t, key, op, reads):
        prim = primitives.lookup(key)
        if prim is None:
            raise NoRuleError(f"no differentiation rule for {key}", where=_where(s),
                              construct=_text(s))
        if prim.jvp is None:
            raise NoRuleError(f"{key} has no forward-mode (jvp) rule", where=_where(s),
                              construct=_text(s))
        try:
            bound = bind(prim, op)
        except TypeError as exc:
            raise UnsupportedError(str(exc), where=_where(s), construct=_text(s)) from None
        uses_ans = "ans" in _template_names(prim.jvp)
        out, ans = [], name(t)
        if t in reads and uses_ans:
            ans = name(self.fresh(f"{t}_new"))
            out.append(_stmt(assign(ans.id, op), s))
        expr = self.instantiate(prim, bound, ans)
        if t in self.owned and _may_alias(expr):
            expr = call("np.copy", [expr])
        if isinstance(expr, gast.Name) and expr.id == self.tan(t):
            return [s]                                  # t_x is unchanged: x = x + 1
        tangent = self._normalized_assign(self.tan(t), expr, s)
        if t in reads and uses_ans:
            return out + tangent + [_stmt(assign(t, ans), s)]
        if t in reads:
            return tangent + [s]
        return [s] + tangent

    def instantiate(self, prim, bound, ans):
        """The prim's jvp template with operands, tangents (or symbolic zeros) and ``ans``."""
        subst = {"ans": ans}
        for param, atoms in bound.items():
            if isinstance(atoms, list):
                subst[param] = gast.List(elts=list(atoms), ctx=gast.Load())
                if any(self.is_active(a) for a in atoms):
                    subst[f"t_{param}"] = _live(gast.List(
                        elts=[self.tangent_or_zero(a) for a in atoms], ctx=gast.Load()))
                else:
                    subst[f"t_{param}"] = _zero(atoms[0] if atoms else const(0.0))
            else:
                subst[param] = _as_expr(atoms)
                if self.is_active(atoms):
                    subst[f"t_{param}"] = _live(name(self.tan(atoms.id)))
                else:
                    subst[f"t_{param}"] = _zero(atoms)
        expr = _instantiate(prim.jvp, subst)
        expr, state, widen = _simplify(expr)
        if state == "zero":
            return call("_ax.zeros_like", [ans])
        if widen:
            expr = call("_ax.broadcast_like", [expr, ans])
        return _drop_default_keywords(expr)

    def _normalized_assign(self, target, expr, s):
        out = []
        norm = ExprNormalizer(self.fresh, getattr(s, "origin", None), verb="differentiate")
        op = norm.op(expr, out)
        out.append(assign(target, op))
        self.temps |= {x.targets[0].id for x in out[:-1]}
        return [_stmt(x, s) for x in out]

    # -- calls ----------------------------------------------------------------------------------
    def helper_call(self, s, t, op, keep_tangent=True):
        callee = dotted_path(op.func)
        core = self.program.functions[callee]
        custom = getattr(core.fn, "__astjax_custom__", None)
        if custom is not None and getattr(custom, "jvp_rule", None) is not None:
            return self.custom_jvp_call(s, t, op, custom)
        if custom is not None:
            raise UnsupportedError(
                f"can't apply forward-mode differentiation (jvp) to the custom_vjp function "
                f"{custom.__name__}, as in JAX: use reverse mode, or custom_jvp",
                where=_where(s), construct=_text(s))
        mask = [self.is_active(a) for a in op.args]
        gen = self.request(callee, mask)
        tangents = [name(self.tan(a.id)) for a in op.args if self.is_active(a)]
        t_t = self.tan(t) if keep_tangent else self.fresh("_")
        target = gast.Tuple(elts=[name(t, gast.Store()), name(t_t, gast.Store())],
                            ctx=gast.Store())
        node = gast.Assign(targets=[target], value=call(gen, list(op.args) + tangents),
                           type_comment=None)
        return [_stmt(node, s)]

    def custom_jvp_call(self, s, t, op, custom):
        """``y = f(x)`` for a custom_jvp ``f``: its user rule gives the value and tangent."""
        rule = custom.jvp_rule
        rule_name = self._capture(f"{rule.__name__}_rule", rule)
        args = custom.jvp_call_args(list(op.args), [self.tangent_or_zero(a) for a in op.args])
        target = gast.Tuple(elts=[name(t, gast.Store()), name(self.tan(t), gast.Store())],
                            ctx=gast.Store())
        node = gast.Assign(targets=[target], value=call(rule_name, args), type_comment=None)
        node.note = f"custom_jvp rule of {custom.__name__}"
        if self.many:
            node.custom_rule = True        # _OverTangents calls the rule once per tangent
        return [_stmt(node, s)]

    def _capture(self, wanted, value):
        for k, v in self.env.items():
            if v is value:
                return k
        key = self.fresh.exact(wanted)
        self.env[key] = value
        return key

    # -- item writes and lists ------------------------------------------------------------------
    def setitem(self, s, target):
        x = target.value.id
        if x not in self.active:
            return [s]
        slot = gast.Subscript(value=name(self.tan(x)), slice=copy.deepcopy(target.slice),
                              ctx=gast.Store())
        node = gast.Assign(targets=[slot], value=self.tangent_or_zero(s.value), type_comment=None)
        return [s, _stmt(node, s)]

    def append(self, s):
        lst = s.value.func.value.id
        if lst not in self.active:
            return [s]
        item = self.tangent_or_zero(s.value.args[0])
        node = gast.Expr(value=call(gast.Attribute(value=name(self.tan(lst)), attr="append",
                                                   ctx=gast.Load()), [item]))
        return [s, _stmt(node, s)]


# ---- templates with symbolic zeros --------------------------------------------------------------

_TEMPLATES = {}


def _parsed(template):
    if template not in _TEMPLATES:
        _TEMPLATES[template] = parse_expr(template)
    return _TEMPLATES[template]


def _template_names(template):
    return {n.id for n in gast.walk(_parsed(template)) if isinstance(n, gast.Name)}


def _tangent_params(prim):
    names = _template_names(prim.jvp)
    return [p for p in prim.params if f"t_{p}" in names]


def _instantiate(template, subst):
    expr = copy.deepcopy(_parsed(template))

    class Sub(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in subst and isinstance(node.ctx, gast.Load):
                new = copy.deepcopy(subst[node.id])
                for attr in ("zero_of", "live"):
                    if hasattr(subst[node.id], attr):
                        setattr(new, attr, getattr(subst[node.id], attr))
                return new
            return node
    return Sub().visit(expr)


def _zero(atom):
    node = name("__zero__")
    node.zero_of = atom
    return node


def _live(node):
    node.live = True
    return node


def _simplify(node):
    """(expression, state, widen): state is 'none' (no tangent in it), 'zero' or 'live'.
    Zero tangents vanish from sums and make products zero; a zero left inside a call becomes
    a concrete zero.  ``widen`` says a sum lost an array-valued zero term, so the result may
    need broadcasting to the full result shape (``t_x + t_y`` with only x active)."""
    if isinstance(node, gast.Name) and hasattr(node, "zero_of"):
        return node, "zero", False
    if getattr(node, "live", False):
        return node, "live", False
    if isinstance(node, gast.BinOp):
        left, ls, lw = _simplify(node.left)
        right, rs, rw = _simplify(node.right)
        widen = lw or rw
        if isinstance(node.op, (gast.Add, gast.Sub)):
            if ls == "zero" and rs == "zero":
                return node, "zero", False
            if rs == "zero":
                return left, ls, widen or _widens(right)
            if ls == "zero":
                if isinstance(node.op, gast.Sub):
                    right = gast.UnaryOp(op=gast.USub(), operand=right)
                return right, rs, widen or _widens(left)
        elif "zero" in (ls, rs):
            return node, "zero", False
        node.left, node.right = left, right
        if ls == rs == "none" and _is_number(left) and _is_number(right):
            return _fold(node), "none", False
        if isinstance(node.op, (gast.Pow, gast.Mult, gast.Div)) and _is_number(right) and \
                right.value == 1:                                 # x ** 1, x * 1, x / 1
            return left, ls, widen
        return node, "live" if "live" in (ls, rs) else "none", widen
    if isinstance(node, gast.UnaryOp):
        operand, state, widen = _simplify(node.operand)
        node.operand = operand
        return node, state, widen
    states, widen = [], False
    for field, value in gast.iter_fields(node):
        if field in ("func", "ctx"):
            continue
        if isinstance(value, list):
            new = []
            for item in value:
                if isinstance(item, gast.AST):
                    item, state, w = _simplify(item)
                    states.append(state)
                    widen = widen or w
                new.append(item)
            setattr(node, field, new)
        elif isinstance(value, gast.AST):
            value, state, w = _simplify(value)
            states.append(state)
            widen = widen or w
            setattr(node, field, value)
    if "live" in states:
        return _concrete_zeros(node), "live", widen
    if "zero" in states:
        return node, "zero", False
    return node, "none", widen


def _widens(zero_term):
    """A dropped bare zero tangent of an array operand may have been the widest term."""
    atom = getattr(zero_term, "zero_of", None)
    return isinstance(atom, gast.Name)


def _concrete_zeros(node):
    class Sub(gast.NodeTransformer):
        def visit_Name(self, n):
            atom = getattr(n, "zero_of", None)
            if atom is None:
                return n
            if isinstance(atom, gast.Name):
                return call("_ax.zeros_like", [name(atom.id)])
            return const(0.0)
    return Sub().visit(node)


def _is_number(node):
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float)) and \
        not isinstance(node.value, bool)


def _fold(node):
    import operator
    ops = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul}
    fn = ops.get(type(node.op))
    if fn is None:
        return node
    return const(fn(node.left.value, node.right.value))


def _drop_default_keywords(expr):
    """``np.sum(t, axis=None, keepdims=False)`` -> ``np.sum(t)``: keywords equal to the called
    primitive's defaults say nothing."""
    for node in gast.walk(expr):
        if isinstance(node, gast.Call) and node.keywords:
            path = dotted_path(node.func)
            prim = primitives.lookup(path) if path else None
            if prim is None:
                continue
            node.keywords = [k for k in node.keywords if not (
                k.arg in prim.defaults and isinstance(k.value, gast.Constant) and
                type(k.value.value) is type(prim.defaults[k.arg]) and
                k.value.value == prim.defaults[k.arg])]
    return expr


def _may_alias(expr):
    """A tangent expression that may return an existing array (not a fresh one)."""
    if isinstance(expr, gast.Name):
        return True
    return isinstance(expr, gast.Call) and dotted_path(expr.func) == "_ax.broadcast_like"


# ---- dead tangent code -----------------------------------------------------------------------------

def _drop_dead(body, removable):
    """Drop assignments to tangents (and their temporaries) that nothing reads."""
    while True:
        reads = {n.id for s in body for n in gast.walk(s)
                 if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
        dead = removable - reads
        new, changed = _without(body, dead)
        body = new
        if not changed:
            return body


def _without(stmts, dead):
    out, changed = [], False
    for s in stmts:
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                s.targets[0].id in dead and not _has_effect(s.value):
            changed = True
            continue
        for field in ("body", "orelse"):
            block = getattr(s, field, None)
            if isinstance(block, list) and block and isinstance(block[0], gast.stmt):
                new, c = _without(block, dead)
                if c:
                    setattr(s, field, new or ([gast.Pass()] if field == "body" else []))
                    changed = True
        out.append(s)
    return out, changed


def _has_effect(value):
    """Calls that change their arguments in place (list pops, the in-place adjoint helpers)."""
    return any(isinstance(n, gast.Call) and (
        isinstance(n.func, gast.Attribute) and n.func.attr in ("pop", "append") or
        dotted_path(n.func) in ("_ax.add_to", "_ax.take_slot", "_ax.add_to_lanes",
                                "_ax.take_slot_lanes")) for n in gast.walk(value))


# ---- discrete values ------------------------------------------------------------------------------

_DISCRETE_OPS = (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)


def _discrete(fdef, params):
    """Variables that only ever hold integers, booleans or None (loop counters, flags, tests),
    so never carry a tangent, even when they travel through a tape: each has at least one
    assignment that shows it (an int/bool constant, a comparison, ``len``, a ``range`` index,
    integer arithmetic) and the others are such assignments, None, or values read back from a
    list (``v = _tape.pop()``, ``v = t[0]``) or copied from another such variable."""
    sites = {}
    for s in _walk_stmts(fdef.body):
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            sites.setdefault(s.targets[0].id, []).append(s.value)
        elif isinstance(s, gast.For):
            sites.setdefault(s.target.id, []).append("index")
    candidates = set(sites) - set(params)
    while True:
        keep = set()
        for var in candidates:
            kinds = [_discrete_kind(op, candidates) for op in sites[var]]
            if "evidence" in kinds and "no" not in kinds:
                keep.add(var)
        if keep == candidates:
            return candidates
        candidates = keep


def _discrete_kind(op, discrete):
    """'evidence', 'neutral' (None, a read back from a list, a copy) or 'no'."""
    if op == "index":
        return "evidence"
    if isinstance(op, gast.Constant):
        if op.value is None:
            return "neutral"
        return "evidence" if isinstance(op.value, (bool, int)) else "no"
    if isinstance(op, gast.Name):
        return "neutral" if op.id in discrete else "no"
    if isinstance(op, gast.Subscript) or prim_key(op) == "list.pop":
        return "neutral"
    if isinstance(op, gast.Compare) or isinstance(op, gast.UnaryOp) and \
            isinstance(op.op, gast.Not):
        return "evidence"
    if isinstance(op, gast.BinOp) and isinstance(op.op, _DISCRETE_OPS):
        ok = all(isinstance(a, gast.Name) and a.id in discrete or isinstance(a, gast.Constant)
                 and isinstance(a.value, int) for a in (op.left, op.right))
        return "evidence" if ok else "no"
    if isinstance(op, gast.BinOp) and isinstance(op.op, (gast.BitAnd, gast.BitOr)):
        return "evidence"
    if isinstance(op, gast.Call) and dotted_path(op.func) in ("len", "int", "bool"):
        return "evidence"
    return "no"


# ---- small helpers ----------------------------------------------------------------------------

def _is_active_atom(atom, active):
    return isinstance(atom, gast.Name) and atom.id in active


def _operand_atoms(op):
    from astjax.core.form import operands
    return operands(op)














