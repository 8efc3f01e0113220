"""Run the prebuilt mathkernels and say where each function's code came from.

    python -m astjax build mathkernels      # once, where a C compiler exists
    python run_demo.py                      # anywhere: no compiler needed

Each result is checked against NumPy running the undecorated function.
"""
import time

import numpy as np

import astjax
from astjax.aot import prebuilt

import mathkernels as mk

rng = np.random.default_rng(0)
CASES = [
    (mk.selu, (rng.standard_normal(1_000_000).astype(np.float32),)),
    (mk.selu, (rng.standard_normal(1_000_000),)),
    (mk.softmax_rows, (rng.standard_normal((500, 200)),)),
    (mk.pairwise_distances, (rng.random((300, 3)),)),
    (mk.logistic_map, (0.2, 3.7, 1_000_000)),
]


def main():
    for fn, args in CASES:
        started = time.perf_counter()
        got = fn(*args)
        first = time.perf_counter() - started
        started = time.perf_counter()
        expected = fn.__wrapped__(*args)          # the plain NumPy function
        numpy_time = time.perf_counter() - started
        started = time.perf_counter()
        fn(*args)
        again = time.perf_counter() - started
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), fn.__name__
        assert np.asarray(got).dtype == np.asarray(expected).dtype, fn.__name__
        print(f"{fn.__name__:<20} first call {first * 1e3:7.1f} ms, then {again * 1e3:7.2f} ms "
              f"(NumPy {numpy_time * 1e3:7.2f} ms)")
    print()
    print("prebuilt extensions in use (from __astjax__/):")
    for p in prebuilt.loaded():
        print(f"  {p.signature:<24} {p.path}")
    if not prebuilt.loaded():
        print("  none: run `python -m astjax build mathkernels` first")
    print()
    print(astjax.explain(mk.softmax_rows))


if __name__ == "__main__":
    main()
