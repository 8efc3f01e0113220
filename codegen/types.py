"""Types of a core function for one call signature, following NumPy 2's rules exactly.

    typing = infer(program, [Array(float32, 1, "C"), Scalar(float64, weak=True)])
    typing.vars["mul3"]     -> Array(float32, 1, "C")     # float32 * Python float: float32
    typing.op_type(op)      -> the type of any core op, given the variables' types

Types: `Scalar(dtype, weak)` (weak: a Python bool/int/float/complex, which NumPy 2 casts to
the other operand's dtype, NEP 50), `Array(dtype, ndim, layout)` (layout "C": C-contiguous,
"A": any strides), `Tuple`, `ListOf`, `Const` (a value known when compiling: None, a dtype,
a static argument) and `Obj` (anything else: the code handling it runs as Python).

NumPy is the oracle. The result type of a NumPy call, operator or astjax runtime helper is
found by running it on small dummy values of the operand types (arrays of shape (..., 3, 2),
Python scalars for weak ones), so promotion, reductions, dtypes of creation functions and
the layout of results are NumPy's own. Operations between weak scalars follow Python (they
are Python values): `1 / 2` is a float, `7 // 2` an int.

Variables get one type per function: the join of everything assigned to them, iterated to a
fixpoint over loops. A variable that holds an int and later an np.float64 is an np.float64
(so a loop that never runs returns np.float64(0) where Python returns 0); one that holds an
array and a scalar, or arrays of two dtypes, is an `Obj`.
"""
import operator
import warnings
from dataclasses import dataclass, field

import numpy as np

from astjax.errors import AstjaxError
from astjax.rules import registry as primitives
from astjax.frontend.syntax import gast
from astjax.core.normalize import dotted_path, prim_key


# ----------------------------------------------------------------------------- the types

@dataclass(frozen=True)
class Scalar:
    dtype: np.dtype
    weak: bool = False

    def __str__(self):
        if self.weak:
            return {"b": "bool", "i": "int", "f": "float", "c": "complex"}[self.dtype.kind]
        return self.dtype.name


@dataclass(frozen=True)
class Array:
    dtype: np.dtype
    ndim: int
    layout: str = "C"        # "C": C-contiguous; "A": any strides

    def __str__(self):
        dims = ", ".join([":"] * (self.ndim - 1) + ["::1" if self.layout == "C" else ":"])
        return f"{self.dtype.name}[{dims}]" if self.ndim else f"{self.dtype.name}[()]"


@dataclass(frozen=True)
class Tuple:
    items: tuple

    def __str__(self):
        return "(" + ", ".join(map(str, self.items)) + ("," if len(self.items) == 1 else "") + ")"


@dataclass(frozen=True)
class ListOf:
    item: object             # None while nothing is known about the items

    def __str__(self):
        return f"list[{self.item}]"


@dataclass(frozen=True)
class Const:
    value: object

    def __str__(self):
        return f"={self.value!r}"

    def __eq__(self, other):
        return isinstance(other, Const) and type(self.value) is type(other.value) and (
            self.value is other.value or _same_value(self.value, other.value))

    def __hash__(self):
        try:
            return hash((type(self.value), self.value))
        except TypeError:
            return hash(type(self.value))


@dataclass(frozen=True)
class Obj:
    reason: str = field(default="", compare=False)
    # The AstjaxError a call raised on every dummy of its argument types (e.g. grad's
    # "requires a scalar output" at an array signature): a refusal, not a typing gap.
    refusal: Exception = field(default=None, compare=False)

    def __str__(self):
        return "object"


def _same_value(a, b):
    try:
        return bool(a == b)
    except Exception:
        return False


BOOL = np.dtype(bool)
INT = np.dtype(np.int64)
FLOAT = np.dtype(np.float64)
COMPLEX = np.dtype(np.complex128)
PY_INT, PY_FLOAT = Scalar(INT, True), Scalar(FLOAT, True)
PY_BOOL, PY_COMPLEX = Scalar(BOOL, True), Scalar(COMPLEX, True)


