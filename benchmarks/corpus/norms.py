"""Norms and normalizations: row norms, softmax, standardization, Rosenbrock, var/std."""
import numpy as np

from . import Kernel


def row_norms(X):
    return np.sqrt(np.sum(X ** 2, axis=1))


def normalize_rows(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def standardize(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def rosen(x):
    t0 = 100 * (x[1:] - x[:-1] ** 2) ** 2
    t1 = (1 - x[:-1]) ** 2
    return np.sum(t0 + t1)


def l2_norm_float32(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return np.sqrt(s)


def weighted_stats(x, w):
    mean = np.average(x, weights=w)
    var = np.var(x)
    sd = np.std(x, ddof=1)
    return mean, var, sd


def frobenius_loops(A):
    total = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            total += A[i, j] ** 2
    return total ** 0.5


def _n(size, small, bench):
    return small if size == "small" else bench


def _matrix(rng, size):
    return (rng.standard_normal((_n(size, 10, 1000), _n(size, 8, 500))),)


def _vector(rng, size):
    return (rng.standard_normal(_n(size, 50, 500000)),)


def _float32_vector(rng, size):
    return (rng.standard_normal(_n(size, 50, 30000)).astype(np.float32),)


def _weighted(rng, size):
    n = _n(size, 50, 500000)
    return rng.standard_normal(n), rng.random(n)


def _frob(rng, size):
    return (rng.standard_normal((_n(size, 10, 170), _n(size, 8, 170))),)


CASES = [
    Kernel("row_norms", "norm", row_norms, _matrix),
    Kernel("normalize_rows", "norm", normalize_rows, _matrix),
    Kernel("softmax", "norm", softmax, _matrix),
    Kernel("standardize", "norm", standardize, _matrix),
    Kernel("rosen", "norm", rosen, _vector),
    Kernel("l2_norm_float32", "norm", l2_norm_float32, _float32_vector),
    Kernel("weighted_stats", "norm", weighted_stats, _weighted),
    Kernel("frobenius_loops", "norm", frobenius_loops, _frob),
]
