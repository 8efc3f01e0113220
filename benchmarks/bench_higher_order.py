"""Higher derivatives: the size and build time of grad applied n times to tanh, beside the
value it computes, JAX's build+run time and autograd's when installed.

    python benchmarks/bench_higher_order.py [--order 6]

Each order transforms the generated source of the one below it, so what the clean-up passes
(astjax/core/simplify.py) leave out of order n is never differentiated at order n + 1.
Measured on this 2-core machine, busy with other work (2026-12-06), before the passes:
12, 33, 120, 538, 2731, 14597 lines and 13.9-29.2 s for the sixth order; after: 11, 25, 64,
175, 536, 1873 lines and 2.5-2.6 s.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import optional, row  # noqa: E402

import astjax  # noqa: E402


def tanh(x):
    return np.tanh(x)


def exact(x, n):
    """d^k tanh/dx^k, k = 1..n, as polynomials in t = tanh(x): p' (1 - t^2)."""
    poly, out = np.polynomial.Polynomial([0.0, 1.0]), []
    for _ in range(n):
        poly = poly.deriv() * np.polynomial.Polynomial([1.0, 0.0, -1.0])
        out.append(poly(np.tanh(x)))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--order", type=int, default=6)
    order = parser.parse_args().order
    x, want = 0.3, exact(0.3, order)
    jax = optional("jax")
    row("order", "lines", "build+run s", "error", "jax s", widths=(8, 10, 14, 12, 10))
    fn, jfn = tanh, None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jfn = jax.numpy.tanh
    for k in range(order):
        start = time.perf_counter()
        fn = astjax.grad(fn)
        value = fn(x)
        seconds = time.perf_counter() - start
        lines = len(astjax.source(fn).splitlines())
        jax_s = ""
        if jfn is not None:
            start = time.perf_counter()
            jfn = jax.grad(jfn)
            jax.jit(jfn)(x).block_until_ready()
            jax_s = time.perf_counter() - start
        row(k + 1, lines, seconds, abs(value - want[k]), jax_s, widths=(8, 10, 14, 12, 10))


if __name__ == "__main__":
    main()
