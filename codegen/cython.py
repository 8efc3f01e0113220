"""Lowering: a core program, typed for one signature, becomes one Cython module.

    lowered = lower(program, [Array(float32, 1, "C"), PY_FLOAT, PY_FLOAT])
    lowered.source     # the .pyx
    lowered.notes      # per core statement: "fused", "C", "NumPy" or "Python" (a fallback)

Before (core form)::

    def f(x, n):
        s = 0.0
        for i in range(n):
            item1 = x[i]
            mul2 = item1 * item1
            s = s + mul2
        return s

After, for (float64[::1], int)::

    def f(x, int64_t n):
        cdef double s
        cdef int64_t i
        cdef double item1, mul2
        cdef const double[::1] x_mv
        x_mv = x
        # model.py:2: s = 0.0
        s = 0.0
        for i in range(n):
            item1 = x_mv[i]
            ...
        return np.float64(s)

Statements are lowered one by one: scalar operations become C (`cexpr`), item reads and
writes with integer indices become memoryview accesses (bounds-checked unless
`boundscheck=False`), runs of elementwise operations become one loop (`kernels`), and
everything else stays Python inside the module — NumPy calls, lists, tuples — which Cython
compiles as ordinary Python. Those are the fallbacks `astjax.explain` lists, with the reason.
Helper functions are lowered per signature too: a `cdef` function when all its values are C
scalars, else a `def`.
"""
import keyword
import re
from dataclasses import dataclass, field

import numpy as np

from astjax.frontend.syntax import gast, to_source
from astjax.core.normalize import dotted_path, operands, prim_key
from astjax.core.form import is_effect_stmt

from . import cexpr, kernels, threads
from .cexpr import UNARY_TEXT, NotLowered, c_type, is_c_array, is_c_scalar
from .types import Array, Const, ListOf, Obj, Scalar, Tuple, infer, signature

RESERVED = set(keyword.kwlist) | {
    "auto", "char", "const", "default", "do", "double", "enum", "extern", "float", "goto",
    "int", "long", "register", "restrict", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "inline", "cdef", "cpdef",
    "cimport", "ctypedef", "include", "gil", "nogil", "readonly", "public", "api", "new",
    "bint", "np", "math", "cython", "prange", "_ax", "object", "NULL", "INFINITY", "range",
    "len"} | set(cexpr.C_TYPES.values())


@dataclass
class Note:
    """What became of one core statement."""
    stmt: object
    status: str            # "fused" | "C" | "NumPy" | "Python"
    detail: str = ""
    refusal: Exception = None   # the AstjaxError this statement raises at these types

    @property
    def origin(self):
        return getattr(self.stmt, "origin", None)


@dataclass
class Lowered:
    source: str
    entry: str
    signature: str
    notes: list = field(default_factory=list)
    env: dict = field(default_factory=dict)     # module global -> captured value
    lines: dict = field(default_factory=dict)   # .pyx line number -> Origin of its comment
    checked_ints: bool = False    # Python-int arithmetic that may leave int64 (and rerun)
    writes: bool = False          # writes into some array or list (maybe an argument)
    effects: list = field(default_factory=list)   # Origins of calls kept for their effect
    module_file: str = ""         # the .pyx file name its tracebacks show, once built
    written: tuple = ((), ())     # (parameter indices, captured globals) it may write into

    def origin_at(self, lineno):
        """The user's line that the .pyx line `lineno` was generated from, or None."""
        for k in range(lineno, 0, -1):
            if k in self.lines:
                return self.lines[k]
            if self._starts_function(k):
                return None
        return None

    def _starts_function(self, k):
        text = self._source_lines()[k - 1] if 0 < k <= len(self._source_lines()) else ""
        return text.startswith(("def ", "cdef ", "cpdef "))

    def _source_lines(self):
        if not hasattr(self, "_split"):
            self._split = self.source.split("\n")
        return self._split
    live: dict = field(default_factory=dict)    # module global -> Capture, read at each call

    def bind_values(self):
        """What ``_astjax_bind`` sets: captured values, and the holders (module dicts, cells)
        ``_astjax_refresh`` reads the live ones from (named as ModuleEmitter.source names
        them)."""
        values = {n: v for n, v in self.env.items() if n not in self.live}
        holders = {}
        for capture in self.live.values():
            name = holders.setdefault(id(capture.holder), f"_astjax_holder_{len(holders)}")
            values[name] = capture.holder
        return values


