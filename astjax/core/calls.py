"""Calls and attributes for normalize.py: what a callee or an attribute chain means.

A callee is a primitive (``np.exp``, ``math.sin``, ``len``, a NumPy array method or a builtin
that means a NumPy function), one of the user's helpers (normalized too, called with every
parameter positional: defaults and keywords are bound here), or a call of an astjax
transformation evaluated now (``astjax.grad(g)(x)``).  Attribute chains on captured modules
and objects become dotted primitives or captured constants.

Before::

    y = x.sum(axis=0) + abs(x.T)
    z = helper(y, scale=2.0)          # def helper(y, scale=1.0): ...

After::

    sum1 = np.sum(x, axis=0)          # an array method: the NumPy function, receiver first
    transpose2 = np.transpose(x)      # an array attribute
    abs3 = np.abs(transpose2)         # a builtin that means a NumPy function
    y = sum1 + abs3
    z = helper(y, 2.0)                # a helper: every parameter positional

``CallResolution`` is a mixin of ``normalize._Normalizer``, which supplies ``atom``,
``emit``, ``capture_value``, ``fail`` and ``name_of``.
"""
import builtins
import inspect
import os
import sysconfig
import types

import numpy as np

from astjax.rules import registry as primitives
from astjax.frontend.syntax import call, const, dotted, gast, name
from astjax.core.nested import LiftedFunction
from astjax.frontend.captures import Capture, Guard, is_static
from astjax.core.form import bind, is_atom
from astjax.errors import NoRuleError, SourceError, UnsupportedError
from astjax.frontend.source import is_cache, transformable


# array methods and attributes -> the NumPy function they mean (receiver first)
METHODS = {m: f"np.{m}" for m in ("sum", "mean", "prod", "max", "min", "var", "std", "cumsum",
                                  "argmax", "argmin", "any", "all", "ravel", "squeeze", "dot",
                                  "clip", "round", "swapaxes", "copy", "astype", "flatten",
                                  "reshape", "transpose")}
METHODS["flatten"] = "np.ravel"
ATTRIBUTES = {"T": "np.transpose", "shape": "np.shape", "ndim": "np.ndim", "size": "np.size",
              "dtype": "np.result_type"}
# builtins that mean a NumPy function
BUILTIN_AS = {"abs": "np.abs", "sum": "np.sum", "any": "np.any", "all": "np.all"}
# Methods of np.random.RandomState / np.random.Generator (and functions of np.random) that
# draw numbers: ``_ax.draw(rs, 'randn', 3)``, a constant of the sample through which no
# derivative flows (as autograd treats it; the reparameterization ``mean + std * eps`` then
# differentiates through mean and std).  ``shuffle`` writes its argument: not a draw.
RANDOM_METHODS = {
    "rand", "randn", "randint", "random", "random_sample", "ranf", "sample", "uniform",
    "normal", "standard_normal", "lognormal", "exponential", "standard_exponential", "gamma",
    "standard_gamma", "beta", "binomial", "poisson", "choice", "permutation", "integers",
    "multivariate_normal", "dirichlet", "laplace", "logistic", "gumbel", "chisquare",
    "standard_t", "standard_cauchy", "weibull", "geometric", "multinomial", "bytes",
    "RandomState", "default_rng", "Generator", "seed", "get_state", "set_state"}


def _random_draw(value):
    """The method name when ``value`` is a function of np.random or a method of one of its
    generators (a RandomState, a Generator), else None."""
    name = getattr(value, "__name__", None)
    if name not in RANDOM_METHODS:
        return None
    owner = getattr(value, "__self__", None)
    if isinstance(owner, (np.random.RandomState, np.random.Generator)):
        return name
    if getattr(value, "__module__", "") and str(value.__module__).startswith("numpy.random"):
        return name
    if isinstance(value, type) and value in (np.random.RandomState, np.random.Generator):
        return name
    return None


