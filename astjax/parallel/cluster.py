"""The devices of pmap: Dask worker processes.

    astjax.devices()          # [Device(id=0, name='0', address='tcp://127.0.0.1:40231'), ...]
    astjax.device_count()

Where they come from, first match wins:
1. ``client=`` given to ``pmap``/``devices`` (a ``dask.distributed.Client``);
2. ``ASTJAX_SCHEDULER=tcp://host:8786``: a client of that scheduler (a real cluster);
3. an embedded ``LocalCluster`` of worker processes (one thread each, BLAS/OpenMP limited
   to one thread; see EMBEDDED_CONFIG), started lazily on first use and closed at exit.
   It has ``ASTJAX_NUM_DEVICES`` workers, else one per CPU this process may use, at least 2.

Scripts that start the embedded cluster need ``if __name__ == "__main__":`` (its workers
are spawned processes that import the main module).
"""
import atexit
import os
import threading
from dataclasses import dataclass

from astjax.errors import AstjaxError

_LOCK = threading.Lock()
_STATE = {"client": None, "cluster": None}
INSTALL = "pmap needs Dask's distributed scheduler: pip install astjax[dask]"

# The embedded cluster's workers run NumPy code: one BLAS/OpenMP thread each (as Dask's
# default), but without Dask's MALLOC_TRIM_THRESHOLD_, which turns off glibc's adaptive mmap
# threshold so that every large temporary array is a fresh mmap with page faults (2-4x
# slower elementwise code on this machine), and without the statistical profiler thread.
EMBEDDED_CONFIG = {
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
                                            "OPENBLAS_NUM_THREADS": 1},
    "distributed.worker.profile.enabled": False,
}


@dataclass(frozen=True)
class Device:
    """One pmap device: a Dask worker, known by its name (stable across a nanny restart)
    and its current address."""
    id: int
    name: str
    address: str

    def __repr__(self):
        return f"Device(id={self.id}, name={self.name!r}, address={self.address!r})"


def require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise AstjaxError(INSTALL) from None
    return distributed


def default_workers():
    env = os.environ.get("ASTJAX_NUM_DEVICES")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise AstjaxError(f"ASTJAX_NUM_DEVICES={env!r} is not a number") from None
        if n < 1:
            raise AstjaxError(f"ASTJAX_NUM_DEVICES={env!r}: at least 1 worker is needed")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(2, cpus)


def get_client(client=None):
    """The Dask client pmap uses (starting the embedded cluster the first time)."""
    if client is not None:
        return client
    with _LOCK:
        if _STATE["client"] is not None and _STATE["client"].status == "running":
            return _STATE["client"]
        distributed = require_dask()
        address = os.environ.get("ASTJAX_SCHEDULER")
        if address:
            _STATE["client"] = distributed.Client(address, set_as_default=False)
        else:
            import dask
            with dask.config.set(EMBEDDED_CONFIG):
                cluster = distributed.LocalCluster(
                    n_workers=default_workers(), threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=40)
            _STATE["cluster"] = cluster
            _STATE["client"] = distributed.Client(cluster, set_as_default=False)
        _quicken(_STATE["client"], _STATE.get("cluster"))
        atexit.register(shutdown)
        return _STATE["client"]


BATCH_INTERVAL = 0.001      # seconds; Dask's client batches its messages every 10 ms


def _quicken(client, local):
    """Send each pmap message within 1 ms: Dask batches the client's messages to the scheduler
    every 10 ms (and the scheduler's to workers and clients every 5 / 2 ms), which is most of
    a small call's time, and a pmap call is a few messages per stage.  For the embedded
    cluster the scheduler runs in this process, and its streams are quickened too (a worker
    that joins later gets Dask's interval)."""
    comm = getattr(client, "scheduler_comm", None)
    if comm is not None and hasattr(comm, "interval"):
        comm.interval = BATCH_INTERVAL
    scheduler = getattr(local, "scheduler", None)
    for streams in (getattr(scheduler, "stream_comms", {}), getattr(scheduler, "client_comms", {})):
        for stream in list(streams.values()):
            if hasattr(stream, "interval"):
                stream.interval = BATCH_INTERVAL


def shutdown():
    """Close the client and embedded cluster pmap started (a later pmap starts new ones)."""
    with _LOCK:
        client, cluster = _STATE["client"], _STATE["cluster"]
        _STATE["client"] = _STATE["cluster"] = None
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


def devices(client=None):
    """The workers of the cluster as pmap devices, ordered by worker name."""
    workers = worker_info(get_client(client))
    ordered = sorted(workers.items(), key=lambda kv: _name_key(kv[1].get("name", kv[0])))
    return [Device(i, str(info.get("name", addr)), addr)
            for i, (addr, info) in enumerate(ordered)]


def worker_info(client):
    """address -> info of every worker now, asked of the scheduler (``scheduler_info()``
    returns a cache that the client's periodic refresh may have emptied of workers)."""
    if client.asynchronous:
        raise AstjaxError("pmap needs a synchronous dask.distributed Client")
    return client.sync(client.scheduler.identity, n_workers=-1)["workers"]


def device_count(client=None):
    return len(devices(client))


def _name_key(name):
    text = str(name)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)