def lower(program, arg_types, label=""):
    """Lower `program` for these argument types into a Cython module."""
    typing = infer(program, arg_types)
    module = ModuleEmitter(program)
    module.function_of(typing, entry=True)
    while module.pending:
        module.emit(module.pending.pop(0))
    source = module.source(label, typing)
    lines = {}
    for k, text in enumerate(source.split("\n"), start=1):
        origin = module.origins.get(text.strip())
        if origin is not None:
            lines[k] = origin
    return Lowered(source=source, entry=module.names[
        (typing.fn.name, typing.args)][0], signature=signature(arg_types),
        notes=module.notes, env=module.env, lines=lines,
        checked_ints=any(re.search(r"\b_astjax_i\w+\(", b) for b in module.bodies),
        writes=module.writes, effects=module.effects, written=_written_inputs(module),
        live=module.live)


def _written_inputs(module):
    """(indices of the entry's parameters, names of captured globals) that the call may
    write into: what an overflow rerun must restore first."""
    entry, helpers = module.emitters[0], module.emitters[1:]
    helpers_write = any(h.written_bases for h in helpers)

    def written(emitter, var):
        names = emitter.aliases_of(var)
        return bool(names & emitter.written_bases) or (
            helpers_write and bool(names & emitter.helper_args))
    params = tuple(k for k, p in enumerate(entry.fn.params) if written(entry, p))
    captured = tuple(sorted({e.env_names[name] for e in module.emitters for name in e.fn.env
                             if written(e, name) or helpers_write}))
    return params, captured


class ModuleEmitter:
    def __init__(self, program):
        self.program = program
        self.decls = cexpr.Declarations()
        self.notes = []
        self.names = {}        # (function name, arg types) -> (pyname, "cdef" | "def")
        self.pending = []
        self.bodies = []
        self.env = {}
        self.origins = {}      # comment text -> the Origin it names
        self.writes = False    # some statement writes into an array or a list
        self.effects = []      # Origins of calls kept for their effect (print, ...)
        self.emitters = []     # FunctionEmitters, the entry first
        self.live = {}         # module global -> Capture: refreshed from the user's globals

    def function_of(self, typing, entry=False):
        """The generated name of a function specialization (queued for emission)."""
        key = (typing.fn.name, typing.args)
        if key not in self.names:
            if entry:
                pyname = typing.fn.name
            else:
                count = sum(1 for (n, _) in self.names if n == typing.fn.name)
                pyname = f"{typing.fn.name}_{count + 1}"
            all_c = not entry and all(is_c_scalar(t) for t in typing.args) \
                and is_c_scalar(typing.ret)
            self.names[key] = (_safe(pyname), "cdef" if all_c else "def")
            self.pending.append(typing)
        return self.names[key]

    def emit(self, typing):
        self.bodies.append(FunctionEmitter(self, typing).emit())

    def source(self, label, typing):
        head = [
            "# cython: language_level=3, infer_types=False, cdivision=False",
            f"# Generated by astjax.jit from {label or typing.fn.name} for "
            f"{signature(typing.args)}.",
            "# Edit the Python function, not this file: it is rebuilt from it.",
            "cimport cython",
            "from cython.parallel cimport parallel, prange",
            "from libc.stdlib cimport free, malloc",
            "from libc.stdint cimport " + ", ".join(
                sorted(set(cexpr.C_TYPES.values()) - {"bint", "float", "double"})),
            "import math",
            "import numpy as np",
            "from astjax.rules import runtime as _ax",
            "",
            self.decls.source(),
            threads.PYX_PRELUDE,
            cexpr.CHECKED_INT_PRELUDE,
            kernels.PYX_PRELUDE,
        ]
        bound = [n for n in self.env if n not in self.live]
        holders = {}
        for capture in self.live.values():
            holders.setdefault(id(capture.holder), f"_astjax_holder_{len(holders)}")
        if self.env:
            head.append("# values the function captured, set by astjax.jit after import")
            head += [f"{name} = None" for name in self.env]
            head += [f"{h} = None" for h in holders.values()]
            head.append("\ndef _astjax_bind(values):")
            head.append(f"    global {', '.join(bound + list(holders.values()))}" if bound or
                        holders else "    pass")
            head += [f"    {name} = values[{name!r}]" for name in bound + list(holders.values())]
            head.append("")
        if self.live:
            head.append("def _astjax_refresh():")
            head.append("    # the user's globals and closure cells, read at each call (jit")
            head.append("    # specializes on their types, and re-specializes when one changes)")
            head.append(f"    global {', '.join(self.live)}")
            for name, c in self.live.items():
                holder = holders[id(c.holder)]
                read = c.text(holder)
                head.append(f"    {name} = {read}")
            head.append("")
        return "\n".join(head) + "\n\n" + "\n\n".join(self.bodies)


