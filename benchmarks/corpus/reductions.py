"""Reductions: along axes, over several axes, argmax, means of int arrays, float32 sums."""
import numpy as np

from . import Kernel


def column_var(X):
    return np.var(X, axis=0, ddof=1)


def sum_two_axes(A):
    return A.sum(axis=(0, 2))


def argmax_rows(X):
    return np.argmax(X, axis=1)


def mean_int(counts):
    return np.mean(counts), counts.sum(), counts.max() - counts.min()


def center_of_mass_float32(m, pos):
    total = m.sum()
    return (m[:, None] * pos).sum(axis=0) / total


def minmax_loop(x):
    lo = x[0]
    hi = x[0]
    for v in x:
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    return lo, hi


def _n(size, small, bench):
    return small if size == "small" else bench


def _matrix(rng, size):
    return (rng.standard_normal((_n(size, 12, 1000), _n(size, 6, 500))),)


def _wide(rng, size):
    return (rng.standard_normal((_n(size, 12, 2000), _n(size, 6, 1000))),)


def _cube(rng, size):
    return (rng.standard_normal((_n(size, 4, 100), _n(size, 5, 100), _n(size, 6, 100))),)


def _counts(rng, size):
    return (rng.integers(0, 1000, _n(size, 64, 500000)),)


def _mass(rng, size):
    n = _n(size, 32, 300000)
    return rng.random(n).astype(np.float32), rng.standard_normal((n, 3)).astype(np.float32)


def _vector(rng, size):
    return (rng.standard_normal(_n(size, 64, 100000)),)


CASES = [
    Kernel("column_var", "reduction", column_var, _matrix),
    Kernel("sum_two_axes", "reduction", sum_two_axes, _cube),
    Kernel("argmax_rows", "reduction", argmax_rows, _wide),
    Kernel("mean_int", "reduction", mean_int, _counts),
    Kernel("center_of_mass_float32", "reduction", center_of_mass_float32, _mass),
    Kernel("minmax_loop", "reduction", minmax_loop, _vector),
]
