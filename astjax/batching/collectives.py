"""Collectives under vmap: ``lax.psum(x, "i")`` in ``vmap(f, axis_name="i")`` is a reduction
over the batch axis, whose result every lane shares (as in JAX).

Before (``vmap(f, axis_name="i")``)::

    def f(x):
        s = lax.psum(x, 'i')
        return x / s

After (x: (B, n); the sum is unbatched, so it broadcasts against every lane)::

    def vmap_f(x):
        s = np.sum(x, axis=0)
        return x / s

An operand that is the same in every lane needs no reduction: psum is ``B * x``, pmean,
pmax and pmin are ``x``, all_gather stacks B copies; ``axis_index`` is ``np.arange(B)``.
"""
from astjax.batching.rules import _bat, _un, rule, value_of
from astjax.errors import AstjaxError

_REDUCE = {"psum": "np.sum(x, axis=0)", "pmean": "np.mean(x, axis=0)",
           "pmax": "np.max(x, axis=0)", "pmin": "np.min(x, axis=0)"}
_SHARED = {"psum": "x * n", "pmean": "x", "pmax": "x", "pmin": "x"}


@rule("collective")
def collective(b, prim, args):
    kind = prim.key.split(".")[-1]
    axis_name = value_of(b, args["axis_name"])
    bound = getattr(b.prog, "axis_name", None)
    if axis_name != bound:
        where = getattr(getattr(b, "current", None), "origin", None)
        at = f"{where.short}: " if where is not None else ""
        raise AstjaxError(
            f"{at}lax.{kind}: axis name {axis_name!r} is not bound by this vmap "
            f"(axis_name={bound!r}); name it with astjax.vmap(f, axis_name={axis_name!r})")
    if kind == "axis_index":
        return b.t("np.arange(n)", n=b.B()), _bat(0)
    x = args["x"]
    if x.rank is None:          # a loop over the lanes could not reduce across them
        where = getattr(getattr(b, "current", None), "origin", None)
        at = f"{where.short}: " if where is not None else ""
        raise AstjaxError(f"{at}vmap: lax.{kind} of a value whose rank is not known here "
                          f"(e.g. inside jacfwd); the reduction over axis {axis_name!r} "
                          f"needs it")
    if kind == "all_gather":
        if x.batched:
            return b.t("np.asarray(x)", x=b.lanes(x)), _un(x.rank + 1)
        return (b.t("np.stack([x] * n)", x=x, n=b.B()), _un(x.rank + 1))
    if x.batched:
        return b.t(_REDUCE[kind], x=b.lanes(x)), _un(x.rank)
    return b.t(_SHARED[kind], x=x, n=b.B()), _un(x.rank)

