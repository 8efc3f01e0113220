"""codegen: the compiler half of astjax's `jit`.

Layers, each depending only on those above it:
- errors.py      BuildError, CompilerUnavailable
- threads.py     the OpenMP thread count and how generated modules receive it
- build.py       Cython + C compiler -> imported extension module (BuildFlags)
- cache.py       on-disk cache of built modules, safe across processes
- background.py  build in a thread while the caller runs NumPy
- guard.py       when compiled code raises: name the user's line; rerun an int64 overflow as
                 Python with the arguments' writes undone (or refuse)
"""
from .background import build_in_background
from .build import BuildFlags, build_module
from .cache import load_or_build
from .errors import BuildError, CompilerUnavailable
from .threads import num_threads, set_num_threads

__all__ = ["BuildFlags", "BuildError", "CompilerUnavailable", "build_in_background",
           "build_module", "load_or_build", "num_threads", "set_num_threads"]
