"""Reverse mode: a core function ``f`` -> a forward sweep ``f_fwd`` and a reverse sweep ``f_bwd``.

Before (core form, see normalize.py)::

    def f(x):
        exp1 = np.exp(x)
        s = np.sum(exp1)
        return s

After::

    def f_fwd(x, _tape):
        exp1 = np.exp(x)
        s = np.sum(exp1)
        _tape.append((exp1, x))
        return s

    def f_bwd(g, _tape):
        exp1, x = _tape.pop()
        d_s = g
        d_exp1 = _ax.expand_reduced(d_s, exp1, None, False)
        d_x = d_exp1 * exp1
        return (d_x,)

The invariant (Tangent's): when the reverse sweep reaches a statement, every primal variable
holds the value it had right after that statement ran.  The forward sweep pushes onto
``_tape`` the old value of each variable a later statement overwrites (only those the reverse
sweep reads), the trip count of each loop, and finally the values the reverse sweep needs;
the reverse sweep pops them in the opposite order.  ``if``s reverse into ``if``s on the same
test, loops into loops over the recorded trip count (a plain ``for i in range(n)`` simply runs
backwards), helper calls into calls of the helper's own sweeps, item writes restore the
overwritten item.  Adjoints are named ``d_<variable>``; rules come from ``rules.py``.
A helper's sweeps are specialized to which of its parameters are active at its call sites
(``h_fwd_x``/``h_bwd_x`` when only ``x`` is; see _Variants), as in forward.py.
"""
import copy
import itertools

from astjax.rules import registry as primitives
from astjax.frontend.syntax import assign, call, const, gast, name
from astjax.core.form import (as_expr as _as_expr, assigned as _assigned, flat as _flat,
                   index_expr as _index_expr, instantiate as _instantiate, is_append as _is_append,
                   names_read as _names, text_of as _text, walk_exprs as _walk_exprs,
                   walk_stmts as _walk_stmts, where_of as _where, with_origin as _stmt)
from astjax.errors import NoRuleError, UnsupportedError
from astjax.autodiff.forward import mutated_params
from astjax.core.form import Namer as _Namer, bind, check_effect, dotted_path, prim_key
from astjax.core.normalize import ExprNormalizer

TAPE = "_tape"


def reverse_program(program, wrt_entry):
    """Forward and reverse sweeps for a core program.  ``wrt_entry`` lists the entry parameters
    to differentiate.  Returns [(fdef, env)] units for emit.compile_functions: ``<entry>_fwd``/
    ``<entry>_bwd``, the sweeps of each helper for each pattern of active arguments it is
    called with (see _Variants), and the plain core function of each helper (for calls that
    carry no derivative)."""
    variants = _Variants(program)
    variants.request(program.entry, [p in wrt_entry for p in program.main.params], entry=True)
    return variants.build()


def grad_program(program, kind, nums, single, has_aux):
    """``grad``/``value_and_grad`` of a core program: the entry as ONE function holding both
    sweeps (first unit), then the sweeps of the helpers it calls."""
    variants = _Variants(program)
    core = program.main
    wrt = [core.params[i] for i in nums]
    entry = _FunctionReverse(core, wrt, program, variants).build_entry(kind, nums, single,
                                                                       has_aux)
    return [(entry, core.env)] + variants.build()


def sweep_names(fname):
    return f"{fname}_fwd", f"{fname}_bwd"