def of_value(value):
    """The type of a runtime value (an argument, a constant, a dummy result)."""
    if isinstance(value, bool):
        return PY_BOOL
    if isinstance(value, int) and not isinstance(value, np.generic):
        return PY_INT
    if isinstance(value, float) and not isinstance(value, np.generic):
        return PY_FLOAT
    if isinstance(value, complex) and not isinstance(value, np.generic):
        return PY_COMPLEX
    if isinstance(value, np.generic):
        return Scalar(value.dtype)
    if isinstance(value, np.ndarray):
        return Array(value.dtype, value.ndim, "C" if value.flags.c_contiguous else "A")
    if isinstance(value, tuple):
        return Tuple(tuple(of_value(v) for v in value))
    if isinstance(value, list):
        item = None
        for v in value:
            item = join_items(item, of_value(v))
        return ListOf(item)
    if value is None or isinstance(value, (str, type, np.dtype, slice)) or value is Ellipsis:
        return Const(value)
    return Obj(f"a {type(value).__name__} value")


def join(a, b):
    """The type of a variable that holds values of types a and b."""
    if a is None or a == b:
        return b if a is None else a
    if b is None:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        if a.weak and b.weak:
            return Scalar(np.promote_types(a.dtype, b.dtype), True)
        strong = [t.dtype for t in (a, b) if not t.weak]
        return Scalar(np.result_type(*strong, *[_dummy(t) for t in (a, b) if t.weak]))
    if isinstance(a, Array) and isinstance(b, Array) and (a.dtype, a.ndim) == (b.dtype, b.ndim):
        return Array(a.dtype, a.ndim, "A")
    if isinstance(a, Tuple) and isinstance(b, Tuple) and len(a.items) == len(b.items):
        return Tuple(tuple(join(x, y) for x, y in zip(a.items, b.items)))
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        return ListOf(join_items(a.item, b.item))
    if isinstance(a, Obj):
        return a
    if isinstance(b, Obj):
        return b
    return Obj(f"holds both {a} and {b}")


def join_items(a, b):
    """The item type of a Python list holding items of types a and b.

    Unlike a variable (where int and float join to float), a list keeps each item's own
    Python type: `[[0, 0], [0, 0]]` later written with 0.25 holds ints *and* floats, and
    reading an item as a C double (or worse, a C int) would change what Python computes.
    Such items are Python objects."""
    if a is None or b is None or a == b:
        return b if a is None else a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Obj(f"list items hold both {a} and {b} (write 0.0 rather than 0 in a list "
                   f"of floats to keep its items C doubles)")
    if isinstance(a, Tuple) and isinstance(b, Tuple) and len(a.items) == len(b.items):
        return Tuple(tuple(join_items(x, y) for x, y in zip(a.items, b.items)))
    return join(a, b)


def widen_items(t, stored):
    """t with every list's innermost items joined with the item types `stored` anywhere.

    Lists are mutable and aliased (`row = grid[i]; row[j] = 0.25` writes into grid, and a
    helper writes into its caller's list), so a store that widens one list's item type
    widens every list's: sound without tracking aliases."""
    if stored and isinstance(t, Tuple):
        return Tuple(tuple(widen_items(i, stored) for i in t.items))
    if not stored or not isinstance(t, ListOf):
        return t
    if isinstance(t.item, (ListOf, Tuple)):
        return ListOf(widen_items(t.item, stored))
    item = t.item
    for w in stored:
        if item is not None:
            item = join_items(item, w)
    return ListOf(item)


def _leaf_items(t):
    while isinstance(t, ListOf):
        t = t.item
    return t


# ----------------------------------------------------------------------------- dummies

_SHAPE = (7, 5, 3, 2)        # an ndim-k dummy has the last k of these: (3, 2), (2,), ...


class NotTypable(Exception):
    pass


def _dummy(t, square=False):
    if isinstance(t, Scalar):
        if t.weak:
            return {"b": True, "i": 1, "f": 1.0, "c": 1.0 + 0j}[t.dtype.kind]
        return t.dtype.type(1)
    if isinstance(t, Array):
        shape = (3,) * t.ndim if square else _SHAPE[len(_SHAPE) - t.ndim:]
        if t.layout == "C":
            return np.ones(shape, t.dtype)
        big = np.ones(tuple(2 * n for n in shape), t.dtype)
        return big[tuple(slice(None, None, 2) for _ in shape)]
    if isinstance(t, Tuple):
        return tuple(_dummy(x, square) for x in t.items)
    if isinstance(t, ListOf):
        return [] if t.item is None else [_dummy(t.item, square)]
    if isinstance(t, Const):
        return t.value
    raise NotTypable(t.reason if isinstance(t, Obj) else "unknown value")


