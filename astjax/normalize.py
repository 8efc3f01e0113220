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
"""
import inspect
import math
import os
import sysconfig
import types

import numpy as np

from . import primitives
from ._syntax import assign, call, const, dotted, gast, name
from .core import BINOPS, CMPOPS, CoreFunction, Namer as _Namer, Program, bind, is_atom, prim_key
from .core import dotted_path, operands  # noqa: F401  (re-exported for codegen)
from .errors import NoRuleError, SourceError, UnsupportedError
from .frontend import parse_function


# array methods and attributes -> the NumPy function they mean (receiver first)
METHODS = {m: f"np.{m}" for m in ("sum", "mean", "prod", "max", "min", "var", "std", "cumsum",
                                  "argmax", "argmin", "any", "all", "ravel", "squeeze", "dot",
                                  "clip", "round", "swapaxes", "copy", "astype", "flatten",
                                  "reshape", "transpose")}
METHODS["flatten"] = "np.ravel"
ATTRIBUTES = {"T": "np.transpose", "shape": "np.shape", "ndim": "np.ndim", "size": "np.size",
              "dtype": "np.result_type"}
# builtins that mean a NumPy function
BUILTIN_AS = {"abs": "np.abs", "sum": "np.sum"}






def normalize(fn, verb="transform"):
    """The core program of ``fn`` and every user helper it calls (recursively)."""
    fn = getattr(fn, "__astjax_entry__", None) or getattr(fn, "__astjax_function__", None) or fn
    functions = {}
    by_id = {}
    pending = [fn]
    names = {}

    def name_of(helper):
        if id(helper) not in names:
            base = getattr(helper, "__name__", "f").replace("<lambda>", "lambda_")
            candidate, k = base, 1
            while candidate in names.values():
                k += 1
                candidate = f"{base}_{k}"
            names[id(helper)] = candidate
            pending.append(helper)
        return names[id(helper)]

    entry = name_of(fn)
    pending.pop()
    while pending:
        current = pending.pop(0)
        if id(current) in by_id:
            continue
        by_id[id(current)] = True
        core = _Normalizer(current, names[id(current)], name_of, verb).run()
        functions[core.name] = core
    functions = {entry: functions[entry], **functions}
    return Program(entry=entry, functions=functions)
















class _Normalizer:
    def __init__(self, fn, gen_name, name_of, verb):
        self.parsed = parse_function(fn)
        self.fn = fn
        self.gen_name = gen_name
        self.name_of = name_of       # helper function -> its generated name (queues it)
        self.verb = verb
        node = self.parsed.node
        taken = {n.id for n in gast.walk(node) if isinstance(n, gast.Name)} | set(self.parsed.env)
        taken |= {"np", "math", "_ax"}
        self.fresh = _Namer(taken)
        self.env = {}
        self.helpers = {}
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
        out = self._freeze_tests(out)
        fdef = gast.FunctionDef(name=self.gen_name, args=args, body=out, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.origin = getattr(node, "origin", None)
        return CoreFunction(name=self.gen_name, node=fdef, fn=self.fn,
                            filename=self.parsed.filename, env=self.env, helpers=self.helpers)

    def _freeze_tests(self, stmts):
        """An ``if`` whose test variable is reassigned inside the ``if`` (a flag guard, a
        short-circuit ``and``) tests a copy instead, so the test names one value throughout:
        transforms replay the same branch later (reverse) or turn it into a mask (vmap)."""
        out = []
        for s in stmts:
            if isinstance(s, gast.If):
                s.body = self._freeze_tests(s.body)
                s.orelse = self._freeze_tests(s.orelse)
                tested = {n.id for n in gast.walk(s.test) if isinstance(n, gast.Name)}
                inner = {n.id for b in (s.body, s.orelse) for x in b for n in gast.walk(x)
                         if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
                if tested & inner:
                    cond = self.fresh("cond")
                    copy_ = assign(cond, s.test)
                    copy_.origin = getattr(s, "origin", None)
                    out.append(copy_)
                    s.test = name(cond)
            elif isinstance(s, (gast.For, gast.While)):
                s.body = self._freeze_tests(s.body)
            out.append(s)
        return out

    def _has_early_return(self, body):
        rets = [n for s in body for n in gast.walk(s) if isinstance(n, gast.Return)]
        return not (len(rets) == 0 or (len(rets) == 1 and body and body[-1] is rets[0]))

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
            if v is value:
                return name(existing)
        key = self.fresh.exact(wanted)
        self.env[key] = value
        return name(key)

    # -- statements ---------------------------------------------------------------------------
    def block(self, stmts):
        out = []
        for i, s in enumerate(stmts):
            self.origin = getattr(s, "origin", self.origin)
            if isinstance(s, gast.Return):
                if self.ret_flag is None:
                    value = self.atom(s.value, out) if s.value is not None else const(None)
                    out.append(self.stmt(gast.Return(value=value)))
                else:
                    value = self.expr(s.value, out) if s.value is not None else const(None)
                    out.append(self.stmt(assign(self.ret_var, value)))
                    out.append(self.stmt(assign(self.ret_flag, const(True))))
                return out        # the rest of this block is dead code
            if isinstance(s, gast.Break):
                out.append(self.stmt(assign(self._loop_flag("brk", s), const(True))))
                return out
            if isinstance(s, gast.Continue):
                out.append(self.stmt(assign(self._loop_flag("cont", s), const(True))))
                return out
            before = self._flags_now()
            out += self.statement(s)
            flags = self._flags_set_by(s)
            rest = stmts[i + 1:]
            if flags and rest:
                guard = self._guard(flags, out)
                inner = self.block(rest)
                node = gast.If(test=guard, body=inner or [gast.Pass()], orelse=[])
                node.origin = getattr(rest[0], "origin", self.origin)
                out.append(node)
                return out
            del before
        return out

    def _flags_now(self):
        return None

    def _flags_set_by(self, s):
        """Flags a statement may set that must stop the statements after it."""
        flags = []
        if not isinstance(s, (gast.If, gast.For, gast.While)):
            return flags
        inner = list(gast.walk(s))
        if any(isinstance(n, gast.Return) for n in inner) and self.ret_flag:
            flags.append(self.ret_flag)
        if isinstance(s, gast.If) and self.loops:
            loop = self.loops[-1]
            own = [n for n in _walk_same_loop(s)]
            if any(isinstance(n, gast.Break) for n in own):
                flags.append(loop["brk"])
            if any(isinstance(n, gast.Continue) for n in own):
                flags.append(loop["cont"])
        return [f for f in flags if f]

    def _guard(self, flags, out):
        if len(flags) == 1:
            return gast.UnaryOp(op=gast.Not(), operand=name(flags[0]))
        stop = name(flags[0])
        for f in flags[1:]:
            stop = self.emit(out, gast.BinOp(left=stop, op=gast.BitOr(), right=name(f)), "stop")
        return gast.UnaryOp(op=gast.Not(), operand=stop)

    def _loop_flag(self, kind, node):
        if not self.loops:
            self.fail(node, f"'{'break' if kind == 'brk' else 'continue'}' outside a loop")
        return self.loops[-1][kind]

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
            else:
                op = self.expr(value, out)
                if isinstance(op, gast.Call) and prim_key(op, self.helpers) in ("list.pop",
                                                                                 "helper"):
                    self.emit(out, op, _hint_of_op(op))     # kept for its side effect
        elif isinstance(s, gast.If):
            test = self.test_atom(s.test, out)
            body = self.block(s.body) or [gast.Pass()]
            orelse = self.block(s.orelse)
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
            pass                                # assertions are checks, not computation
        else:
            what = {gast.Try: "try", gast.With: "with", gast.Raise: "raise",
                    gast.FunctionDef: "a nested def", gast.ClassDef: "class",
                    gast.Global: "global", gast.Nonlocal: "nonlocal", gast.Delete: "del",
                    gast.Import: "import", gast.ImportFrom: "import"}.get(type(s),
                                                                          type(s).__name__)
            self.fail(s, f"cannot {self.verb} through '{what}'")
        self._check_yield(s)
        return out

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
            if any(isinstance(e, gast.Starred) for e in target.elts):
                self.fail(target, "starred unpacking is not supported")
            source = self.to_name(value, out)
            for i, elt in enumerate(target.elts):
                item = gast.Subscript(value=source, slice=const(i), ctx=gast.Load())
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

    # -- loops --------------------------------------------------------------------------------
    def _enter_loop(self, body):
        loop = {"brk": None, "cont": None}
        own = [n for s in body for n in _walk_same_loop(s)]
        if any(isinstance(n, gast.Break) for n in own):
            loop["brk"] = self.fresh.exact("brk")
        if any(isinstance(n, gast.Continue) for n in own):
            loop["cont"] = self.fresh.exact("cont")
        if self.ret_flag and any(isinstance(n, gast.Return) for s in body for n in gast.walk(s)):
            loop["ret"] = True
        self.loops.append(loop)
        return loop

    def _loop_body(self, loop, prefix, body, suffix):
        origin = self.origin
        out = []
        if loop["cont"]:
            out.append(self.stmt(assign(loop["cont"], const(False))))
        out += prefix
        out += self.block(body)
        self.origin = origin
        for flag in (loop["brk"], self.ret_flag if loop.get("ret") else None):
            if flag:
                out.append(self.stmt(gast.If(test=name(flag), body=[gast.Break()], orelse=[])))
        out += suffix
        self.loops.pop()
        return out or [gast.Pass()]

    def for_loop(self, s):
        out = []
        if s.orelse:
            self.fail(s, "for ... else is not supported")
        it = s.iter
        prefix = []
        loop = self._enter_loop(s.body)
        if isinstance(it, gast.Call) and self.resolve_callee(it.func) == ("prim", "range"):
            if it.keywords:
                self.fail(s, "range() takes no keyword arguments")
            bounds = [self.atom(a, out) for a in it.args]
            index = s.target
            if not isinstance(index, gast.Name):
                self.fail(s, "the target of a for over range must be a name")
            loop_var = index.id
        else:
            # for target in seq / enumerate(seq) / zip(a, b): index the sequences
            kind = self.resolve_callee(it.func) if isinstance(it, gast.Call) else None
            loop_var = self.fresh("i")
            if kind == ("prim", "enumerate"):
                seqs = [self.to_name(self.atom(it.args[0], out), out, "seq")]
                lengths = [self.emit(out, call("len", seqs), "n")]
                target = s.target
                if not (isinstance(target, gast.Tuple) and len(target.elts) == 2):
                    self.fail(s, "for over enumerate() needs two targets")
                prefix.append(self.stmt(assign(target.elts[0].id, name(loop_var))))
                targets = [target.elts[1]]
            elif kind == ("prim", "zip"):
                seqs = [self.to_name(self.atom(a, out), out, "seq") for a in it.args]
                lengths = [self.emit(out, call("len", [q]), "n") for q in seqs]
                if not (isinstance(s.target, gast.Tuple) and len(s.target.elts) == len(seqs)):
                    self.fail(s, "for over zip() needs one target per sequence")
                targets = s.target.elts
            elif kind in (("method", "items"), ("method", "keys"), ("method", "values")):
                # for k, v in d.items(): index the list of d's keys
                d = self.to_name(self.atom(it.func.value, out), out, "d")
                keys = self.emit(out, call("_ax.dict_keys", [d]), "keys")
                seqs, targets = [], []
                lengths = [self.emit(out, call("len", [keys]), "n")]
                key = self.fresh("key")
                prefix.append(self.stmt(assign(key, gast.Subscript(
                    value=keys, slice=name(loop_var), ctx=gast.Load()))))
                value = gast.Subscript(value=d, slice=name(key), ctx=gast.Load())
                if kind[1] == "items":
                    if not (isinstance(s.target, gast.Tuple) and len(s.target.elts) == 2):
                        self.fail(s, "for over .items() needs two targets")
                    self.assign_to(s.target.elts[0], name(key), prefix)
                    self.assign_to(s.target.elts[1], value, prefix)
                else:
                    self.assign_to(s.target, name(key) if kind[1] == "keys" else value, prefix)
            else:
                seqs = [self.to_name(self.atom(it, out), out, "seq")]
                lengths = [self.emit(out, call("len", seqs), "n")]
                targets = [s.target]
            n = lengths[0]
            for other in lengths[1:]:
                n = self.emit(out, call("min", [n, other]), "n")
            bounds = [n]
            for seq, target in zip(seqs, targets):
                item = gast.Subscript(value=seq, slice=name(loop_var), ctx=gast.Load())
                self.assign_to(target, item, prefix)
        body = self._loop_body(loop, prefix, s.body, [])
        init = [self.stmt(assign(loop["brk"], const(False)))] if loop["brk"] else []
        rng = call("range", bounds)
        out += init
        out.append(self.stmt(gast.For(target=name(loop_var, gast.Store()), iter=rng,
                                      body=body, orelse=[], type_comment=None)))
        return out

    def while_loop(self, s):
        out = []
        if s.orelse:
            self.fail(s, "while ... else is not supported")
        loop = self._enter_loop(s.body)
        cond = self.fresh("cond")
        test_out = []
        test = self.test_atom(s.test, test_out)
        test_out.append(self.stmt(assign(cond, test)))
        recompute = _clone_stmts(test_out)
        body = self._loop_body(loop, [], s.body, recompute)
        if loop["brk"]:
            out.append(self.stmt(assign(loop["brk"], const(False))))
        out += test_out
        out.append(self.stmt(gast.While(test=name(cond), body=body, orelse=[])))
        return out

    # -- expressions --------------------------------------------------------------------------
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
            return gast.BinOp(left=self.atom(e.left, out), op=e.op, right=self.atom(e.right, out))
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
        what = {gast.Lambda: "lambda", gast.Dict: "a dict display", gast.Set: "a set",
                gast.GeneratorExp: "a generator expression", gast.DictComp: "a dict comprehension",
                gast.SetComp: "a set comprehension", gast.NamedExpr: "':='",
                gast.Yield: "yield", gast.YieldFrom: "yield from", gast.Await: "await",
                gast.JoinedStr: "an f-string", gast.Starred: "*"}.get(type(e), type(e).__name__)
        self.fail(e, f"cannot {self.verb} through {what}" if what not in ("yield", "yield from")
                  else f"cannot {self.verb} through '{what}'")

    def name_ref(self, e):
        if e.id in self.locals or e.id not in self.parsed.env:
            return name(e.id)
        value = self.parsed.env[e.id]
        if isinstance(value, (bool, int, float, complex, str, type(None))):
            return const(value)
        if primitives.module_path(value) or callable(value) and not isinstance(value, type):
            self.fail(e, f"'{e.id}' ({type(value).__name__}) can only be called here")
        return self.capture_value(e.id, value)

    def attribute(self, e, out):
        path = self.static_path(e)
        if path is not None:
            obj = primitives.resolve_path(path)
            if isinstance(obj, (type, float, int)) or obj is None and path.endswith("newaxis"):
                return dotted(path)
            if isinstance(obj, np.dtype) or isinstance(obj, type):
                return dotted(path)
            self.fail(e, f"'{path}' can only be called here")
        target = ATTRIBUTES.get(e.attr)
        if target is None:
            value = self.static_value(e)
            if value is not _NOVALUE:
                return self.capture_value(e.attr, value)
            self.fail(e, f"attribute '.{e.attr}' is not supported")
        return call(target, [self.atom(e.value, out)])

    def _captured_chain(self, e):
        """(value of the captured name, [attributes]) for ``name.a.b`` on a non-local name."""
        parts = []
        while isinstance(e, gast.Attribute):
            parts.append(e.attr)
            e = e.value
        if not isinstance(e, gast.Name) or e.id in self.locals or e.id not in self.parsed.env:
            return _NOVALUE, None
        return self.parsed.env[e.id], parts[::-1]

    def static_path(self, e):
        """'np.linalg.solve' when e is an attribute chain on a module astjax knows."""
        value, parts = self._captured_chain(e)
        base = primitives.module_path(value) if parts is not None else None
        if base is None:
            return None
        return ".".join([base] + parts)

    def static_value(self, e):
        """The value of an attribute chain on a captured (non-local) object, if any."""
        value, parts = self._captured_chain(e)
        for p in parts or ():
            value = getattr(value, p, _NOVALUE)
            if value is _NOVALUE:
                return value
        return value

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
        if len(e.generators) != 1:
            self.fail(e, "list comprehensions with several 'for' are not supported")
        gen = e.generators[0]
        result = self.fresh("items")
        out.append(self.stmt(assign(result, gast.List(elts=[], ctx=gast.Load()))))
        append = gast.Expr(value=call(gast.Attribute(value=name(result), attr="append",
                                                     ctx=gast.Load()), [e.elt]))
        body = [append]
        for cond in reversed(gen.ifs):
            body = [gast.If(test=cond, body=body, orelse=[])]
        for node in body:
            _set_origin(node, self.origin)
        loop = gast.For(target=gen.target, iter=gen.iter, body=body, orelse=[], type_comment=None)
        _set_origin(loop, self.origin)
        self.locals |= {n.id for n in gast.walk(gen.target) if isinstance(n, gast.Name)}
        out += self.for_loop(loop)
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

    # -- calls ----------------------------------------------------------------------------------
    def resolve_callee(self, func):
        """('prim', dotted key) | ('helper', function) | ('method', name) | ('value', obj)."""
        if isinstance(func, gast.Attribute):
            path = self.static_path(func)
            if path is not None:
                return ("prim", path)
            value = self.static_value(func)
            if value is not _NOVALUE:
                return self.classify(value, func)
            return ("method", func.attr)
        if isinstance(func, gast.Name):
            if func.id in self.locals:
                self.fail(func, f"calling the local value '{func.id}' is not supported; "
                                f"call functions by their global name")
            if func.id not in self.parsed.env:
                self.fail(func, f"name '{func.id}' is not defined", SourceError)
            return self.classify(self.parsed.env[func.id], func)
        if isinstance(func, gast.Call):
            return self.classify(self.static_call(func), func)
        self.fail(func, "this kind of call is not supported")

    def static_call(self, e):
        """The value of ``astjax.grad(g)`` and the like, computed now: a call of an astjax
        transformation (marked ``__astjax_transform__``) on captured functions and constants.
        Its result, a generated function, is then called as a helper."""
        fn = _NOVALUE
        if isinstance(e.func, (gast.Name, gast.Attribute)):
            fn = self.static_value(e.func) if isinstance(e.func, gast.Attribute) else \
                self.parsed.env.get(e.func.id, _NOVALUE) if e.func.id not in self.locals \
                else _NOVALUE
        if fn is _NOVALUE or not getattr(fn, "__astjax_transform__", False):
            self.fail(e, "only a call of an astjax transformation (astjax.grad(f)(x)) can be "
                         "called directly; call functions by their global name")

        def value(a):
            if isinstance(a, gast.Constant):
                return a.value
            if isinstance(a, gast.Tuple):
                return tuple(value(x) for x in a.elts)
            if isinstance(a, gast.Name) and a.id not in self.locals and a.id in self.parsed.env:
                return self.parsed.env[a.id]
            if isinstance(a, gast.Attribute):
                v = self.static_value(a)
                if v is not _NOVALUE:
                    return v
            self.fail(a, "the arguments of a transformation called inside a transformed "
                         "function must be functions or constants")
        args = [value(a) for a in e.args]
        kws = {k.arg: value(k.value) for k in e.keywords}
        return fn(*args, **kws)

    def classify(self, value, where):
        key = primitives.canonical_name(value)
        if key is not None:
            return ("prim", key)
        transformed = getattr(value, "__astjax_function__", None)
        if transformed is not None:
            return ("helper", transformed)
        if isinstance(value, types.FunctionType) and not _is_library(value):
            return ("helper", value)
        if isinstance(value, np.ufunc) or callable(value):
            module = getattr(value, "__module__", None) or type(value).__module__
            label = f"{module}.{getattr(value, '__name__', type(value).__name__)}"
            self.fail(where, f"{label} has no astjax rule (only NumPy, math and your own "
                             f"Python functions can be transformed)", NoRuleError)
        self.fail(where, f"{value!r} is not callable")

    def call(self, e, out):
        if any(isinstance(a, gast.Starred) for a in e.args) or any(
                k.arg is None for k in e.keywords):
            self.fail(e, "*args and **kwargs in calls are not supported")
        kind, what = self.resolve_callee(e.func)
        if kind == "method":
            return self.method_call(e, what, out)
        args = [self.atom(a, out) for a in e.args]
        kws = {k.arg: self.atom(k.value, out) for k in e.keywords}
        if kind == "helper":
            return self.helper_call(e, what, args, kws)
        key = BUILTIN_AS.get(what, what)
        if what == "sum" and not kws:
            kws = {"axis": const(0)}
        if what in ("max", "min") and len(args) == 2:
            key = "np.maximum" if what == "max" else "np.minimum"
        elif what in ("max", "min") and len(args) == 1:
            key = f"np.{what}"
            kws = {"axis": const(0)}
        node = call(key, args, kws)
        prim = primitives.lookup(key)
        if prim is not None:
            try:
                bind(prim, node)
            except TypeError as exc:
                self.fail(e, str(exc))
        return node

    def method_call(self, e, method, out):
        receiver = self.atom(e.func.value, out)
        if method == "pop" and not e.args and isinstance(receiver, gast.Name):
            return call(gast.Attribute(value=receiver, attr="pop", ctx=gast.Load()))
        target = METHODS.get(method)
        if target is None:
            self.fail(e, f"method '.{method}()' is not supported")
        args = [self.atom(a, out) for a in e.args]
        kws = {k.arg: self.atom(k.value, out) for k in e.keywords}
        if method in ("reshape", "transpose") and len(args) > 1:
            args = [self.tuple_atom(args, out)]
        if method == "transpose" and not args:
            return call(target, [receiver], kws)
        return call(target, [receiver] + args, kws)

    def tuple_atom(self, atoms, out):
        node = gast.Tuple(elts=atoms, ctx=gast.Load())
        return node if is_atom(node) else self.emit(out, node, "shape")

    def helper_call(self, e, fn, args, kws):
        try:
            sig = inspect.signature(fn)
            bound = sig.bind(*args, **kws)
        except (TypeError, ValueError) as exc:
            self.fail(e, f"bad call of {getattr(fn, '__name__', fn)}: {exc}")
        params = list(sig.parameters.values())
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            self.fail(e, f"helper {fn.__name__} takes *args/**kwargs, which is not supported")
        atoms = []
        for p in params:
            if p.name in bound.arguments:
                atoms.append(bound.arguments[p.name])
            elif isinstance(p.default, (int, float, bool, str, type(None))):
                atoms.append(const(p.default))
            else:
                atoms.append(self.capture_value(f"{p.name}_default", p.default))
        gen = self.name_of(fn)
        self.helpers[gen] = gen
        return call(gen, atoms)


_NOVALUE = object()


def _is_library(fn):
    """Functions of the standard library and installed packages are not the user's helpers:
    astjax needs rules for them rather than transforming their (arbitrary) source."""
    module = getattr(fn, "__module__", "") or ""
    if module.split(".")[0] in ("numpy", "math", "builtins", "scipy", "astjax"):
        return True
    filename = os.path.realpath(getattr(getattr(fn, "__code__", None), "co_filename", "") or "")
    return any(filename.startswith(p + os.sep) for p in _library_dirs())


def _library_dirs():
    paths = sysconfig.get_paths()
    return {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")
            if k in paths}


def _walk_same_loop(node):
    """Nodes of ``node`` that belong to the current loop (not to loops nested in it)."""
    yield node
    for child in gast.iter_child_nodes(node):
        if isinstance(child, (gast.For, gast.While, gast.FunctionDef, gast.Lambda)):
            continue
        yield from _walk_same_loop(child)


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


def _clone_stmts(stmts):
    import copy
    out = []
    for s in stmts:
        c = copy.deepcopy(s)
        c.origin = getattr(s, "origin", None)
        out.append(c)
    return out


def _set_origin(node, origin):
    for n in gast.walk(node):
        n.origin = origin


class ExprNormalizer(_Normalizer):
    """Normalizes expressions written by astjax itself (rule templates) into core statements.
    Every name is a local except the modules ``np``, ``math`` and ``_ax``."""

    def __init__(self, fresh, origin=None, verb="transform"):
        from . import runtime
        self.parsed = type("Parsed", (), {"env": {"np": np, "math": math, "_ax": runtime,
                                                  "len": len, "range": range, "min": min,
                                                  "max": max, "abs": abs, "float": float,
                                                  "slice": slice}})()
        self.fn = None
        self.verb = verb
        self.fresh = fresh
        self.env = {}
        self.helpers = {}
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
