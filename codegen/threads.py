"""How many OpenMP threads compiled code uses, and how generated modules learn it.

The count is `ASTJAX_NUM_THREADS`, else `OMP_NUM_THREADS`, else the CPUs this process may
use (`available_cpus()`: its affinity mask, capped by a cgroup v2 CPU quota), read once on
first use; `set_num_threads(n)` changes it at run time and `set_num_threads(None)` goes
back to the environment. Every generated module includes `PYX_PRELUDE`, which keeps the count
in a C global; its `prange` loops ask `_astjax_threads_for(work)` how many threads a loop of
`work` element-operations (trip count times per-iteration cost) is worth:

    for i in prange(n, nogil=True, num_threads=_astjax_threads_for(n * 3)):
        out[i] = x[i] + x[i] * x[i]

Below PARALLEL_WORK element-operations a loop runs on one thread (waking the others costs
more than it saves); above, one thread per WORK_PER_THREAD, up to the count.

OpenMP threads must not spin between loops on a shared machine: `quiet_openmp()` sets
OMP_WAIT_POLICY=passive and GOMP_SPINCOUNT=0 unless the user set them; the loader calls it
before the first generated module is imported (libgomp reads them once, at load).

The loader calls `attach(module)` after import, which pushes the current count into the
module and keeps pushing later changes.
"""
import math
import os

PARALLEL_WORK = 200_000        # element-operations below which a loop runs on one thread
WORK_PER_THREAD = 100_000      # and at least this much work per thread above it

PYX_PRELUDE = f'''\
cdef int _astjax_num_threads = 1

def _astjax_set_num_threads(int n):
    """Set the thread count of this module's prange loops (called by astjax)."""
    global _astjax_num_threads
    _astjax_num_threads = n if n > 0 else 1

cdef inline int _astjax_threads_for(double work) noexcept nogil:
    """Threads worth waking for `work` element-operations (1 below {PARALLEL_WORK})."""
    if work < {PARALLEL_WORK} or _astjax_num_threads <= 1:
        return 1
    if work >= <double>{WORK_PER_THREAD} * _astjax_num_threads:
        return _astjax_num_threads
    return <int>(work / {WORK_PER_THREAD})
'''

_count = None          # None: not read from the environment yet
_attached = []         # generated modules that follow the count
_quiet = False


def _cgroup_quota(path="/sys/fs/cgroup/cpu.max"):
    """CPUs allowed by a cgroup v2 quota ("200000 100000" -> 2), or None when unlimited."""
    try:
        with open(path) as f:
            quota, period = (f.read().split() + ["100000"])[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def available_cpus(cpu_max="/sys/fs/cgroup/cpu.max"):
    """The CPUs this process may use: its affinity mask, capped by a cgroup v2 quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota(cpu_max)
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


def _from_environment():
    for var in ("ASTJAX_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                # OMP_NUM_THREADS may be a list for nested levels, e.g. "4,2".
                n = int(value.split(",")[0])
            except ValueError:
                continue
            if n > 0:
                return n
    return available_cpus()


def quiet_openmp():
    """Idle OpenMP threads sleep instead of spinning (unless the user chose otherwise).
    Must run before libgomp loads, i.e. before the first generated module is imported."""
    global _quiet
    if not _quiet:
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        os.environ.setdefault("GOMP_SPINCOUNT", "0")
        _quiet = True


def num_threads():
    """The thread count compiled loops use now."""
    global _count
    if _count is None:
        _count = _from_environment()
    return _count


def set_num_threads(n):
    """Use `n` threads in every compiled module (None: follow the environment again)."""
    global _count
    if n is not None and int(n) < 1:
        raise ValueError(f"thread count must be at least 1, got {n}")
    _count = None if n is None else int(n)
    for module in _attached:
        module._astjax_set_num_threads(num_threads())


def attach(module):
    """Make a freshly imported generated module follow the thread count."""
    setter = getattr(module, "_astjax_set_num_threads", None)
    if setter is not None:
        setter(num_threads())
        _attached.append(module)
    return module


def threads_for(work_code):
    """The `num_threads=` expression of a prange loop doing `work_code` element-operations."""
    return f"_astjax_threads_for(<double>({work_code}))"