def evaluate(fn, arg_types, kw_types=None, label="call"):
    """The type of fn(*args) found by running fn on dummies of the argument types."""
    kw_types = kw_types or {}
    problem = refusals = None
    for square in (False, True):
        try:
            args = [_dummy(t, square) for t in arg_types]
            kwargs = {k: _dummy(t, square) for k, t in kw_types.items()}
        except NotTypable as exc:
            return Obj(f"{label} of {exc}")
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                return of_value(fn(*args, **kwargs))
        except Exception as exc:  # whatever NumPy says about these operand types
            problem = problem or f"{label}: {type(exc).__name__}: {exc}"
            if isinstance(exc, AstjaxError):
                refusals = (refusals or []) + [exc]
    refusal = refusals[0] if refusals and len(refusals) == 2 else None
    return Obj(problem, refusal)


# ----------------------------------------------------------------------------- operators

OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
             "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
             "pow": operator.pow, "matmul": operator.matmul, "and_": operator.and_,
             "or_": operator.or_, "xor": operator.xor, "neg": operator.neg,
             "pos": operator.pos, "invert": operator.invert, "not_": operator.not_,
             "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
             "eq": operator.eq, "ne": operator.ne}

# Operators as NumPy ufuncs: the loop (computation) dtype of an operation comes from these.
UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
          "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
          "and_": np.bitwise_and, "or_": np.bitwise_or, "xor": np.bitwise_xor,
          "neg": np.negative, "pos": np.positive, "invert": np.invert, "not_": np.logical_not,
          "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
          "eq": np.equal, "ne": np.not_equal}


def ufunc_of(key):
    """The NumPy ufunc a primitive key computes elementwise, or None."""
    if key in UFUNCS:
        return UFUNCS[key]
    obj = primitives.resolve_path(key) if key.startswith("np.") else None
    return obj if isinstance(obj, np.ufunc) else None


def loop_dtypes(key, operand_types):
    """(input dtypes, output dtype) of NumPy's inner loop for this elementwise op, or None."""
    ufunc = ufunc_of(key)
    if ufunc is None:
        return None
    spec = []
    for t in operand_types:
        if isinstance(t, Scalar) and t.weak and t.dtype.kind != "b":
            spec.append({"i": int, "f": float, "c": complex}[t.dtype.kind])
        elif isinstance(t, (Scalar, Array)):
            spec.append(t.dtype)
        else:
            return None
    try:
        dtypes = ufunc.resolve_dtypes(tuple(spec) + (None,) * ufunc.nout)
    except Exception:  # no loop for these dtypes: NumPy raises too, at run time
        return None
    return dtypes[:ufunc.nin], dtypes[ufunc.nin]


# ----------------------------------------------------------------------------- inference

