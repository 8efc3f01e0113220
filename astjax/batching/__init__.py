"""Stage 4b, batching (vmap): the batch axis pushed into every operation.

`batcher` drives it: `values` tracks which names are batched and on which axis, `rules`
(with `index` and `rules_ax`) rewrites each primitive, `control` with `branches`, `loops`
and `lists` turns per-example control flow into selects and loops that run until every lane
is done, and `fallback` loops over the batch (with a BatchingWarning) where nothing else
applies. `flow` holds the liveness queries they share.

Before (``vmap(f, in_axes=(0, None))``)::

    def h(x, w):
        matmul1 = x @ w
        tanh2 = np.tanh(matmul1)
        return tanh2

After (x gains a leading batch axis, w does not)::

    def vmap_h(x, w):
        spec1 = _ax.dot_spec(x, w, 1, 0, 'matmul')
        matmul1 = np.einsum(spec1, x, w)
        tanh2 = np.tanh(matmul1)
        return tanh2
"""
from astjax.batching.batcher import vmap  # noqa: F401
from astjax.batching import collectives, index, rules_ax  # noqa: F401  (importing registers their rules)
