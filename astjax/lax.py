"""Collectives by axis name, as in ``jax.lax``: ``psum``, ``pmean``, ``pmax``, ``pmin``,
``all_gather``, ``axis_index``.

    def step(w, x):
        g = astjax.grad(loss)(w, x)
        return lax.pmean(g, "i")             # the mean over every shard of axis "i"

    astjax.pmap(step, axis_name="i", in_axes=(None, 0))(w, xs)    # shards on Dask workers
    astjax.vmap(step, axis_name="i", in_axes=(None, 0))(w, xs)    # lanes of one batch

Neither transformation calls these functions: they are markers that the transformation
rewrites.  ``pmap`` (astjax/parallel/stages.py) cuts the mapped function's source at each
collective into stages that run on the workers, and computes the collective between stages
with :func:`reduce_shards`; ``vmap`` turns each into a reduction over its batch axis
(astjax/batching/collectives.py).  Called anywhere else (a helper function reached from a
pmapped function, or outside any pmap/vmap naming the axis) they raise ``AstjaxError``.
"""
import numpy as np

from astjax.errors import AstjaxError

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "axis_index"]

COLLECTIVES = ("psum", "pmean", "pmax", "pmin", "all_gather", "axis_index")


def _unbound(kind, axis_name):
    raise AstjaxError(
        f"lax.{kind}: axis name {axis_name!r} is not bound here. Collectives work in the "
        f"top-level statements of a function mapped by astjax.pmap(..., axis_name="
        f"{axis_name!r}) or in a function batched by astjax.vmap(..., axis_name="
        f"{axis_name!r}); not in helper functions the pmapped function calls, and not "
        f"outside a transformation")


def psum(x, axis_name):
    """The sum of ``x`` over every member of the named axis (a pytree of arrays in pmap)."""
    _unbound("psum", axis_name)


def pmean(x, axis_name):
    """The mean of ``x`` over the named axis."""
    _unbound("pmean", axis_name)


def pmax(x, axis_name):
    """The elementwise maximum of ``x`` over the named axis."""
    _unbound("pmax", axis_name)


def pmin(x, axis_name):
    """The elementwise minimum of ``x`` over the named axis."""
    _unbound("pmin", axis_name)


def all_gather(x, axis_name):
    """Every member's ``x``, stacked along a new leading axis (JAX's axis=0, tiled=False)."""
    _unbound("all_gather", axis_name)


def axis_index(axis_name):
    """This member's position along the named axis (0 .. size-1)."""
    _unbound("axis_index", axis_name)


for _f in (psum, pmean, pmax, pmin, all_gather, axis_index):
    _f.__astjax_collective__ = _f.__name__


# ---- the reductions themselves (pmap computes them between stages) ------------------------

def reduce_shards(kind, values):
    """The collective ``kind`` of one value per shard: what every shard receives."""
    first = values[0]
    if isinstance(first, (tuple, list)):
        out = [reduce_shards(kind, [v[i] for v in values]) for i in range(len(first))]
        return type(first)(out) if isinstance(first, list) else tuple(out)
    if isinstance(first, dict):
        return {k: reduce_shards(kind, [v[k] for v in values]) for k in first}
    arrays = [np.asarray(v) for v in values]
    if kind == "psum":
        out = arrays[0].copy()
        for a in arrays[1:]:
            out = out + a
    elif kind == "pmean":
        out = arrays[0].copy()
        for a in arrays[1:]:
            out = out + a
        out = out / len(arrays)
    elif kind == "pmax":
        out = np.maximum.reduce(arrays)
    elif kind == "pmin":
        out = np.minimum.reduce(arrays)
    elif kind == "all_gather":
        out = np.stack(arrays)
    else:
        raise ValueError(f"no collective {kind!r}")
    if out.ndim == 0 and not isinstance(first, np.ndarray):
        return out[()]           # a Python or NumPy scalar in, a NumPy scalar out
    return out
