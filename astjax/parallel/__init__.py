"""Stage 6, parallel (pmap): the mapped function runs on Dask workers, one shard each.

`cluster` finds the devices (an embedded LocalCluster, ``ASTJAX_SCHEDULER``, or a client),
`stages` cuts the function's source at its collectives, `driver` runs the stages as pinned
Dask tasks and computes the collectives between them.  Dask is imported only when a pmap
runs or devices are asked for: without it, they raise AstjaxError saying
``pip install astjax[dask]``.
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
