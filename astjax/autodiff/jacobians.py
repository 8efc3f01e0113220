"""Forward mode and Jacobians with JAX's names and signatures: ``jvp``, ``jacfwd``, ``jacrev``,
``hessian``.

Each builds *generated* source, cached per (function, transformation, argnums), so every
result can be transformed again: ``jacfwd(jacrev(f))``, ``grad(grad(grad(f)))``,
``jvp(grad(f), ...)``.  ``jacfwd(f)`` is a generated function that pushes the basis tangents
(one per input element) through ``f_jvp_many`` together: the primal runs once, each tangent
statement maps over the list of tangents; ``jacrev(f)`` runs ``f``'s forward sweep once and
its reverse sweep once per output element; ``hessian(f)`` is ``jacfwd(jacrev(f))``
(forward-over-reverse).  Results have JAX's layout: output shape + input shape, pytree of
outputs holding pytrees of inputs.  A NumPy function (``jacfwd(np.exp)``) is first wrapped in
a generated one-line function.
"""
import linecache

import numpy as np

from astjax.rules import registry as primitives
from astjax.frontend.syntax import gast, parse
from astjax.api import _argnums_tuple, _check_callable, _defaults_after
from astjax.core.emit import compile_functions
from astjax.frontend.captures import stale
from astjax.autodiff.forward import forward_program
from astjax.core.normalize import normalize
from astjax.core.pytrees import tree_map
from astjax.autodiff.reverse import reverse_program, sweep_names
from astjax.rules.runtime import finalize

_CACHE = {}


# ---- jvp ------------------------------------------------------------------------------------------

def jvp(fun, primals, tangents):
    """``(fun(*primals), tangent of fun at primals along tangents)``, as in ``jax.jvp``.
    ``primals`` and ``tangents`` are tuples (or lists) of the same structure; pytrees welcome."""
    _check_callable(fun)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp expects primals and tangents as tuples, e.g. jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise TypeError(f"jvp got {len(primals)} primals and {len(tangents)} tangents")
    fn = as_function(fun)
    jvp_fn = jvp_function(fn, tuple(range(len(primals))))
    tangents = [_tangent_like(t, p) for t, p in zip(tangents, primals)]
    out, t_out = jvp_fn(*primals, *_defaults_after(fn, len(primals)), *tangents)
    return out, finalize(t_out, out)


def jvp_function(fun, argnums=None):
    """The generated ``f_jvp(params..., tangents of params[argnums]...) -> (out, t_out)``."""
    fn = as_function(fun)
    key = (fn, "jvp", argnums)
    hit = _CACHE.get(key)
    if hit is not None and not stale(hit):
        return hit
    program = normalize(fn, verb="differentiate")
    params = program.main.params
    nums = tuple(range(len(params))) if argnums is None else argnums
    units, entry = forward_program(program, [params[i] for i in nums])
    captures = program.captures(rederive=lambda: jvp_function(fn, argnums))
    functions, source = compile_functions(units, f"jvp({program.entry})", entry, captures)
    result = functions[entry]
    result.__astjax_source__ = source
    _CACHE[key] = result
    return result


def _tangent_like(t, p):
    """A user tangent in the primal's dtype (float32 stays float32)."""
    def one(ti, pi):
        if isinstance(pi, np.ndarray) and pi.dtype.kind in "fc":
            return np.asarray(ti, dtype=pi.dtype)
        if isinstance(pi, np.generic) and pi.dtype.kind in "fc":
            return pi.dtype.type(ti)
        return ti
    if isinstance(p, (tuple, list, dict)):
        return tree_map(one, t, p)
    return one(t, p)


# ---- Jacobians ------------------------------------------------------------------------------------

def jacfwd(fun, argnums=0):
    """Jacobian by forward mode, as in ``jax.jacfwd``: one jvp per input element."""
    _check_callable(fun)
    return _jacobian(fun, "jacfwd", argnums)


