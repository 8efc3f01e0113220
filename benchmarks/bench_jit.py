"""jit against NumPy (and Numba/JAX when installed) on the kernels of issue 5, in one run.

    python benchmarks/bench_jit.py [--quick]

Rows (best of several runs, after a warm-up call that builds or loads the extension):
- poly: x + x*x + x*x*x on 5000x5000 float32, with a hand-written Cython prange loop as the
  reference (into a fresh output, and into a preallocated one);
- selu on 1e6 and 1e7 float32; jit(grad(sum_logistic)) at 1e6 float64;
- decay: for i in range(10): x -= 0.1 * x on 1000x1000 float32;
- a logistic-map recurrence of 1e6 scalar steps; a Mandelbrot escape-time grid;
- broadcasting (tanh(h + b), x * col[:, None] - col[:, None]) and reductions over an axis on
  4000x1000 float64;
and the build layer's cold build. Speedups are against NumPy (or plain Python for the
scalar loops). Numba rows appear when Numba is installed; timings on a busy machine vary:
a parallel loop waits for every thread, so one busy core can stretch a 0.4 ms loop to 10 ms.

Measured 2026-11-23, 2 cores (AMD Zen 3, AVX-512), 2 threads, load average 0.44 before and
0.53 after (no other process running), numba 0.68.1:

    kernel                                         NumPy     astjax.jit        other
    poly x+x*x+x*x*x, 5000x5000 float32          55.7 ms    10.2 ms  5.5x   hand Cython 9.9 ms
                                                                            (5.7x), into a
                                                                            preallocated output
                                                                            6.2 ms (9.0x);
                                                                            numba par 40.8 ms
    selu 1e6 float32                              4.73 ms    0.26 ms 17.9x   numba par 12.5 ms
    selu 1e7 float32                              70.1 ms    5.00 ms 14.0x   numba par 136 ms
    jit(grad(sum_logistic)) 1e6 float64           18.7 ms    5.31 ms  3.5x
    tanh(h + b), 4000x1000 + (1000,)              17.0 ms    5.34 ms  3.2x
    x * col[:, None] - col[:, None], 4000x1000    13.4 ms    6.80 ms  2.0x
    mean(x, axis=0), max(x, axis=1), 4000x1000    2.40 ms    2.71 ms  0.9x   (memory-bound:
                                                                            NumPy is at DRAM
                                                                            speed already)
    decay 10 x (x -= 0.1*x), 1000x1000 float32    1.90 ms    0.36 ms  5.3x   (both include a
                                                                            4 MB copy per call)
    logistic map 1e6 steps (vs Python)            42.4 ms    1.63 ms 26.0x   numba 1.63 ms
    Mandelbrot 200x200, 100 iterations (Python)   97.1 ms    2.25 ms 43.1x   numba 2.23 ms
    cold build of a tiny kernel                   0.96 s

Same day, load 1.1, with jax 0.10.2 (jax.jit on CPU, float64 enabled, input already on the
device): poly 5000x5000 float32 astjax 4.6x NumPy, JAX 1.5x, numba parallel 1.3x; selu 1e6
astjax 23x, JAX 13x; selu 1e7 astjax 12x, JAX 3.7x; jit(grad(sum_logistic)) 1e6 float64
astjax 3.0x NumPy's gradient, jax.jit(jax.grad) 16x (JAX fuses the whole gradient into one
loop; astjax still writes three forward intermediates to memory).

Since then the backward loop of jit(grad(sum_logistic)) recomputes exp(-x), 1 + exp(-x) and
1 / (1 + exp(-x)) from x, and the forward loop (which only feeds np.sum) writes no array
(rematerialization, codegen/kernels.py). 2026-11-23, --quick, 2 threads, load 1.0-1.1, the
row before -> after (best of 5): 1.65-1.82 ms -> 1.62-1.72 ms (8.4-9.8x -> 10.8-11.8x NumPy's
gradient; jax.jit(jax.grad) 12-14x in the same runs). When the three 8 MB temporaries are
not already in the heap (alternating with other work) the stored version takes 6-8 ms, the
recomputing one 1.3-1.8 ms. Every other row compiles to the same .pyx as before.
"""
import argparse
import os
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import astjax                                  # noqa: E402
from astjax import jit                          # noqa: E402
from codegen import cache, threads             # noqa: E402