def _safe(name):
    return name + "_" if name in RESERVED else name


class FunctionEmitter:
    def __init__(self, module, typing):
        self.module = module
        self.typing = typing
        self.fn = typing.fn
        self.pyname, self.kind = module.names[(typing.fn.name, typing.args)]
        self.decls = {}            # C name -> Cython type
        self.taken = set(typing.vars) | set(self.fn.env) | RESERVED
        self.counter = 0
        self.views = {}            # var -> its N-d memoryview name
        self.origin_state = {"origin": None}     # the user line last named in a comment
        self.env_names = {n: f"_{self.fn.name}_{n}" for n in self.fn.env}
        live = getattr(self.fn.env, "live", {})
        for name, global_name in self.env_names.items():
            module.env[global_name] = self.fn.env[name]
            if name in live:
                module.live[global_name] = live[name]
        self._prepare()

    # -- analysis -------------------------------------------------------------------------
    def _prepare(self):
        """Which statements read which names; which arrays are indexed item by item."""
        self.reads = {}
        self.all_stmts = []
        self.indexed, self.written = set(), set()

        def visit(stmts):
            for s in stmts:
                self.all_stmts.append(s)
                self.reads[id(s)] = _names_read(s)
                if isinstance(s, gast.Assign):
                    target = s.targets[0]
                    if isinstance(target, gast.Subscript) and self._c_index(target):
                        self.indexed.add(target.value.id)
                        self.written.add(target.value.id)
                    if isinstance(s.value, gast.Subscript) and self._c_index(s.value):
                        self.indexed.add(s.value.value.id)
                for block in ("body", "orelse"):
                    visit(getattr(s, block, []) or [])
        visit(self.fn.node.body)
        self.unpacked = self._scalarized_tuples()

    def _scalarized_tuples(self):
        """Tuples of C scalars that are only built and taken apart: one C variable per item.

        `t10 = (add6, add9); zr = t10[0]; zi = t10[1]` (from `zr, zi = ..., ...`) then
        allocates no Python tuple: t10_0 = add6; t10_1 = add9; zr = t10_0; zi = t10_1.
        """
        unpacked = {}
        for var, t in self.typing.vars.items():
            if not (isinstance(t, Tuple) and t.items and all(is_c_scalar(i) for i in t.items)) \
                    or var in self.fn.params or var in self.fn.env:
                continue
            ok = True
            for s in self.all_stmts:
                if var in self.reads[id(s)] and not _is_item_of(s, var):
                    ok = False
            if ok:
                unpacked[var] = [self.fresh(f"{var}_", c_type(i.dtype)) for i in t.items]
        return unpacked

    def reads_of(self, s):
        return self.reads.get(id(s), set())

    def read_outside(self, var, stmt_ids):
        return any(var in self.reads[id(s)] for s in self.all_stmts if id(s) not in stmt_ids)

    def _c_index(self, sub):
        """Whether x[i, j] reads/writes one item of a typed array with C integer indices."""
        if not isinstance(sub.value, gast.Name) or sub.value.id in self.fn.env:
            return False
        base = self.typing.vars.get(sub.value.id)
        if not is_c_array(base):
            return False
        index = sub.slice.elts if isinstance(sub.slice, gast.Tuple) else [sub.slice]
        if len(index) != base.ndim:
            return False
        for i in index:
            if isinstance(i, gast.Constant) and isinstance(i.value, int) \
                    and not isinstance(i.value, bool):
                continue
            t = self.typing.type_of(i) if not isinstance(i, gast.Slice) else None
            if not (isinstance(t, Scalar) and t.dtype.kind in "iu" and is_c_scalar(t)) and \
                    not (isinstance(t, Const) and isinstance(t.value, int)):
                return False
        return True

    # -- names ------------------------------------------------------------------------------
    def fresh(self, hint, ctype=None):
        while True:
            self.counter += 1
            name = f"{hint}{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                if ctype:
                    self.decls[name] = ctype
                return name

    def c_name(self, var):
        return _safe(var)

    def py_name(self, var):
        return self.env_names.get(var) or _safe(var)

    # -- atoms ------------------------------------------------------------------------------
    def c_atom(self, atom):
        """An atom as a C value (it must have a C scalar or constant type)."""
        if isinstance(atom, gast.Name):
            t = self.typing.type_of(atom)
            if isinstance(t, Const) and isinstance(t.value, (bool, int, float)):
                return cexpr.c_literal_of(gast.Constant(value=t.value, kind=None))
            if not is_c_scalar(t) or atom.id in self.fn.env:
                raise NotLowered(f"'{atom.id}' is a {t}")
            return self.c_name(atom.id)
        if isinstance(atom, gast.Constant) and isinstance(atom.value, (bool, int, float)):
            return cexpr.c_literal_of(atom)
        if isinstance(atom, gast.Attribute):
            t = self.typing.type_of(atom)
            if isinstance(t, Scalar):
                from astjax.rules import registry as primitives
                return repr(primitives.resolve_path(dotted_path(atom)))
        raise NotLowered(f"{to_source(atom).strip()} is not a C value")

    def py_atom(self, atom):
        """An atom as a Python value; C scalars of NumPy types are boxed as NumPy scalars."""
        if isinstance(atom, gast.Name):
            if atom.id in self.fn.env:
                return self.env_names[atom.id]
            t = self.typing.vars.get(atom.id)
            if is_c_scalar(t) and not t.weak:
                box = "bool_" if t.dtype == np.bool_ else t.dtype.name
                return f"np.{box}({self.c_name(atom.id)})"
            return self.py_name(atom.id)
        if isinstance(atom, gast.Tuple):
            items = [self.py_atom(e) for e in atom.elts]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(atom, gast.Constant) and atom.value is Ellipsis:
            return "..."
        return to_source(atom).strip()

    def py_index(self, index):
        if isinstance(index, gast.Tuple):
            return ", ".join(self.py_index(e) for e in index.elts) + \
                ("," if len(index.elts) == 1 else "")
        if isinstance(index, gast.Slice):
            parts = ["" if p is None else self.py_atom(p)
                     for p in (index.lower, index.upper, index.step)]
            return f"{parts[0]}:{parts[1]}" + (f":{parts[2]}" if parts[2] else "")
        return self.py_atom(index)

    def py_expr(self, op):
        """A core op as Python (NumPy) source over this function's names."""
        a = self.py_atom
        if isinstance(op, gast.BinOp):
            return f"{a(op.left)} {_SYMBOL[type(op.op)]} {a(op.right)}"
        if isinstance(op, gast.UnaryOp):
            return f"{UNARY_TEXT[type(op.op)]}{a(op.operand)}"
        if isinstance(op, gast.Compare):
            return f"{a(op.left)} {_SYMBOL[type(op.ops[0])]} {a(op.comparators[0])}"
        if isinstance(op, gast.Subscript):
            return f"{a(op.value)}[{self.py_index(op.slice)}]"
        if isinstance(op, (gast.Tuple, gast.List)) and not all(
                isinstance(e, gast.Constant) for e in op.elts) or isinstance(op, gast.List):
            items = [a(e) for e in op.elts]
            if isinstance(op, gast.List):
                return "[" + ", ".join(items) + "]"
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(op, gast.Call):
            key = prim_key(op, self.fn.helpers)
            args = [a(x) for x in op.args] + [f"{k.arg}={a(k.value)}" for k in op.keywords]
            if key == "list.pop":
                return f"{a(op.func.value)}.pop()"
            if key == "helper":
                return f"{self.helper_name(op)[0]}({', '.join(args)})"
            return f"{dotted_path(op.func)}({', '.join(args)})"
        return a(op)

    def helper_name(self, op):
        arg_types = tuple(self.typing.type_of(x) for x in op.args)
        callee = self.typing.helpers[(op.func.id, arg_types)]
        return self.module.function_of(callee)

    # -- views ------------------------------------------------------------------------------
    def view_decl(self, t, writable, flat=False):
        vt = cexpr.VIEW_TYPES[t.dtype.name]
        if flat:
            dims = "::1" if t.layout == "C" or writable == "fresh" else ":"
        else:
            dims = ", ".join([":"] * (t.ndim - 1) + ["::1" if t.layout == "C" else ":"])
        return f"{'' if writable else 'const '}{vt}[{dims}]"

    def bind_expr(self, name, t, flat=False):
        text = name
        if flat and t.ndim > 1:
            text = f"{text}.reshape(-1)"
        if t.dtype == np.bool_:
            text = f"{text}.view(np.uint8)"
        return text

    def flat_view(self, var, t, lines, writable=False, declare_as=None):
        """Bind a 1-d view of array `var` (a variable or a fresh output) and return its name.
        `writable`: False (const), True (the variable's own buffer) or "fresh" (an output)."""
        view = self.fresh(f"_{declare_as or var}_f")
        self.decls[view] = self.view_decl(t, writable, flat=True)
        source = var if declare_as else self.py_name(var)
        lines.append(f"{view} = {self.bind_expr(source, t, flat=True)}")
        return view

    def rebind(self, var, out, pad):
        """After `var` is assigned: refresh its N-d view, if it has one."""
        if var in self.views:
            t = self.typing.vars[var]
            out.append(f"{pad}{self.views[var]} = {self.bind_expr(self.py_name(var), t)}")

    # -- statements -------------------------------------------------------------------------
    def note(self, s, status, detail=""):
        self.module.notes.append(Note(s, status, detail))

    def _effects(self):
        """What a rerun as Python would repeat: writes into arrays/lists, calls kept for their
        effect. (An overflow of checked int arithmetic reruns the call as Python.)

        Records the names written into (`x[i] = v`, `x -= v` on an array, `lst.append(v)`,
        `np.copyto(out, v)`) and the names passed to helpers; `written_params` follows them
        back to the parameters they may alias."""
        module = self.module
        self.written_bases, self.helper_args = set(), set()
        for s in self.all_stmts:
            if isinstance(s, gast.Assign):
                target = s.targets[0]
                t = self.typing.vars.get(target.id) if isinstance(target, gast.Name) else None
                if isinstance(target, gast.Subscript):
                    self.written_bases |= _names_in(target.value)
                elif getattr(s, "augmented", False) and not isinstance(t, Scalar):
                    self.written_bases.add(target.id)
                if isinstance(s.value, gast.Call) and prim_key(s.value, self.fn.helpers) \
                        == "helper":
                    self.helper_args |= _names_in(s.value)
            elif isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
                call = s.value
                path = dotted_path(call.func) or ""
                if isinstance(call.func, gast.Attribute) and call.func.attr in (
                        "append", "pop", "extend", "insert", "remove", "clear", "sort",
                        "reverse", "update", "fill", "setdefault", "add", "discard"):
                    self.written_bases |= _names_in(call.func.value)
                elif path.startswith("np.") or path.startswith("numpy."):
                    self.written_bases |= _names_in(call)     # np.copyto(out, ...) and kin
                elif prim_key(call, self.fn.helpers) == "helper":
                    self.helper_args |= _names_in(call)
                else:
                    module.effects.append(getattr(s, "origin", None))
        if self.written_bases:
            module.writes = True
        module.emitters.append(self)

    def aliases_of(self, var):
        """The names that may hold `var` or a view/part of it (conservatively)."""
        out, changed = {var}, True
        while changed:
            changed = False
            for s in self.all_stmts:
                if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                    name = s.targets[0].id
                    t = self.typing.vars.get(name)
                    if name not in out and not isinstance(t, (Scalar, Const)) and \
                            _names_in(s.value) & out:
                        out.add(name)
                        changed = True
        return out

    def emit(self):
        typing, fn = self.typing, self.fn
        self._effects()
        for var in sorted(self.indexed):
            t = typing.vars[var]
            self.views[var] = self.fresh(f"{var}_mv")
            self.decls[self.views[var]] = self.view_decl(t, var in self.written)
        body = []
        for var in fn.params:
            if var in self.views:
                self.rebind(var, body, "    ")
        self.block(fn.node.body, body, "    ")
        params = []
        for var in fn.params:
            t = typing.vars.get(var)
            params.append(f"{c_type(t.dtype)} {self.c_name(var)}" if is_c_scalar(t)
                          else self.py_name(var))
        for var, t in typing.vars.items():
            if is_c_scalar(t) and var not in fn.params:
                self.decls.setdefault(self.c_name(var), c_type(t.dtype))
        if self.kind == "cdef":
            header = f"cdef {c_type(typing.ret.dtype)} {self.pyname}({', '.join(params)}):"
        else:
            header = f"def {self.pyname}({', '.join(params)}):"
        lines = [header]
        doc = f"{fn.name} for {signature(typing.args)}"
        lines.append(f'    """{doc}"""')
        by_type = {}
        for name, ctype in self.decls.items():
            by_type.setdefault(ctype, []).append(name)
        for ctype, names in by_type.items():
            if ctype.endswith("*"):        # `cdef double *a, b` makes b a double
                lines += [f"    cdef {ctype}{name}" for name in names]
            else:
                lines.append(f"    cdef {ctype} {', '.join(names)}")
        return "\n".join(lines + body) + "\n"

    def block(self, stmts, out, pad):
        if not stmts:
            out.append(f"{pad}pass")
            return
        state = self.origin_state
        items = kernels.plan(stmts, self.typing)
        kernels.rematerialize(items, self)
        for item in items:
            first = item.own[0] if isinstance(item, kernels.Run) else item
            self.comment(first, out, pad, state)
            if isinstance(item, kernels.Run):
                for s in item.own[1:]:
                    self.comment(s, out, pad, state, compact=True)
                kernels.emit_run(item, self, out, pad)
            else:
                self.statement(item, out, pad)

    def comment(self, s, out, pad, state, compact=False):
        origin = getattr(s, "origin", None)
        if origin is not None and origin != state["origin"] and origin.text:
            text = f"# {origin.short}: {origin.text.strip()}"
            out.append(f"{pad}{text}")
            self.module.origins[text] = origin
        state["origin"] = origin or state["origin"]

    def statement(self, s, out, pad):
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                self.assign(s, target.id, s.value, out, pad)
            else:
                self.setitem(s, target, s.value, out, pad)
        elif isinstance(s, gast.If):
            out.append(f"{pad}if {self.test(s.test)}:")
            self.block(s.body, out, pad + "    ")
            if s.orelse:
                out.append(f"{pad}else:")
                self.block(s.orelse, out, pad + "    ")
        elif isinstance(s, gast.For):
            bounds = ", ".join(self.c_or_py(a) for a in s.iter.args)
            out.append(f"{pad}for {self.c_name(s.target.id)} in range({bounds}):")
            self.note(s, "C" if is_c_scalar(self.typing.vars.get(s.target.id)) else "Python",
                      "loop")
            self.block(s.body, out, pad + "    ")
        elif isinstance(s, gast.While):
            out.append(f"{pad}while {self.test(s.test)}:")
            self.block(s.body, out, pad + "    ")
        elif isinstance(s, gast.Break):
            out.append(f"{pad}break")
        elif isinstance(s, gast.Pass):
            out.append(f"{pad}pass")
        elif isinstance(s, gast.Return):
            if self.kind == "cdef":
                out.append(f"{pad}return {self.c_or_py(s.value)}")
            else:
                out.append(f"{pad}return {self.py_atom(s.value)}")
        elif isinstance(s, gast.Expr):
            self.python_stmt(s, out, pad)
        elif isinstance(s, gast.Assert):       # the user's check: its test is a C or Python atom
            msg = f", {self.py_atom(s.msg)}" if s.msg is not None else ""
            try:                               # Cython makes `assert <C value>` a C test
                test, status, detail = self.c_atom(s.test), "C", "assert: a C check"
            except NotLowered:
                test, status = self.py_atom(s.test), "Python"
                detail = "assert of a Python value runs as Python"
            out.append(f"{pad}assert {test}{msg}")
            self.note(s, status, detail)
        else:
            out.append(f"{pad}{to_source(s).strip()}")

    def test(self, test):
        if isinstance(test, gast.UnaryOp):
            return f"not {self.c_or_py(test.operand)}"
        return self.c_or_py(test)

    def c_or_py(self, atom):
        try:
            return self.c_atom(atom)
        except NotLowered:
            return self.py_atom(atom)

    def assign(self, s, var, op, out, pad):
        typing = self.typing
        t = typing.vars.get(var)
        if var in self.unpacked:                      # t = (a, b): one C variable per item
            names = self.unpacked[var]
            if isinstance(op, gast.Tuple):
                for name, item, item_t in zip(names, op.elts, t.items):
                    code, _ = self.c_value(item, item_t)
                    out.append(f"{pad}{name} = {code}")
                self.note(s, "C", "tuple of C scalars")
            elif isinstance(op, gast.Call) and prim_key(op, self.fn.helpers) == "np.shape" \
                    and isinstance(op.args[0], gast.Name) and op.args[0].id in self.views:
                view = self.views[op.args[0].id]          # x.shape: the memoryview's C ints
                for k, name in enumerate(names):
                    out.append(f"{pad}{name} = {view}.shape[{k}]")
                self.note(s, "C", "shape of a typed array")
            else:                                         # `a, = t` for a 1-tuple, not `a = t`
                target = ", ".join(names) + ("," if len(names) == 1 else "")
                out.append(f"{pad}{target} = {self.py_expr(op)}")
                self.note(s, "NumPy", "a tuple unpacked into C variables")
            return
        if isinstance(op, gast.Subscript) and isinstance(op.value, gast.Name) \
                and op.value.id in self.unpacked and is_c_scalar(t):
            item = self.unpacked[op.value.id][op.slice.value]
            out.append(f"{pad}{self.c_name(var)} = {item}")
            self.note(s, "C", "tuple item")
            return
        if is_c_scalar(t):
            code, detail = self.c_value(op, t)
            if code is not None:
                out.append(f"{pad}{self.c_name(var)} = {code}")
                self.note(s, "C", detail)
                return
            self.python_stmt(s, out, pad, reason=detail)
            return
        if kernels.emit_axis_reduction(s, self, out, pad):
            return
        self.python_stmt(s, out, pad)

    def c_value(self, op, t):
        """(C code, note) of op converted to type t, or (None, why not)."""
        typing = self.typing
        op_t = typing.op_type(op)
        try:
            if isinstance(op, (gast.Name, gast.Constant, gast.Attribute)):
                code = self.c_atom(op)
            elif isinstance(op, gast.Subscript):
                if not self._c_index(op):
                    return None, "this indexing is not an item of a typed array"
                index = op.slice.elts if isinstance(op.slice, gast.Tuple) else [op.slice]
                code = f"{self.views[op.value.id]}[{', '.join(self.c_atom(i) for i in index)}]"
            elif isinstance(op, gast.Call) and prim_key(op, self.fn.helpers) == "helper":
                name, kind = self.helper_name(op)
                if kind != "cdef":
                    return None, f"helper {op.func.id} handles Python values"
                code = f"{name}({', '.join(self.c_atom(a) for a in op.args)})"
            elif isinstance(op, gast.Call) and prim_key(op, self.fn.helpers) in ("len", "np.size") \
                    and isinstance(op.args[0], gast.Name) and op.args[0].id in self.views:
                dim = "shape[0]" if prim_key(op, self.fn.helpers) == "len" else "size"
                view = self.views[op.args[0].id]
                code = f"{view}.{dim}" if dim == "shape[0]" else _size_of(view, typing.type_of(
                    op.args[0]))
            else:
                if not is_c_scalar(op_t):
                    reason = op_t.reason if isinstance(op_t, Obj) else f"its value is a {op_t}"
                    return None, reason
                for a in operands(op):
                    if not (is_c_scalar(typing.type_of(a)) or isinstance(
                            typing.type_of(a), Const)):
                        return None, f"operand {to_source(a).strip()} is a {typing.type_of(a)}"
                code = cexpr.elementwise(op, typing, self.c_atom, self.module.decls)
        except NotLowered as exc:
            return None, str(exc)
        if isinstance(op_t, Scalar) and op_t.dtype != t.dtype:
            code = f"<{c_type(t.dtype)}>({code})"
        return code, "scalar C"

    def setitem(self, s, target, value, out, pad):
        if self._c_index(target):
            vt = self.typing.type_of(value)
            try:
                code = self.c_atom(value)
            except NotLowered:
                code = None
            if code is not None and is_c_scalar(vt):
                base_t = self.typing.vars[target.value.id]
                index = target.slice.elts if isinstance(target.slice, gast.Tuple) \
                    else [target.slice]
                view = self.views[target.value.id]
                if vt.dtype != base_t.dtype:
                    code = f"<{cexpr.VIEW_TYPES[base_t.dtype.name]}>({code})"
                out.append(f"{pad}{view}[{', '.join(self.c_atom(i) for i in index)}] = {code}")
                self.note(s, "C", "item write")
                return
        out.append(f"{pad}{self.py_atom(target.value)}[{self.py_index(target.slice)}] = "
                   f"{self.py_atom(value)}")
        self.note(s, "Python", "this item write is not of a typed array with C indices")

    def python_stmt(self, s, out, pad, reason=None, record=True):
        """Emit s as Python (NumPy) code; note whether that is by design or a fallback."""
        if isinstance(s, gast.Expr):
            out.append(f"{pad}{self.py_expr(s.value)}")
            if is_effect_stmt(s):       # print(...) and other calls kept for their effect
                status, detail = "Python", f"{dotted_path(s.value.func) or 'a call'}() runs " \
                                           "as Python, for its effect"
            else:
                status, detail = "NumPy", "Python list operation"
        else:
            target = s.targets[0].id
            op = s.value
            if getattr(s, "augmented", False) and isinstance(op, gast.BinOp) and isinstance(
                    op.left, gast.Name) and op.left.id == target and not is_c_scalar(
                    self.typing.vars.get(target)):      # `x -= y`: NumPy's in-place update
                out.append(f"{pad}{self.py_name(target)} {_SYMBOL[type(op.op)]}= "
                           f"{self.py_atom(op.right)}")
            elif self._list_item_read(target, s.value):    # checked: never truncate
                kind = self.typing.vars[target].dtype.kind
                out.append(f"{pad}{self.py_name(target)} = "
                           f"_astjax_{'int' if kind == 'i' else 'float'}_item("
                           f"{self.py_expr(s.value)})")
            else:
                out.append(f"{pad}{self.py_name(target)} = {self.py_expr(s.value)}")
            self.rebind(target, out, pad)
            status, detail = self.classify(s.value, reason)
            if getattr(s, "capture_read", None):      # W = W_now: compiler._read_at_entry
                status, detail = "NumPy", s.capture_read
            target_t = self.typing.vars.get(target)
            if status == "Python" and isinstance(target_t, Obj) and \
                    not isinstance(self.typing.op_type(s.value), Obj):
                status, detail = "NumPy", f"Python value ({target} {target_t.reason})"
            refusal = getattr(target_t, "refusal", None)
            if refusal is not None:
                status, detail = "Python", f"raises {type(refusal).__name__}: {refusal}"
                if record:
                    self.module.notes.append(Note(s, status, detail, refusal))
                return
        if record:
            self.note(s, status, detail)

    def _list_item_read(self, target, op):
        """`n = lst[i]` into a C int64/double from a list typed as holding Python ints or
        floats: the item's type is checked (Cython would truncate 0.25 into an int)."""
        t = self.typing.vars.get(target)
        return is_c_scalar(t) and t.weak and t.dtype.kind in "if" and \
            isinstance(op, gast.Subscript) and isinstance(self.typing.type_of(op.value), ListOf)

    def classify(self, op, reason=None):
        """("NumPy", what) for by-design calls, else ("Python", why it is not C)."""
        if isinstance(op, (gast.Name, gast.Constant, gast.Attribute, gast.Tuple, gast.List)):
            return "NumPy", "Python value"
        key = prim_key(op, self.fn.helpers)
        if key in ("list.pop", "len", "np.shape", "np.ndim", "np.size", "np.result_type"):
            return "NumPy", "Python/NumPy attribute"
        if key == "helper":
            return "NumPy", "call of a compiled helper"
        _, rule = cexpr.rule_of(key)
        if rule == "numpy":
            return "NumPy", f"{key} (NumPy by design)"
        if key.startswith("_ax."):
            return "NumPy", f"{key} (astjax runtime)"
        if reason:
            return "Python", reason
        if isinstance(rule, dict) and "reduce" in rule:
            return "Python", f"{key} over these axes or of this array (C loops reduce one "\
                "constant axis of a C-contiguous array)"
        op_t = self.typing.op_type(op)
        if isinstance(op_t, Obj):
            return "Python", op_t.reason or "its type is not known"
        if isinstance(op_t, Array) and not is_c_array(op_t):
            return "Python", f"{op_t.dtype.name} arrays have no C type"
        if rule is None and key != "getitem":
            return "Python", f"{key} has no Cython rule"
        if key == "getitem":
            return "NumPy", "array indexing"
        try:
            cexpr.elementwise(op, self.typing, lambda a: "v", cexpr.Declarations())
        except NotLowered as exc:
            return "Python", str(exc)
        arrays = [self.typing.type_of(a) for a in operands(op)]
        arrays = [t for t in arrays if isinstance(t, Array)]
        if len({t.ndim for t in arrays}) > 1:
            return "Python", "broadcasts arrays of different ndim"
        if any(t.layout != "C" and t.ndim > 1 for t in arrays):
            return "Python", "a non-contiguous array of ndim > 1"
        return "Python", "no C form for these operand types"


