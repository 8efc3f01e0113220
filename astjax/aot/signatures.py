"""Type signatures for ahead-of-time builds: ``"float32[:, :]"`` -> a structured Signature.

    parse_signature("(float64[::1], float64)")
        -> Signature((ArgType(float64, ndim=1, layout="C"), ArgType(float64, ndim=0)))
    signature_of_args((np.zeros(3), 2.0)).text  -> "(float64[::1], float)"

Grammar (Numba's spelling of memoryview types)::

    signature := type | "(" [type ("," type)* [","]] ")"
    type      := dtype | dtype "[" dim ("," dim)* "]"
    dim       := ":" | "::1"

``::1`` on the last axis means C-contiguous (``float32[:, ::1]``); ``[:]`` accepts any
strides (what jit compiles for Fortran-ordered and sliced arrays too).  dtypes are NumPy's
names (bool, int8 ... uint64, float32, float64, complex64, complex128).  Scalars follow NumPy 2's
promotion rules, where a Python scalar is *weak* (float32 array * 2.0 stays float32) and a
NumPy scalar is not, so the two are different types here: ``float``, ``int``, ``bool`` and
``complex`` mean Python scalars, ``float64`` means ``np.float64``.

Signatures are declared on the decorator, ``@astjax.jit(signatures=["float32[:]"])``, or as
string annotations, ``def f(x: "float32[:]", a: "float")``; ``declared_signatures`` reads
both.  A declared signature covers the leading positional parameters; the others take their
defaults.  A malformed string raises SignatureError naming it.
"""
import inspect
import re
from dataclasses import dataclass

import numpy as np

from astjax.errors import AstjaxError

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128")
PYTHON_SCALARS = {"bool": bool, "int": int, "float": float, "complex": complex}


class SignatureError(AstjaxError, ValueError):
    """A signature string that does not parse, or one that does not fit its function."""


@dataclass(frozen=True)
class ArgType:
    """The type of one argument: an array (ndim >= 1) or a scalar (ndim == 0).

    ``dtype`` is a NumPy dtype name; for a Python scalar it is the dtype NumPy gives it
    (float -> float64) and ``python`` is True.  ``layout`` is "C" (C-contiguous) or "A" (any
    strides) for arrays, as in codegen.types.
    """
    dtype: str
    ndim: int = 0
    layout: str = ""
    python: bool = False

    @property
    def text(self):
        if self.python:
            return next(k for k, v in PYTHON_SCALARS.items() if _py_dtype(v) == self.dtype)
        if self.ndim == 0:
            return self.dtype
        dims = [":"] * self.ndim
        if self.layout == "C":
            dims[-1] = "::1"
        return f"{self.dtype}[{', '.join(dims)}]"

    def accepts(self, value):
        """Whether ``value`` can be passed where this type is declared."""
        if self.python:
            return type(value) is PYTHON_SCALARS[self.text]
        if self.ndim == 0:
            return isinstance(value, np.generic) and value.dtype.name == self.dtype
        if not isinstance(value, np.ndarray) or value.ndim != self.ndim or \
                value.dtype.name != self.dtype:
            return False
        return value.flags.c_contiguous or self.layout == "A"

    def example(self, size=2):
        """A small value of this type (zeros), for code that needs a concrete argument."""
        if self.python:
            return PYTHON_SCALARS[self.text](0)
        if self.ndim == 0:
            return np.dtype(self.dtype).type(0)
        return np.zeros((size,) * self.ndim, dtype=self.dtype)

    def __str__(self):
        return self.text


@dataclass(frozen=True)
class Signature:
    """The types of a function's leading positional arguments."""
    args: tuple

    @property
    def text(self):
        """The canonical spelling, used in cache keys and manifests: ``(float64[:], float)``."""
        return "(" + ", ".join(a.text for a in self.args) + ")"

    def accepts(self, args):
        """Whether a call with positional ``args`` fits this signature."""
        return len(args) == len(self.args) and all(t.accepts(v) for t, v in zip(self.args, args))

    def examples(self, size=2):
        return tuple(t.example(size) for t in self.args)

    def __str__(self):
        return self.text

    def __len__(self):
        return len(self.args)


# ----------------------------------------------------------------------------- parsing

_TYPE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[([^\[\]]*)\])?\s*$")


def parse_signature(text):
    """A Signature from a string such as ``"float32[:, :]"`` or ``"(float64[:], float)"``."""
    if isinstance(text, Signature):
        return text
    if not isinstance(text, str):
        raise SignatureError(f"a signature is a string such as 'float64[:]', got "
                             f"{type(text).__name__} {text!r}")
    body = text.strip()
    if body.startswith("(") and body.endswith(")"):
        inner = body[1:-1].strip()
        parts = _split_top(inner, text) if inner else []
        if parts and parts[-1].strip() == "":
            parts.pop()                               # a trailing comma: "(float64,)"
    else:
        parts = [body]
    return Signature(tuple(parse_type(p, text) for p in parts))


