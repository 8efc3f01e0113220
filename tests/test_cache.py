"""The build and cache layer of jit: hits, concurrent builds, corruption, missing compilers.

Every test builds tiny modules with a per-run token in their source, so keys are fresh even
when $ASTJAX_CACHE_DIR points at a cache that outlives the session. A cold build costs about
0.5 s here (plus ~4 s once per cache for Cython's shared utility module).
"""
import json
import multiprocessing
import os
import platform
import re
import stat
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from codegen import background, build, cache, threads
from codegen.errors import BuildError, CompilerUnavailable

TOKEN = uuid.uuid4().hex[:12]


def scalar_source(name, factor):
    """A tiny module: f(x) = factor * x, plus the thread count it sees."""
    return threads.PYX_PRELUDE + f"""
# test module {name} {TOKEN}
def f(double x):
    return {factor} * x

def thread_count():
    return _astjax_num_threads
"""


def entry_of(module):
    return Path(module.__file__).parent


def meta_of(module):
    return json.loads((entry_of(module) / "meta.json").read_text())


@pytest.fixture(scope="module", autouse=True)
def shared_utility_built():
    """Build Cython's shared utility module up front, so builds below count only modules."""
    return cache.shared_utility()


def test_cold_build_then_hit():
    src = scalar_source("hit", 3.0)
    before = cache.stats().get("builds", 0)
    module = cache.load_or_build(src, "hit", "(float64,)")
    assert cache.stats()["builds"] == before + 1
    assert module.f(2.0) == 6.0
    so_mtime = os.stat(module.__file__).st_mtime_ns
    build_id = meta_of(module)["build_id"]

    started = time.perf_counter()
    again = cache.load_or_build(src, "hit", "(float64,)")
    assert time.perf_counter() - started < 1e-3
    assert again is module
    assert cache.stats()["builds"] == before + 1
    assert os.stat(module.__file__).st_mtime_ns == so_mtime
    assert meta_of(module)["build_id"] == build_id


def test_generated_module_follows_thread_count():
    module = cache.load_or_build(scalar_source("threads", 1.0), "threads")
    try:
        threads.set_num_threads(3)
        assert module.thread_count() == 3
    finally:
        threads.set_num_threads(None)
    assert module.thread_count() == threads.num_threads()