# builtins that consume a whole iterable: a generator passed to one reads as a list
_CONSUMERS = (sum, any, all, max, min, list, tuple, sorted)


def _plain_lambda(f, n):
    """``lambda a, b: ...`` with ``n`` plain positional parameters (map can inline it)."""
    a = f.args
    return len(a.args) == n and not (a.vararg or a.kwarg or a.kwonlyargs or a.defaults or
                                     getattr(a, "posonlyargs", None))


def _located(node, where):
    """``node`` (and what it holds) placed at ``where`` in the user's source."""
    for n in gast.walk(node):
        if getattr(n, "lineno", None) is None and hasattr(where, "lineno"):
            n.lineno, n.col_offset = where.lineno, where.col_offset
    return node


class CallResolution:
    """Callee and attribute resolution of ``_Normalizer``."""

    # -- attributes ---------------------------------------------------------------------------
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
                live = self.live_attribute(e, value)
                return live if live is not None else self.capture_value(e.attr, value)
            self.fail(e, f"attribute '.{e.attr}' is not supported")
        return call(target, [self.atom(e.value, out)])

    def live_attribute(self, e, value):
        """``cfg.w`` / ``self.w`` on a captured object, read when the function runs as the
        name itself is: data becomes a live capture (a local set on entry); an int, bool,
        str, None or tuple is folded and guarded by equality.  None for what stays a
        captured constant (functions, modules, types)."""
        base, parts = e, []
        while isinstance(base, gast.Attribute):
            parts.append(base.attr)
            base = base.value
        origin = self.parsed.captures.get(base.id) if isinstance(base, gast.Name) else None
        if origin is None or not (origin.live or origin.kind == "bound") or \
                primitives.module_path(self.parsed.env.get(base.id)) is not None:
            return None
        capture = Capture.attribute(origin, parts[::-1])
        if is_static(value):
            self.attr_guards.append(Guard(capture, value, "=="))
            return const(value) if not isinstance(value, tuple) else \
                self.capture_value(e.attr, value)
        if callable(value) or isinstance(value, (type, types.ModuleType)):
            # a bound method is made anew at each read: equal while its function and object are
            self.attr_guards.append(Guard(capture, value, "==" if isinstance(
                value, types.MethodType) else "is"))
            return None
        for existing, c in self.env.live.items():
            if c.same_place(capture):
                return name(existing)
        key = self.fresh.exact("_".join([base.id] + parts[::-1]).lstrip("_") or "attr")
        self.env[key] = value
        self.env.live[key] = capture
        return name(key)

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

    # -- calls --------------------------------------------------------------------------------
    def resolve_callee(self, func):
        """('prim', dotted key) | ('helper', function) | ('method', name) | ('value', obj)."""
        if isinstance(func, gast.Attribute):
            path = self.static_path(func)
            if path is not None and primitives.lookup(path) is None:
                value = primitives.resolve_path(path)
                stand_in = primitives.replacement(value) if value is not None else None
                if stand_in is not None:
                    return ("helper", stand_in)   # scipy.stats.norm.logpdf
            if path is not None:
                return ("prim", path)
            value = self.static_value(func)
            if value is not _NOVALUE:
                self.live_attribute(func, value)     # guarded: cfg.act = np.sin is seen
                return self.classify(value, func)
            return ("method", func.attr)
        if isinstance(func, gast.Name):
            if func.id in self.nested:
                return ("helper", self.nested[func.id])
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
        stand_in = primitives.replacement(value)     # scipy.special.logsumexp, norm.logpdf
        if stand_in is not None:
            return ("helper", stand_in)
        key = primitives.canonical_name(value)
        if key is not None:
            return ("prim", key)
        if _random_draw(value) is not None:
            return ("random", value)
        transformed = getattr(value, "__astjax_function__", None)
        if transformed is not None:
            return ("helper", transformed)
        if isinstance(value, types.MethodType) and isinstance(value.__func__, types.FunctionType) \
                and not _is_library(value.__func__) and not isinstance(value.__self__, type):
            return ("helper", value)             # self.layer(x): the method, self bound
        if isinstance(value, types.FunctionType) and not _is_library(value):
            return ("helper", value)
        if is_cache(value) and not _is_library(value.__wrapped__):
            return ("helper", value.__wrapped__)  # functools.lru_cache: the function it caches
        if getattr(value, "__wrapped__", None) is not None and not _is_library(value) and \
                not isinstance(value, types.FunctionType):
            try:
                transformable(value)
            except UnsupportedError as exc:       # a decorator returned an object
                where_def = f" ({exc.where[0]}:{exc.where[1]})" if exc.where else ""
                self.fail(where, exc.message.replace(" is decorated", f"{where_def} is "
                                                     "decorated", 1))
        if isinstance(value, np.ufunc) or callable(value):
            module = getattr(value, "__module__", None) or type(value).__module__
            label = f"{module}.{getattr(value, '__name__', type(value).__name__)}"
            self.fail(where, f"{label} has no astjax rule (only NumPy, math and your own "
                             f"Python functions can be transformed)", NoRuleError)
        self.fail(where, f"{value!r} is not callable")

    def builtin_of(self, func):
        """The builtin a call's name means (not shadowed by a local or a global), or None."""
        if isinstance(func, gast.Name) and func.id not in self.locals and \
                func.id not in self.nested and hasattr(builtins, func.id) and \
                self.parsed.env.get(func.id, getattr(builtins, func.id)) is \
                getattr(builtins, func.id):
            return getattr(builtins, func.id)
        return None

    def desugar(self, e):
        """Python's iteration builtins, spelled as the list comprehensions they mean:

            sum(v * v for v in x)     ->  sum([v * v for v in x])      (any, all, max, ...)
            map(f, a, b)              ->  [f(a1, b1) for a1, b1 in zip(a, b)]
            map(lambda v: v * v, x)   ->  [v * v for v in x]
            dict(w=x, b=2.0)          ->  {'w': x, 'b': 2.0}

        A generator is consumed whole by those builtins, so the list gives the same values;
        returns ``e`` itself when nothing applies."""
        fn = self.builtin_of(e.func)
        if fn is None:
            return e
        if fn in _CONSUMERS and len(e.args) == 1 and isinstance(e.args[0], gast.GeneratorExp):
            gen = e.args[0]
            comp = gast.ListComp(elt=gen.elt, generators=gen.generators)
            return gast.Call(func=e.func, args=[_located(comp, gen)], keywords=e.keywords)
        if fn is map and len(e.args) >= 2 and not e.keywords and \
                not any(isinstance(a, gast.Starred) for a in e.args):
            f, iterables = e.args[0], e.args[1:]
            if isinstance(f, gast.Lambda) and _plain_lambda(f, len(iterables)):
                params = [gast.Name(id=a.id, ctx=gast.Store(), annotation=None,
                                    type_comment=None) for a in f.args.args]
                elt = f.body
            else:
                params = [name(self.fresh("item"), gast.Store()) for _ in iterables]
                elt = gast.Call(func=f, args=[name(p.id) for p in params], keywords=[])
            if len(iterables) == 1:
                target, source = params[0], iterables[0]
            else:
                target = gast.Tuple(elts=params, ctx=gast.Store())
                zip_name = "zip"
                if self.builtin_of(name("zip")) is not zip:       # the user's own zip
                    self.fail(e, "map over several iterables needs the builtin zip")
                self.parsed.env.setdefault("zip", zip)
                source = gast.Call(func=name(zip_name), args=list(iterables), keywords=[])
            comp = gast.ListComp(elt=elt, generators=[gast.comprehension(
                target=target, iter=source, ifs=[], is_async=0)])
            return _located(comp, e)
        if fn is dict and not e.args and e.keywords and all(k.arg for k in e.keywords):
            return _located(gast.Dict(keys=[const(k.arg) for k in e.keywords],
                                      values=[k.value for k in e.keywords]), e)
        return e

    def call(self, e, out):
        sugar = self.desugar(e)
        if sugar is not e:
            return self.expr(sugar, out)
        fn = self.builtin_of(e.func)
        if fn in (list, tuple) and len(e.args) == 1 and not e.keywords and \
                not isinstance(e.args[0], gast.Starred):
            # list(seq): a copy of an iterable's items (the display [a, b] is another entry)
            return call(f"_ax.as_{fn.__name__}", [self.atom(e.args[0], out)])
        kind, what = self.resolve_callee(e.func)
        if kind == "prim" and primitives.lookup(what) is None and \
                _random_draw(primitives.resolve_path(what)) is not None:
            kind, what = "random", primitives.resolve_path(what)     # np.random.randn
        if kind == "random" or kind == "method" and what in RANDOM_METHODS:
            return self.random_draw(e, kind, what, out)
        if any(isinstance(a, gast.Starred) for a in e.args) or any(
                k.arg is None for k in e.keywords):
            self.fail(e, "*args and **kwargs in calls are not supported")
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
        if prim is not None and prim.mutates and not getattr(self, "_in_writer", False):
            self.fail(e, f"{key} writes into its argument '{prim.mutates}' and returns None: "
                         f"call it as a statement of its own")
        if prim is not None:
            try:
                bind(prim, node)
            except TypeError as exc:
                self.fail(e, str(exc))
        return node

    def random_draw(self, e, kind, what, out):
        """``rs.randn(3)``, ``np.random.normal(size=n)``, ``rng.standard_normal(*x.shape)``
        -> ``_ax.draw(rs, 'randn', 3)``; with one ``*args``, ``_ax.draw_from(rs, 'randn',
        args)``."""
        if any(k.arg is None for k in e.keywords):
            self.fail(e, "**kwargs in calls are not supported")
        if isinstance(e.func, gast.Attribute):
            path = self.static_path(e.func.value)
            module = primitives.resolve_path(path) if path is not None else None
            if isinstance(module, types.ModuleType):       # np.random: a captured constant
                source = self.capture_value(path.replace(".", "_"), module)
            else:
                source = self.atom(e.func.value, out)     # a generator: rs, rng, RNG
            method = e.func.attr
        else:                                              # from numpy.random import randn
            owner = getattr(what, "__self__", None)
            source = self.capture_value("random_source", owner if owner is not None
                                        else np.random)
            method = _random_draw(what)
        kws = {k.arg: self.atom(k.value, out) for k in e.keywords}
        starred = [a for a in e.args if isinstance(a, gast.Starred)]
        helper = "_ax.draw"
        if starred:
            if len(e.args) != 1:
                self.fail(e, "a random draw takes either positional arguments or one *args")
            args = [self.atom(starred[0].value, out)]
            helper = "_ax.draw_from"
        else:
            args = [self.atom(a, out) for a in e.args]
        return call(helper, [source, const(method)] + args, kws)

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
        # a lifted nested function: the outer locals it reads go first (core/nested.py)
        if isinstance(fn, LiftedFunction):
            args = [name(c) for c in fn.captured] + list(args)
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
    if module == "astjax.rules.numpy_source" or (                     # stand-ins
            module.startswith("astjax.rules.") and module.endswith("_numpy")):
        return False
    if module.split(".")[0] in ("numpy", "math", "builtins", "scipy", "astjax"):
        return True
    filename = os.path.realpath(getattr(getattr(fn, "__code__", None), "co_filename", "") or "")
    return any(filename.startswith(p + os.sep) for p in _library_dirs())


def _library_dirs():
    paths = sysconfig.get_paths()
    return {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")
            if k in paths}
