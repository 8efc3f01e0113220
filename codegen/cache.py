"""The on-disk cache of built extensions: one correct artifact per key, shared by processes.

    module = load_or_build(pyx_source, "selu", signature="(float32[::1],)")

A key is the sha256 of the generated source, the caller's signature string, the build flags,
the C compiler, and the versions that make a binary incompatible (astjax, Cython, NumPy,
Python, platform; the CPU too for -march=native). Artifacts live in `$ASTJAX_CACHE_DIR`,
else `$XDG_CACHE_HOME/astjax`, else `~/.cache/astjax`, one directory per key:

    <root>/_aj_selu_3f2a.../
        _aj_selu_3f2a....pyx                   the source (tracebacks point here)
        _aj_selu_3f2a....cpython-311-....so    the extension
        meta.json                              key, sha256 of the .so, versions, flags, timing
        build.log                              Cython and compiler output of the last build
        .lock

A load costs a dict lookup when the module is already in this process, else a read of
meta.json, a sha256 of the .so and an import (a few ms). A build takes `.lock` with
fcntl.flock, so concurrent processes (and threads) build a key once and the others wait and
load it; it compiles in `<root>/_tmp/` and publishes with os.replace, the .so first and
meta.json last. An entry is valid only when meta.json names the key and the .so's sha256;
a truncated or corrupt .so, or one that fails to import, is deleted and rebuilt.

Security, as pip's cache, ccache and Python's bytecode do: directories are created 0700,
artifacts 0600 (the .so 0700). The root, each entry directory and each file loaded must be
owned by this user and not writable by group or others, and none may be a symlink inside the
root (checked with os.lstat). A root that fails the check is not used: a warning names it and
a private fallback, `<tempdir>/astjax-<uid>` (0700, checked too; else a fresh mkdtemp), takes
its place. An entry that fails the check is never imported: it is moved aside and rebuilt.
Build folders in `_tmp/` left by a killed build (older than an hour, or whose pid is dead on
this host) are removed when a process first opens the cache.

Cython's shared utility module (see codegen.build) is an entry like any other, named from
the Cython/Python versions only, built on first need and imported before any module.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import stat
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from . import build, threads
from .build import BuildFlags
from .errors import BuildError, BuildReentered

CACHE_FORMAT = 1          # bump when the layout of entries changes
_DEFAULT_FLAGS = BuildFlags()

_modules = {}             # key -> module loaded in this process
_key_locks = {}           # key -> threading.Lock (threads of one process build a key once)
_key_locks_guard = threading.Lock()
_shared_name = None       # the shared utility module, once imported
_stats = Counter()        # builds, disk_loads, memory_hits, rebuilds_after_corruption


# ----------------------------------------------------------------------------- keys

def configured_cache_dir():
    """The cache root the environment asks for (not created, not checked)."""
    explicit = os.environ.get("ASTJAX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "astjax"


STALE_TMP_SECONDS = 3600  # a build folder in _tmp/ older than this is a killed build's
_warned = set()           # configured roots we warned about (once per process)
_opened = set()           # roots whose stale _tmp/ folders this process cleaned
_fallbacks = {}           # tempdir -> the private fallback root in it


def _problem(path, st, *, private=False):
    """Why `path` (its lstat or stat `st`) may not be trusted, or None."""
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symlink"
    if st.st_uid != os.geteuid():
        return f"{path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
    if st.st_mode & (0o077 if private else 0o022):
        return f"{path} is accessible to other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _dir_problem(path, *, follow=False, private=False):
    """None if `path` is a trusted directory (lstat unless `follow`); raises if absent."""
    st = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        return f"{path} is not a directory"
    return _problem(path, st, private=private)


def _file_problem(path):
    """None if `path` is a regular file we may load; raises OSError if absent."""
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
        return _problem(path, st)
    return f"{path} is not a regular file"


def _make_dir(path, *, follow=False, private=False):
    """Create `path` 0700 if absent; the reason it cannot be trusted, or None."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    return _dir_problem(path, follow=follow, private=private)


