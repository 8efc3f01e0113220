"""The registry behind the rule table: what a primitive is and how a live object finds its entry.

A *primitive* is one operation the transforms know: a NumPy or ``math`` function
(``np.exp``), a Python operator (``add`` for ``a + b``), indexing (``getitem``), or a helper
of astjax's runtime that generated code calls (``_ax.unbroadcast``).  Every rule about it —
reverse-mode adjoints, forward-mode tangent, batching, Cython lowering — sits in ONE entry
in ``rules.py``, written with :func:`defprim`.

Rules are small NumPy-source *templates* over these names:

    x, y, axis, ...   the primitive's parameters (from its ``params`` signature)
    ans               its result
    g                 (vjp) the cotangent of the result
    t_x, t_y, ...     (jvp) the tangents of the parameters; a non-active one is a symbolic
                      zero that forward.py simplifies away (``t_x * y + x * t_y`` becomes
                      ``t_x * y``), so write jvp templates as sums of terms linear in tangents

A vjp template gives, per differentiable parameter, the cotangent that flows to it; a jvp
template gives the tangent of the result (one expression over all ``t_<param>``).  The
transforms parse templates, substitute the actual operands, and normalize the result into
core form, so generated code is again plain, transformable NumPy.
"""
import ast
import builtins
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from astjax.rules import runtime

REGISTRY = {}


@dataclass
class Primitive:
    key: str                          # 'np.exp', 'add', 'getitem', '_ax.unbroadcast'
    params: tuple                     # parameter names, in call order
    defaults: dict                    # parameter -> default value (a Python constant)
    vjp: dict = field(default_factory=dict)   # parameter -> cotangent template
    jvp: object = None                # tangent template (str) or None
    batch: object = None              # batching rule (see batching.py)
    cython: object = None             # Cython lowering (see codegen/)
    nondiff: bool = False             # result carries no derivative (comparisons, shapes)
    varargs: bool = False             # call takes *params (np.broadcast_arrays-like)
    mutates: object = None            # the parameter it writes into (np.copyto: 'dst'), or None
    update: object = None             # with mutates: the key of its pure form, which returns
                                      # the written array (normalize.py rewrites the call)
    extra: dict = field(default_factory=dict)   # further per-transform fields

    def __repr__(self):
        return f"<primitive {self.key}>"


def defprim(key, params="x", *, aliases=(), vjp=None, jvp=None, batch=None, cython=None,
            nondiff=False, mutates=None, update=None, **extra):
    """Declare a primitive with all its rules.  ``params`` is a Python parameter list
    (``"x, axis=None, keepdims=False"``); ``aliases`` are other dotted names of the same
    function (``np.absolute``) whose calls share this entry.  A function that writes into an
    operand (``np.copyto(dst, src)``) names it in ``mutates`` and gives in ``update`` the key
    of a pure primitive with the same parameters that returns the written array."""
    names, defaults, varargs = _parse_params(params)
    if (mutates is None) != (update is None) or mutates is not None and mutates not in names:
        raise ValueError(f"{key}: mutates= names a parameter and comes with update=")
    prim = Primitive(key=key, params=names, defaults=defaults, vjp=dict(vjp or {}), jvp=jvp,
                     batch=batch, cython=cython, nondiff=nondiff, varargs=varargs,
                     mutates=mutates, update=update, extra=extra)
    REGISTRY[key] = prim
    for alias in aliases:
        ALIASES[alias] = key
    return prim


ALIASES = {}


def lookup(key):
    """The primitive for a canonical key, following aliases; None if there is no entry."""
    key = ALIASES.get(key, key)
    return REGISTRY.get(key)


def _parse_params(params):
    fn = ast.parse(f"def f({params}): pass").body[0]
    args = fn.args
    names = tuple(a.arg for a in args.args + args.kwonlyargs)
    defaults = {}
    for a, d in zip(args.args[len(args.args) - len(args.defaults):], args.defaults):
        defaults[a.arg] = ast.literal_eval(d)
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        if d is not None:
            defaults[a.arg] = ast.literal_eval(d)
    varargs = args.vararg is not None
    if varargs:
        names = (args.vararg.arg,) + names
    return names, defaults, varargs


# ---- canonical names of live objects ---------------------------------------------------------