def jacrev(fun, argnums=0):
    """Jacobian by reverse mode, as in ``jax.jacrev``: one reverse sweep per output element."""
    _check_callable(fun)
    return _jacobian(fun, "jacrev", argnums)


def hessian(fun, argnums=0):
    """Hessian, as in ``jax.hessian``: ``jacfwd(jacrev(fun))`` (forward-over-reverse)."""
    _check_callable(fun)
    key = (as_function(fun), "hessian", _key(argnums))
    hit = _CACHE.get(key)
    if hit is None or stale(hit):
        hit = _CACHE[key] = jacfwd(jacrev(fun, argnums), argnums)
    return hit


def _key(argnums):
    return tuple(argnums) if isinstance(argnums, list) else argnums


def _jacobian(fun, kind, argnums):
    fn = as_function(fun)
    key = (fn, kind, _key(argnums))
    hit = _CACHE.get(key)
    if hit is not None and not stale(hit):
        return hit
    program = normalize(fn, verb="differentiate")
    rederive = lambda: _jacobian(fn, kind, argnums)     # noqa: E731
    params = program.main.params
    nums, single = _argnums_tuple(argnums, len(params), program.entry)
    wrt = [params[i] for i in nums]
    if kind == "jacfwd":
        units, entry = forward_program(program, wrt, many=True)
        result = _compile(_jacfwd_source(program, entry, nums, single), units, program, kind,
                          rederive)
        # transformations of jacfwd(f) read an equivalent that pushes one tangent at a time:
        # the many-tangent code changes per-tangent lists through aliases, which reverse
        # mode does not follow
        units, entry = forward_program(program, wrt)
        units.append((program.main.node, program.main.env))
        result.__astjax_function__ = _compile(
            _jacfwd_loop_source(program, entry, nums, single), units, program, kind,
            lambda: _jacobian(fn, kind, argnums).__astjax_function__)
    else:
        units = reverse_program(program, wrt)
        result = _compile(_jacrev_source(program, nums, single, _mutates(program)), units,
                          program, kind, rederive)
    _CACHE[key] = result
    return result


def _compile(text, units, program, kind, rederive):
    fdef = _parse_generated(text, program)
    functions, source = compile_functions([(fdef, program.main.env)] + units,
                                          f"{kind}({program.entry})", fdef.name,
                                          program.captures(rederive=rederive))
    result = functions[fdef.name]
    result.__astjax_source__ = source
    result.__qualname__ = fdef.name
    return result


def _jacfwd_source(program, jvp_name, nums, single):
    core = program.main
    params = core.params
    fresh = _fresh(params)
    basis, columns, out, b = (fresh(n) for n in ("basis", "columns", "out", "b"))
    wrt = params[nums[0]] if single else "(" + ", ".join(params[i] for i in nums) + ",)"
    tangents = basis if single else \
        ", ".join(f"[{b}[{j}] for {b} in {basis}]" for j in range(len(nums)))
    return f'''def jacfwd_{core.name}({", ".join(params)}):
    """Jacobian of {core.name} w.r.t. {_names(params, nums)} by forward mode: the basis tangents of {_names(params, nums)} pushed through {core.name} together."""
    {basis} = _ax.unit_basis({wrt})
    {out}, {columns} = {jvp_name}({", ".join(params)}, {tangents})
    return _ax.jacobian({columns}, {out}, {wrt}, 'cols')
'''


