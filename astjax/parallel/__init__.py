"""Stage 6, parallel (pmap): the mapped function runs on Dask workers, one shard each.

`cluster` finds the devices (an embedded LocalCluster, ``ASTJAX_SCHEDULER``, or a client),
`stages` cuts the function's source at its collectives, `driver` runs the stages as pinned
Dask tasks and computes the collectives between them.  Dask is imported only when a pmap
runs or devices are asked for: without it, they raise AstjaxError saying
``pip install astjax[dask]``.

Before (``pmap(step, axis_name="i", in_axes=(None, 0))``)::

    def step(w, x):
        g = x @ w
        return g / lax.psum(np.sum(g), "i")

After (two stages, one Dask task per shard each; the client sums the operands between)::

    def step__stage0(__astjax_index, w, x):
        g = x @ w
        __astjax_o0 = np.sum(g)
        __astjax_l = locals()
        return ({n: __astjax_l[n] for n in ('g',) if n in __astjax_l}, (__astjax_o0,))

    def step__stage1(__astjax_index, __astjax_env, __astjax_in):
        if 'g' in __astjax_env:
            g = __astjax_env['g']
        __astjax_r0 = __astjax_in[0]
        return g / __astjax_r0
"""
from astjax.parallel.cluster import Device  # noqa: F401
from astjax.parallel.driver import pmap  # noqa: F401


def devices(client=None):
    """The pmap devices (Dask workers), as ``jax.devices()``."""
    from astjax.parallel.cluster import devices as _devices
    return _devices(client)


def device_count(client=None):
    """How many pmap devices there are, as ``jax.device_count()``."""
    return len(devices(client))