def _fallback_root():
    """A private root of this user in the temp dir (created 0700 and checked), or a fresh one."""
    base = tempfile.gettempdir()
    root = _fallbacks.get(base)
    if root is not None and _dir_problem(root, private=True) is None:
        return root
    candidate = Path(base) / f"astjax-{os.geteuid()}"
    try:
        problem = _make_dir(candidate, private=True)
    except OSError as exc:
        problem = str(exc)
    if problem is not None:
        warnings.warn(f"astjax: not using the fallback cache {candidate}: {problem}; "
                      "building in a fresh temporary directory", RuntimeWarning, stacklevel=3)
        candidate = Path(tempfile.mkdtemp(prefix="astjax-cache-"))
    _fallbacks[base] = candidate
    return candidate


def cache_dir():
    """The cache root in use, created and checked: the configured one, else a private fallback.

    A configured root not owned by this user or writable by others is refused, with a
    warning (once per process) naming it.
    """
    root = configured_cache_dir()
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        problem = _make_dir(root, follow=True)
    except OSError as exc:
        problem = f"{root} cannot be used: {exc}"
    if problem is not None:
        if str(root) not in _warned:
            _warned.add(str(root))
            warnings.warn(f"astjax: refusing the jit cache directory {root}: {problem}. "
                          f"Using a private cache in {_fallback_root()} instead; fix it "
                          f"with `chmod 700 {root}` (and chown) or set $ASTJAX_CACHE_DIR.",
                          RuntimeWarning, stacklevel=2)
        root = _fallback_root()
    if str(root) not in _opened:
        _opened.add(str(root))
        _clean_stale_tmp(root)
    return root


def _tmp_name(modname):
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname())
    return f"{modname}@{host}@{os.getpid()}@"


def _pid_dead(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _clean_stale_tmp(root):
    """Remove build folders in `root/_tmp` left by killed builds; the number removed."""
    tmp_root = root / "_tmp"
    try:
        if _dir_problem(tmp_root) is not None:
            return 0
        children = list(os.scandir(tmp_root))
    except OSError:
        return 0
    host = _tmp_name("x").split("@")[1]
    removed = 0
    for child in children:
        try:
            st = child.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid != os.geteuid():
            continue
        parts = child.name.split("@")
        dead = (len(parts) == 4 and parts[1] == host and parts[2].isdigit()
                and _pid_dead(int(parts[2])))
        if not dead and time.time() - st.st_mtime < STALE_TMP_SECONDS:
            continue
        if child.is_dir(follow_symlinks=False):
            shutil.rmtree(child.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(child.path)
        removed += 1
    return removed


def _discard(path):
    """Remove an untrusted entry (a symlink, or a directory moved aside first)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    aside = path.parent / "_tmp" / f"refused-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        _make_dir(aside.parent)
        os.rename(path, aside)
    except FileNotFoundError:
        return                                 # another process moved it first
    except OSError:
        aside = path
    shutil.rmtree(aside, ignore_errors=True)


def _write_private(path, text, append=False):
    """Write `text` to `path` (0600), never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "a" if append else "w") as f:
        f.write(text)


_environment = None


def environment():
    """What makes a binary incompatible besides its source and flags (computed once)."""
    global _environment
    if _environment is None:
        import Cython
        import numpy

        from astjax.version import __version__ as astjax_version
        recipe = [Path(build.__file__).read_bytes()]
        recipe += [h.read_bytes() for h in sorted(build.INCLUDE_DIR.glob("*.h"))]
        _environment = {
            "format": CACHE_FORMAT,
            "astjax": astjax_version,
            "cython": Cython.__version__,
            "numpy": numpy.__version__,
            "python": sys.version,
            "cache_tag": sys.implementation.cache_tag,
            "platform": sysconfig.get_platform(),
            "ext_suffix": build.EXT_SUFFIX,
            "recipe": _sha256(b"".join(recipe))[:16],   # build.py and our C headers
        }
    return _environment


_key_memo = {}            # (source, signature, flags, $CC) -> key: a hit costs a dict lookup


def cache_key(pyx_source, signature="", flags=None):
    """The sha256 (hex) naming the artifact of this source, signature and flags here."""
    flags = flags or _DEFAULT_FLAGS
    memo = (pyx_source, signature, flags, os.environ.get("CC"))
    key = _key_memo.get(memo)
    if key is None:
        key = _key_memo[memo] = _compute_key(pyx_source, signature, flags)
    return key


def _compute_key(pyx_source, signature, flags):
    parts = {
        "source": pyx_source,
        "signature": signature,
        "flags": asdict(flags),
        "cc": build.compiler_command(),
        "env": environment(),
        "cpu": build.cpu_fingerprint() if flags.march == "native" else "",
    }
    return _sha256(json.dumps(parts, sort_keys=True, default=str).encode())


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path):
    with open(path, "rb") as f:
        return _sha256(f.read())