class _Variants:
    """The sweeps a program needs: one pair per (function, pattern of active parameters),
    generated from a worklist as call sites ask for them.  A helper's sweeps carry adjoint code
    only for the parameters active at its call sites::

        def f(x, y):                       h_fwd(x, y, _tape) / h_bwd(g, _tape)
            a = h(x, y)                      both active: the plain names
            b = h(x, 2.0)                  h_fwd_x(x, y, _tape) / h_bwd_x(g, _tape)
            ...                              only x active: no d_y anywhere

    ``<f>_bwd_x`` still returns one cotangent per parameter (``0.0`` for the inactive ones),
    so call sites index it by position like the full ``<f>_bwd``.  A list parameter the
    helper mutates (the ``_tape`` of generated gradients) counts as active at every active
    call: its adjoint goes in and comes out of the reverse sweep.  Custom rules
    (astjax/autodiff/custom.py) keep their one pair ``<f>_fwd``/``<f>_bwd``."""

    def __init__(self, program):
        self.program = program
        self.mutated = mutated_params(program)
        self.names = {}                  # (function, mask) -> (fwd name, bwd name)
        self.queue = []
        self.taken = set(program.functions)
        for core in program.functions.values():
            self.taken |= {n.id for n in gast.walk(core.node) if isinstance(n, gast.Name)}
            self.taken |= set(core.env)

    def call_mask(self, callee, active):
        """The pattern of a call of ``callee`` whose positional arguments are active as in
        ``active``: those, and the lists the callee mutates."""
        params = self.program.functions[callee].params
        mutated = self.mutated.get(callee, ())
        return [(i < len(active) and active[i]) or i in mutated for i in range(len(params))]

    def request(self, fname, mask, entry=False):
        """(fwd name, bwd name) of ``fname``'s sweeps for ``mask`` (one bool per parameter),
        queued for generation on first request.  The entry's own pattern, and a helper's
        all-active one, get the plain names ``<f>_fwd``/``<f>_bwd``; any other pattern is
        suffixed with its active parameters (``<f>_fwd_x``)."""
        core = self.program.functions[fname]
        if getattr(core.fn, "__astjax_custom__", None) is not None and \
                fname != self.program.entry:
            return sweep_names(fname)            # built once, for all its parameters
        key = (fname, tuple(mask))
        if key not in self.names:
            fwd, bwd = sweep_names(fname)
            active = "_".join(p for p, a in zip(core.params, mask) if a) or "none"
            suffixes = ([""] if entry or all(mask) else []) + [f"_{active}"]
            suffix = next(x for x in itertools.chain(suffixes, (f"_{active}{k}"
                                                                for k in itertools.count(2)))
                          if f"{fwd}{x}" not in self.taken and f"{bwd}{x}" not in self.taken)
            self.names[key] = f"{fwd}{suffix}", f"{bwd}{suffix}"
            self.taken |= set(self.names[key])
            self.queue.append(key)
        return self.names[key]

    def build(self):
        """Generate every requested pair (requests made while generating join the queue),
        then add the custom rules and the plain helpers."""
        units = []
        while self.queue:
            fname, mask = self.queue.pop(0)
            core = self.program.functions[fname]
            wrt = [p for p, a in zip(core.params, mask) if a]
            fwd, bwd = _FunctionReverse(core, wrt, self.program, self).build(
                *self.names[(fname, mask)])
            units += [(fwd, core.env), (bwd, core.env)]
        for fname, core in self.program.functions.items():
            if fname == self.program.entry:
                continue
            custom = getattr(core.fn, "__astjax_custom__", None)
            if custom is not None:
                units += custom.reverse_units(core)     # user rules (astjax/autodiff/custom.py)
            else:
                units.append((core.node, core.env))
        return units


