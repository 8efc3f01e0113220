"""Reverse-mode API with JAX's names and signatures: ``grad``, ``value_and_grad``, ``vjp``.

Each returns a *generated* Python function (its source in ``astjax.source``), cached per
(function, transformation, options), so ``grad(grad(f))`` transforms generated source again.
"""
import inspect
import numbers

import numpy as np

from astjax.frontend.syntax import gast
from astjax.core.emit import compile_functions
from astjax.errors import DifferentiationError
from astjax.core.normalize import normalize
from astjax.autodiff.reverse import grad_program, reverse_program, sweep_names

_CACHE = {}
_SOURCES = {}        # id(generated function) -> its full generated source


def _argnums_tuple(argnums, nparams, fname):
    single = isinstance(argnums, numbers.Integral)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not -nparams <= i < nparams:
            raise DifferentiationError(
                f"argnums {argnums!r} is out of range for {fname}, which takes {nparams} "
                f"positional parameters")
    return tuple(i % nparams for i in nums), single


def _build(fn, kind, argnums, has_aux):
    key = (fn, kind, argnums if not isinstance(argnums, list) else tuple(argnums), has_aux)
    hit = _CACHE.get(key)
    if hit is not None and not hit[2].stale():
        return hit[:2]
    program = normalize(fn, verb="differentiate")
    captures = program.captures(rederive=lambda: _build(fn, kind, argnums, has_aux)[0])
    entry = None
    if kind in ("grad", "value_and_grad"):
        nums, single = _argnums_tuple(argnums, len(program.main.params), program.entry)
        units = grad_program(program, kind, nums, single, has_aux)
        entry = units[0][0]
    else:
        units = reverse_program(program, program.main.params)
    label = f"{kind}({program.entry})"
    functions, source = compile_functions(units, label, entry and entry.name, captures)
    result = functions[entry.name] if entry is not None else functions
    for f in functions.values():
        _SOURCES[id(f)] = source
    if entry is not None:
        result.__astjax_source__ = source
        result.__qualname__ = entry.name
    _CACHE[key] = (result, program, captures)
    return result, program


def grad(fun, argnums=0, has_aux=False):
    """Gradient of a scalar function, as in ``jax.grad``: a function with ``fun``'s
    signature returning d fun / d args[argnums] (a tuple when argnums is a tuple)."""
    _check_callable(fun)
    return _build(fun, "grad", argnums, has_aux)[0]


def value_and_grad(fun, argnums=0, has_aux=False):
    """``(fun(*args), grad(fun)(*args))`` in one pass, as in ``jax.value_and_grad``."""
    _check_callable(fun)
    return _build(fun, "value_and_grad", argnums, has_aux)[0]


def vjp(fun, *primals, has_aux=False):
    """``(fun(*primals), vjp_fn)`` as in ``jax.vjp``; ``vjp_fn(cotangent)`` returns one
    cotangent per primal and may be called any number of times."""
    _check_callable(fun)
    functions, program = _build(fun, "vjp", None, False)
    fwd, bwd = (functions[n] for n in sweep_names(program.entry))
    tape = []
    everything = primals + tuple(_defaults_after(fun, len(primals)))
    out = fwd(*everything, tape)
    mutates = _mutates(program)
    first = [True]

    def vjp_fn(cotangent):
        if first[0] or not mutates:
            taped = list(tape)
            first[0] = False
        else:                        # the first reverse sweep restored overwritten items
            taped = []
            fwd(*everything, taped)
        if has_aux:
            cotangent = (cotangent, 0.0)
        grads = bwd(cotangent, taped)
        return tuple(_finalize(d, p) for d, p in zip(grads, primals))
    vjp_fn.__astjax_source__ = _SOURCES[id(fwd)]
    if has_aux:
        return out[0], vjp_fn, out[1]
    return out, vjp_fn


# normalize.py evaluates ``astjax.grad(g)`` in a function being transformed (``grad(g)(x)``
# inside it) and calls the generated gradient as a helper
grad.__astjax_transform__ = value_and_grad.__astjax_transform__ = True


def _defaults_after(fn, n):
    """The defaults of ``fn``'s positional parameters after the first ``n``: generated
    sweeps (f_jvp, f_fwd) take every parameter before their own, and a parameter left out
    keeps its default (a constant, as in JAX).  One without a default is a TypeError."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):                  # a ufunc: no Python parameters
        return []
    params = [p for p in signature.parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][n:]
    missing = [p.name for p in params if p.default is inspect.Parameter.empty]
    if missing:
        raise TypeError(f"{fn.__name__}() got {n} primals; missing "
                        f"{', '.join(map(repr, missing))}")
    return [p.default for p in params]


def _finalize(d, p):
    from astjax.rules.runtime import finalize
    return finalize(d, p)


def _mutates(program):
    for core in program.functions.values():
        for node in gast.walk(core.node):
            if isinstance(node, gast.Subscript) and isinstance(node.ctx, gast.Store):
                return True
            if isinstance(node, gast.Attribute) and node.attr in ("append", "pop"):
                return True
    return False


def _check_callable(fun):
    if not callable(fun):
        raise TypeError(f"expected a function, got {type(fun).__name__}")


def source(fn, stage="python"):
    """The generated source of a function astjax made (``grad(f)``, ``vmap(f)``, ``jit(f)``),
    or the core form of a plain function (``stage="core"``)."""
    text = getattr(fn, "__astjax_source__", None)
    if stage in ("python", None) and text is not None:
        return text
    getter = getattr(fn, "__astjax_stage__", None)
    if getter is not None:
        return getter(stage)
    if stage in ("core", "python"):
        program = normalize(fn)
        from astjax.core.emit import render
        return "\n\n".join(render(c.node) for c in program.functions.values())
    raise ValueError(f"no {stage!r} stage for {getattr(fn, '__name__', fn)}")