@pytest.mark.parametrize("env, expected", [
    ({"ASTJAX_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}, 3),
    ({"OMP_NUM_THREADS": "5,2"}, 5),
    ({"ASTJAX_NUM_THREADS": "junk"}, threads.available_cpus()),
    ({}, threads.available_cpus()),
])
def test_thread_count_from_environment(monkeypatch, env, expected):
    for var in ("ASTJAX_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert threads._from_environment() == expected


def _build_in_child(src, barrier, results):
    """Runs in a spawned process: wait for the others, then load or build `src`."""
    barrier.wait()
    module = cache.load_or_build(src, "concurrent")
    results.put({"pid": os.getpid(), "value": module.f(2.0),
                 "builds": cache.stats().get("builds", 0),
                 "build_id": meta_of(module)["build_id"], "file": module.__file__})


def test_concurrent_build_from_three_processes():
    src = scalar_source("concurrent", 7.0)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(src, barrier, results))
             for _ in range(3)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [r["value"] for r in got] == [14.0] * 3
    assert sum(r["builds"] for r in got) == 1            # one built, two waited and loaded
    assert len({r["build_id"] for r in got}) == 1
    entry = Path(got[0]["file"]).parent
    assert len(list(entry.glob("*.so"))) == 1
    assert not list((entry.parent / "_tmp").iterdir())   # no leftovers of the build


def _build_only(src, results):
    module = cache.load_or_build(src, "corrupt")
    results.put(module.__file__)


def test_truncated_artifact_is_detected_and_rebuilt():
    # Build in another process: a module imported here could not be imported again.
    src = scalar_source("corrupt", 5.0)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_build_only, args=(src, results))
    child.start()
    so_path = Path(results.get(timeout=120))
    child.join(timeout=60)
    old_id = json.loads((so_path.parent / "meta.json").read_text())["build_id"]
    with open(so_path, "r+b") as f:
        f.truncate(so_path.stat().st_size // 2)

    before = cache.stats()
    module = cache.load_or_build(src, "corrupt")
    after = cache.stats()
    assert module.f(2.0) == 10.0
    assert after.get("rebuilds_after_corruption", 0) == before.get("rebuilds_after_corruption", 0) + 1
    assert after["builds"] == before.get("builds", 0) + 1
    assert meta_of(module)["build_id"] != old_id
    assert "sha256 mismatch" in (so_path.parent / "corruption.log").read_text()


def test_artifact_that_fails_to_import_is_rebuilt():
    # A .so whose hash matches its meta.json but which is not a loadable library.
    src = scalar_source("garbage", 9.0)
    key = cache.cache_key(src)
    modname = build.module_name("garbage", key[:20])
    entry = cache.cache_dir() / modname
    entry.mkdir(parents=True)
    fake = entry / f"{modname}{build.EXT_SUFFIX}"
    fake.write_bytes(b"not an ELF file")
    (entry / "meta.json").write_text(json.dumps({
        "key": key, "module": modname, "so_file": fake.name,
        "so_sha256": cache._sha256(fake.read_bytes())}))

    module = cache.load_or_build(src, "garbage")
    assert module.f(2.0) == 18.0
    assert "import failed" in (entry / "corruption.log").read_text()


def test_missing_compiler_raises_compiler_unavailable(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/astjax-test-cc")
    with pytest.raises(CompilerUnavailable) as info:
        cache.load_or_build(scalar_source("nocc", 2.0), "nocc")
    message = str(info.value)
    assert "/nonexistent/astjax-test-cc" in message and "not found" in message
    assert info.value.log_path in message
    assert "astjax-test-cc" in Path(info.value.log_path).read_text()


def test_broken_compiler_raises_compiler_unavailable(monkeypatch):
    monkeypatch.setenv("CC", "false")           # exists, fails on everything
    with pytest.raises(CompilerUnavailable) as info:
        cache.load_or_build(scalar_source("falsecc", 2.0), "falsecc")
    assert "cannot build a trivial extension" in str(info.value)
    assert "probe" in Path(info.value.log_path).read_text()


def test_cython_error_is_a_build_error_with_log():
    with pytest.raises(BuildError) as info:
        cache.load_or_build(f"# {TOKEN}\ndef f(x):\n    return x +\n", "syntax")
    assert not isinstance(info.value, CompilerUnavailable)
    assert "Cython rejected" in str(info.value)
    assert "Expected" in Path(info.value.log_path).read_text()


def test_c_error_is_a_build_error_not_a_missing_compiler():
    src = f"""# {TOKEN}
cdef extern from "astjax_no_such_header.h":
    int astjax_no_such_function()
def f():
    return astjax_no_such_function()
"""
    with pytest.raises(BuildError) as info:
        cache.load_or_build(src, "cerror")
    assert not isinstance(info.value, CompilerUnavailable)
    assert "astjax_no_such_header.h" in str(info.value)


def test_build_in_background():
    src = scalar_source("background", 4.0)
    future = background.build_in_background(src, "background")
    assert background.build_in_background(src, "background") is future or future.done()
    x = np.random.default_rng(0).random(10_000)
    while not future.done():          # the caller keeps computing with NumPy meanwhile
        np.exp(x).sum()
    module = future.result()
    assert module.f(2.0) == 8.0
    assert background.build_in_background(src, "background").result() is module


VECTOR_MATH_SOURCE = threads.PYX_PRELUDE + """
# vector math {token}
cimport cython
from cython.parallel cimport prange
cdef extern from "astjax_math.h" nogil:
    float expf(float)
    float logf(float)
    float tanhf(float)

@cython.boundscheck(False)     # as the emitter writes loops it proves in bounds
@cython.wraparound(False)
def apply(float[::1] x, float[::1] e, float[::1] l, float[::1] t):
    cdef Py_ssize_t i
    for i in prange(x.shape[0], nogil=True, num_threads=_astjax_num_threads):
        e[i] = expf(x[i])
        l[i] = logf(x[i])
        t[i] = tanhf(x[i])
"""


def test_vector_math_keeps_nan_and_inf():
    module = cache.load_or_build(VECTOR_MATH_SOURCE.format(token=TOKEN), "vecmath",
                                 "(float32[::1],)*4")
    special = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 88.7, 88.8, 89.0, 1e30, -1e30,
               -87.0, -103.0, -104.0, -200.0, 1e-40, -1e-40, 1e-45, -1.0, 0.5, 3.0, 20.0]
    rng = np.random.default_rng(1)
    x = np.concatenate([special, rng.uniform(-90, 90, 1000), rng.uniform(0, 2, 1000)])
    x = x.astype(np.float32)
    e, l, t = (np.empty_like(x) for _ in range(3))
    with np.errstate(all="ignore"):
        module.apply(x, e, l, t)
        for got, want in [(e, np.exp(x)), (l, np.log(x)), (t, np.tanh(x))]:
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-44)  # NaN == NaN here
            assert np.array_equal(np.signbit(got[np.isinf(got)]),
                                  np.signbit(want[np.isinf(want)]))
    if (platform.machine() == "x86_64" and sys.platform == "linux"
            and build.BuildFlags().vector_math):
        assert b"_ZGV" in Path(module.__file__).read_bytes()   # libmvec calls: vectorized


def test_cache_list_info_and_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTJAX_CACHE_DIR", str(tmp_path))
    for name in ("_aj_a_1", "_aj_b_2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps(
            {"kind": "function", "name_hint": name, "built_at": 1.0}))
    (tmp_path / "_aj_failed_3").mkdir()
    (tmp_path / "_aj_failed_3" / "build.log").write_text("error")
    entries = cache.list_entries()
    assert sorted(e["status"] for e in entries) == ["incomplete", "ok", "ok"]
    summary = cache.info()
    assert summary["path"] == str(tmp_path) and summary["entries"] == 3

    with cache._file_lock(tmp_path / "_aj_b_2" / ".lock"):     # being built right now
        result = cache.clear()
    assert result["removed"] == 2 and result["busy"] == ["_aj_b_2"]
    assert [e["module"] for e in cache.list_entries()] == ["_aj_b_2"]