class _FunctionReverse:
    def __init__(self, core, wrt, program, variants):
        self.core = core
        self.variants = variants
        self.wrt = list(wrt)
        self.helpers = core.helpers
        fdef = core.node
        self.fdef = fdef
        names = {n.id for n in gast.walk(fdef) if isinstance(n, gast.Name)}
        self.fresh = _Namer(names | set(core.env) | {"np", "math", "_ax"})
        self.tape = self.fresh.exact(TAPE)     # '_tape2' when differentiating a gradient
        self.g = self.fresh.exact("g")
        self.adj_names = {}
        self.params = core.params
        # parameters this function mutates (lists it appends to or pops from, items it
        # writes): their adjoints come in as well as go out (``d_lst=0.0`` in the reverse sweep)
        self.mutated = variants.mutated
        self.inout = [self.params[i] for i in sorted(self.mutated[core.name])]
        self._count_assignments()
        self._activity()
        self.containers = self._containers()
        self.built_lists = self._built_lists()
        self.dicts = {t.id for st in _walk_stmts(self.fdef.body) if isinstance(st, gast.Assign)
                      for t in st.targets[:1] if isinstance(t, gast.Name) and
                      (isinstance(st.value, gast.Dict) or prim_key(st.value, self.helpers) == "dict")}
        self.trees = self._trees()
        self.owned = self._owned()
        self.defined = set()         # adjoints written at top level so far (reverse order)
        self.touched = set()
        self.needs_init = set()
        self.depth = 0
        self.loop_vars = {}          # For node -> how its variable is recovered
        self.inout = [p for p in self.inout if p in self.active]
        for p in self.inout:
            self.defined.add(self.adj(p))
            self.touched.add(self.adj(p))

    # -- analyses -------------------------------------------------------------------------------
    def _count_assignments(self):
        counts = {p: 1 for p in self.params}
        in_loop = set()

        def visit(stmts, loop):
            for s in stmts:
                for t in _assigned(s):
                    counts[t] = counts.get(t, 0) + 1
                    if loop:
                        in_loop.add(t)
                if isinstance(s, gast.If):
                    visit(s.body, loop)
                    visit(s.orelse, loop)
                elif isinstance(s, (gast.For, gast.While)):
                    visit(s.body, True)
        visit(self.fdef.body, False)
        self.assigned = set(counts)
        # the first top-level assignment of a variable overwrites nothing: no push, no restore
        self.first_site = set()
        seen = set(self.params)
        for s in self.fdef.body:
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                    s.targets[0].id not in seen:
                self.first_site.add(id(s))
            for x in _walk_stmts([s]):
                seen.update(_assigned(x))
        self.reassigned = {t for t, c in counts.items() if c > 1} | in_loop

    def _activity(self):
        active = set(self.wrt)
        changed = True
        while changed:
            changed = False
            for s in _walk_stmts(self.fdef.body):
                new = set()
                if isinstance(s, gast.Assign):
                    target = s.targets[0]
                    reads = _names(s.value)
                    if isinstance(target, gast.Name):
                        if reads & active and self._differentiable(s.value):
                            new.add(target.id)
                            new |= self._mutated_args(s.value)
                    elif isinstance(target, gast.Subscript) and reads & active:
                        new.add(target.value.id)
                elif isinstance(s, gast.Expr) and _is_append(s):
                    if _names(s.value.args[0]) & active:
                        new.add(s.value.func.value.id)
                if not new <= active:
                    active |= new
                    changed = True
        self.active = active

    def _differentiable(self, op):
        key = prim_key(op, self.helpers)
        if key in ("helper", "copy", "getitem", "tuple", "list", "dict", "list.pop"):
            return True
        if key == "const":
            return False
        prim = primitives.lookup(key)
        return prim is None or not prim.nondiff

    def _mutated_args(self, op):
        """Arguments a helper call mutates: active whenever the call is."""
        if prim_key(op, self.helpers) != "helper":
            return set()
        return {op.args[i].id for i in self.mutated.get(dotted_path(op.func), ())
                if i < len(op.args) and isinstance(op.args[i], gast.Name)}

    def _containers(self):
        out = set()
        for s in _walk_stmts(self.fdef.body):
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                    isinstance(s.value, (gast.List, gast.Tuple, gast.Dict)):
                out.add(s.targets[0].id)
            if isinstance(s, gast.Expr) and _is_append(s):
                out.add(s.value.func.value.id)
            # the list adjoints of generated gradients: passed to the _ax.seq_* helpers
            if isinstance(s, gast.Assign) and isinstance(s.value, gast.Call) and s.value.args \
                    and (dotted_path(s.value.func) or "") in _SEQ_HELPERS:
                key = dotted_path(s.value.func)
                args = s.value.args if key == "_ax.seq_acc" else s.value.args[:1]
                out |= {a.id for a in args if isinstance(a, gast.Name)}
            # operands whose rule gives a list-valued cotangent (a Jacobian's parts, the
            # pieces of a concatenation, ...)
            if isinstance(s, gast.Assign) and isinstance(s.value, gast.Call):
                out |= self._seq_cotangent_operands(s.value)
            # in code astjax generated (a gradient differentiated again), items read out of
            # tapes and results of helpers may be lists themselves
            if self.core.filename.startswith("<astjax") and isinstance(s, gast.Assign) and \
                    isinstance(s.targets[0], gast.Name) and _may_hold_list(s.value):
                out.add(s.targets[0].id)
        # and copies of them (``g_lst_1 = d_lst``), both ways
        copies = [(s.targets[0].id, s.value.id) for s in _walk_stmts(self.fdef.body)
                  if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
                  and isinstance(s.value, gast.Name)]
        changed = True
        while changed:
            changed = False
            for a, b in copies:
                if (a in out) != (b in out):
                    out |= {a, b}
                    changed = True
        return out

    def _built_lists(self):
        """Variables that may hold a list or tuple the code builds (a display, list(seq), a
        list appended to) or gets from a helper: a NumPy function reads them as one array, so
        its array cotangent is split into the items' (the helper's reverse sweep, which pops
        its list's items, needs them so)."""
        out = set()
        for s in _walk_stmts(self.fdef.body):
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and (
                    isinstance(s.value, (gast.List, gast.Tuple)) or
                    prim_key(s.value, self.helpers) in ("helper", "_ax.as_list",
                                                        "_ax.as_tuple")):
                out.add(s.targets[0].id)
            if isinstance(s, gast.Expr) and _is_append(s):
                out.add(s.value.func.value.id)
        return out

    def _trees(self):
        """Variables that may hold a tuple, list or dict the code does not build itself (a
        parameter, an item, a helper's result) and whose adjoint may come in pieces of that
        structure (it is indexed, or passed to a helper): accumulated with seq_acc, since
        ``+`` would concatenate two lists of cotangents."""
        sources, pieces = set(self.params), set()
        for s in _walk_stmts(self.fdef.body):
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                key = prim_key(s.value, self.helpers)
                if key in ("getitem", "helper"):
                    sources.add(s.targets[0].id)
                if key == "getitem" and isinstance(s.value.value, gast.Name):
                    pieces.add(s.value.value.id)
                if key == "helper":
                    pieces |= {a.id for a in s.value.args if isinstance(a, gast.Name)}
        return sources & pieces

    def _seq_cotangent_operands(self, op):
        prim = primitives.lookup(prim_key(op, self.helpers))
        if prim is None or not prim.vjp:
            return set()
        try:
            bound = bind(prim, op)
        except TypeError:
            return set()
        out = set()
        for param, template in prim.vjp.items():
            head = template.split("(", 1)[0].strip()
            atom = bound.get(param)
            if head in _SEQ_RESULTS and isinstance(atom, gast.Name):
                out.add(atom.id)
        return out

    def _owned(self):
        """Variables whose adjoint is updated in place (indexed reads and item writes): their
        adjoint must never alias another array, so it always starts as 0.0."""
        out = set()
        for s in _walk_stmts(self.fdef.body):
            if isinstance(s, gast.Assign):
                t = s.targets[0]
                if isinstance(t, gast.Subscript):
                    out.add(t.value.id)
                if isinstance(s.value, gast.Subscript) and isinstance(s.value.value, gast.Name):
                    out.add(s.value.value.id)
        return out | self.containers

    # -- names ------------------------------------------------------------------------------------
    def adj(self, var):
        if var not in self.adj_names:
            self.adj_names[var] = self.fresh.exact(f"d_{var}")
        return self.adj_names[var]

    def is_active(self, atom):
        return isinstance(atom, gast.Name) and atom.id in self.active

    def push(self, value):
        return _push(value, self.tape)

    def pop(self):
        return _pop(self.tape)

    def restore(self, var, s):
        return _restore(var, s, self.tape)

    # -- build ----------------------------------------------------------------------------------
    def _sweeps(self):
        """Generate both sweeps once: (forward statements, reverse statements)."""
        if getattr(self, "_done", None):
            return self._done
        rev = self.rev_block(self.fdef.body)
        # what the reverse sweep reads of the primal state
        primal = self.assigned | set(self.params)
        reads = set()
        for s in _walk_stmts(rev):
            if getattr(s, "restore_of", None):
                continue
            reads |= {n.id for n in _walk_exprs(s) if isinstance(n, gast.Name)
                      and isinstance(n.ctx, gast.Load)}
        self.needed = reads & primal
        rev = _drop_restores(rev, self.needed)
        fwd = self.fwd_block(self.fdef.body)
        self._done = fwd, rev
        return self._done

    def _adjoint_inits(self):
        inits = [_stmt(assign(a, const(0.0)), self.fdef) for a in sorted(self.needs_init)]
        for p in self.params:
            if p in self.active and self.adj(p) not in self.defined and \
                    self.adj(p) not in self.needs_init:
                inits.append(_stmt(assign(self.adj(p), const(0.0)), self.fdef))
        return inits

    def _none_inits(self, names):
        """``v = None`` for variables read (pushed or snapshotted) before any assignment."""
        return [_stmt(assign(v, const(None)), self.fdef) for v in sorted(names)
                if v not in self.params and not _first_assigned_at_top(self.fdef.body, v)]

    def build(self, fwd_name, bwd_name):
        """``f_fwd(params, _tape)`` and ``f_bwd(g, _tape)`` (under the given names): the sweeps
        as two functions, for helpers (called inside other sweeps) and for ``vjp`` (reverse
        sweep run later)."""
        fname = self.core.name
        fwd, rev = self._sweeps()
        snapshot = sorted(self.needed)
        fwd_body = self._none_inits(self.needed) + fwd
        ret = fwd_body.pop()
        assert isinstance(ret, gast.Return)
        if snapshot:                 # (the reverse sweep pops it only when there is one)
            fwd_body.append(_stmt(self.push(gast.Tuple(elts=[name(v) for v in snapshot],
                                                       ctx=gast.Load())), ret))
        fwd_body.append(ret)
        args = copy.deepcopy(self.fdef.args)
        args.args.append(name(self.tape, gast.Param()))
        args.defaults = []
        fwd_def = _fdef(fwd_name, args, fwd_body, self.fdef)
        fwd_def.doc = f"Forward sweep of {fname}: its result, recording on _tape what {bwd_name} needs."
        head = []
        if snapshot:
            target = gast.Tuple(elts=[name(v, gast.Store()) for v in snapshot], ctx=gast.Store())
            head.append(_stmt(gast.Assign(targets=[target], value=self.pop(),
                                          type_comment=None),
                              self.fdef))
        grads = [name(self.adj(p)) if p in self.active else const(0.0) for p in self.params]
        back = _stmt(gast.Return(value=gast.Tuple(elts=grads, ctx=gast.Load())), self.fdef)
        inout = [name(self.adj(p), gast.Param()) for p in self.inout]
        bwd_args = gast.arguments(args=[name(self.g, gast.Param()),
                                        name(self.tape, gast.Param())] + inout, posonlyargs=[], vararg=None, kwonlyargs=[],
                                  kw_defaults=[], kwarg=None, defaults=[const(0.0)] * len(inout))
        bwd_def = _fdef(bwd_name, bwd_args, head + self._adjoint_inits() + rev + [back], self.fdef)
        inactive = [p for p in self.params if p not in self.active]
        zeros = f" (0.0 for {', '.join(inactive)}: inactive here)" if inactive else ""
        bwd_def.doc = (f"Reverse sweep of {fname}: cotangents of ({', '.join(self.params)}){zeros} "
                       f"from the cotangent {self.g} of its result.")
        return fwd_def, bwd_def

    def build_entry(self, kind, nums, single, has_aux):
        """``grad_f`` / ``value_and_grad_f``: both sweeps in one function, no snapshot; the
        tape appears only when loops or helpers need one."""
        fname = self.core.name
        fwd, rev = self._sweeps()
        ret = fwd[-1]
        body = [_stmt(gast.Expr(value=call("_ax.check_differentiable",
                                           [name(self.params[i]), const(self.params[i])])),
                      self.fdef) for i in nums]
        pushed = self.needed & self.reassigned
        uses_tape = any(isinstance(n, gast.Name) and n.id == self.tape
                        for s in fwd[:-1] + rev for n in gast.walk(s))
        if uses_tape:
            body.append(_stmt(assign(self.tape, gast.List(elts=[], ctx=gast.Load())),
                              self.fdef))
        body += self._none_inits(pushed) + fwd[:-1]
        if has_aux:
            value = self.fresh.exact("value")
            aux = self.fresh.exact("aux")
            body.append(_stmt(assign(value, gast.Subscript(value=copy.deepcopy(ret.value),
                                                           slice=const(0), ctx=gast.Load())), ret))
            body.append(_stmt(assign(aux, gast.Subscript(value=copy.deepcopy(ret.value),
                                                         slice=const(1), ctx=gast.Load())), ret))
            seed = gast.Tuple(elts=[call("_ax.seed", [name(value)]), const(0.0)], ctx=gast.Load())
        else:
            value = ret.value.id if isinstance(ret.value, gast.Name) else None
            if value is None:                   # a constant result
                value = self.fresh.exact("value")
                body.append(_stmt(assign(value, copy.deepcopy(ret.value)), ret))
            seed = call("_ax.seed", [name(value)])
        body.append(_stmt(assign(self.g, seed), ret))
        body += [_stmt(assign(self.adj(p), const(0.0)), self.fdef) for p in self.inout]
        body += self._adjoint_inits() + rev
        results = [call("_ax.finalize", [name(self.adj(self.params[i])) if self.params[i] in
                                          self.active else const(0.0), name(self.params[i])])
                   for i in nums]
        result = results[0] if single else gast.Tuple(elts=results, ctx=gast.Load())
        if kind == "value_and_grad":
            head = gast.Tuple(elts=[name(value), name(aux)], ctx=gast.Load()) if has_aux \
                else name(value)
            result = gast.Tuple(elts=[head, result], ctx=gast.Load())
        elif has_aux:
            result = gast.Tuple(elts=[result, name(aux)], ctx=gast.Load())
        body.append(_stmt(gast.Return(value=result), self.fdef))
        args = copy.deepcopy(self.fdef.args)
        entry = _fdef(f"{kind}_{fname}", args, body, self.fdef)
        wrt = ", ".join(self.params[i] for i in nums)
        entry.doc = (f"{'Value and gradient' if kind == 'value_and_grad' else 'Gradient'} of "
                     f"{fname} w.r.t. {wrt}: its forward sweep, then its reverse sweep.")
        return entry

    # -- forward sweep ----------------------------------------------------------------------------
    def fwd_block(self, stmts):
        out = []
        for s in stmts:
            out += self.fwd_stmt(s)
        return out

    def fwd_stmt(self, s):
        push = []
        if isinstance(s, gast.Expr):
            check_effect(s, lambda n: n in self.active, "differentiate")
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                if target.id in self.needed and target.id in self.reassigned and \
                        id(s) not in self.first_site:
                    push = [_stmt(self.push(name(target.id)), s)]
                value = s.value
                if prim_key(value, self.helpers) == "helper" and self._call_active(value):
                    value = call(self._sweeps_of(value)[0],
                                 list(value.args) + [name(self.tape)])
                return push + [_stmt(assign(target.id, value), s)]
            if target.value.id in self.needed and target.value.id in self.dicts:
                # the write may create the key: record its old value, or that it had none
                index = _index_expr(target.slice)
                push = [_stmt(self.push(call("_ax.slot_value", [target.value, index])), s)]
            elif target.value.id in self.needed:
                old = gast.Subscript(value=name(target.value.id), slice=target.slice,
                                     ctx=gast.Load())
                push = [_stmt(self.push(call("_ax.copy_value", [old])), s)]
            return push + [s]
        if isinstance(s, gast.Expr) and _is_append(s):
            return [s]
        if isinstance(s, gast.If):
            node = gast.If(test=s.test, body=self.fwd_block(s.body),
                           orelse=self.fwd_block(s.orelse))
            return [_stmt(node, s)]
        if isinstance(s, (gast.For, gast.While)):
            plan = self.loop_vars[id(s)]
            body = self.fwd_block(s.body)
            if plan["counter"] is None:
                return [_stmt(_replace_body(s, body), s)]
            counter = plan["counter"]
            head = [_stmt(assign(counter, gast.BinOp(left=name(counter), op=gast.Add(),
                                                     right=const(1))), s)]
            if plan.get("push_var") and s.target.id in self.needed:
                # the loop variable's value, last thing recorded in each iteration
                exits = 0
                while exits < len(body) and _is_exit(body[len(body) - 1 - exits]):
                    exits += 1
                cut = len(body) - exits
                body = body[:cut] + [_stmt(self.push(name(s.target.id)), s)] + body[cut:]
            loop = _replace_body(s, head + body)
            return [_stmt(assign(counter, const(0)), s), _stmt(loop, s),
                    _stmt(self.push(name(counter)), s)]
        return [s]

    def _call_active(self, op):
        return any(self.is_active(a) for a in op.args)

    def _sweeps_of(self, op):
        """(fwd, bwd) names of the callee's sweeps for this call's active arguments."""
        callee = dotted_path(op.func)
        mask = self.variants.call_mask(callee, [self.is_active(a) for a in op.args])
        return self.variants.request(callee, mask)

    # -- reverse sweep ----------------------------------------------------------------------------
    def rev_block(self, stmts):
        out = []
        for s in reversed(stmts):
            out += self.rev_stmt(s)
        return out

    def rev_stmt(self, s):
        if isinstance(s, gast.Return):
            return self.accumulate(s.value, name(self.g), s) if self.is_active(s.value) else []
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                return self.rev_assign(s, target.id, s.value)
            return self.rev_setitem(s, target)
        if isinstance(s, gast.Expr):
            if _is_append(s):
                return self.rev_append(s)
            return []
        if isinstance(s, gast.If):
            self.depth += 1
            body = self.rev_block(s.body)
            orelse = self.rev_block(s.orelse)
            self.depth -= 1
            if not body and not orelse:
                return []
            return [_stmt(gast.If(test=s.test, body=body or [gast.Pass()], orelse=orelse), s)]
        if isinstance(s, (gast.For, gast.While)):
            return self.rev_loop(s)
        if isinstance(s, (gast.Pass, gast.Break, gast.Assert, gast.Raise)):
            return []           # an assert or raise (like a print) ran in the forward sweep
        raise UnsupportedError(f"cannot differentiate through {type(s).__name__}",
                               where=_where(s))

    def rev_assign(self, s, t, op):
        out = []
        restore = t in self.reassigned and id(s) not in self.first_site
        if t not in self.active:
            out = []
            if prim_key(op, self.helpers) == "list.pop":      # put the item back all the same
                lst = op.func.value.id
                if lst in self.active:
                    out = self.rev_prim(s, "list.pop", op, const(0.0), name(t))
                else:
                    back = gast.Expr(value=call(gast.Attribute(value=name(lst), attr="append",
                                                               ctx=gast.Load()), [name(t)]))
                    back.restore_of = lst
                    out = [_stmt(back, s)]
            return out + ([self.restore(t, s)] if restore else [])
        key = prim_key(op, self.helpers)
        d_t = self.adj(t)
        if key == "const":
            out = [_stmt(assign(d_t, const(0.0)), s)] if t in self.reassigned else []
            if self.depth == 0 and out:
                self.defined.add(d_t)
            return out + ([self.restore(t, s)] if restore else [])
        if t in self.reassigned:
            g = name(self.fresh(f"g_{t}_"))
            out.append(_stmt(assign(g.id, self.read_adj(t)), s))
            out.append(_stmt(assign(d_t, const(0.0)), s))
            if self.depth == 0:
                self.defined.add(d_t)
        else:
            g = self.read_adj(t)
        reads = _names(op)
        ans = name(t)
        if t in reads and key != "helper":  # x = f(x): the operand is the value before,
            if self._uses_ans(key):            # so restore first
                ans = name(self.fresh(f"{t}_out"))
                out.append(_stmt(assign(ans.id, name(t)), s))
            if restore:
                out.append(self.restore(t, s))
        if key == "helper":
            # h = step(h, x): the helper's sweep pushed its tape after the saved h, so its
            # reverse sweep pops first and h is restored after it, before the accumulation
            back = self.rev_helper(s, op, g)
            if restore and t in reads:
                back[1:1] = [self.restore(t, s)]
            out += back
        elif self.depth == 0 and d_t not in self.touched and t not in self.reassigned and \
                t not in self.containers and not key.startswith("list."):
            pass        # nothing after this line reads t: its cotangent is zero, no adjoint code
        else:
            out += self.rev_prim(s, key, op, g, ans)
        if restore and (t not in reads or key == "helper" and not back):
            out.append(self.restore(t, s))
        return out

    def _uses_ans(self, key):
        prim = primitives.lookup(key)
        return prim is not None and any("ans" in t for t in prim.vjp.values()) or key == "list.pop"

    def read_adj(self, var):
        d = self.adj(var)
        if d not in self.defined:
            self.needs_init.add(d)
        return name(d)

    def rev_prim(self, s, key, op, g, ans):
        if key == "copy":
            return self.accumulate(op, g, s)
        if key == "const":
            return []
        if key == "getitem":
            container = op.value
            if not self.is_active(container):
                return []
            index = _index_expr(op.slice)
            d = self.adj(container.id)
            self.touch(d, init=True)
            value = call("_ax.add_to", [name(d), container, index, g])
            return self._normalized_assign(d, value, s)
        if key == "list.pop":
            lst = op.func.value
            d = self.adj(lst.id)
            self.touch(d, init=True)
            size = call("len", [lst])          # the length after the pop: before restoring
            return (self._normalized_assign(d, call("_ax.seq_push", [name(d), g, size]), s)
                    + [_stmt(gast.Expr(value=call(gast.Attribute(value=name(lst.id),
                                                                 attr="append", ctx=gast.Load()),
                                                  [ans])), s)])
        prim = primitives.lookup(key)
        if prim is None:
            raise NoRuleError(f"no differentiation rule for {key}", where=_where(s),
                              construct=_text(s))
        if prim.nondiff:
            return []
        try:
            bound = bind(prim, op)
        except TypeError as exc:
            raise UnsupportedError(str(exc), where=_where(s), construct=_text(s)) from None
        out = []
        for param, template in prim.vjp.items():
            atoms = bound[param]
            items = list(enumerate(atoms)) if isinstance(atoms, list) else [(None, atoms)]
            if isinstance(op, gast.Dict):
                items = [(k.value, a) for k, a in zip(op.keys, atoms)]
            for i, atom in items:
                if not self.is_active(atom):
                    continue
                subst = {p: (_as_expr(v) if not isinstance(v, list) else
                             gast.List(elts=list(v), ctx=gast.Load()))
                         for p, v in bound.items()}
                subst.update(g=g, ans=ans)
                if i is not None:
                    subst["i"] = const(i)
                expr = _instantiate(template, subst)
                if isinstance(atom, gast.Name) and atom.id in self.built_lists and \
                        key.startswith("np.") and \
                        template.split("(", 1)[0].strip() not in _SEQ_RESULTS:
                    # np.sum(lst): the rule gives the cotangent of np.asarray(lst)
                    expr = call("_ax.array_vjp", [expr, atom])
                out += self.accumulate(atom, expr, s)
        if not prim.vjp and any(self.is_active(a) for a in _flat(bound.values())):
            raise NoRuleError(f"{key} has no differentiation rule", where=_where(s),
                              construct=_text(s))
        return out

    def rev_helper(self, s, op, g):
        callee = dotted_path(op.func)
        if not self._call_active(op):
            return []
        bwd = self._sweeps_of(op)[1]
        grads = name(self.fresh(f"d_{callee}_args"))
        inout = sorted(self.mutated.get(callee, ()))
        extra = [self.read_adj(op.args[i].id) if self.is_active(op.args[i]) else const(0.0)
                 for i in inout]
        out = [_stmt(assign(grads.id, call(bwd, [g, name(self.tape)] + extra)), s)]
        for i, atom in enumerate(op.args):
            if self.is_active(atom):
                item = gast.Subscript(value=grads, slice=const(i), ctx=gast.Load())
                if i in inout:          # the callee's result already holds what we passed in
                    d = self.adj(atom.id)
                    self.touched.add(d)
                    if self.depth == 0:
                        self.defined.add(d)
                    out += self._normalized_assign(d, item, s)
                else:
                    out += self.accumulate(atom, item, s)
        return out

    def rev_setitem(self, s, target):
        x = target.value.id
        out = []
        d = self.adj(x)
        value = s.value
        if x in self.active:
            self.touch(d, init=True)
            slot = name(self.fresh(f"g_{x}_item"))
            index = _index_expr(target.slice)
            unpack = gast.Tuple(elts=[name(slot.id, gast.Store()), name(d, gast.Store())],
                                ctx=gast.Store())
            out.append(_stmt(gast.Assign(targets=[unpack], value=call(
                "_ax.take_slot", [name(d), index]), type_comment=None), s))
        if x in self.dicts:      # put the old value back, or take out the key the write made
            restore = gast.Expr(value=call("_ax.restore_slot", [name(x), _index_expr(
                target.slice), self.pop()]))
        else:
            restore = gast.Assign(targets=[copy.deepcopy(target)], value=self.pop(),
                                  type_comment=None)
        restore.restore_of = x
        out.append(_stmt(restore, s))
        if x in self.active and self.is_active(value):
            out += self.accumulate(value, call("_ax.unbroadcast", [slot, value]), s)
        return out

    def rev_append(self, s):
        lst = s.value.func.value.id
        item = s.value.args[0]
        out = []
        pop = gast.Expr(value=call(gast.Attribute(value=name(lst), attr="pop", ctx=gast.Load())))
        pop.restore_of = lst
        if lst in self.active and self.is_active(item):
            d = self.adj(lst)
            self.touch(d, init=True)
            slot = name(self.fresh(f"g_{lst}_item"))
            unpack = gast.Tuple(elts=[name(slot.id, gast.Store()), name(d, gast.Store())],
                                ctx=gast.Store())
            out.append(_stmt(gast.Assign(targets=[unpack], value=call("_ax.seq_pop", [name(d)]),
                                         type_comment=None), s))
            out.append(_stmt(pop, s))
            out += self.accumulate(item, slot, s)
        else:
            if lst in self.active:       # an inactive item still has a slot in the adjoint
                d = self.adj(lst)
                self.touch(d, init=True)
                rest = gast.Subscript(value=call("_ax.seq_pop", [name(d)]), slice=const(1),
                                      ctx=gast.Load())
                out += self._normalized_assign(d, rest, s)
            out.append(_stmt(pop, s))
        return out

    def rev_loop(self, s):
        plan = {"counter": None}
        self.loop_vars[id(s)] = plan
        self.depth += 1
        body = self.rev_block(s.body)
        self.depth -= 1
        if isinstance(s, gast.For) and self._runs_backwards(s):
            out = []
            bounds = s.iter.args
            start, stop = (bounds[0], bounds[1]) if len(bounds) == 2 else (const(0), bounds[0])
            norm = ExprNormalizer(self.fresh, getattr(s, "origin", None))

            def minus_one(b):
                if isinstance(b, gast.Constant) and isinstance(b.value, int):
                    return const(b.value - 1)
                return norm.atom(gast.BinOp(left=b, op=gast.Sub(), right=const(1)), out)
            last, before = minus_one(stop), minus_one(start)
            out = [_stmt(x, s) for x in out]
            rng = call("range", [last, before, const(-1)])
            loop = gast.For(target=copy.deepcopy(s.target), iter=rng, body=body or [gast.Pass()],
                            orelse=[], type_comment=None)
            return out + [_stmt(loop, s)]
        counter = self.fresh("iters")
        plan["counter"] = counter
        head = []
        if isinstance(s, gast.For):
            plan["push_var"] = True
            restore = assign(s.target.id, self.pop())
            restore.restore_of = s.target.id
            head.append(_stmt(restore, s))
        loop = gast.For(target=name(self.fresh("_"), gast.Store()),
                        iter=call("range", [name(counter)]), body=head + body or [gast.Pass()],
                        orelse=[], type_comment=None)
        return [_stmt(assign(counter, self.pop()), s), _stmt(loop, s)]

    def _runs_backwards(self, s):
        bounds = s.iter.args
        if len(bounds) > 2:
            return False
        inner = {t for b in _walk_stmts(s.body) for t in _assigned(b)}
        if s.target.id in inner or any(isinstance(n, gast.Break) for n in _walk_stmts(s.body)):
            return False
        return not any(isinstance(b, gast.Name) and b.id in inner for b in bounds)

    # -- accumulation ---------------------------------------------------------------------------
    def touch(self, d, init=False):
        if d not in self.defined:
            self.needs_init.add(d)
        self.touched.add(d)

    def accumulate(self, atom, contribution, s):
        """``d_atom += contribution`` (normalized; the first top-level write just assigns)."""
        if not self.is_active(atom):
            return []
        var = atom.id
        d = self.adj(var)
        first = (self.depth == 0 and d not in self.touched and var not in self.owned)
        self.touched.add(d)
        if first:
            self.defined.add(d)
            return self._normalized_assign(d, contribution, s)
        if d not in self.defined:
            self.needs_init.add(d)
        if var in self.containers or var in self.trees:
            total = call("_ax.seq_acc", [name(d), contribution])
        else:
            total = gast.BinOp(left=name(d), op=gast.Add(), right=contribution)
        return self._normalized_assign(d, total, s)

    def _normalized_assign(self, target, expr, s):
        out = []
        norm = ExprNormalizer(self.fresh, getattr(s, "origin", None), verb="differentiate")
        op = norm.op(expr, out)
        out.append(assign(target, op))
        return [_stmt(x, s) for x in out]


