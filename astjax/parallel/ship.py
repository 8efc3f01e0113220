"""``pmap(jit(f))``: the extension is built once, on the client, and shipped to the workers.

    artifacts = build_here(jitted, shard_args)   # client: build (or load) for one shard's
                                                 # signature; the cache entries as bytes
    install(artifacts)                           # worker: put them in its own jit cache

The entries (the extension, its .pyx and meta.json, and Cython's shared utility module)
travel inside the pmap program that is scattered to every worker, so a worker that joins
later gets them too.  A worker whose jit cache already holds an entry keeps it.  The worker
then lowers ``f`` as usual (in Python) and finds the entry under the same key: it loads the
extension and needs no C compiler.  The key includes the compiler and the versions of
Python, NumPy, Cython and astjax: a worker whose environment differs builds its own (or runs
NumPy when it has no compiler), as jit does anywhere.
"""
import os
import shutil
from pathlib import Path

_SKIP = {".lock", "build.log"}


def build_here(jitted, args):
    """Cache entries (name -> {file: bytes}) of ``jitted``'s extension for ``args``."""
    from codegen import cache
    key = jitted._key(args)
    spec = jitted.specializations.get(key) or jitted._specialize(args, key)
    if spec.module is None:                     # runs as NumPy: nothing to ship
        return {}
    entries = [Path(spec.module.__file__).parent]
    shared = cache.shared_utility()
    if shared:
        entries.append(cache.cache_dir() / shared)
    return {e.name: {f.name: f.read_bytes() for f in sorted(e.iterdir())
                     if f.is_file() and f.name not in _SKIP}
            for e in entries if e.is_dir()}


def install(artifacts):
    """Write shipped entries into this process's jit cache (private modes, as the cache
    makes them); entries already there are left alone."""
    if not artifacts:
        return
    from codegen import cache
    root = cache.cache_dir()
    for name, files in artifacts.items():
        entry = root / name
        if (entry / "meta.json").exists():
            continue
        tmp = root / "_tmp" / f"shipped-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True, mode=0o700)
        for fname, data in files.items():
            path = tmp / fname
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o700 if fname.endswith((".so", ".pyd")) else 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            os.rename(tmp, entry)                # atomic; fails if another process won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