@dataclass
class Typing:
    """The types of one core function for one signature."""
    fn: object                                   # CoreFunction
    args: tuple                                  # parameter types
    vars: dict = field(default_factory=dict)     # name -> type
    ret: object = None
    env: dict = field(default_factory=dict)      # captured name -> type
    program: object = None
    helpers: dict = field(default_factory=dict)  # (name, arg types) -> Typing, shared
    stored: set = field(default_factory=set)     # item types that widened some list, shared

    def type_of(self, atom):
        """The type of an atom (name, constant, dotted constant, tuple of constants)."""
        if isinstance(atom, gast.Name):
            if atom.id in self.vars:
                return self.vars[atom.id]
            if atom.id in self.env:
                return self.env[atom.id]
            return None
        if isinstance(atom, gast.Constant):
            return of_value(atom.value)
        if isinstance(atom, gast.Attribute):
            value = primitives.resolve_path(dotted_path(atom) or "")
            if value is None and (dotted_path(atom) or "").endswith("newaxis"):
                return Const(None)
            return of_value(value)
        if isinstance(atom, gast.Tuple):
            return Tuple(tuple(self.type_of(e) for e in atom.elts))
        return None

    def op_type(self, op):
        """The type of a core op's result (None while an operand's type is unknown)."""
        key = prim_key(op, self.fn.helpers)
        if isinstance(op, (gast.Name, gast.Constant, gast.Attribute)):
            return self.type_of(op)
        if isinstance(op, gast.Tuple):
            items = tuple(self.type_of(e) for e in op.elts)
            return None if None in items else Tuple(items)
        if isinstance(op, gast.List):
            item = None
            for e in op.elts:
                item = join_items(item, self.type_of(e))
            return ListOf(item)
        if isinstance(op, (gast.BinOp, gast.UnaryOp, gast.Compare)):
            return self._operator(key, op)
        if isinstance(op, gast.Subscript):
            return self._getitem(op)
        if isinstance(op, gast.Call):
            return self._call(key, op)
        return Obj(f"{type(op).__name__} expressions")

    # -- operators --------------------------------------------------------------------------
    def _operator(self, key, op):
        from astjax.core.normalize import operands
        types = [self.type_of(a) for a in operands(op)]
        if None in types:
            return None
        if key == "is":
            return PY_BOOL
        if all(isinstance(t, Scalar) and t.weak for t in types):
            if key == "pow" and not _small_natural(operands(op)[1]) and types[0].dtype.kind in "ib":
                return Obj("int ** int is an int or a float depending on the exponent's sign")
            if key == "pow" and types[0].dtype.kind == "f" and not _is_int_const(operands(op)[1]):
                return Obj("Python float ** float may be complex")
        return evaluate(OPERATORS[key], types, label=key)

    # -- indexing ----------------------------------------------------------------------------
    def _getitem(self, op):
        base = self.type_of(op.value)
        if base is None:
            return None
        index = op.slice.elts if isinstance(op.slice, gast.Tuple) else [op.slice]
        if isinstance(base, Array):
            kinds = [self._index_kind(i) for i in index]
            if None in kinds:
                return None
            if all(k == "int" for k in kinds) and len(kinds) <= base.ndim:
                if len(kinds) == base.ndim:
                    return Scalar(base.dtype)
                return Array(base.dtype, base.ndim - len(kinds), base.layout)
            if all(k in ("int", "slice") for k in kinds) and len(kinds) <= base.ndim:
                return Array(base.dtype, base.ndim - kinds.count("int"), "A")
        if isinstance(base, Tuple) and isinstance(op.slice, gast.Constant) \
                and isinstance(op.slice.value, int):
            try:
                return base.items[op.slice.value]
            except IndexError:
                return Obj("tuple index out of range")
        if isinstance(base, ListOf) and self._index_kind(op.slice) == "int":
            return base.item
        index_types = [self._index_type(i) for i in index]
        if any(t is None for t in index_types):
            return None
        if isinstance(op.slice, gast.Tuple):
            return evaluate(lambda b, *ix: b[tuple(ix)], [base] + index_types, label="indexing")
        return evaluate(lambda b, ix: b[ix], [base, index_types[0]], label="indexing")

    def _index_kind(self, index):
        if isinstance(index, gast.Slice):
            return "slice"
        t = self.type_of(index)
        if t is None:
            return None
        if isinstance(t, Scalar) and t.dtype.kind in "iu":
            return "int"
        return "other"

    def _index_type(self, index):
        if isinstance(index, gast.Slice):
            parts = [index.lower, index.upper, index.step]
            types = [Const(None) if p is None else self.type_of(p) for p in parts]
            if None in types:
                return None
            if all(isinstance(t, (Const, Scalar)) for t in types):
                return Const(slice(*[t.value if isinstance(t, Const) else _dummy(t)
                                     for t in types]))
            return Obj("a slice of non-integers")
        if isinstance(index, gast.Constant) and index.value is Ellipsis:
            return Const(Ellipsis)
        return self.type_of(index)

    # -- calls -------------------------------------------------------------------------------
    def _call(self, key, op):
        args = [self.type_of(a) for a in op.args]
        kws = {k.arg: self.type_of(k.value) for k in op.keywords}
        if None in args or None in kws.values():
            return None
        if key == "helper":
            return self._helper(op.func.id, args)
        if key == "list.pop":
            base = self.type_of(op.func.value)
            return base.item if isinstance(base, ListOf) else Obj("pop from a non-list")
        if key in ("len", "np.size"):
            return PY_INT if isinstance(args[0], (Array, Tuple, ListOf)) else Obj("len of this")
        if key == "np.ndim" and isinstance(args[0], Array):
            return Const(args[0].ndim)
        if key == "np.shape" and isinstance(args[0], Array):
            return Tuple((PY_INT,) * args[0].ndim)
        fn = primitives.resolve_path(dotted_path(op.func) or key)   # math.fabs, not np.abs
        if fn is None:
            return Obj(f"{key} is not a function astjax knows")
        if key in ("range", "enumerate", "zip", "print", "isinstance"):
            return Obj(f"{key}() outside a for statement")
        return evaluate(fn, args, kws, label=key)

    def _helper(self, name, arg_types):
        helper = self.program.functions[name]
        return infer_function(helper, tuple(arg_types), self.program, self.helpers,
                              self.stored).ret


