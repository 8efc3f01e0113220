"""C expressions for core ops on typed values, from the `cython=` field of each primitive.

A primitive's `cython` rule (in astjax/rules/table.py, next to its derivative) is one of:

    cython="x + y"                   elementwise: a Cython expression over the parameters,
    cython="exp(x)"                    computed in NumPy's inner-loop dtype for the operands
    cython="astjax_floor_divide(x, y)"   (operands are cast to it first)
    cython={"reduce": "acc + x", "init": "0"}             a reduction (all items, or one axis)
    cython={"reduce": "acc + x", "init": "0", "finish": "acc / n"}
    cython={"like": "x", "value": "v"}  elementwise `v`, shaped like `x` (_ax.unbroadcast)
    cython="numpy"                   calls NumPy by design (BLAS, allocation): not a fallback

In templates, libm functions (`exp`, `sqrt`, `atan2`, ...) become their float variants
(`expf`) when the loop dtype is float32, and `astjax_<op>` names get the loop dtype appended
(`astjax_floor_divide_int64`, see codegen/include/astjax_math.h). A parameter the template does
not mention must keep its default (`np.round(x, decimals=0)` lowers, `decimals=2` does not).

Operations between weak (Python) scalars are not NumPy's: they keep Python's meaning,
written with Cython's Python-compatible operators (`a / b` raises ZeroDivisionError,
`a // b` floors).
"""
import re

import numpy as np

from astjax.rules import registry as primitives
from astjax.frontend.syntax import gast, parse_expr, to_source
from astjax.core.normalize import bind, operands, prim_key

from .types import Array, Scalar, loop_dtypes, ufunc_of

C_TYPES = {"bool": "bint", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
           "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t",
           "uint32": "uint32_t", "uint64": "uint64_t", "float32": "float",
           "float64": "double"}
# element types of typed memoryviews (bool arrays are viewed as uint8)
VIEW_TYPES = dict(C_TYPES, bool="uint8_t")

LIBM = {"exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt", "cbrt", "sin", "cos",
        "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
        "atanh", "floor", "ceil", "trunc", "rint", "fabs", "hypot", "pow", "fmod", "copysign",
        "erf", "erfc"}
LIBM_PREDICATES = {"isnan", "isinf", "isfinite", "signbit"}     # type-generic macros

OPERATOR_SYNTAX = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//",
                   "mod": "%", "pow": "**", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
                   "eq": "==", "ne": "!=", "and_": "&", "or_": "|", "xor": "^"}

UNARY_TEXT = {gast.USub: "-", gast.UAdd: "+", gast.Not: "not ", gast.Invert: "~"}


def c_type(dtype):
    """The Cython type of a scalar of this dtype, or None when C code cannot hold it."""
    return C_TYPES.get(np.dtype(dtype).name)


def is_c_scalar(t):
    return isinstance(t, Scalar) and c_type(t.dtype) is not None


def is_c_array(t):
    return isinstance(t, Array) and c_type(t.dtype) is not None


class NotLowered(Exception):
    """This op has no C form for these operand types; the message says why."""


class Declarations:
    """The extern functions generated code uses, declared once in the module header."""

    def __init__(self):
        self.functions = {}      # name -> Cython declaration

    def libm(self, family, dtype, nargs):
        ctype = c_type(dtype)
        name = family + ("f" if dtype == np.float32 else "")
        if family in LIBM_PREDICATES:
            name, ctype = family, "double"
            self.functions[name] = f"bint {name}(double)"
            return name
        args = ", ".join([ctype] * nargs)
        self.functions[name] = f"{ctype} {name}({args})"
        return name

    def helper(self, family, dtype, nargs):
        name = f"{family}_{np.dtype(dtype).name}"
        ctype = c_type(dtype)
        self.functions[name] = f"{ctype} {name}({', '.join([ctype] * nargs)})"
        return name

    def raw(self, name, declaration):
        self.functions[name] = declaration
        return name

    def source(self):
        if not self.functions:
            return ""
        lines = ['cdef extern from "astjax_math.h" nogil:']
        lines += [f"    {decl}" for _, decl in sorted(self.functions.items())]
        return "\n".join(lines) + "\n"


def rule_of(key):
    prim = primitives.lookup(key)
    return prim, (prim.cython if prim is not None else None)