def parse_type(part, whole=None):
    """One ArgType from ``"float64[::1]"``, ``"int64"`` or ``"float"``."""
    whole = part if whole is None else whole
    match = _TYPE.match(part)
    if not match:
        raise SignatureError(f"bad signature {whole!r}: cannot read {part.strip()!r} as a type "
                             f"(expected e.g. 'float64', 'float32[:, :]', 'int64[::1]')")
    name, dims = match.group(1), match.group(2)
    if dims is None:
        if name in PYTHON_SCALARS:
            return ArgType(_py_dtype(PYTHON_SCALARS[name]), 0, "", python=True)
        return ArgType(_dtype(name, whole), 0)
    if name in PYTHON_SCALARS and name != "bool":
        raise SignatureError(f"bad signature {whole!r}: arrays need a NumPy dtype, e.g. "
                             f"'{_py_dtype(PYTHON_SCALARS[name])}[{dims}]', not '{name}[{dims}]'")
    dtype = _dtype(name, whole)
    items = [d.replace(" ", "") for d in dims.split(",")]
    if any(d not in (":", "::1") for d in items):
        bad = next(d for d in items if d not in (":", "::1"))
        raise SignatureError(f"bad signature {whole!r}: array dimension {bad!r} in "
                             f"{part.strip()!r} must be ':' or '::1'")
    if "::1" in items[:-1]:
        raise SignatureError(f"bad signature {whole!r}: '::1' may mark only the last axis "
                             f"(C-contiguous); write ':' for any strides, in {part.strip()!r}")
    return ArgType(dtype, len(items), "C" if items[-1] == "::1" else "A")


def _split_top(inner, whole):
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
        if depth < 0:
            break
    if depth != 0:
        raise SignatureError(f"bad signature {whole!r}: unbalanced brackets")
    parts.append(inner[start:])
    if any(not p.strip() for p in parts[:-1]):
        raise SignatureError(f"bad signature {whole!r}: an empty type between commas")
    return parts


def _dtype(name, whole):
    if name in DTYPES:
        return name
    close = [d for d in DTYPES if d.rstrip("0123456789") == name.rstrip("0123456789")]
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    raise SignatureError(f"bad signature {whole!r}: unknown dtype {name!r}{hint}; known: "
                         f"{', '.join(DTYPES)}, and the Python scalars "
                         f"{', '.join(PYTHON_SCALARS)}")


def _py_dtype(pytype):
    return np.result_type(pytype(0)).name if pytype is not bool else "bool"


# ----------------------------------------------------------------------------- values

def to_types(sig):
    """The codegen.types of a Signature (what jit's specializer infers from), in order."""
    from codegen.types import Array, Scalar
    return tuple(Scalar(np.dtype(a.dtype), a.python) if a.ndim == 0 else
                 Array(np.dtype(a.dtype), a.ndim, a.layout) for a in parse_signature(sig).args)


def type_of(value):
    """The ArgType of a concrete argument (None for values signatures do not describe)."""
    if type(value) in PYTHON_SCALARS.values():
        return ArgType(_py_dtype(type(value)), 0, "", python=True)
    if isinstance(value, np.generic) and value.dtype.name in DTYPES:
        return ArgType(value.dtype.name, 0)
    if isinstance(value, np.ndarray) and value.dtype.name in DTYPES and value.ndim > 0:
        layout = "C" if value.flags.c_contiguous else "A"
        return ArgType(value.dtype.name, value.ndim, layout)
    return None


def signature_of_args(args):
    """The most specific Signature of a call's positional ``args`` (None if some argument is
    not an array or scalar)."""
    types = tuple(type_of(v) for v in args)
    return None if any(t is None for t in types) else Signature(types)


# ----------------------------------------------------------------------------- declarations

def declared_signatures(fn, signatures=None):
    """The Signatures declared for ``fn``: the ``signatures=`` list of its decorator, else its
    string annotations (every leading positional parameter annotated), else []."""
    params = _positional(fn)
    if signatures is not None:
        if isinstance(signatures, (str, Signature)):
            signatures = [signatures]
        out = [parse_signature(s) for s in signatures]
        for s in out:
            if len(s) > len(params):
                raise SignatureError(
                    f"signature {s.text!r} has {len(s)} types but "
                    f"{getattr(fn, '__qualname__', fn)} takes {len(params)} positional "
                    f"parameters ({', '.join(p.name for p in params)})")
            missing = [p.name for p in params[len(s):] if p.default is inspect.Parameter.empty]
            if missing:
                raise SignatureError(
                    f"signature {s.text!r} does not cover {', '.join(missing)} of "
                    f"{getattr(fn, '__qualname__', fn)}, which have no default")
        return out
    return _from_annotations(fn, params)


def _positional(fn):
    try:
        sig = inspect.signature(inspect.unwrap(fn))
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _from_annotations(fn, params):
    notes = [_annotation_type(p, fn) for p in params]
    if not any(notes):
        return []
    types = []
    for p, note in zip(params, notes):
        if note is None:
            if p.default is inspect.Parameter.empty:
                raise SignatureError(
                    f"{getattr(fn, '__qualname__', fn)}: parameter {p.name!r} has no type "
                    f"annotation while others do; annotate every parameter without a default "
                    f"(e.g. {p.name}: \"float64[:]\")")
            break
        types.append(note)
    return [Signature(tuple(types))]


def _annotation_type(param, fn):
    """The ArgType a parameter's annotation declares, or None when it declares none (no
    annotation, or one such as ``np.ndarray`` that is not a signature)."""
    note = param.annotation
    if isinstance(note, type):
        if note in PYTHON_SCALARS.values():
            return ArgType(_py_dtype(note), 0, "", python=True)
        if issubclass(note, np.generic) and np.dtype(note).name in DTYPES:
            return ArgType(np.dtype(note).name, 0)
        return None
    if not isinstance(note, str):
        return None
    head = re.match(r"\s*(\w+)\s*(\[)?", note)
    if head is None or not (head.group(2) or head.group(1) in DTYPES
                            or head.group(1) in PYTHON_SCALARS):
        return None
    return parse_type(note, f"{getattr(fn, '__qualname__', fn)}({param.name}: {note!r})")