# ----------------------------------------------------------------------------- locking

@contextlib.contextmanager
def _file_lock(path, blocking=True):
    """Hold an exclusive flock on `path`; yields False when non-blocking and busy.

    Re-opens if the file was deleted (cache clear) while we waited, so that two holders
    can never hold locks on different files of the same name.
    """
    while True:
        problem = _make_dir(path.parent)
        if problem is not None:
            raise BuildError(f"astjax: cannot use the cache entry: {problem}", None)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:                 # ELOOP: a symlink planted as the lock
            if not os.path.islink(path):
                raise
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield True
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _thread_lock(key):
    with _key_locks_guard:
        return _key_locks.setdefault(key, threading.Lock())


# ----------------------------------------------------------------------------- entries

class _Invalid(Exception):
    """An entry exists but cannot be used (truncated, corrupt, fails to import)."""


def _read_meta(entry):
    path = entry / "meta.json"
    try:
        problem = _file_problem(path)
        if problem is not None:
            raise _Invalid(f"refused: {problem}")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _Invalid(f"unreadable meta.json: {exc}")


def _load_entry(entry, modname, key):
    """Import a published entry; None if absent, _Invalid if it is damaged or untrusted."""
    try:
        problem = _dir_problem(entry)
    except FileNotFoundError:
        return None
    if problem is not None:
        raise _Invalid(f"refused: {problem}")
    meta = _read_meta(entry)
    if meta is None:
        return None
    if meta.get("key") != key or meta.get("module") != modname:
        raise _Invalid("meta.json belongs to another key")
    so_path = entry / meta["so_file"]
    if Path(meta["so_file"]).name != meta["so_file"]:
        raise _Invalid(f"refused: so_file {meta['so_file']!r} is not a file of the entry")
    try:
        problem = _file_problem(so_path)
        if problem is not None:
            raise _Invalid(f"refused: {problem}")
        digest = _sha256_file(so_path)
    except OSError as exc:
        raise _Invalid(f"missing extension: {exc}")
    if digest != meta["so_sha256"]:
        raise _Invalid(f"sha256 mismatch for {so_path.name} (truncated or corrupt)")
    if meta.get("shared_utility"):
        if shared_utility() != meta["shared_utility"]:
            raise _Invalid("built against another shared utility module")
    if modname in sys.modules:               # imported before, e.g. by build_in_background
        return sys.modules[modname]
    try:
        return build.import_extension(so_path, modname)
    except ImportError as exc:
        raise _Invalid(f"import failed: {exc}")


def _remove_artifact(entry):
    (entry / "meta.json").unlink(missing_ok=True)       # first: the entry is invalid now
    for path in entry.iterdir():
        if path.is_symlink() or (path.is_file()
                                 and path.name not in (".lock", "corruption.log")):
            path.unlink(missing_ok=True)