def elementwise(op, typing, atom_c, decls, out_dtype=None):
    """The C expression of an elementwise op.

    `atom_c(atom)` gives the C expression of an operand (a scalar value, or the current
    element of an array). Raises NotLowered with a reason.
    """
    key = prim_key(op, typing.fn.helpers)
    types = [typing.type_of(a) for a in operands(op)]
    if all(isinstance(t, Scalar) and t.weak for t in types) and key in OPERATOR_SYNTAX | {
            "neg": 0, "pos": 0, "not_": 0}:
        return _python_operator(op, key, types, typing, atom_c)
    prim, rule = rule_of(key)
    if prim is None:
        raise NotLowered(f"{key} has no rule")
    if isinstance(rule, dict) and "like" in rule:         # elementwise v, shaped like x
        bound = bind(prim, op)
        _check_defaults(prim, key, bound, {rule["like"], rule["value"]})
        value_t = typing.type_of(bound[rule["value"]])
        if not is_c_array(typing.type_of(bound[rule["like"]])) or not (
                is_c_scalar(value_t) or is_c_array(value_t)):
            raise NotLowered(f"{key} of these operand types")
        return atom_c(bound[rule["value"]])
    if not isinstance(rule, str) or rule == "numpy":
        raise NotLowered(f"{key} has no elementwise Cython rule")
    bound = bind(prim, op)
    template = parse_expr(rule)
    used = {n.id for n in gast.walk(template) if isinstance(n, gast.Name)}
    _check_defaults(prim, key, bound, used)
    for param in used & set(bound):
        t = typing.type_of(bound[param])
        if not (is_c_scalar(t) or is_c_array(t)):
            raise NotLowered(f"{key} of a {t} operand")
    result_t = typing.op_type(op)
    result_dtype = out_dtype or result_t.dtype
    loops = loop_dtypes(key, [typing.type_of(bound[p]) for p in _ufunc_params(prim)]) \
        if ufunc_of(key) is not None else None
    if loops is not None:
        in_dtypes = dict(zip(_ufunc_params(prim), loops[0]))
        compute = loops[0][0]
    else:
        in_dtypes = {}
        compute = result_dtype
    for dtype in list(in_dtypes.values()) + [compute, result_dtype]:
        if c_type(dtype) is None:
            raise NotLowered(f"{key} computes in {np.dtype(dtype).name}, which C code cannot hold")
    if key == "pow" and compute.kind in "iub" and not _natural_constant(bound["y"]):
        raise NotLowered("integer ** needs a constant exponent >= 0 (NumPy raises otherwise)")
    values = {}
    for param, atom in bound.items():
        if param not in used:
            continue
        t = typing.type_of(atom)
        want = in_dtypes.get(param)
        if want is None:
            want = t.dtype if t.dtype == np.bool_ else compute
        values[param] = _cast(atom_c(atom), t.dtype, want)
    return _render(template, values, compute, decls)


def _check_defaults(prim, key, bound, used):
    """Parameters a rule does not mention must keep their defaults (dtype= is in the type)."""
    for param, atom in bound.items():
        if param not in used and param != "dtype" and not _is_default(prim, param, atom):
            raise NotLowered(f"{key} with {param}={to_source(atom).strip()}")


def _ufunc_params(prim):
    return list(prim.params)[:ufunc_of(prim.key).nin] if ufunc_of(prim.key) else list(prim.params)


def _is_default(prim, param, atom):
    if param not in prim.defaults:
        return False
    return isinstance(atom, gast.Constant) and atom.value == prim.defaults[param] and \
        type(atom.value) is type(prim.defaults[param])


def _natural_constant(atom):
    return isinstance(atom, gast.Constant) and isinstance(atom.value, (int, np.integer)) \
        and not isinstance(atom.value, bool) and atom.value >= 0


def _cast(code, have, want):
    if np.dtype(have) == np.dtype(want):
        return code
    want = np.dtype(want)
    literal = re.fullmatch(r"-?\d+(\.\d*)?(e-?\d+)?", code)
    if literal and want == np.float64:
        return repr(float(code))
    if literal and want.kind in "iu" and "." not in code and "e" not in code:
        return code
    return f"<{c_type(want)}>{wrap(code)}"


def _render(template, values, dtype, decls):
    """Cython source of a template, parameters replaced by `values` (C expressions)."""
    return strip_parens(_render_nested(template, values, dtype, decls))


def strip_parens(code):
    """`(a + b)` -> `a + b` when the outer parentheses enclose everything."""
    if code.startswith("(") and code.endswith(")"):
        depth = 0
        for k, ch in enumerate(code):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and k < len(code) - 1:
                return code
        return code[1:-1]
    return code