def _small_natural(atom):
    return isinstance(atom, gast.Constant) and isinstance(atom.value, int) \
        and not isinstance(atom.value, bool) and 0 <= atom.value <= 64


def _is_int_const(atom):
    return isinstance(atom, gast.Constant) and isinstance(atom.value, (int, float)) \
        and float(atom.value).is_integer()


_IN_PROGRESS = object()


def infer_function(fn, arg_types, program, helpers=None, stored=None):
    """Type `fn` (a CoreFunction) for these parameter types; memoized in `helpers`."""
    helpers = {} if helpers is None else helpers
    stored = set() if stored is None else stored
    arg_types = tuple(widen_items(t, stored) for t in arg_types)
    memo_key = (fn.name, tuple(arg_types))
    known = helpers.get(memo_key)
    if known is _IN_PROGRESS:
        placeholder = Typing(fn, tuple(arg_types), program=program, helpers=helpers,
                             stored=stored)
        placeholder.ret = Obj(f"{fn.name} is recursive")
        return placeholder
    if known is not None:
        return known
    helpers[memo_key] = _IN_PROGRESS
    typing = Typing(fn, tuple(arg_types), program=program, helpers=helpers, stored=stored)
    typing.env = {k: widen_items(of_value(v), stored) for k, v in fn.env.items()}
    typing.vars = dict(zip(fn.params, arg_types))
    for _ in range(25):
        before = dict(typing.vars), typing.ret
        _walk(fn.node.body, typing)
        if (dict(typing.vars), typing.ret) == before:
            break
    else:
        for var, t in list(typing.vars.items()):
            if t != before[0].get(var):
                typing.vars[var] = Obj("its type does not settle")
    helpers[memo_key] = typing
    return typing


def infer(program, arg_types):
    """The Typing of the program's entry function for these argument types.

    Reruns from scratch while some store widens a list's items (`typing.stored` grows):
    every list in the program is then typed with the wider items."""
    stored = set()
    while True:
        before = set(stored)
        typing = infer_function(program.main, tuple(arg_types), program, {}, stored)
        if stored == before:
            return typing


def _assign(typing, var, t):
    if t is None:
        return
    old = typing.vars.get(var)
    new = widen_items(join(old, t), typing.stored)
    if isinstance(old, ListOf) and isinstance(new, ListOf) and new != old:
        leaf_old, leaf_new = _leaf_items(old), _leaf_items(t)
        if leaf_old is not None and leaf_new is not None and leaf_new != leaf_old:
            typing.stored.add(leaf_new)       # this list now holds another item type
    typing.vars[var] = new


def _walk(stmts, typing):
    for s in stmts:
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                _assign(typing, target.id, typing.op_type(s.value))
            elif isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
                base = typing.vars.get(target.value.id)
                if isinstance(base, ListOf):
                    _assign(typing, target.value.id, ListOf(typing.type_of(s.value)))
        elif isinstance(s, gast.Expr):
            call = s.value
            if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
                    and call.func.attr == "append" and isinstance(call.func.value, gast.Name):
                item = typing.type_of(call.args[0])
                if item is not None:
                    _assign(typing, call.func.value.id, ListOf(item))
            else:
                typing.op_type(call)
        elif isinstance(s, gast.If):
            _walk(s.body, typing)
            _walk(s.orelse, typing)
        elif isinstance(s, gast.For):
            _assign(typing, s.target.id, PY_INT)
            _walk(s.body, typing)
        elif isinstance(s, gast.While):
            _walk(s.body, typing)
        elif isinstance(s, gast.Return):
            t = typing.type_of(s.value)
            if t is not None:
                typing.ret = join(typing.ret, t)


def signature(types):
    """A readable signature string: '(float32[::1], float)'."""
    return "(" + ", ".join(str(t) for t in types) + ")"


__all__ = ["Scalar", "Array", "Tuple", "ListOf", "Const", "Obj", "of_value", "join", "infer",
           "infer_function", "Typing", "evaluate", "loop_dtypes", "ufunc_of", "signature"]
