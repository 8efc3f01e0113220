"""Normalization: a user function -> a *core* program every transform consumes.

    normalize(fn) -> Program

Before::

    def f(x, n=3):
        y = np.exp(-x) * 2.0
        for v in x:
            y += v
            if y.sum() > 10:
                return y
        return y.T

After (``astjax.source`` shows this stage as ``stage="core"``)::

    def f(x, n=3):
        returned = False
        neg1 = -x
        exp2 = np.exp(neg1)
        y = exp2 * 2.0
        len3 = len(x)
        for i4 in range(len3):
            v = x[i4]
            y = y + v
            sum5 = np.sum(y)
            gt6 = sum5 > 10
            if gt6:
                retval = y
                returned = True
            if returned:
                break
        if not returned:
            retval = np.transpose(y)
        return retval

The core form
-------------
statements
    ``name = op``                    one operation per statement (see below)
    ``name[index] = atom``           item write into an array or list
    ``lst.append(atom)``             list append
    ``if atom: ... else: ...``       the test is a name, or ``not name``
    ``for name in range(a, b, s):``  the only loop over a sequence; ``for v in xs`` indexes xs
    ``while name: ...``              ``name`` is recomputed at the end of the body
    ``if name: break``               only as the last statement of a loop body
    ``return atom``                  exactly once, as the function's last statement
    ``pass``
ops
    an atom; ``a <binop> b``; ``<unaryop> a``; ``a <cmp> b``; ``a[index]``; a tuple or list
    of atoms; ``f(atoms, kw=atoms)`` with ``f`` a dotted primitive (``np.exp``, ``math.sin``,
    ``_ax.unbroadcast``, ``len``) or a user helper (normalized too, all parameters
    positional: defaults and keywords are bound here)
atoms
    a local name, a captured name (a constant from globals or closures, kept in the
    function's ``env``), a literal constant, a tuple of literal constants, or a NumPy/math
    constant (``np.pi``, ``np.float32``, ``np.newaxis``)

``break``/``continue``/early ``return`` become flags that guard the statements after them,
so control leaves a loop only at its end and the function only at its end.  Every statement
keeps the ``origin`` (file, line, text) of the user line it came from.  ``prim_key`` names
the rule-table entry of any op.

This file holds the driver, statements and expressions; the flags and loops are
normalize_flow.py, what a call or attribute means is normalize_calls.py.
"""
import math
import types

import numpy as np

from astjax.rules import registry as primitives
from astjax.frontend.syntax import assign, call, const, gast, name
from astjax.core.form import BINOPS, CMPOPS, CoreFunction, Namer as _Namer, Program, bind, is_atom, prim_key
from astjax.core.form import Env, dotted_path, is_effect_call, operands
from astjax.frontend.captures import Guard, is_module, is_static
from astjax.errors import UnsupportedError
from astjax.frontend.source import parse_function
from astjax.core.calls import CallResolution
from astjax.core.flow import FlowLowering
from astjax.core.aliases import follow_aliases
from astjax.core.nested import lift_nested

# what other modules import from here (codegen/ among them)
__all__ = ["normalize", "ExprNormalizer", "CoreFunction", "Program", "prim_key", "bind",
           "operands", "dotted_path"]


def normalize(fn, verb="transform"):
    """The core program of ``fn`` and every user helper it calls (recursively)."""
    fn = getattr(fn, "__astjax_entry__", None) or getattr(fn, "__astjax_function__", None) or fn
    functions = {}
    by_id = {}
    pending = [fn]
    names = {}

    def identity(helper):
        # a bound method is made anew at each attribute read: its function and object
        if isinstance(helper, types.MethodType):
            return (id(helper.__func__), id(helper.__self__))
        return id(helper)

    def name_of(helper):
        if identity(helper) not in names:
            base = getattr(helper, "__name__", "f").replace("<lambda>", "lambda_")
            candidate, k = base, 1
            while candidate in names.values():
                k += 1
                candidate = f"{base}_{k}"
            names[identity(helper)] = candidate
            pending.append(helper)
        return names[identity(helper)]

    entry = name_of(fn)
    pending.pop()
    while pending:
        current = pending.pop(0)
        if identity(current) in by_id:
            continue
        by_id[identity(current)] = True
        core = _Normalizer(current, names[identity(current)], name_of, verb).run()
        functions[core.name] = core
    functions = {entry: functions[entry], **functions}
    return Program(entry=entry, functions=functions)