# ---- small helpers ----------------------------------------------------------------------------

def _may_hold_list(op):
    """Whether a value astjax generated may be a list (anything but arithmetic and NumPy)."""
    if isinstance(op, (gast.BinOp, gast.UnaryOp, gast.Compare, gast.Constant)):
        return False
    if isinstance(op, gast.Call):
        return not (dotted_path(op.func) or "").startswith(("np.", "math."))
    return True


# rule results that may be lists: the cotangent of a list-valued operand
_SEQ_RESULTS = ("_ax.jacobian_vjp", "_ax.split_like", "_ax.unstack", "_ax.seq_pop_vjp",
                "_ax.seq_head", "_ax.seq_put", "_ax.seq_like", "_ax.einsum_vjp_operands",
                "_ax.einsum_jvp_vjp", "_ax.take_slot_vjp", "_ax.finalize_vjp", "_ax.array_vjp",
                "_ax.getitem_vjp", "_ax.seq_pop", "_ax.take_slot", "_ax.none_to_zero",
                "_ax.einsum_jvp_vjp_operands")

# runtime helpers whose first argument is an adjoint that may be a list (of a list or tuple)
_SEQ_HELPERS = ("_ax.seq_pop", "_ax.seq_push", "_ax.seq_acc", "_ax.seq_item", "_ax.seq_add",
                "_ax.add_to", "_ax.take_slot")






