def _publish(entry, modname, key, builder, meta_extra):
    """Build with `builder(tmp_dir, entry)` -> .so path, and publish it into `entry`."""
    root = entry.parent
    problem = _make_dir(root / "_tmp")
    if problem is not None:
        _discard(root / "_tmp")
        problem = _make_dir(root / "_tmp")
        if problem is not None:
            raise BuildError(f"astjax: cannot build in the cache: {problem}", None)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_name(modname), dir=root / "_tmp"))
    log_path = entry / "build.log"
    _write_private(log_path, f"astjax build of {modname} (pid {os.getpid()}, {time.ctime()})\n")
    started = time.perf_counter()
    try:
        so_tmp = builder(tmp, entry)
        so_path = entry / so_tmp.name
        os.chmod(so_tmp, 0o700)
        digest = _sha256_file(so_tmp)
        os.replace(so_tmp, so_path)
        meta = {
            "key": key, "module": modname, "so_file": so_path.name, "so_sha256": digest,
            "so_bytes": so_path.stat().st_size, "built_at": time.time(),
            "build_seconds": round(time.perf_counter() - started, 3),
            "build_id": uuid.uuid4().hex, "pid": os.getpid(), **meta_extra,
        }
        meta_tmp = tmp / "meta.json"
        _write_private(meta_tmp, json.dumps(meta, indent=1, default=str))
        os.replace(meta_tmp, entry / "meta.json")
        for path in entry.iterdir():           # build.log, the .pyx: private too
            if path.is_file() and not path.is_symlink() and path != so_path:
                os.chmod(path, 0o600)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _stats["builds"] += 1
    return meta


_building = threading.local()     # .active: this thread is loading or building a module


def _load_or_publish(key, modname, builder, meta_extra):
    """The module of `key`: from this process, else from disk, else built once."""
    module = _modules.get(key)
    if module is not None:
        _stats["memory_hits"] += 1
        return module
    if getattr(_building, "active", None):
        raise BuildReentered(
            f"jit was called again while this thread was building {_building.active}: code "
            f"that the build ran (a module imported by Cython or by the extension -- perhaps "
            f"one of yours named like a standard-library module) called a jitted function; "
            f"that call runs as NumPy, not waiting on the build's own lock (a deadlock)")
    _building.active = modname
    try:
        return _load_or_publish_unlocked(key, modname, builder, meta_extra)
    finally:
        _building.active = None


def _load_or_publish_unlocked(key, modname, builder, meta_extra):
    with _thread_lock(key):
        module = _modules.get(key)
        if module is not None:
            _stats["memory_hits"] += 1
            return module
        entry = cache_dir() / modname
        try:
            module = _load_entry(entry, modname, key)    # lock-free fast path
        except _Invalid as problem:
            module = None
            try:
                untrusted = _dir_problem(entry)
            except OSError:
                untrusted = None
            if untrusted is not None:          # a symlink or another user's: never enter it
                _stats["refused_untrusted"] += 1
                _discard(entry)
        if module is not None:
            _stats["disk_loads"] += 1
        else:
            module = _locked_load_or_build(entry, modname, key, builder, meta_extra)
        _modules[key] = threads.attach(module)
        return module


def _locked_load_or_build(entry, modname, key, builder, meta_extra):
    with _file_lock(entry / ".lock"):
        try:                                   # someone may have built it while we waited
            module = _load_entry(entry, modname, key)
        except _Invalid as problem:
            _stats["rebuilds_after_corruption"] += 1
            with contextlib.suppress(OSError):
                _write_private(entry / "corruption.log", f"{time.ctime()}: {problem}\n")
            module = None
        if module is not None:
            _stats["disk_loads"] += 1
            return module
        _remove_artifact(entry)
        _publish(entry, modname, key, builder, meta_extra)
        try:
            return _load_entry(entry, modname, key)
        except _Invalid as problem:
            raise BuildError(f"freshly built {modname} cannot be loaded: {problem}",
                             entry / "build.log")


# ----------------------------------------------------------------------------- public API

