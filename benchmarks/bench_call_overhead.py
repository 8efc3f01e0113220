"""Per-call overhead of transformed tiny functions (globals read at call time, guards).

    python3 benchmarks/bench_call_overhead.py

Prints microseconds per call (best of 25 timeit repeats of 5000 calls) for a 3-element input, where the
NumPy work is negligible and what is measured is astjax's own per-call cost.
"""
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the astjax of this checkout
import astjax  # noqa: E402

W = np.array([1.0, 2.0, 3.0])
SCALE = 2.0


def helper(x):
    return x * x


def plain(x):
    return np.sum(x * x)


def reads_globals(x):
    return np.sum(W * helper(x)) * SCALE


def main():
    print(f"astjax from {Path(astjax.__file__).parent}")
    x = np.array([0.5, 1.0, 1.5])
    cases = [
        ("numpy plain(x)", plain),
        ("grad(plain)", astjax.grad(plain)),
        ("grad(reads_globals)", astjax.grad(reads_globals)),
        ("vmap(plain)", astjax.vmap(plain)),
        ("jit(plain)", astjax.jit(plain)),
        ("jit(reads_globals)", astjax.jit(reads_globals)),
    ]
    xs = np.ones((4, 3))
    for label, f in cases:
        arg = xs if label.startswith("vmap") else x
        f(arg)
        n = 5000
        best = min(timeit.repeat(lambda: f(arg), number=n, repeat=25)) / n
        print(f"{label:<24} {best * 1e6:8.2f} us/call")


if __name__ == "__main__":
    main()