def poly(x):
    return x + x * x + x * x * x


def selu(x, alpha=1.67, lmbda=1.05):
    return lmbda * np.where(x > 0, x, alpha * np.exp(x) - alpha)


def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def decay(x):
    for i in range(10):
        x -= 0.1 * x
    return x


def dense_tanh(h, b):
    return np.tanh(h + b)


def scale_rows(x, col):
    return x * col[:, None] - col[:, None]


def column_stats(x):
    return np.mean(x, axis=0), np.max(x, axis=1)


def logistic_map(x, r, n):
    for i in range(n):
        x = r * x * (1.0 - x)
    return x


def mandelbrot(width, height, max_iter):
    out = np.zeros((height, width), dtype=np.int64)
    for row in range(height):
        for col in range(width):
            cr = -2.0 + 3.0 * col / width
            ci = -1.5 + 3.0 * row / height
            zr = 0.0
            zi = 0.0
            k = 0
            while k < max_iter and zr * zr + zi * zi <= 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                k += 1
            out[row, col] = k
    return out


HAND_WRITTEN = threads.PYX_PRELUDE + """
cimport cython
from cython.parallel cimport prange
import numpy as np

@cython.boundscheck(False)
@cython.wraparound(False)
def poly_into(const float[::1] x, float[::1] out):
    cdef Py_ssize_t i
    cdef float v
    for i in prange(x.shape[0], nogil=True, schedule='static',
                    num_threads=_astjax_num_threads):
        v = x[i]
        out[i] = v + v * v + v * v * v

def poly(x):
    out = np.empty_like(x)
    poly_into(x.reshape(-1), out.reshape(-1))
    return out
"""


def best(fn, *args, repeat=5, number=1):
    return min(timeit.repeat(lambda: fn(*args), number=number, repeat=repeat)) / number


def row(name, seconds, baseline, note=""):
    print(f"  {name:38s} {seconds * 1e3:10.2f} ms  {baseline / seconds:7.1f}x  {note}")


def compare(title, fn, args, repeat=5, extra=(), mutates=False):
    """Time fn as NumPy, as astjax.jit and as the extras; `mutates`: fn updates its array
    arguments in place, so every call gets fresh copies (the copy is in every row's time)."""
    print(title)
    jf = jit(fn)
    copy = (lambda: tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)) \
        if mutates else (lambda: args)
    jf(*copy())
    assert jf.last.status == "compiled", astjax.explain(jf)
    t_numpy = best(lambda: fn(*copy()), repeat=repeat)
    row("NumPy" if isinstance(args[0], np.ndarray) else "Python", t_numpy, t_numpy)
    row("astjax.jit", best(lambda: jf(*copy()), repeat=repeat), t_numpy)
    for name, other in extra:
        row(name, best(lambda: other(*copy()), repeat=repeat), t_numpy)
    return t_numpy


def optional_competitors(fn, parallel=True):
    """Numba's njit of the same NumPy function, and jax.jit of its jax.numpy rewrite (below),
    for those installed: comparisons, never dependencies."""
    out = []
    try:
        import numba
        out.append(("numba" + (" parallel=True" if parallel else ""),
                    numba.njit(parallel=parallel)(fn)))
    except ImportError:
        pass
    jax_fn = _jax_version(fn.__name__)
    if jax_fn is not None:
        out.append(("jax.jit (CPU)", jax_fn))
    return out