def current_version(fn):
    """Generated code derived for values that changed since: the one derived for today's."""
    for _ in range(8):
        captures = getattr(fn, "__astjax_captures__", None)
        if captures is None or captures.rederive_fn is None or not captures.stale():
            break
        fn = captures.rederive_fn()
    return fn


class _Normalizer(FlowLowering, CallResolution):
    def __init__(self, fn, gen_name, name_of, verb):
        fn = current_version(fn)
        self.parsed = parse_function(fn)
        self.fn = fn
        self.gen_name = gen_name
        self.name_of = name_of       # helper function -> its generated name (queues it)
        self.verb = verb
        node = self.parsed.node
        taken = {n.id for n in gast.walk(node) if isinstance(n, gast.Name)} | set(self.parsed.env)
        taken |= {"np", "math", "_ax"}
        self.fresh = _Namer(taken)
        self.env = Env()
        self.helpers = {}
        self.nested = {}             # nested defs and named lambdas, lifted (core/nested.py)
        self.attr_guards = []        # attributes of captured objects specialized on (cfg.n)
        self.read_live = set()       # free names whose value generated code reads each call
        self.locals = {n.id for n in gast.walk(node)
                       if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load)}
        self.origin = None
        self.loops = []              # stack of dicts: {'brk': flag or None, 'cont': flag}
        self.ret_flag = None
        self.ret_var = None

    # -- entry ------------------------------------------------------------------------------
    def run(self):
        node = self.parsed.node
        args = node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            self.fail(node, "*args, **kwargs and keyword-only parameters are not supported")
        for default in args.defaults:
            if not is_atom(default):
                self.fail(node, "defaults must be constants")
        fn_defaults = self.fn.__defaults__ or ()
        args.defaults = [self.capture_value(f"{a.id}_default", v) if not isinstance(v, (
            int, float, bool, str, type(None))) else const(v)
            for a, v in zip(args.args[len(args.args) - len(fn_defaults):], fn_defaults)]
        body = list(node.body)
        if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]          # docstring
        body, self.nested = lift_nested(self.parsed, body, self.locals, self.parsed.nested)
        node.body = body
        self.locals = {n.id for n in gast.walk(node)
                       if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load)}
        needs_flags = self._has_early_return(body)
        out = []
        if needs_flags:
            self.ret_flag = self.fresh.exact("returned")
            self.ret_var = self.fresh.exact("retval")
            self.origin = getattr(node, "origin", None)
            out.append(self.stmt(assign(self.ret_flag, const(False))))
            out.append(self.stmt(assign(self.ret_var, const(None))))
            out += self.block(body)
            ret = gast.Return(value=name(self.ret_var))
            out.append(self.stmt(ret))
        else:
            out += self.block(body)
            if not out or not isinstance(out[-1], gast.Return):
                out.append(self.stmt(gast.Return(value=const(None))))
        # jit runs NumPy's own in-place semantics; code astjax generated (a gradient
        # transformed again) was made alias-safe when the user's function was normalized,
        # and its tape restores every overwritten value before the reverse sweep reads it
        if self.verb != "compile" and not str(self.parsed.filename).startswith("<astjax"):
            out = follow_aliases(out)
        out = self._freeze_tests(out)
        fdef = gast.FunctionDef(name=self.gen_name, args=args, body=out, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.origin = getattr(node, "origin", None)
        return CoreFunction(name=self.gen_name, node=fdef, fn=self.fn,
                            filename=self.parsed.filename, env=self.env, helpers=self.helpers,
                            guards=self._guards())

    def _guards(self):
        """Every global or closure cell this function reads is either read at each call
        (``read_live``) or something the core form specialized on: a helper it follows, a
        folded int/bool/str/None, an object whose attributes it read.  Those are guarded."""
        guards = list(getattr(self.parsed, "inherited", ())) + self.attr_guards
        for name, capture in self.parsed.captures.items():
            if not capture.live or name in self.read_live or name in self.locals:
                continue
            value = self.parsed.env[name]
            if is_module(value):
                continue              # rebinding np itself is not followed
            guards.append(Guard(capture, value, "==" if is_static(value) else "is"))
        return guards

    # -- helpers ------------------------------------------------------------------------------
    def fail(self, node, message, cls=UnsupportedError):
        origin = getattr(node, "origin", None) or self.origin
        where = (origin.filename, origin.lineno) if origin else None
        construct = origin.text if origin else None
        raise cls(message, where=where, construct=construct)

    def stmt(self, node):
        node.origin = self.origin
        return node

    def emit(self, out, op, hint):
        target = self.fresh(hint)
        out.append(self.stmt(assign(target, op)))
        return name(target)

    def capture_value(self, wanted, value):
        for existing, v in self.env.items():
            if v is value and existing not in self.env.live:
                return name(existing)
        key = self.fresh.exact(wanted)
        self.env[key] = value
        return name(key)

    # -- statements (blocks, flags and loops: normalize_flow.py) -------------------------------
    def statement(self, s):
        out = []
        start = self.origin
        if isinstance(s, gast.Assign):
            value = self.expr(s.value, out, hint=_hint_of(s.targets[0]))
            if len(s.targets) > 1:
                value = self.to_name(value, out)
            for target in s.targets:
                self.assign_to(target, value, out)
        elif isinstance(s, gast.AugAssign):
            op = BINOPS.get(type(s.op))
            if op is None:
                self.fail(s, f"operator {type(s.op).__name__} is not supported")
            if isinstance(s.target, gast.Name):
                current = name(s.target.id)
            else:
                current = self.atom(_as_load(s.target), out)
            right = self.atom(s.value, out)
            value = gast.BinOp(left=current, op=s.op, right=right)
            self.assign_to(s.target, value, out)
            # NumPy updates an array in place here; the core form rebinds (what reverse mode
            # needs).  The mark lets a backend that can (jit) keep the in-place update.
            out[-1].augmented = True
        elif isinstance(s, gast.AnnAssign):
            if s.value is not None:
                self.assign_to(s.target, self.expr(s.value, out), out)
        elif isinstance(s, gast.Expr):
            value = s.value
            if isinstance(value, gast.Constant):
                return out                      # a bare string: a comment
            if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) \
                    and value.func.attr == "append" and isinstance(value.func.value, gast.Name):
                item = self.atom(value.args[0], out)
                out.append(self.stmt(gast.Expr(value=call(gast.Attribute(
                    value=name(value.func.value.id), attr="append", ctx=gast.Load()), [item]))))
            elif isinstance(value, gast.Call) and self._writer(value) is not None:
                self.write_call(value, self._writer(value), out)
            else:
                op = self.expr(value, out)
                if isinstance(op, gast.Call) and prim_key(op, self.helpers) in ("list.pop",
                                                                                 "helper"):
                    self.emit(out, op, _hint_of_op(op))     # kept for its side effect
                elif isinstance(op, gast.Call) and is_effect_call(op, self.helpers):
                    # print(...), a logger, any call that is not a known pure primitive: run
                    # for its effect, with the primal values, in every transform's primal sweep
                    node = self.stmt(gast.Expr(value=op))
                    node.effect = True
                    # an effect astjax knows nothing of (not print): a transform that cannot
                    # account for it refuses it when it touches a differentiated or batched
                    # value, rather than give a silently wrong derivative
                    key = prim_key(op, self.helpers)
                    node.unknown_effect = key not in _OBSERVERS and \
                        not key.startswith("np.testing.")      # checks: they only raise
                    out.append(node)
        elif isinstance(s, gast.If):
            test = self.test_atom(s.test, out)
            self.branch_depth = getattr(self, "branch_depth", 0) + 1
            try:
                body = self.block(s.body) or [gast.Pass()]
                orelse = self.block(s.orelse)
            finally:
                self.branch_depth -= 1
            node = gast.If(test=test, body=body, orelse=orelse)
            node.origin = start
            node.elif_ = len(s.orelse) == 1 and isinstance(s.orelse[0], gast.If) and \
                len(orelse) == 1 and isinstance(orelse[0], gast.If)
            out.append(node)
            self.origin = start
        elif isinstance(s, gast.For):
            out += self.for_loop(s)
        elif isinstance(s, gast.While):
            out += self.while_loop(s)
        elif isinstance(s, gast.Pass):
            pass
        elif isinstance(s, gast.Assert):
            # a check the user wrote: kept (with its message) in every transform's primal sweep
            test = self.test_atom(s.test, out)
            msg = self.atom(s.msg, out) if s.msg is not None else None
            node = self.stmt(gast.Assert(test=test, msg=msg))
            node.effect = True
            out.append(node)
        elif isinstance(s, gast.Raise):
            # `raise ValueError(...)` (input checks): raised where the user's program raises
            if s.exc is None or s.cause is not None:
                self.fail(s, f"cannot {self.verb} through a bare 'raise' or 'raise ... from'")
            exc = s.exc
            if isinstance(exc, gast.Call) and isinstance(exc.func, (gast.Name, gast.Attribute)):
                # the exception is built where it is raised: its arguments become atoms, the
                # call itself (no value a derivative flows through) stays in the statement
                exc = gast.Call(func=exc.func, args=[self.atom(a, out) for a in exc.args],
                                keywords=[gast.keyword(arg=k.arg, value=self.atom(k.value, out))
                                          for k in exc.keywords])
            else:
                exc = self.atom(exc, out)
            node = self.stmt(gast.Raise(exc=exc, cause=None))
            node.effect = True
            out.append(node)
        else:
            what = {gast.Try: "try", gast.With: "with", gast.Raise: "raise",
                    gast.FunctionDef: "a nested def", gast.ClassDef: "class",
                    gast.Global: "global", gast.Nonlocal: "nonlocal", gast.Delete: "del",
                    gast.Import: "import", gast.ImportFrom: "import"}.get(type(s),
                                                                          type(s).__name__)
            self.fail(s, f"cannot {self.verb} through '{what}'")
        self._check_yield(s)
        return out

    def _writer(self, e):
        """The rule-table entry of a call that writes into an operand (np.copyto), or None."""
        if not isinstance(e.func, (gast.Attribute, gast.Name)):
            return None
        try:
            kind, key = self.resolve_callee(e.func)
        except Exception:
            return None                # the ordinary path reports it
        prim = primitives.lookup(key) if kind == "prim" else None
        return prim if prim is not None and prim.mutates else None

    def write_call(self, e, prim, out):
        """``np.copyto(out, v)`` -> ``written = _ax.copyto_into(out, v); out[...] = written``:
        the pure form (its rules in the table) and an item write of what it returns.  A
        destination that is a basic slice of a name (``out[1:]``, a view) is written there."""
        params = list(prim.params)
        given = dict(zip(params, e.args))
        given.update({k.arg: k.value for k in e.keywords})
        dest = given.get(prim.mutates)
        if dest is None:
            self.fail(e, f"{prim.key}: missing argument '{prim.mutates}'")
        if isinstance(dest, gast.Name):
            target = gast.Subscript(value=dest, slice=const(Ellipsis), ctx=gast.Store())
        elif isinstance(dest, gast.Subscript) and isinstance(dest.value, gast.Name) and \
                _basic_index(dest.slice):
            target = _clone(dest)
            target.ctx = gast.Store()
        else:
            self.fail(e, f"{prim.key} writes into its argument '{prim.mutates}': astjax "
                         f"follows the write only into a named array or a basic slice of one "
                         f"(out, out[1:], out[:, 0])")
        self._in_writer = True
        try:
            op = self.expr(e, out)
        finally:
            self._in_writer = False
        pure = call(prim.update, list(op.args), {k.arg: k.value for k in op.keywords})
        written = self.emit(out, pure, "written")
        self.assign_to(target, written, out)

    def _check_yield(self, s):
        for n in gast.walk(s):
            if isinstance(n, (gast.Yield, gast.YieldFrom)):
                self.fail(n, f"cannot {self.verb} through 'yield'")
            if isinstance(n, gast.Await):
                self.fail(n, f"cannot {self.verb} through 'await'")

    def assign_to(self, target, value, out):
        if isinstance(target, gast.Name):
            out.append(self.stmt(assign(target.id, value)))
        elif isinstance(target, (gast.Tuple, gast.List)):
            stars = [i for i, e in enumerate(target.elts) if isinstance(e, gast.Starred)]
            if len(stars) > 1:
                self.fail(target, "two starred targets in one assignment")
            source = self.to_name(value, out)
            after = len(target.elts) - stars[0] - 1 if stars else 0
            for i, elt in enumerate(target.elts):
                index = const(i)
                if stars and i > stars[0]:
                    index = const(i - len(target.elts))        # counted from the end
                if stars and i == stars[0]:
                    # first, *rest = seq: rest is a list of the items between
                    stop = const(-after) if after else const(None)
                    part = self.emit(out, gast.Subscript(
                        value=source, slice=gast.Slice(lower=const(i), upper=stop, step=None),
                        ctx=gast.Load()), "part")
                    self.assign_to(elt.value, self.emit(out, call("_ax.as_list", [part]),
                                                        elt.value.id if isinstance(
                                                            elt.value, gast.Name) else "rest"),
                                   out)
                    continue
                item = gast.Subscript(value=source, slice=index, ctx=gast.Load())
                if isinstance(elt, gast.Name):
                    out.append(self.stmt(assign(elt.id, item)))
                else:
                    self.assign_to(elt, self.to_name(item, out), out)
        elif isinstance(target, gast.Subscript):
            base = target.value
            if not isinstance(base, gast.Name):
                base = self.atom(_as_load(base), out)
            index = self.index(target.slice, out)
            value = self.atom_of(value, out)
            out.append(self.stmt(gast.Assign(targets=[gast.Subscript(
                value=name(base.id), slice=index, ctx=gast.Store())], value=value,
                type_comment=None)))
        elif isinstance(target, gast.Attribute):
            self.fail(target, "assigning to attributes is not supported")
        else:
            self.fail(target, f"cannot assign to {type(target).__name__}")

    def to_name(self, value, out, hint="t"):
        if isinstance(value, gast.Name):
            return value
        return self.emit(out, value, hint)

    def atom_of(self, value, out):
        return value if is_atom(value) else self.emit(out, value, "t")

    def test_atom(self, test, out):
        if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
            inner = self.test_atom(test.operand, out)
            if isinstance(inner, gast.Name):
                return gast.UnaryOp(op=gast.Not(), operand=inner)
            return self.emit(out, gast.UnaryOp(op=gast.Not(), operand=inner), "not")
        atom = self.atom(test, out)
        if isinstance(atom, gast.Name):
            return atom
        return self.emit(out, atom, "cond")

    # -- expressions (calls and attributes: normalize_calls.py) -------------------------------
    def atom(self, e, out):
        """Normalize ``e`` to an atom, emitting statements for its operations."""
        value = self.expr(e, out)
        return value if is_atom(value) else self.emit(out, value, _hint_of_op(value))

    def expr(self, e, out, hint=None):
        """Normalize ``e`` to an op over atoms (emitting statements for its sub-operations)."""
        if isinstance(e, gast.Constant):
            return const(e.value)
        if isinstance(e, gast.Name):
            return self.name_ref(e)
        if isinstance(e, gast.Attribute):
            return self.attribute(e, out)
        if isinstance(e, gast.BinOp):
            if type(e.op) not in BINOPS:
                self.fail(e, f"operator {type(e.op).__name__} is not supported")
            left, right = self.atom(e.left, out), self.atom(e.right, out)
            folded = _fold(left, e.op, right)
            return folded if folded is not None else gast.BinOp(left=left, op=e.op, right=right)
        if isinstance(e, gast.UnaryOp):
            return gast.UnaryOp(op=e.op, operand=self.atom(e.operand, out))
        if isinstance(e, gast.Compare):
            return self.compare(e, out)
        if isinstance(e, gast.BoolOp):
            return self.boolop(e, out)
        if isinstance(e, gast.IfExp):
            result = self.fresh("ifexp")
            test = self.test_atom(e.test, out)
            then, other = [], []
            then.append(self.stmt(assign(result, self.expr(e.body, then))))
            other.append(self.stmt(assign(result, self.expr(e.orelse, other))))
            out.append(self.stmt(gast.If(test=test, body=then, orelse=other)))
            return name(result)
        if isinstance(e, gast.Call):
            return self.call(e, out)
        if isinstance(e, gast.Subscript):
            value = self.atom(e.value, out)
            return gast.Subscript(value=value, slice=self.index(e.slice, out), ctx=gast.Load())
        if isinstance(e, (gast.Tuple, gast.List)):
            if any(isinstance(x, gast.Starred) for x in e.elts):
                self.fail(e, "starred expressions are not supported")
            elts = [self.atom(x, out) for x in e.elts]
            cls = type(e)
            return cls(elts=elts, ctx=gast.Load())
        if isinstance(e, gast.ListComp):
            return self.listcomp(e, out)
        if isinstance(e, gast.Dict) and all(
                isinstance(k, gast.Constant) and isinstance(k.value, (str, int)) for k in e.keys):
            return gast.Dict(keys=[const(k.value) for k in e.keys],
                             values=[self.atom(v, out) for v in e.values])
        if isinstance(e, gast.JoinedStr):
            return self.fstring(e, out)
        if isinstance(e, gast.NamedExpr):
            # (n := value): the assignment where Python makes it, then its name
            self.assign_to(e.target, self.expr(e.value, out), out)
            return name(e.target.id)
        what = {gast.Lambda: "lambda", gast.Dict: "a dict display", gast.Set: "a set",
                gast.GeneratorExp: "a generator expression", gast.DictComp: "a dict comprehension",
                gast.SetComp: "a set comprehension", gast.NamedExpr: "':='",
                gast.Yield: "yield", gast.YieldFrom: "yield from", gast.Await: "await",
                gast.JoinedStr: "an f-string", gast.Starred: "*"}.get(type(e), type(e).__name__)
        self.fail(e, f"cannot {self.verb} through {what}" if what not in ("yield", "yield from")
                  else f"cannot {self.verb} through '{what}'")

    def fstring(self, e, out):
        """``f"loss {loss:.3f}"`` -> ``_ax.format('loss {:.3f}', loss)``: a string, through
        which no derivative flows, built from atoms."""
        template, values = [], []
        for part in e.values:
            if isinstance(part, gast.Constant):
                template.append(str(part.value).replace("{", "{{").replace("}", "}}"))
                continue
            spec = part.format_spec
            if spec is not None and not (isinstance(spec, gast.JoinedStr) and all(
                    isinstance(v, gast.Constant) for v in spec.values)):
                self.fail(e, f"cannot {self.verb} through a computed format spec")
            conversion = "" if part.conversion in (-1, None) else "!" + chr(part.conversion)
            spec_text = "".join(str(v.value) for v in spec.values) if spec is not None else ""
            template.append("{" + conversion + (":" + spec_text if spec_text else "") + "}")
            values.append(self.atom(part.value, out))
        return call(gast.Attribute(value=name("_ax"), attr="format", ctx=gast.Load()),
                    [const("".join(template))] + values)

    def name_ref(self, e):
        if e.id in self.locals or e.id not in self.parsed.env:
            return name(e.id)
        value = self.parsed.env[e.id]
        capture = self.parsed.captures.get(e.id)
        if is_static(value) and not isinstance(value, tuple):
            return const(value)          # specialized on: guarded (see _guards)
        if primitives.module_path(value) or callable(value) and not isinstance(value, type):
            self.fail(e, f"'{e.id}' ({type(value).__name__}) can only be called here")
        if capture is not None and capture.live and not is_static(value) \
                and not isinstance(value, type):
            # data (a float, an array): generated code reads it when it runs
            self.read_live.add(e.id)
            for existing, c in self.env.live.items():
                if c is capture:
                    return name(existing)
            # the user's own name (free here, so no local or temporary takes it)
            key = e.id if e.id not in self.env else self.fresh.exact(e.id)
            self.env[key] = value
            self.env.live[key] = capture
            return name(key)
        if isinstance(value, (float, complex)):
            return const(value)
        return self.capture_value(e.id, value)

    def compare(self, e, out):
        if len(e.ops) == 1:
            op = e.ops[0]
            if type(op) not in CMPOPS:
                if isinstance(op, (gast.Is, gast.IsNot)):
                    return gast.Compare(left=self.atom(e.left, out), ops=[op],
                                        comparators=[self.atom(e.comparators[0], out)])
                self.fail(e, f"comparison '{type(op).__name__}' is not supported")
            return gast.Compare(left=self.atom(e.left, out), ops=[op],
                                comparators=[self.atom(e.comparators[0], out)])
        # a < b < c  ->  (a < b) and (b < c), b evaluated once
        left = self.atom(e.left, out)
        parts = []
        for op, right in zip(e.ops, e.comparators):
            right = self.atom(right, out)
            parts.append(gast.Compare(left=left, ops=[op], comparators=[right]))
            left = right
        return self.boolop(gast.BoolOp(op=gast.And(), values=parts), out, normalized=True)

    def boolop(self, e, out, normalized=False):
        """``a and b`` -> ``t = a; if t: t = b`` (Python's short circuit, kept exactly)."""
        result = self.fresh("and" if isinstance(e.op, gast.And) else "or")
        first = e.values[0]
        out.append(self.stmt(assign(result, first if normalized else self.expr(first, out))))
        rest = e.values[1:]
        if not rest:
            return name(result)
        inner = []
        tail = rest[0] if len(rest) == 1 else gast.BoolOp(op=e.op, values=rest)
        if len(rest) == 1:
            value = tail if normalized else self.expr(tail, inner)
        else:
            value = self.boolop(tail, inner, normalized)
        inner.append(self.stmt(assign(result, value)))
        test = name(result) if isinstance(e.op, gast.And) else gast.UnaryOp(
            op=gast.Not(), operand=name(result))
        out.append(self.stmt(gast.If(test=test, body=inner, orelse=[])))
        return name(result)

    def listcomp(self, e, out):
        """``[elt for a in xs if c for b in ys]`` -> the nested loops appending to a list."""
        if any(getattr(g, "is_async", 0) for g in e.generators):
            self.fail(e, f"cannot {self.verb} through an async comprehension")
        result = self.fresh("items")
        out.append(self.stmt(assign(result, gast.List(elts=[], ctx=gast.Load()))))
        body = [gast.Expr(value=call(gast.Attribute(value=name(result), attr="append",
                                                    ctx=gast.Load()), [e.elt]))]
        for gen in reversed(e.generators):
            for cond in reversed(gen.ifs):
                body = [gast.If(test=cond, body=body, orelse=[])]
            body = [gast.For(target=gen.target, iter=gen.iter, body=body, orelse=[],
                             type_comment=None)]
            self.locals |= {n.id for n in gast.walk(gen.target) if isinstance(n, gast.Name)}
        _set_origin(body[0], self.origin)
        out += self.for_loop(body[0])
        return name(result)

    def index(self, index, out):
        if isinstance(index, gast.Tuple):
            return gast.Tuple(elts=[self.index(e, out) for e in index.elts], ctx=gast.Load())
        if isinstance(index, gast.Slice):
            return gast.Slice(**{k: (self.atom(getattr(index, k), out)
                                     if getattr(index, k) is not None else None)
                                 for k in ("lower", "upper", "step")})
        if isinstance(index, gast.Constant) and index.value is Ellipsis:
            return index
        return self.atom(index, out)

