"""astjax.jit beside NumPy, Numba, Pythran and JAX on the kernel corpus, in one run (issue 12).

    python benchmarks/bench_corpus.py [--quick] [--busy] [--threads-check] [--only a,b]
        [--peers numpy,astjax,numba,pythran,jax] [--json out.json] [--corpus-path DIR]

Every peer runs the SAME unmodified function of `corpus.KERNELS` (the `corpus` package in
--corpus-path, by default the benchmarks/ folder beside this script):
- numpy: the function itself, the baseline;
- astjax: `astjax.jit(fn)` with default settings; its build (first call) is cold, in a fresh
  private ASTJAX_CACHE_DIR made for this run (Cython's shared utility module is built
  before the first kernel, and its time is in the JSON, not charged to a kernel);
- numba: `numba.njit(fn)` (nopython); a compile error is "fails";
- pythran: a module holding the function's source (`inspect.getsource`), the imports and
  module-level helpers/constants it reads, and a `#pythran export` line deduced from the
  arguments, built with `pythran -O3 -march=native` (astjax's -O level and target). Builds
  are kept in ~/.cache/astjax-bench/pythran, keyed by source, flags and versions, so a second
  run (--busy after idle) does not rebuild; the build seconds shown are the first build's;
- jax: the source executed with `np` bound to `jax.numpy`, `jax.jit`ted (x64 enabled), called
  on the NumPy arguments, blocked on and converted back to NumPy (0-d arrays to scalars).
  Tracer errors, traces over MAX_JAX_EQUATIONS operations and in-place writes are "fails".

Each peer's result is checked against NumPy's: the same structure (array, scalar, tuple,
list), dtype and shape, values by allclose (rtol 1e-9 float64/complex128, 1e-4 float32/
complex64, atol rtol * max|reference|; integers and booleans exactly), and the arguments
afterwards (a kernel that writes into its arguments must write the same values; one that
does not must not). A mismatch is "wrong", an exception "fails"; neither enters that peer's
speed geomean. Kernels that write into their arguments (found by running NumPy on copies)
get fresh copies for every call of every peer, made before each timed loop.

Timing, per kernel: peers interleaved in one process, a warm-up call, then rounds in which
every peer (in rotating order) runs a loop of `number` calls sized, as timeit's autorange,
from a calibration call so the kernel's rounds fit its budget (--budget seconds, default 2,
--quick 0.3); the time is the median over the rounds (3 to 7) of the per-call time.

--busy runs a separate process spinning on one core (pure Python `while True`) for the whole
run; it is stopped at the end, on errors and on Ctrl-C. --threads-check also times astjax
with one thread (`codegen.threads.set_num_threads(1)`, which is what ASTJAX_NUM_THREADS=1
does: the count lives in each module's C global and is pushed at run time, so both variants
share one process and one build, interleaved) and lists kernels where the default thread
count is more than 10% slower than one thread.

Output: a markdown table (kernel, category, NumPy time, each peer's speedup over NumPy or
fails/wrong, astjax build seconds) and a summary per peer: geomean speedup over the kernels
it runs correctly, correct count k/N, geomean counting fails and wrong as 1.0 (the user
falls back to NumPy), median build seconds, kernels more than 10% slower than NumPy.
An astjax cell ends in " np" when the whole function ran as NumPy (astjax.explain says why)
and in " pyN" when N of its lines fell back to Python inside the compiled function.
"""
import argparse
import contextlib
import gc
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import types
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import optional                    # noqa: E402

ALL_PEERS = ("numpy", "astjax", "numba", "pythran", "jax")
SLOWER = 1.10                  # "more than 10% slower"
MAX_JAX_EQUATIONS = 20_000     # an unrolled Python loop longer than this is "fails"
COPY_BYTES = 256 << 20         # fresh argument copies made before one timed loop, at most
PYTHRAN_FLAGS = ["-O3", "-march=native"]
PEER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "astjax-bench"


