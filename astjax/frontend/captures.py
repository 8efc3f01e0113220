"""Captured names: what a transformed function reads from its globals and closure cells.

Python reads a global or a closure cell when the function runs, so generated code does too:

* **data** (floats, complex numbers, arrays, any other object) is *read at each call* through
  the user's module dict or the cell itself.  The generated function's prologue says so::

      def grad_g(x):
          # g reads these globals when it runs (astjax/frontend/captures.py)
          W = _globals['W']
          ...

* what a transform **specializes on** is folded into the code and *guarded*: a helper
  function it follows (called by name, so its derivative could be generated), a module, and
  an int/bool/str/None/tuple value (axes, sizes, flags: folded as constants).  The guard is
  an identity check (an equality check for the constants); when it fails, the transformation
  is derived again for the current values and that one runs::

          if _captures.stale():            # a helper or a folded constant was rebound
              return _captures.rederive(x)

``Capture`` says where one name comes from; ``Captures`` is a function's (or a whole
program's) set of them, with the fast ``stale()`` check compiled from its guards.
"""
import types

import numpy as np

_MISSING = object()

# values a transform folds into code (and guards by equality) rather than reading each call
STATIC_TYPES = (bool, int, str, type(None))


def is_static(value):
    if type(value) in STATIC_TYPES:
        return True
    return type(value) is tuple and all(is_static(v) for v in value)


class Capture:
    """Where a free name's value lives: ``('global', module dict, name)``,
    ``('cell', cell, name)``, ``('bound', object, 'self')`` (a bound method's receiver),
    ``('builtin', None, name)``; or an attribute chain read on one of those
    (``cfg.w``: ``base`` is cfg's Capture, ``attrs`` is ('w',), key 'cfg.w'), read when the
    function runs like the name itself."""

    __slots__ = ("kind", "holder", "key", "base", "attrs")

    def __init__(self, kind, holder, key, base=None, attrs=()):
        self.kind, self.holder, self.key = kind, holder, key
        self.base, self.attrs = base, tuple(attrs)

    @classmethod
    def attribute(cls, base, attrs):
        """``base.a.b``: held where ``base`` is held."""
        return cls(base.kind, base.holder, ".".join((base.key,) + tuple(attrs)), base, attrs)

    def read(self):
        if self.base is not None:
            value = self.base.read()
            for a in self.attrs:
                value = getattr(value, a, _MISSING) if value is not _MISSING else value
            return value
        if self.kind == "global":
            return self.holder.get(self.key, _MISSING)
        if self.kind == "cell":
            try:
                return self.holder.cell_contents
            except ValueError:
                return _MISSING
        if self.kind == "bound":
            return self.holder
        return _MISSING

    def text(self, holder, checked=False):
        """Source reading this value from ``holder`` (the name holding ``self.holder``):
        ``h['W']`` (``h.get('W', M)`` when ``checked``), ``h.cell_contents``, ``h.w``."""
        if self.base is not None:
            return self.base.text(holder, checked) + "".join(f".{a}" for a in self.attrs)
        if self.kind == "global":
            return f"{holder}.get({self.key!r}, M)" if checked else f"{holder}[{self.key!r}]"
        if self.kind == "cell":
            return f"{holder}.cell_contents"
        return holder

    @property
    def live(self):
        return self.kind in ("global", "cell") or self.base is not None

    def same_place(self, other):
        return self.kind == other.kind and self.holder is other.holder and self.key == other.key


class Guard:
    """One specialization: ``capture`` held ``expected`` when the code was derived.
    ``by`` is 'is' (functions, modules, objects) or '==' (folded constants, same type)
    or 'kind' (a value read each call, whose type, dtype and rank the code assumed)."""

    __slots__ = ("capture", "expected", "by")

    def __init__(self, capture, expected, by):
        self.capture, self.expected, self.by = capture, expected, by


def kind_of(value):
    """What code derived for a value assumes of it: type, and dtype and rank for arrays."""
    if type(value) is np.ndarray:
        return (np.ndarray, value.dtype, value.ndim)
    if isinstance(value, np.generic):
        return (type(value),)
    if isinstance(value, np.dtype):
        return value
    return type(value)


class Captures:
    """The guards of a derived function, and how to derive it again."""

    def __init__(self, guards=(), rederive=None):
        self.guards = []
        for g in guards:
            self.add(g)
        self.rederive_fn = rederive

    def add(self, guard):
        for g in self.guards:
            if g.capture.same_place(guard.capture) and g.by == guard.by:
                return
        self.guards.append(guard)
        self.__dict__.pop("stale", None)     # compiled again on next use

    def __bool__(self):
        return bool(self.guards)

    def stale(self):
        """Whether any guard fails.  The first call compiles the checks into one expression
        (``helper_dict.get('helper', M) is not seen0 or ...``) that later calls run."""
        self.stale = _compile_check(self.guards)
        return self.stale()

    def rederive(self, *args):
        """Derive the transformation again for the current values and call it."""
        fresh = self.rederive_fn()
        again = getattr(fresh, "__astjax_captures__", None)
        if again is self or (again is not None and again.stale()):
            from astjax.errors import AstjaxError
            names = ", ".join(sorted({g.capture.key for g in self.guards}))
            raise AstjaxError(f"{getattr(fresh, '__name__', 'the transformed function')} was "
                              f"derived again for the current values of {names}, and they "
                              f"changed while it was derived")
        return fresh(*args)


def _compile_check(guards):
    if not guards:
        return lambda: False
    names = {"M": _MISSING, "kind_of": kind_of}
    terms = []
    for i, g in enumerate(guards):
        c = g.capture
        names[f"h{i}"], names[f"e{i}"], names[f"t{i}"] = c.holder, g.expected, type(g.expected)
        read = c.text(f"h{i}", checked=True)
        if g.by == "is":
            terms.append(f"{read} is not e{i}")
        elif g.by == "==":
            terms.append(f"((v := {read}) is not e{i} and not (type(v) is t{i} and v == e{i}))")
        else:
            terms.append(f"kind_of({read}) != e{i}")
    text = "def stale():\n    try:\n        return " + " or ".join(terms) + \
        "\n    except (ValueError, AttributeError):\n        return True\n"    # an emptied cell
    exec(compile(text, "<astjax guards>", "exec"), names)
    return names["stale"]


def is_module(value):
    return isinstance(value, types.ModuleType)


def stale(obj):
    """Whether a derived function (or program) was derived for values that changed since."""
    captures = getattr(obj, "__astjax_captures__", None)
    return captures is not None and captures.stale()