def wrap(code):
    """Parenthesize a C expression unless it is one name, literal, item or call."""
    if re.fullmatch(r"[\w.]+(\[[^\[\]]*\])?", code) or (
            code.startswith("(") and strip_parens(code) != code) or _is_call(code):
        return code
    return f"({code})"


def _is_call(code):
    match = re.match(r"[\w.]+\(", code)
    return bool(match) and code.endswith(")") and strip_parens(code[match.end() - 1:]) != \
        code[match.end() - 1:]


def _render_nested(template, values, dtype, decls):
    def walk(node):
        if isinstance(node, gast.Name):
            if node.id in values:
                return wrap(values[node.id])
            return node.id
        if isinstance(node, gast.Call):
            fname = node.func.id
            args = [strip_parens(walk(a)) for a in node.args]
            if fname in LIBM or fname in LIBM_PREDICATES:
                fname = decls.libm(fname, dtype, len(args))
            elif fname.startswith("astjax_"):
                fname = decls.helper(fname, dtype, len(args))
            return f"{fname}({', '.join(args)})"
        if isinstance(node, gast.BinOp):
            return f"({walk(node.left)} {_op_text(node.op)} {walk(node.right)})"
        if isinstance(node, gast.UnaryOp):
            return f"({UNARY_TEXT[type(node.op)]}{wrap(walk(node.operand))})"
        if isinstance(node, gast.Compare):
            return f"({walk(node.left)} {_op_text(node.ops[0])} {walk(node.comparators[0])})"
        if isinstance(node, gast.BoolOp):
            word = " and " if isinstance(node.op, gast.And) else " or "
            return "(" + word.join(walk(v) for v in node.values) + ")"
        if isinstance(node, gast.IfExp):
            return f"({walk(node.body)} if {walk(node.test)} else {walk(node.orelse)})"
        if isinstance(node, gast.Constant):
            return _c_literal(node.value, dtype)
        raise NotLowered(f"template construct {type(node).__name__}")
    return walk(template)


def _op_text(op):
    return {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Mod: "%",
            gast.BitAnd: "&", gast.BitOr: "|", gast.BitXor: "^", gast.Lt: "<", gast.LtE: "<=",
            gast.Gt: ">", gast.GtE: ">=", gast.Eq: "==", gast.NotEq: "!="}[type(op)]


def _c_literal(value, dtype):
    if isinstance(value, bool):
        return "True" if value else "False"
    if np.dtype(dtype) == np.float32 and isinstance(value, (int, float)):
        return f"<float>{float(value)!r}"
    if np.dtype(dtype).kind == "f" and isinstance(value, (int, float)):
        return repr(float(value))
    return repr(value)


CHECKED_INT_PRELUDE = '''\
cdef extern from "astjax_math.h" nogil:
    bint astjax_add_ovf(int64_t, int64_t, int64_t *)
    bint astjax_sub_ovf(int64_t, int64_t, int64_t *)
    bint astjax_mul_ovf(int64_t, int64_t, int64_t *)
    bint astjax_floordiv_ovf(int64_t, int64_t, int64_t *)
    int64_t astjax_py_mod_int(int64_t, int64_t)
    double astjax_py_floordiv_float(double, double)
    double astjax_py_mod_float(double, double)
from codegen.errors import IntOverflow as _AstjaxIntOverflow

cdef int64_t _astjax_overflow() except? -1 nogil:
    with gil:
        raise _AstjaxIntOverflow("Python int arithmetic left int64: rerun as Python")

cdef int64_t _astjax_zero_division(const char *what) except? -1 nogil:
    with gil:
        raise ZeroDivisionError(what.decode())

cdef double _astjax_zero_division_float(const char *what) except? -1.0 nogil:
    with gil:
        raise ZeroDivisionError(what.decode())

from codegen.errors import ListItemType as _AstjaxListItemType

cdef int _astjax_wrong_item(object o, str want) except -1:
    raise _AstjaxListItemType(f"a list item typed {want} holds the {type(o).__name__} {o!r}: "
                              "astjax inferred the list's items wrongly (please report)")

cdef inline int64_t _astjax_int_item(object o) except? -1:
    if type(o) is not int:
        _astjax_wrong_item(o, "int")
    return o

cdef inline double _astjax_float_item(object o) except? -1.0:
    if type(o) is not float:
        _astjax_wrong_item(o, "float")
    return o

cdef inline int64_t _astjax_ifloordiv(int64_t a, int64_t b) except? -1 nogil:
    cdef int64_t r
    if b == 0:
        return _astjax_zero_division(b"integer division or modulo by zero")
    if astjax_floordiv_ovf(a, b, &r):
        return _astjax_overflow()
    return r

cdef inline int64_t _astjax_pymod_int(int64_t a, int64_t b) except? -1 nogil:
    if b == 0:
        return _astjax_zero_division(b"integer modulo by zero")
    return astjax_py_mod_int(a, b)

cdef inline double _astjax_pyfloordiv_float(double a, double b) except? -1.0 nogil:
    if b == 0:
        return _astjax_zero_division_float(b"float floor division by zero")
    return astjax_py_floordiv_float(a, b)

cdef inline double _astjax_pymod_float(double a, double b) except? -1.0 nogil:
    if b == 0:
        return _astjax_zero_division_float(b"float modulo by zero")
    return astjax_py_mod_float(a, b)

'''

