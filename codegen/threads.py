"""How many OpenMP threads compiled code uses, and how generated modules learn it.

The count is `ASTJAX_NUM_THREADS`, else `OMP_NUM_THREADS`, else `os.cpu_count()`, read once
on first use; `set_num_threads(n)` changes it at run time and `set_num_threads(None)` goes
back to the environment. Every generated module includes `PYX_PRELUDE`, which keeps the count
in a C global that its `prange` loops pass as `num_threads=`:

    for i in prange(n, nogil=True, num_threads=_astjax_num_threads):
        out[i] = x[i] + x[i] * x[i]

The loader calls `attach(module)` after import, which pushes the current count into the
module and keeps pushing later changes.
"""
import os

PYX_PRELUDE = '''\
cdef int _astjax_num_threads = 1

def _astjax_set_num_threads(int n):
    """Set the thread count of this module's prange loops (called by astjax)."""
    global _astjax_num_threads
    _astjax_num_threads = n if n > 0 else 1
'''

_count = None          # None: not read from the environment yet
_attached = []         # generated modules that follow the count


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
    return os.cpu_count() or 1


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