def _jax_version(name):
    """jax.jit of the jax.numpy spelling of a kernel, run on NumPy input and waited for."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    kernels = {
        "poly": lambda x: x + x * x + x * x * x,
        "selu": lambda x: 1.05 * jnp.where(x > 0, x, 1.67 * jnp.exp(x) - 1.67),
        "grad_sum_logistic": jax.grad(lambda x: jnp.sum(1.0 / (1.0 + jnp.exp(-x)))),
    }
    if name not in kernels:
        return None
    compiled = jax.jit(kernels[name])
    on_device = {}

    def run(x):      # the input moved to JAX once, as a JAX program would keep it
        key = id(x)
        if key not in on_device:
            on_device.clear()
            on_device[key] = (x, jax.device_put(x))
        return compiled(on_device[key][1]).block_until_ready()
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    side = 2000 if args.quick else 5000
    print(f"threads: {threads.num_threads()}, cache: {cache.cache_dir()}, "
          f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    x = rng.standard_normal((side, side)).astype(np.float32)
    hand = cache.load_or_build(HAND_WRITTEN, "bench_hand")
    out = np.empty_like(x)
    compare(f"poly  x + x*x + x*x*x, {side}x{side} float32", poly, (x,), extra=[
        ("hand-written Cython prange", hand.poly),
        ("hand-written, preallocated output",
         lambda a: hand.poly_into(a.reshape(-1), out.reshape(-1))),
    ] + optional_competitors(poly))

    for n in (10**6, 10**7):
        v = rng.standard_normal(n).astype(np.float32)
        compare(f"selu, {n:.0e} float32", selu, (v,), extra=optional_competitors(selu))

    v = rng.standard_normal(10**6)
    g = astjax.grad(sum_logistic)
    print("jit(grad(sum_logistic)), 1e6 float64")
    jg = jit(g)
    jg(v)
    assert jg.last.status == "compiled", astjax.explain(jg)
    t_numpy = best(g, v)
    row("grad (NumPy)", t_numpy, t_numpy)
    row("jit(grad)", best(jg, v), t_numpy)
    jax_grad = _jax_version("grad_sum_logistic")
    if jax_grad is not None:
        row("jax.jit(jax.grad) (CPU)", best(jax_grad, v), t_numpy)

    rows = 1000 if args.quick else 4000
    h = rng.standard_normal((rows, 1000))
    compare(f"broadcast: tanh(h + b), {rows}x1000 + 1000 float64", dense_tanh,
            (h, rng.standard_normal(1000)))
    compare(f"broadcast: x * col[:, None] - col[:, None], {rows}x1000 float64", scale_rows,
            (h, rng.standard_normal(rows)))
    compare(f"axis reductions: mean(x, axis=0), max(x, axis=1), {rows}x1000 float64",
            column_stats, (h,))

    compare("decay: 10 x (x -= 0.1 * x), 1000x1000 float32", decay,
            (rng.standard_normal((1000, 1000)).astype(np.float32),), mutates=True)
    steps = 10**5 if args.quick else 10**6
    compare(f"logistic map, {steps:.0e} scalar steps", logistic_map, (0.5, 3.7, steps),
            repeat=3, extra=optional_competitors(logistic_map, parallel=False))
    grid = 60 if args.quick else 200
    compare(f"Mandelbrot escape time, {grid}x{grid}, 100 iterations", mandelbrot,
            (grid, grid, 100), repeat=3, extra=optional_competitors(mandelbrot, parallel=False))

    print("build layer (see benchmarks/bench_build.py for the full table)")

    def fresh_kernel(tag):
        return f"def k(double x):\n    return x * {tag}\n"
    started = time.perf_counter()
    cache.load_or_build(fresh_kernel(time.time_ns()), "bench_cold")
    print(f"  cold build of a tiny kernel in this process: {time.perf_counter() - started:.2f} s")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (parallel "
          "loops wait for a busy core: rerun on a quiet machine if it rose)")


if __name__ == "__main__":
    main()