class Fails(Exception):
    """A peer cannot run a kernel (compile error, tracer error, exception while running)."""


class TimeLimit(BaseException):
    """A peer's preparation ran past its time limit (a BaseException: peers catch Exception)."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise TimeLimit in the main thread after `seconds` (Python code only: a C call is
    interrupted when it returns)."""
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeLimit(f"took more than {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:160]


# ----------------------------------------------------------------------------- arguments

def copy_args(args):
    """Fresh copies of the arrays (and lists of arrays) among `args`."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(a.copy())
        elif isinstance(a, list):
            out.append([x.copy() if isinstance(x, np.ndarray) else x for x in a])
        else:
            out.append(a)
    return tuple(out)


def args_nbytes(args):
    return sum(a.nbytes for a in args if isinstance(a, np.ndarray)) + sum(
        x.nbytes for a in args if isinstance(a, list) for x in a if isinstance(x, np.ndarray))


def describe_args(args):
    def one(a):
        if isinstance(a, np.ndarray):
            return f"{a.dtype}{list(a.shape)}"
        return type(a).__name__
    return ", ".join(one(a) for a in args)


# ----------------------------------------------------------------------------- checking

def _tolerance(dtype):
    if dtype in (np.float32, np.complex64):
        return 1e-4
    if dtype == np.float16:
        return 1e-2
    return 1e-9


def mismatch(ref, got, where="result"):
    """Why `got` differs from NumPy's `ref`, or None."""
    if isinstance(ref, (tuple, list)) or isinstance(got, (tuple, list)):
        if type(ref) is not type(got):
            return f"{where}: {type(got).__name__} instead of {type(ref).__name__}"
        if len(ref) != len(got):
            return f"{where}: {len(got)} items instead of {len(ref)}"
        for i, (r, g) in enumerate(zip(ref, got)):
            problem = mismatch(r, g, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if ref is None or got is None:
        return None if ref is got else f"{where}: {got!r:.40} instead of {ref!r:.40}"
    if isinstance(ref, np.ndarray) != isinstance(got, np.ndarray):
        return (f"{where}: {'an array' if isinstance(got, np.ndarray) else 'a scalar'} "
                f"instead of {'an array' if isinstance(ref, np.ndarray) else 'a scalar'}")
    try:
        r, g = np.asarray(ref), np.asarray(got)
    except Exception as exc:          # not an array-like value: compare as Python values
        return None if ref == got else f"{where}: {got!r:.40} instead of {ref!r:.40}"
    if r.dtype != g.dtype:
        return f"{where}: dtype {g.dtype} instead of {r.dtype}"
    if r.shape != g.shape:
        return f"{where}: shape {g.shape} instead of {r.shape}"
    if r.dtype.kind in "fc":
        rtol = _tolerance(r.dtype)
        finite = np.abs(r[np.isfinite(r)])
        atol = rtol * float(finite.max()) if finite.size else 0.0
        if not np.allclose(g, r, rtol=rtol, atol=atol, equal_nan=True):
            bad = ~np.isclose(g, r, rtol=rtol, atol=atol, equal_nan=True)
            return f"{where}: {int(bad.sum())} of {r.size} values differ"
        return None
    if r.dtype.kind in "biuSUV":
        if not np.array_equal(g, r):
            return f"{where}: {int(np.sum(g != r))} of {r.size} values differ"
        return None
    return None if np.array_equal(g, r) else f"{where}: values differ"


# ----------------------------------------------------------------------------- peers

class Peer:
    """One way of running a kernel: `prepare` returns the callable or raises Fails."""
    name = ""
    module = None             # the import that must succeed for the peer to be installed

    def installed(self):
        return self.module is None or optional(self.module) is not None

    def prepare(self, kernel, args):
        raise NotImplementedError

    def around(self):
        """Context entered around each timed loop (thread settings)."""
        return contextlib.nullcontext()


class NumpyPeer(Peer):
    name = "numpy"

    def prepare(self, kernel, args):
        return kernel.fn, None


class AstjaxPeer(Peer):
    name = "astjax"

    def __init__(self):
        self.jitted = {}       # kernel name -> JitFunction (shared with the 1-thread variant)

    def prepare(self, kernel, args):
        import astjax
        jf = astjax.jit(kernel.fn)
        self.jitted[kernel.name] = jf
        return jf, "first_call"

    def mode(self, kernel):
        """" np" (the whole function runs as NumPy), " pyN" (N lines run as Python), ""."""
        jf = self.jitted.get(kernel.name)
        spec = getattr(jf, "last", None)
        if spec is None:
            return "", ""
        if spec.status != "compiled":
            return " np", getattr(spec, "reason", "") or spec.status
        notes = getattr(getattr(spec, "lowered", None), "notes", ()) or ()
        python = [n for n in notes if n.status == "Python"]
        if not python:
            return "", ""
        lines = {str(n.origin) for n in python}
        return f" py{len(lines)}", "; ".join(sorted({n.detail for n in python}))[:300]


class AstjaxOneThread(Peer):
    name = "astjax-1t"

    def __init__(self, main):
        self.main = main

    def prepare(self, kernel, args):
        jf = self.main.jitted.get(kernel.name)
        if jf is None:
            raise Fails("astjax did not prepare this kernel")
        return jf, None

    @contextlib.contextmanager
    def around(self):
        from codegen import threads
        threads.set_num_threads(1)
        try:
            yield
        finally:
            threads.set_num_threads(None)


class NumbaPeer(Peer):
    name = "numba"
    module = "numba"

    def __init__(self, limit):
        self.alarm = limit     # seconds for the compile (and first call)

    def prepare(self, kernel, args):
        import numba
        return numba.njit(kernel.fn), "first_call"


class JaxPeer(Peer):
    name = "jax"
    module = "jax"

    def __init__(self, limit):
        self.alarm = limit     # seconds for the trace, compile and first call

    def prepare(self, kernel, args):
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        fn = kernel.fn
        source = textwrap.dedent(inspect.getsource(fn))
        namespace = dict(fn.__globals__)
        for key, value in fn.__globals__.items():
            if value is np:
                namespace[key] = jnp
            elif callable(value) and getattr(np, key, None) is value and hasattr(jnp, key):
                namespace[key] = getattr(jnp, key)       # from numpy import sqrt
        exec(compile(source, inspect.getsourcefile(fn) or "<kernel>", "exec"), namespace)
        jitted = jax.jit(namespace[fn.__name__])

        def to_numpy(value):
            if isinstance(value, (tuple, list)):
                return type(value)(to_numpy(v) for v in value)
            if isinstance(value, jax.Array):
                out = np.asarray(value)
                return out[()] if out.ndim == 0 else out
            return value

        def run(*a):
            return to_numpy(jax.block_until_ready(jitted(*a)))

        def build(*a):
            jaxpr = jax.make_jaxpr(namespace[fn.__name__])(*a)
            if len(jaxpr.eqns) > MAX_JAX_EQUATIONS:
                raise Fails(f"the trace has {len(jaxpr.eqns)} operations (an unrolled "
                            f"Python loop; over {MAX_JAX_EQUATIONS})")
            return run(*a)
        run.build = build
        return run, "first_call"


class PythranPeer(Peer):
    name = "pythran"
    module = "pythran"

    def __init__(self, limit, use_cache=True):
        self.limit = limit
        self.use_cache = use_cache
        self.built = {}        # kernel name -> (first build seconds, reused from the cache)
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-pythran-"))

    def prepare(self, kernel, args):
        import pythran
        fn = kernel.fn
        source, exports = pythran_module(fn, args)
        flags = PYTHRAN_FLAGS
        key = hashlib.sha256("\n".join([source, " ".join(flags), pythran.__version__,
                                        sys.version, platform.machine()]).encode()
                             ).hexdigest()[:16]
        modname = f"pyt_{fn.__name__}_{key}"
        entry = PEER_CACHE / "pythran" / modname
        meta_path = entry / "meta.json"
        so = None
        if self.use_cache and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            so = entry / meta["so"]
            build_s, cached = meta["build_s"], True
            if not so.exists():
                so = None
        if so is None:
            if meta_path.exists():
                meta_path.unlink()
            work = self.tmp / modname
            work.mkdir(parents=True, exist_ok=True)
            (work / f"{modname}.py").write_text(source)
            suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
            command = [shutil.which("pythran") or "pythran", *flags, f"{modname}.py",
                       "-o", f"{modname}{suffix}"]
            started = time.perf_counter()
            try:
                done = subprocess.run(command, cwd=work, capture_output=True, text=True,
                                      timeout=self.limit)
            except subprocess.TimeoutExpired:
                raise Fails(f"pythran took more than {self.limit:g} s") from None
            build_s, cached = time.perf_counter() - started, False
            if done.returncode != 0:
                lines = [ln for ln in (done.stderr + done.stdout).splitlines()
                         if ln.strip() and not ln.startswith(("WARNING", "  "))]
                error = next((ln for ln in lines if "rror" in ln), lines[-1] if lines else "")
                raise Fails(f"pythran: {error.strip()}"[:200])
            entry.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / f"{modname}{suffix}", entry / f"{modname}{suffix}")
            (entry / f"{modname}.py").write_text(source)
            meta_path.write_text(json.dumps({"so": f"{modname}{suffix}", "build_s": build_s,
                                             "export": exports, "flags": flags}))
            so = entry / f"{modname}{suffix}"
        spec = importlib.util.spec_from_file_location(modname, so)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.built[kernel.name] = (build_s, cached)
        return getattr(module, fn.__name__), "pythran"


def pythran_type(value):
    """The #pythran export type of an argument, or raise Fails."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise Fails("a 0-d array argument")
        dims = ",".join([":"] * value.ndim)
        order = ""
        if not value.flags.c_contiguous:
            if value.flags.f_contiguous:
                order = " order(F)"
            else:
                raise Fails("a strided (non-contiguous) array argument")
        name = "bool" if value.dtype == np.bool_ else value.dtype.name
        return f"{name}[{dims}]{order}"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, np.generic):
        return value.dtype.name
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, complex):
        return "complex"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple):
        return "(" + ", ".join(pythran_type(v) for v in value) + ")"
    if isinstance(value, list):
        if not value:
            raise Fails("an empty list argument")
        kinds = {pythran_type(v) for v in value}
        if len(kinds) != 1:
            raise Fails("a list of mixed types")
        return f"{kinds.pop()} list"
    raise Fails(f"no pythran type for a {type(value).__name__} argument")


def _names_read(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_read(const)
    return names


def pythran_module(fn, args):
    """The source of a Pythran module exporting `fn` for `args`: the imports, helper
    functions and constants of fn's module that it reads, then its source."""
    exports = f"{fn.__name__}({', '.join(pythran_type(a) for a in args)})"
    header = ["import numpy as np"]
    bodies = []
    seen = {fn.__name__}

    def add(f):
        for name in sorted(_names_read(f.__code__)):
            if name in seen or name not in f.__globals__:
                continue
            seen.add(name)
            value = f.__globals__[name]
            if isinstance(value, types.ModuleType):
                line = f"import {value.__name__} as {name}" if value.__name__ != name \
                    else f"import {name}"
                if line not in header:
                    header.append(line)
            elif isinstance(value, types.FunctionType) and \
                    value.__module__ == fn.__module__:
                add(value)
                bodies.append(textwrap.dedent(inspect.getsource(value)))
            elif getattr(value, "__module__", "") in ("numpy", "math") or \
                    isinstance(value, np.ufunc):
                module = "math" if getattr(value, "__module__", "") == "math" else "numpy"
                header.append(f"from {module} import {getattr(value, '__name__', name)}"
                              + ("" if getattr(value, "__name__", name) == name
                                 else f" as {name}"))
            elif isinstance(value, (int, float, complex, bool, str)):
                header.append(f"{name} = {value!r}")
    add(fn)
    parts = ["\n".join(header), f"#pythran export {exports}", *bodies,
             textwrap.dedent(inspect.getsource(fn))]
    return "\n\n\n".join(parts) + "\n", exports


# ----------------------------------------------------------------------------- timing

def _loop(fn, args, number, fresh):
    """Seconds per call of `number` calls (fresh copies, made beforehand, when `fresh`)."""
    argsets = [copy_args(args) for _ in range(number)] if fresh else None
    enabled = gc.isenabled()
    gc.disable()
    try:
        if fresh:
            start = time.perf_counter()
            for a in argsets:
                fn(*a)
        else:
            start = time.perf_counter()
            for _ in range(number):
                fn(*args)
        return (time.perf_counter() - start) / number
    finally:
        if enabled:
            gc.enable()


def time_peers(ready, peers, args, fresh, budget, max_rounds):
    """Median seconds per call of each peer in `ready` (name -> callable), interleaved."""
    one = {}
    for name, fn in ready.items():
        with peers[name].around():
            fn(*copy_args(args)) if fresh else fn(*args)          # warm-up
            one[name] = min(_loop(fn, args, 1, fresh) for _ in range(2))
    rounds = max_rounds
    target = budget / (len(ready) * rounds)
    cost = sum(max(target, t) for t in one.values())
    rounds = max(3, min(max_rounds, int(budget / cost) if cost else max_rounds))
    per_copy = max(1, args_nbytes(args))
    numbers = {}
    for name, t in one.items():
        n = max(1, int(target / t)) if t > 0 else 1000
        numbers[name] = min(n, max(1, COPY_BYTES // per_copy)) if fresh else n
    samples = {name: [] for name in ready}
    order = list(ready)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            with peers[name].around():
                samples[name].append(_loop(ready[name], args, numbers[name], fresh))
    return {name: statistics.median(s) for name, s in samples.items()}, rounds


# ----------------------------------------------------------------------------- one kernel

def run_kernel(kernel, peers, size, budget, max_rounds, seed=0):
    rng = np.random.default_rng(seed)
    args = kernel.make_args(rng, size)
    row = {"name": kernel.name, "category": kernel.category, "args": describe_args(args),
           "peers": {}}
    before = copy_args(args)
    try:
        np_args = copy_args(args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = kernel.fn(*np_args)
    except Exception as exc:
        row["error"] = f"NumPy itself fails: {_first_line(exc)}"
        return row
    fresh = any(mismatch(b, a, "argument") for b, a in zip(before, np_args)
                if isinstance(b, (np.ndarray, list)))
    row["mutates"] = fresh
    ready = {}
    for name, peer in peers.items():
        cell = row["peers"][name] = {"status": "ok"}
        if name == "jax" and fresh:
            cell.update(status="fails", error="writes into its arguments (JAX arrays are "
                                              "immutable)")
            continue
        try:
            with time_limit(getattr(peer, "alarm", None)), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                fn, build = peer.prepare(kernel, args)
                call_args = copy_args(args)
                first = getattr(fn, "build", fn)
                result = first(*call_args)
                elapsed = time.perf_counter() - started
        except (Exception, TimeLimit) as exc:
            cell.update(status="fails", error=_first_line(exc))
            continue
        if build == "first_call":
            cell["build_s"] = elapsed
        elif build == "pythran":
            cell["build_s"], cell["cached_build"] = peer.built[kernel.name]
        problem = mismatch(reference, result) or next(
            (p for b, a in zip(np_args, call_args) if isinstance(b, (np.ndarray, list))
             for p in [mismatch(b, a, "argument after the call")] if p), None)
        if isinstance(peer, AstjaxPeer):
            cell["mode"], cell["fallbacks"] = peer.mode(kernel)
        if problem:
            cell.update(status="wrong", error=problem)
            continue
        ready[name] = fn
    if "numpy" not in ready:
        row["error"] = "NumPy is not among the peers"
        return row
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, rounds = time_peers(ready, peers, args, fresh, budget, max_rounds)
    except Exception as exc:       # a peer raising on a later call: drop it and time again
        row["error"] = f"while timing: {_first_line(exc)}"
        return row
    row["rounds"] = rounds
    base = seconds["numpy"]
    for name, t in seconds.items():
        row["peers"][name].update(seconds=t, speedup=base / t)
    return row


# ----------------------------------------------------------------------------- report

def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def summarize(rows, names, installed):
    summary = {}
    rows = [r for r in rows if "error" not in r]
    for name in names:
        if not installed.get(name, True):
            summary[name] = {"installed": False}
            continue
        cells = [r["peers"].get(name, {}) for r in rows]
        ok = [c["speedup"] for c in cells if c.get("status") == "ok" and "speedup" in c]
        builds = [c["build_s"] for c in cells if "build_s" in c]
        summary[name] = {
            "installed": True, "correct": len(ok), "kernels": len(rows),
            "geomean_correct": geomean(ok),
            "geomean_fallback": geomean(ok + [1.0] * (len(rows) - len(ok))),
            "median_build_s": statistics.median(builds) if builds else None,
            "slower_than_numpy": sorted(r["name"] for r, c in zip(rows, cells)
                                        if c.get("status") == "ok"
                                        and c.get("speedup", 1) < 1 / SLOWER),
            "fails": sorted(r["name"] for r, c in zip(rows, cells)
                            if c.get("status") == "fails"),
            "wrong": sorted(r["name"] for r, c in zip(rows, cells)
                            if c.get("status") == "wrong"),
        }
    return summary


def threads_report(rows):
    """Kernels where astjax with default threads is >10% slower than with one thread."""
    out = []
    for r in rows:
        a, one = r["peers"].get("astjax", {}), r["peers"].get("astjax-1t", {})
        if "seconds" in a and "seconds" in one and a["seconds"] > SLOWER * one["seconds"]:
            out.append({"name": r["name"], "default_s": a["seconds"],
                        "one_thread_s": one["seconds"],
                        "ratio": a["seconds"] / one["seconds"]})
    return out


def _ms(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def _x(v):
    return "-" if v is None else f"{v:.2f}x"


def markdown(rows, names, installed, summary):
    shown = [n for n in names if n != "numpy"]
    lines = ["| kernel | category | NumPy | " + " | ".join(shown) + " | astjax build s |",
             "|---|---|---:|" + "---:|" * len(shown) + "---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['category']} | {r['error']} |"
                         + " |" * (len(shown) + 1))
            continue
        cells = []
        for n in shown:
            c = r["peers"].get(n, {})
            if not installed.get(n, True):
                cells.append("not installed")
            elif c.get("status") == "ok":
                cells.append(f"{c['speedup']:.2f}x{c.get('mode', '')}")
            else:
                cells.append(c.get("status", "-") + c.get("mode", ""))
        build = r["peers"].get("astjax", {}).get("build_s")
        lines.append(f"| {r['name']} | {r['category']} | "
                     f"{_ms(r['peers']['numpy']['seconds'])} | " + " | ".join(cells)
                     + f" | {'-' if build is None else f'{build:.2f}'} |")
    lines += ["", "| summary | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]

    def line(title, fmt):
        cells = []
        for n in shown:
            s = summary[n]
            cells.append("not installed" if not s["installed"] else fmt(s))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    line("geomean speedup, correct kernels", lambda s: _x(s["geomean_correct"]))
    line("correct", lambda s: f"{s['correct']}/{s['kernels']}")
    line("geomean, fails/wrong as 1.0", lambda s: _x(s["geomean_fallback"]))
    line("median build s", lambda s: "-" if s["median_build_s"] is None
         else f"{s['median_build_s']:.2f}")
    line(f"kernels >{round((SLOWER - 1) * 100)}% slower than NumPy",
         lambda s: str(len(s["slower_than_numpy"])))
    return "\n".join(lines)


def details(rows):
    out = []
    for r in rows:
        for n, c in r.get("peers", {}).items():
            if c.get("status") in ("fails", "wrong"):
                out.append(f"  {r['name']} / {n}: {c['status']}: {c.get('error', '')}")
            if c.get("fallbacks"):
                out.append(f"  {r['name']} / {n}: runs as {'NumPy' if c['mode'] == ' np' else 'Python'}"
                           f": {c['fallbacks']}")
    return out


# ----------------------------------------------------------------------------- busy core

SPINNER = """\
import os
parent = {pid}
while True:
    for _ in range(1000000):
        pass
    if os.getppid() != parent:
        break
"""


@contextlib.contextmanager
def busy_core(enabled):
    """A separate process spinning on one core for the duration (stopped on any exit; it
    also stops by itself if this process dies)."""
    if not enabled:
        yield None
        return
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER.format(pid=os.getpid())])
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    try:
        yield spinner
    finally:
        signal.signal(signal.SIGTERM, previous)
        spinner.terminate()
        try:
            spinner.wait(timeout=5)
        except subprocess.TimeoutExpired:
            spinner.kill()
            spinner.wait()


# ----------------------------------------------------------------------------- main

def load_corpus(path):
    path = str(Path(path).resolve())
    sys.path.insert(0, path)
    sys.modules.pop("corpus", None)
    corpus = importlib.import_module("corpus")
    if not str(Path(corpus.__file__).resolve()).startswith(path):
        raise SystemExit(f"imported {corpus.__file__}, not the corpus in {path}")
    return corpus


def versions():
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("astjax", "numba", "pythran", "jax", "Cython"):
        module = optional(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-path", default=str(HERE),
                        help="the directory holding the `corpus` package (default: %(default)s)")
    parser.add_argument("--peers", default=",".join(ALL_PEERS),
                        help="comma-separated, of " + ",".join(ALL_PEERS))
    parser.add_argument("--only", default="", help="kernel names, comma-separated")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, short budget, 3 rounds: a smoke run")
    parser.add_argument("--busy", action="store_true",
                        help="run with another process spinning on one core")
    parser.add_argument("--threads-check", action="store_true",
                        help="also time astjax with one thread")
    parser.add_argument("--budget", type=float, default=None,
                        help="timing seconds per kernel (default 2, --quick 0.3)")
    parser.add_argument("--no-peer-cache", action="store_true",
                        help="rebuild Pythran modules instead of reusing earlier builds")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args(argv)

    names = [p.strip() for p in opts.peers.split(",") if p.strip()]
    unknown = sorted(set(names) - set(ALL_PEERS))
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {','.join(ALL_PEERS)}")
    if "numpy" not in names:
        names.insert(0, "numpy")
    names = [n for n in ALL_PEERS if n in names]
    if opts.threads_check and "astjax" not in names:
        parser.error("--threads-check needs the astjax peer")
    budget = opts.budget if opts.budget is not None else (0.3 if opts.quick else 2.0)
    max_rounds = 3 if opts.quick else 7
    limit = 300                # seconds for one peer's compile of one kernel
    size = "small" if opts.quick else "bench"

    # a fresh private cache: every astjax build in this run is cold
    cache_root = tempfile.mkdtemp(prefix="astjax-bench-cache-")
    os.environ["ASTJAX_CACHE_DIR"] = cache_root
    corpus = load_corpus(opts.corpus_path)
    kernels = list(corpus.KERNELS)
    if opts.only:
        wanted = [n.strip() for n in opts.only.split(",") if n.strip()]
        kernels = [corpus.by_name(n) for n in wanted]

    available = {"numpy": NumpyPeer(), "astjax": AstjaxPeer(), "numba": NumbaPeer(limit),
                 "pythran": PythranPeer(limit, not opts.no_peer_cache), "jax": JaxPeer(limit)}
    installed = {n: available[n].installed() for n in names}
    peers = {n: available[n] for n in names if installed[n]}
    if opts.threads_check:
        peers["astjax-1t"] = AstjaxOneThread(available["astjax"])
        names.append("astjax-1t")
        installed["astjax-1t"] = True
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "busy": opts.busy, "quick": opts.quick, "size": size,
            "budget_s": budget, "corpus": str(Path(corpus.__file__).parent),
            "versions": versions(), "pythran_flags": PYTHRAN_FLAGS,
            "installed": installed, "load_before": os.getloadavg()}
    if "astjax" in peers:
        from codegen import cache, threads
        started = time.perf_counter()
        cache.shared_utility()
        meta["astjax_shared_utility_build_s"] = time.perf_counter() - started
        meta["astjax_threads"] = threads.num_threads()
    print(f"corpus {meta['corpus']}: {len(kernels)} kernels, size {size}, peers "
          + ", ".join(f"{n}" + ("" if installed[n] else " (not installed)") for n in names)
          + f"; {'busy' if opts.busy else 'idle'}; load average "
          + " ".join(f"{v:.2f}" for v in meta["load_before"]), flush=True)

    rows = []
    started = time.perf_counter()
    interrupted = None
    try:
        with busy_core(opts.busy):
            for i, kernel in enumerate(kernels, 1):
                row = run_kernel(kernel, peers, size, budget, max_rounds, opts.seed)
                rows.append(row)
                cells = ", ".join(
                    f"{n} {c['speedup']:.2f}x" if "speedup" in c else f"{n} {c['status']}"
                    for n, c in row["peers"].items() if n != "numpy")
                base = row["peers"].get("numpy", {}).get("seconds")
                print(f"[{i}/{len(kernels)}] {kernel.name}: "
                      + (row["error"] if "error" in row else
                         f"NumPy {_ms(base)}; {cells}"), flush=True)
    except (KeyboardInterrupt, SystemExit) as exc:     # report the kernels done so far
        interrupted = exc
        meta["interrupted_after"] = len(rows)
        print(f"interrupted after {len(rows)} kernels: reporting those", flush=True)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
        if "pythran" in peers:
            shutil.rmtree(peers["pythran"].tmp, ignore_errors=True)
    meta["seconds"] = time.perf_counter() - started
    meta["load_after"] = os.getloadavg()
    summary = summarize(rows, names, installed)
    print()
    print(markdown(rows, names, installed, summary))
    notes = details(rows)
    if notes:
        print("\nfails, wrong, fallbacks:")
        print("\n".join(notes))
    result = {"meta": meta, "kernels": rows, "summary": summary}
    if opts.threads_check:
        slow = threads_report(rows)
        result["threads_check"] = slow
        print(f"\nthreads check ({meta.get('astjax_threads')} threads by default): "
              + (", ".join(f"{s['name']} {s['ratio']:.2f}x one thread's time" for s in slow)
                 if slow else f"no kernel >{round((SLOWER - 1) * 100)}% slower than one "
                              "thread"))
    print(f"\n{meta['seconds']:.0f} s; load average at the end "
          + " ".join(f"{v:.2f}" for v in meta["load_after"]))
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=1, default=str))
        print(f"wrote {opts.json}")
    if interrupted is not None:
        raise interrupted
    return result


if __name__ == "__main__":
    main()
