"""Build an extension in a background thread while the caller keeps running NumPy.

    future = build_in_background(pyx_source, "selu", signature)
    ...                                   # calls run the NumPy version meanwhile
    if future.done() and future.exception() is None:
        compiled = future.result()        # switch over

Most of a build is the C compiler, a subprocess, so the caller's thread keeps the CPU it
needs; only the Cython step (~0.05-0.7 s) competes for the GIL. A request for a key already
being built in this process returns the same Future; a module already loaded returns a done
Future. At most one build per CPU core runs at a time; the others queue. Build threads are
daemons: leaving the interpreter abandons a build in progress (its lock dies with the
process and its temporary directory is cleaned by `cache.clear`).
"""
import os
import threading
from concurrent.futures import Future

from . import cache
from .build import BuildFlags

_in_flight = {}          # key -> Future
_guard = threading.Lock()
_slots = threading.BoundedSemaphore(os.cpu_count() or 1)   # builds at once: one per core


def build_in_background(pyx_source, name_hint, signature="", *, flags=None):
    """A Future of `cache.load_or_build(...)`, computed in a daemon thread."""
    flags = flags or BuildFlags()
    key = cache.cache_key(pyx_source, signature, flags)
    module = cache._modules.get(key)
    with _guard:
        future = _in_flight.get(key)
        if future is not None:
            return future
        future = Future()
        if module is not None:
            future.set_result(module)
            return future
        _in_flight[key] = future

    def run():
        future.set_running_or_notify_cancel()
        try:
            with _slots:
                module = cache.load_or_build(pyx_source, name_hint, signature, flags=flags)
            future.set_result(module)
        except BaseException as exc:   # reported through the Future, never lost
            future.set_exception(exc)
        finally:
            with _guard:
                _in_flight.pop(key, None)

    threading.Thread(target=run, name=f"astjax-build-{name_hint}", daemon=True).start()
    return future