# bare calls whose only effect is to show their operands: every transform keeps them as is
_OBSERVERS = {"print"}


def _basic_index(index):
    """An index that makes a view (ints, slices, ..., None, all literal or names of ints is not
    known here: only constants and slices of anything count)."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    for p in parts:
        if isinstance(p, gast.Slice):
            continue
        if isinstance(p, gast.Constant) and (p.value is None or p.value is Ellipsis or
                                             type(p.value) is int):
            continue
        if isinstance(p, gast.UnaryOp) and isinstance(p.operand, gast.Constant) and \
                type(p.operand.value) is int:
            continue
        return False
    return True


def _hint_of(target):
    return target.id if isinstance(target, gast.Name) else "t"


def _hint_of_op(op):
    try:
        key = prim_key(op)
    except (TypeError, KeyError):
        return "t"
    key = key.rsplit(".", 1)[-1].rstrip("_")
    return {"getitem": "item", "truediv": "div", "copy": "t", "const": "c"}.get(key, key)


def _as_load(node):
    node = _clone(node)
    for n in gast.walk(node):
        if hasattr(n, "ctx"):
            n.ctx = gast.Load()
    return node


def _clone(node):
    import copy
    return copy.deepcopy(node)


def _set_origin(node, origin):
    for n in gast.walk(node):
        n.origin = origin


_FOLDABLE = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b,
             gast.Mult: lambda a, b: a * b}


def _fold(left, op, right):
    """``2 - 1`` -> ``1``: arithmetic on two Python number literals, as Python would do it."""
    if not (isinstance(left, gast.Constant) and isinstance(right, gast.Constant)):
        return None
    a, b = left.value, right.value
    numbers = (int, float)
    if type(op) not in _FOLDABLE or not (isinstance(a, numbers) and isinstance(b, numbers)) \
            or isinstance(a, bool) or isinstance(b, bool):
        return None
    return const(_FOLDABLE[type(op)](a, b))


class ExprNormalizer(_Normalizer):
    """Normalizes expressions written by astjax itself (rule templates) into core statements.
    Every name is a local except the modules ``np``, ``math`` and ``_ax``."""

    def __init__(self, fresh, origin=None, verb="transform"):
        from astjax.rules import runtime
        self.parsed = type("Parsed", (), {"env": {"np": np, "math": math, "_ax": runtime,
                                                  "len": len, "range": range, "min": min,
                                                  "max": max, "abs": abs, "float": float,
                                                  "slice": slice}})()
        if primitives.load_scipy():            # SciPy's rules call scipy.special.digamma
            import sys
            self.parsed.env["scipy"] = sys.modules["scipy"]
        self.fn = None
        self.verb = verb
        self.fresh = fresh
        self.env = Env()
        self.helpers = {}
        self.nested = {}
        self.attr_guards = []
        self.locals = _AllLocals(self.parsed.env)
        self.origin = origin
        self.loops = []
        self.ret_flag = None
        self.ret_var = None

    def op(self, expr, out):
        """Core op for ``expr`` (a gast expression); sub-operations are appended to out."""
        return self.expr(expr, out)


class _AllLocals:
    def __init__(self, globals_):
        self.globals = globals_

    def __contains__(self, item):
        return item not in self.globals

    def __ior__(self, other):
        return self