_SYMBOL = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.FloorDiv: "//",
           gast.Mod: "%", gast.Pow: "**", gast.MatMult: "@", gast.BitAnd: "&", gast.BitOr: "|",
           gast.BitXor: "^", gast.Lt: "<", gast.LtE: "<=", gast.Gt: ">", gast.GtE: ">=",
           gast.Eq: "==", gast.NotEq: "!=", gast.Is: "is", gast.IsNot: "is not"}


def _is_item_of(s, var):
    """s is `name = var[k]` with a constant k."""
    return isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) \
        and isinstance(s.value, gast.Subscript) and isinstance(s.value.value, gast.Name) \
        and s.value.value.id == var and isinstance(s.value.slice, gast.Constant) \
        and isinstance(s.value.slice.value, int)


def _size_of(view, t):
    return " * ".join(f"{view}.shape[{k}]" for k in range(t.ndim)) or "1"


def _names_in(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _names_read(s):
    parts = []
    if isinstance(s, gast.Assign):
        parts.append(s.value)
        if isinstance(s.targets[0], gast.Subscript):
            parts += [s.targets[0].value, s.targets[0].slice]
    elif isinstance(s, (gast.Expr, gast.Return)):
        parts.append(s.value)
    elif isinstance(s, (gast.If, gast.While)):
        parts.append(s.test)
    elif isinstance(s, gast.For):
        parts.append(s.iter)
    names = set()
    for p in parts:
        if p is None:
            continue
        for n in gast.walk(p):
            if isinstance(n, gast.Name):
                names.add(n.id)
    return names