def _first_assigned_at_top(body, var):
    for s in body:
        if var in _assigned(s) and isinstance(s, gast.Assign):
            return True
        if any(var in _assigned(x) for x in _walk_stmts([s])):
            return False
    return False


def _is_exit(s):
    return isinstance(s, gast.If) and len(s.body) == 1 and isinstance(s.body[0], gast.Break)




def _push(value, tape=TAPE):
    return gast.Expr(value=call(gast.Attribute(value=name(tape), attr="append", ctx=gast.Load()),
                                [value]))


def _pop(tape=TAPE):
    return call(gast.Attribute(value=name(tape), attr="pop", ctx=gast.Load()))


def _restore(var, s, tape=TAPE):
    node = assign(var, _pop(tape))
    node.restore_of = var
    return _stmt(node, s)


def _drop_restores(stmts, needed):
    out = []
    for s in stmts:
        var = getattr(s, "restore_of", None)
        if var is not None and var not in needed:
            continue
        if isinstance(s, gast.If):
            s.body = _drop_restores(s.body, needed) or [gast.Pass()]
            s.orelse = _drop_restores(s.orelse, needed)
        elif isinstance(s, (gast.For, gast.While)):
            s.body = _drop_restores(s.body, needed) or [gast.Pass()]
        out.append(s)
    return out


def _replace_body(loop, body):
    new = copy.copy(loop)
    new.body = body or [gast.Pass()]
    return new




def _fdef(fname, args, body, like):
    node = gast.FunctionDef(name=fname, args=args, body=body, decorator_list=[], returns=None,
                            type_comment=None, type_params=[])
    node.origin = getattr(like, "origin", None)
    return node