# ----------------------------------------------------------------------------- security

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point tempfile (and so the fallback root) at a fresh directory of this test."""
    base = tmp_path / "tmpbase"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    return base


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_world_writable_root_warns_and_uses_a_private_fallback(tmp_path, monkeypatch,
                                                               private_tmp):
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("ASTJAX_CACHE_DIR", str(shared))
    with pytest.warns(RuntimeWarning, match=re.escape(str(shared))):
        root = cache.cache_dir()
    assert root == private_tmp / f"astjax-{os.geteuid()}"
    assert mode(root) == 0o700 and os.lstat(root).st_uid == os.geteuid()

    module = cache.load_or_build(scalar_source("fallback", 6.0), "fallback")
    assert module.f(2.0) == 12.0
    entry = entry_of(module)
    assert entry.parent == root and not list(shared.iterdir())
    assert mode(entry) == 0o700 and mode(root / "_tmp") == 0o700
    assert not mode(module.__file__) & 0o077 and mode(entry / "meta.json") == 0o600
    assert mode(entry / "build.log") == 0o600


def test_fresh_root_and_entries_are_created_private(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTJAX_CACHE_DIR", str(tmp_path / "new" / "cache"))
    module = cache.load_or_build(scalar_source("private", 2.5), "private")
    assert module.f(2.0) == 5.0
    assert mode(tmp_path / "new" / "cache") == 0o700
    assert mode(entry_of(module)) == 0o700 and mode(entry_of(module) / ".lock") == 0o600


@needs_root
def test_root_owned_by_another_user_is_refused(tmp_path, monkeypatch, private_tmp):
    theirs = tmp_path / "their-cache"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    monkeypatch.setenv("ASTJAX_CACHE_DIR", str(theirs))
    with pytest.warns(RuntimeWarning, match="owned by uid 65534"):
        root = cache.cache_dir()
    assert root != theirs and root.parent == private_tmp


@needs_root
def test_unusable_fallback_builds_in_a_fresh_temporary_directory(tmp_path, monkeypatch,
                                                                 private_tmp):
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    os.chmod(shared, 0o777)
    planted = private_tmp / f"astjax-{os.geteuid()}"     # planted by another user
    planted.mkdir(mode=0o700)
    os.chown(planted, NOBODY, NOBODY)
    monkeypatch.setenv("ASTJAX_CACHE_DIR", str(shared))
    with pytest.warns(RuntimeWarning) as caught:
        root = cache.cache_dir()
    assert root not in (shared, planted) and root.name.startswith("astjax-cache-")
    assert mode(root) == 0o700
    assert any(str(planted) in str(w.message) for w in caught)


def _plant(entry, so_file, modname, key, owner=None):
    """An entry holding `so_file` as the artifact of `key`, with a matching meta.json."""
    entry.mkdir(mode=0o755)
    so = entry / f"{modname}{build.EXT_SUFFIX}"
    so.write_bytes(Path(so_file).read_bytes())
    (entry / "meta.json").write_text(json.dumps({
        "key": key, "module": modname, "so_file": so.name,
        "so_sha256": cache._sha256(so.read_bytes()), "build_id": "planted",
        "shared_utility": cache.shared_utility()}))
    if owner is not None:
        for path in (so, entry / "meta.json", entry):
            os.chown(path, owner, owner)
    return so


def _evil_build(good_src, name, tmp_path):
    """A module compiled under the name `good_src` would get, but returning -x."""
    key = cache.cache_key(good_src)
    modname = build.module_name(name, key[:20])
    evil = good_src.replace("return 9.0 * x", "return -1.0 * x")
    out = tmp_path / "evil-build"
    out.mkdir()
    so = build.build_extension(evil, modname, out, shared_utility=cache.shared_utility())
    return so, modname, key


@needs_root
def test_planted_artifact_in_a_directory_of_another_user_is_not_imported(tmp_path):
    src = scalar_source("planted", 9.0)
    so, modname, key = _evil_build(src, "planted", tmp_path)
    entry = cache.cache_dir() / modname
    _plant(entry, so, modname, key, owner=NOBODY)
    module = cache.load_or_build(src, "planted")
    assert module.f(2.0) == 18.0                       # the planted one returns -2.0
    assert meta_of(module)["build_id"] != "planted"
    assert os.lstat(entry).st_uid == os.geteuid()


def test_group_writable_artifact_is_not_imported(tmp_path):
    src = scalar_source("groupw", 9.0)
    so, modname, key = _evil_build(src, "groupw", tmp_path)
    entry = cache.cache_dir() / modname
    planted = _plant(entry, so, modname, key)
    os.chmod(planted, 0o666)
    module = cache.load_or_build(src, "groupw")
    assert module.f(2.0) == 18.0
    assert "refused" in (entry / "corruption.log").read_text()


@pytest.mark.parametrize("what", ["entry", "so"])
def test_symlink_planted_in_the_cache_is_refused(tmp_path, what):
    src = scalar_source(f"symlink_{what}", 9.0)
    so, modname, key = _evil_build(src, f"symlink_{what}", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    planted = _plant(elsewhere, so, modname, key)
    entry = cache.cache_dir() / modname
    if what == "entry":
        entry.symlink_to(elsewhere, target_is_directory=True)
    else:
        entry.mkdir()
        (entry / "meta.json").write_bytes((elsewhere / "meta.json").read_bytes())
        (entry / planted.name).symlink_to(planted)
    module = cache.load_or_build(src, f"symlink_{what}")
    assert module.f(2.0) == 18.0
    assert not entry.is_symlink() and not Path(module.__file__).is_symlink()
    assert planted.read_bytes() == so.read_bytes()      # the link's target is left alone


def test_stale_build_folders_are_cleaned_when_the_cache_is_opened(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    tmp = root / "_tmp"
    tmp.mkdir(parents=True)
    old = tmp / "_aj_old_1-abc"
    old.mkdir()
    (old / "x.c").write_text("int x;")
    hour_ago = time.time() - 2 * cache.STALE_TMP_SECONDS
    os.utime(old, (hour_ago, hour_ago))
    child = multiprocessing.get_context("spawn").Process(target=int)
    child.start()
    child.join()
    dead = tmp / (cache._tmp_name("_aj_dead_2").replace(f"@{os.getpid()}@",
                                                         f"@{child.pid}@") + "xyz")
    dead.mkdir()
    alive = tmp / (cache._tmp_name("_aj_alive_3") + "xyz")
    alive.mkdir()
    monkeypatch.setenv("ASTJAX_CACHE_DIR", str(root))
    assert cache.cache_dir() == root
    assert sorted(p.name for p in tmp.iterdir()) == [alive.name]
