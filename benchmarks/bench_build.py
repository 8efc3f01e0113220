"""How long jit's build and cache layer takes: cold builds, loads from disk, memory hits.

    python benchmarks/bench_build.py [--repeat 3]

Each row runs in a fresh interpreter against a fresh cache directory (so "cold" means cold:
Cython not yet imported, nothing on disk), except the rows marked "same process". Rows:
- shared utility module: Cython's memoryview code, built once per cache directory;
- cold build, fresh process: a small prange kernel, when the shared module exists;
- cold build, same process: a second kernel after a first (Cython already warmed up);
- self-contained build: the same kernel without the shared module (what it saves);
- setuptools build_ext: the same kernel built the usual way, for comparison;
- load from disk: a fresh process loading a cached kernel (load_or_build call only);
- memory hit: load_or_build of a module this process already has.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KERNEL = """
cimport cython
from cython.parallel cimport prange

@cython.boundscheck(False)
@cython.wraparound(False)
def kernel(float[::1] x, float[::1] out):
    # {tag}
    cdef Py_ssize_t i
    for i in prange(x.shape[0], nogil=True, num_threads=_astjax_num_threads):
        out[i] = x[i] + x[i] * x[i] + x[i] * x[i] * x[i]
"""

CHILD = """
import json, sys, time
import numpy
t0 = time.perf_counter()
from codegen import build, cache, threads
t1 = time.perf_counter()
src = lambda tag: threads.PYX_PRELUDE + {kernel!r}.format(tag=tag)
out = {{"import_codegen": t1 - t0}}
action = sys.argv[1]
t = time.perf_counter()
if action == "shared":
    cache.shared_utility()
elif action == "build":                        # load_or_build of a new kernel
    cache.load_or_build(src(sys.argv[2]), "bench")
elif action == "build_twice":                  # a second new kernel, same process
    cache.load_or_build(src(sys.argv[2] + "a"), "bench")
    t = time.perf_counter()
    cache.load_or_build(src(sys.argv[2] + "b"), "bench")
elif action == "selfcontained":
    build.build_module(src(sys.argv[2]), "bench")
elif action == "load":                         # built by an earlier child
    cache.load_or_build(src(sys.argv[2]), "bench")
    assert cache.stats().get("builds", 0) == 0, cache.stats()
elif action == "hit":
    cache.load_or_build(src(sys.argv[2]), "bench")
    n = 10000
    t = time.perf_counter()
    for _ in range(n):
        cache.load_or_build(src(sys.argv[2]), "bench")
    out["seconds"] = (time.perf_counter() - t) / n
if "seconds" not in out:
    out["seconds"] = time.perf_counter() - t
print(json.dumps(out))
"""

SETUPTOOLS = """
import sys, time
from setuptools import setup, Extension
from Cython.Build import cythonize
import numpy
sys.argv = ["setup.py", "build_ext", "--inplace", "-q"]
t = time.perf_counter()
setup(ext_modules=cythonize([Extension("bench_st", ["bench_st.pyx"],
      extra_compile_args=["-O3", "-fopenmp"], extra_link_args=["-fopenmp"],
      include_dirs=[numpy.get_include()])], quiet=True, language_level=3), script_args=sys.argv[1:])
print(time.perf_counter() - t)
"""


def child(action, tag, cache_dir):
    env = dict(os.environ, ASTJAX_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    code = CHILD.format(kernel=KERNEL)
    proc = subprocess.run([sys.executable, "-c", code, action, tag], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def setuptools_build(tag):
    from codegen import threads
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_st.pyx").write_text(
            threads.PYX_PRELUDE + textwrap.dedent(KERNEL).format(tag=tag))
        proc = subprocess.run([sys.executable, "-c", SETUPTOOLS], cwd=tmp,
                              capture_output=True, text=True, check=True)
        return float(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-setuptools", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    rows = {}
    with tempfile.TemporaryDirectory(prefix="astjax-bench-") as tmp:
        for r in range(args.repeat):
            cache_dir = Path(tmp, f"cache{r}")
            tag = f"run{r}"
            rows.setdefault("shared utility module (once per cache)", []).append(
                child("shared", tag, cache_dir)["seconds"])
            rows.setdefault("cold build, fresh process", []).append(
                child("build", tag, cache_dir)["seconds"])
            rows.setdefault("cold build, same process (2nd kernel)", []).append(
                child("build_twice", tag, cache_dir)["seconds"])
            rows.setdefault("self-contained build (no shared module)", []).append(
                child("selfcontained", tag, cache_dir)["seconds"])
            if not args.no_setuptools:
                rows.setdefault("setuptools build_ext (for comparison)", []).append(
                    setuptools_build(tag))
            loaded = child("load", tag, cache_dir)
            rows.setdefault("load from disk, fresh process", []).append(loaded["seconds"])
            rows.setdefault("  import codegen (not counted above)", []).append(
                loaded["import_codegen"])
            rows.setdefault("memory hit", []).append(child("hit", tag, cache_dir)["seconds"])

    print(f"{'':44s} {'median':>10s} {'min':>10s}   ({args.repeat} runs)")
    for name, times in rows.items():
        print(f"{name:44s} {_fmt(statistics.median(times)):>10s} {_fmt(min(times)):>10s}")


def _fmt(seconds):
    if seconds >= 0.1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-4:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} us"


if __name__ == "__main__":
    main()