_MODULES = {"np": np, "np.linalg": np.linalg, "np.fft": np.fft, "math": math, "_ax": runtime}
_BUILTINS = {"len", "range", "float", "int", "bool", "abs", "min", "max", "sum", "enumerate",
             "zip", "isinstance", "print", "tuple", "list", "reversed", "slice", "any", "all"}
_CANONICAL = None


def module_path(value):
    """'np' / 'np.linalg' / 'math' / '_ax' (and 'scipy...' once SciPy is imported) for
    modules astjax knows, else None."""
    if not _SCIPY_LOADED and getattr(value, "__name__", "").startswith("scipy"):
        load_scipy()
    for path, module in _MODULES.items():
        if value is module:
            return path
    return None


# SciPy is optional and slow to import: its entries (astjax/rules/scipy.py) are loaded once
# the user's program has imported it, when a transform first meets a name it does not know.
_SCIPY_LOADED = False
SCIPY_ENTRIES = []      # the functions that register them (astjax/rules/scipy.py adds one)
REPLACEMENTS = {}       # key of a library function -> the NumPy helper astjax differentiates


def load_scipy():
    """Register SciPy's entries if the program has imported SciPy; True once they are."""
    global _SCIPY_LOADED, _CANONICAL
    if _SCIPY_LOADED:
        return True
    if "scipy" not in sys.modules:
        return False
    import scipy
    import scipy.special
    import scipy.stats
    _MODULES.update({"scipy": scipy, "scipy.special": scipy.special,
                     "scipy.stats": scipy.stats})
    _SCIPY_LOADED = True
    for register in SCIPY_ENTRIES:
        register()
    _CANONICAL = None                           # index the new modules too
    return True


def _replacement_key(value):
    owner = getattr(value, "__self__", None)
    if owner is not None and not isinstance(owner, type(np)):
        return (id(owner), getattr(value, "__name__", None))   # norm.logpdf, a bound method
    return id(value)


def replace_with(value, helper):
    """Differentiate calls of library function ``value`` through ``helper``, NumPy source
    astjax reads like a user's helper (scipy.special.logsumexp, scipy.stats.norm.logpdf)."""
    REPLACEMENTS[_replacement_key(value)] = (value, helper)


def replacement(value):
    """The NumPy helper that stands for library function ``value``, or None."""
    if not REPLACEMENTS and not load_scipy():
        return None
    hit = REPLACEMENTS.get(_replacement_key(value))
    if hit is None and load_scipy():
        hit = REPLACEMENTS.get(_replacement_key(value))
    return hit[1] if hit is not None else None


def canonical_name(value):
    """The dotted name by which generated code calls ``value`` ('np.exp', 'math.sin', 'len'),
    or None when it is not a function of NumPy, math, the builtins or astjax's runtime."""
    found = _canonical_name(value)
    if found is None and not _SCIPY_LOADED and load_scipy():
        found = _canonical_name(value)
    return found


def _canonical_name(value):
    global _CANONICAL
    if _CANONICAL is None:
        _CANONICAL = {}
        for path, module in _MODULES.items():
            # vars(), not dir()+getattr(): NumPy loads submodules (f2py, testing) lazily on
            # attribute access, which would cost a fraction of a second here
            for attr, obj in list(vars(module).items()):
                if attr.startswith("__"):
                    continue
                if callable(obj) and not isinstance(obj, type(np)):
                    _CANONICAL.setdefault(id(obj), f"{path}.{attr}")
        for attr in sorted(_BUILTINS):
            _CANONICAL[id(getattr(builtins, attr))] = attr
        # A registered key wins over whatever name dir() found first (np.abs vs np.absolute).
        for key in list(REGISTRY) + list(ALIASES):
            obj = resolve_path(key)
            if obj is not None:
                _CANONICAL[id(obj)] = key
    return _CANONICAL.get(id(value))


def resolve_path(path):
    """The live object of a dotted name such as 'np.linalg.solve', or None."""
    head, _, rest = path.partition(".")
    if head == "scipy" and not load_scipy():
        return None
    if head in ("np", "math", "_ax", "scipy"):
        obj = _MODULES[head]
    elif not rest and hasattr(builtins, head):
        return getattr(builtins, head)
    else:
        return None
    for part in rest.split(".") if rest else ():
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