# one overflow-checked function per operator, all of the same shape
CHECKED_INT_PRELUDE += ''.join(f'''\
cdef inline int64_t _astjax_i{op}(int64_t a, int64_t b) except? -1 nogil:
    cdef int64_t r
    if astjax_{op}_ovf(a, b, &r):
        return _astjax_overflow()
    return r

''' for op in ("add", "sub", "mul"))

CHECKED_INT_PRELUDE += '''\
cdef inline int64_t _astjax_ipow(int64_t a, int64_t n) except? -1 nogil:
    cdef int64_t r = 1
    while n > 0:
        r = _astjax_imul(r, a)
        n -= 1
    return r
'''
CHECKED = {"add": "_astjax_iadd", "sub": "_astjax_isub", "mul": "_astjax_imul"}
# Python's floor // and % (C truncates), ZeroDivisionError on a zero divisor; the int
# floor division is overflow-checked (INT64_MIN // -1): _astjax_ifloordiv
INT_DIVISION = {"floordiv": "_astjax_ifloordiv", "mod": "_astjax_pymod_int"}
FLOAT_DIVISION = {"floordiv": "_astjax_pyfloordiv_float", "mod": "_astjax_pymod_float"}


def _python_operator(op, key, types, typing, atom_c):
    """An operator between Python scalars, with Python's meaning (Cython's semantics).

    Python ints are exact: int64 +, -, *, ** and unary - between them are overflow-checked
    (CHECKED_INT_PRELUDE), and an overflow reruns the call as Python."""
    values = [wrap(atom_c(a)) for a in operands(op)]
    result = typing.op_type(op)
    if isinstance(result, Scalar) and result.dtype.kind == "i" and \
            all(t.dtype.kind in "ib" for t in types):
        if key == "neg":
            return f"_astjax_isub(0, {strip_parens(values[0])})"
        if key in CHECKED:
            return f"{CHECKED[key]}({', '.join(strip_parens(v) for v in values)})"
        if key in INT_DIVISION:
            return f"{INT_DIVISION[key]}({', '.join(strip_parens(v) for v in values)})"
        if key == "pow":
            exponent = operands(op)[1]
            if isinstance(exponent, gast.Constant) and exponent.value == 2:
                return f"_astjax_imul({strip_parens(values[0])}, {strip_parens(values[0])})"
            return f"_astjax_ipow({', '.join(strip_parens(v) for v in values)})"
    if key in FLOAT_DIVISION and isinstance(result, Scalar) and result.dtype.kind == "f":
        args = ", ".join(f"<double>{v}" if t.dtype.kind != "f" else strip_parens(v)
                         for v, t in zip(values, types))
        return f"{FLOAT_DIVISION[key]}({args})"
    if isinstance(op, gast.UnaryOp):
        text = {"neg": "-", "pos": "+", "not_": "not "}[key]
        return f"{text}{values[0]}"
    if key == "pow":
        exponent = operands(op)[1]
        if isinstance(exponent, gast.Constant) and exponent.value == 2:
            return f"{values[0]} * {values[0]}"
        return f"{values[0]} ** {values[1]}"
    if key in ("and_", "or_", "xor") and not all(t.dtype.kind in "bi" for t in types):
        raise NotLowered(f"{key} of Python floats")
    return f"{values[0]} {OPERATOR_SYNTAX[key]} {values[1]}"


def c_literal_of(atom, dtype=None):
    """A constant atom as a C literal (cast to dtype when given)."""
    value = atom.value
    if dtype is not None:
        return _c_literal(value, dtype) if np.dtype(dtype).kind == "f" else \
            _cast(repr(int(value)) if not isinstance(value, bool) else str(int(value)),
                  np.int64, dtype)
    return "True" if value is True else "False" if value is False else repr(value)
