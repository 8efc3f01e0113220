"""Masks: boolean-mask writes and reads, np.where with broadcasting, counting."""
import numpy as np

from . import Kernel


def clip_inplace(a, t):
    a[a > t] = t
    a[a < -t] = -t
    return a


def leaky_relu(x):
    return np.where(x > 0, x, 0.01 * x)


def count_above(x, t):
    return np.sum(x > t), np.count_nonzero(x < -t)


def masked_mean(x, valid):
    return x[valid].mean()


def sigma_clip(x, k, iters):
    mu = x.mean()
    sd = x.std()
    for _ in range(iters):
        mask = np.abs(x - mu) < k * sd
        mu = x[mask].mean()
        sd = x[mask].std()
    return mu, sd


def where_broadcast(a, b):
    return np.where(a[:, None] > b[None, :], a[:, None] - b[None, :], 0.0)


def finite_positive(x):
    return np.isfinite(x) & (x > 0)


def zero_small_float32(x, eps):
    y = x.copy()
    y[np.abs(y) < eps] = 0
    return y


def _n(size, small, bench):
    return small if size == "small" else bench


def _clip(rng, size):
    return rng.standard_normal(_n(size, 64, 500000)), 1.5


def _vector(rng, size):
    return (rng.standard_normal(_n(size, 64, 500000)),)


def _count(rng, size):
    return rng.standard_normal(_n(size, 64, 500000)), 0.5


def _masked(rng, size):
    n = _n(size, 64, 500000)
    return rng.standard_normal(n), rng.random(n) < 0.7


def _sigma(rng, size):
    x = rng.standard_normal(_n(size, 64, 200000))
    x[::17] += 8.0
    return x, 3.0, 3


def _where(rng, size):
    return rng.random(_n(size, 12, 1000)), rng.random(_n(size, 10, 1000))


def _finite(rng, size):
    x = rng.standard_normal(_n(size, 64, 2000000))
    x[::7] = np.inf
    x[::11] = np.nan
    return (x,)


def _float32(rng, size):
    return rng.standard_normal(_n(size, 64, 500000)).astype(np.float32), np.float32(0.3)


CASES = [
    Kernel("clip_inplace", "mask", clip_inplace, _clip),
    Kernel("leaky_relu", "mask", leaky_relu, _vector),
    Kernel("count_above", "mask", count_above, _count),
    Kernel("masked_mean", "mask", masked_mean, _masked),
    Kernel("sigma_clip", "mask", sigma_clip, _sigma),
    Kernel("where_broadcast", "mask", where_broadcast, _where),
    Kernel("finite_positive", "mask", finite_positive, _finite),
    Kernel("zero_small_float32", "mask", zero_small_float32, _float32),
]