def _jacfwd_loop_source(program, jvp_name, nums, single):
    core = program.main
    params = core.params
    fresh = _fresh(params)
    basis, columns, k, pair, out = (fresh(n) for n in ("basis", "columns", "k", "pair", "out"))
    wrt = params[nums[0]] if single else "(" + ", ".join(params[i] for i in nums) + ",)"
    tangents = f"{basis}[{k}]" if single else \
        ", ".join(f"{basis}[{k}][{j}]" for j in range(len(nums)))
    return f'''def jacfwd_{core.name}({", ".join(params)}):
    """Jacobian of {core.name} w.r.t. {_names(params, nums)} by forward mode: one tangent per element."""
    {out} = {core.name}({", ".join(params)})
    {basis} = _ax.unit_basis({wrt})
    {columns} = []
    for {k} in range(len({basis})):
        {pair} = {jvp_name}({", ".join(params)}, {tangents})
        {columns}.append({pair}[1])
    return _ax.jacobian({columns}, {out}, {wrt}, 'cols')
'''


def _jacrev_source(program, nums, single, mutates):
    core = program.main
    params = core.params
    fwd, bwd = sweep_names(core.name)
    fresh = _fresh(params)
    tape, out, basis, rows, k, tape_k, grads = (
        fresh(n) for n in ("_tape", "out", "basis", "rows", "k", "tape_k", "grads"))
    wrt = params[nums[0]] if single else "(" + ", ".join(params[i] for i in nums) + ",)"
    row = f"{grads}[{nums[0]}]" if single else \
        "(" + ", ".join(f"{grads}[{i}]" for i in nums) + ",)"
    args = ", ".join(params)
    if mutates:            # a reverse sweep restores overwritten items: run forward again
        again = f"{tape_k} = []\n        {fwd}({args}, {tape_k})"
    else:
        again = f"{tape_k} = _ax.copy_value({tape})"
    return f'''def jacrev_{core.name}({args}):
    """Jacobian of {core.name} w.r.t. {_names(params, nums)} by reverse mode: one reverse sweep per output element."""
    {tape} = []
    {out} = {fwd}({args}, {tape})
    {basis} = _ax.unit_basis({out})
    {rows} = []
    for {k} in range(len({basis})):
        {again}
        {grads} = {bwd}({basis}[{k}], {tape_k})
        {rows}.append({row})
    return _ax.jacobian({rows}, {out}, {wrt}, 'rows')
'''


def _names(params, nums):
    return ", ".join(params[i] for i in nums)


def _fresh(params):
    taken = set(params)

    def fresh(n):
        while n in taken:
            n = "_" + n
        taken.add(n)
        return n
    return fresh


def _parse_generated(text, program):
    fdef = parse(text).body[0]
    fdef.doc = fdef.body[0].value.value
    fdef.body = fdef.body[1:]
    core = program.main.node
    fdef.origin = getattr(core, "origin", None)
    fdef.args.defaults = list(core.args.defaults)
    for s in fdef.body:
        s.origin = fdef.origin
        for n in gast.walk(s):
            n.origin = fdef.origin
    return fdef


def _mutates(program):
    from astjax.api import _mutates as mutates
    return mutates(program)


# ---- NumPy functions as transformable functions ---------------------------------------------------

_WRAPPERS = {}


def as_function(fun):
    """``fun`` itself, or for a NumPy/math function (``np.exp``) a generated one-line Python
    function calling it, whose source astjax can read and transform."""
    key = primitives.canonical_name(fun)
    if key is None or not callable(fun):
        return fun
    key = primitives.ALIASES.get(key, key)
    if not key.startswith(("np.", "math.")):
        return fun
    if key in _WRAPPERS:
        return _WRAPPERS[key]
    prim = primitives.lookup(key)
    if prim is None:
        return fun
    params = [p for p in prim.params if p not in prim.defaults]
    fname = key.rsplit(".", 1)[-1]
    text = f"def {fname}({', '.join(params)}):\n    return {key}({', '.join(params)})\n"
    filename = f"<astjax-wrapper: {key}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = {"np": np, "math": __import__("math")}
    exec(compile(text, filename, "exec"), namespace)
    wrapper = namespace[fname]
    _WRAPPERS[key] = wrapper
    return wrapper


for _f in (jvp, jacfwd, jacrev, hessian):
    _f.__astjax_transform__ = True