def shared_utility():
    """Import Cython's shared utility module (building it once); its name, or None."""
    global _shared_name
    if _shared_name is not None:
        return _shared_name
    if not build.supports_shared_utility():
        return None
    env = environment()
    key = _sha256(json.dumps([CACHE_FORMAT, env["cython"], env["cache_tag"], env["platform"],
                              env["ext_suffix"], env["recipe"]]).encode())
    name = f"_aj_cyutil_{key[:16]}"

    def builder(tmp, entry):
        return build.build_shared_utility(name, tmp, log_path=entry / "build.log")

    _load_or_publish(key, name, builder, {"kind": "shared_utility", "environment": env})
    _shared_name = name
    return name


def load_or_build(pyx_source, name_hint, signature="", *, flags=None):
    """The imported extension built from `pyx_source`, from memory, disk, or a new build.

    Raises BuildError (or CompilerUnavailable) naming the compiler log when it cannot build.
    """
    flags = flags or _DEFAULT_FLAGS
    key = cache_key(pyx_source, signature, flags)
    module = _modules.get(key)
    if module is not None:
        _stats["memory_hits"] += 1
        return module
    modname = build.module_name(name_hint, key[:20])
    shared = shared_utility()

    def builder(tmp, entry):
        return build.build_extension(pyx_source, modname, tmp, flags, shared_utility=shared,
                                     log_path=entry / "build.log",
                                     pyx_path=entry / f"{modname}.pyx")

    meta_extra = {"kind": "function", "name_hint": name_hint, "signature": signature,
                  "flags": asdict(flags), "shared_utility": shared,
                  "environment": environment()}
    return _load_or_publish(key, modname, builder, meta_extra)


def loaded(pyx_source, signature="", *, flags=None):
    """The module if this process has it already (no disk access, no build), else None."""
    return _modules.get(cache_key(pyx_source, signature, flags))


def stats():
    """Counters of this process: builds, disk_loads, memory_hits, rebuilds_after_corruption."""
    return dict(_stats)


def list_entries():
    """One dict per cache entry (its meta.json plus path, bytes, status), oldest first."""
    root = cache_dir()
    entries = []
    if not root.is_dir():
        return entries
    for entry in sorted(p for p in root.iterdir()
                        if p.is_dir() and not p.is_symlink() and p.name != "_tmp"):
        try:
            meta = _read_meta(entry) or {}
            status = "ok" if meta else "incomplete"     # e.g. a failed build: see build.log
        except _Invalid:
            meta, status = {}, "corrupt"
        size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
        entries.append({"path": str(entry), "module": entry.name, "status": status,
                        "bytes": size, **{k: meta.get(k) for k in (
                            "kind", "name_hint", "signature", "built_at", "build_seconds")}})
    entries.sort(key=lambda e: e["built_at"] or 0)
    return entries


def info():
    """A summary of the cache: where it is, how big, and the versions keys depend on."""
    entries = list_entries()
    return {"path": str(cache_dir()), "entries": len(entries),
            "bytes": sum(e["bytes"] for e in entries),
            "failed_or_incomplete": sum(e["status"] != "ok" for e in entries),
            "shared_utility": _shared_name, "environment": environment(),
            "compiler": build.compiler_command(), "num_threads": threads.num_threads(),
            "this_process": stats()}


def clear():
    """Delete every entry not being built right now; returns what was removed."""
    root = cache_dir()
    removed, freed, busy = 0, 0, []
    if not root.is_dir():
        return {"removed": 0, "bytes": 0, "busy": []}
    for entry in root.iterdir():
        if entry.is_symlink():                 # never follow one: remove the link itself
            entry.unlink(missing_ok=True)
            continue
        if not entry.is_dir():
            continue
        if entry.name == "_tmp":
            shutil.rmtree(entry, ignore_errors=True)
            continue
        with _file_lock(entry / ".lock", blocking=False) as got:
            if not got:
                busy.append(entry.name)
                continue
            freed += sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return {"removed": removed, "bytes": freed, "busy": busy}
