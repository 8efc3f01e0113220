"""Cumulative sums and scans: np.cumsum/np.cumprod, loops forward and in reverse."""
import numpy as np

from . import Kernel


def cumsum_loop(x):
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, x.shape[0]):
        out[i] = out[i - 1] + x[i]
    return out


def running_mean(x):
    return np.cumsum(x) / np.arange(1, x.shape[0] + 1)


def cumsum_axis0(X):
    return np.cumsum(X, axis=0)


def cumprod_survival(hazard):
    return np.cumprod(1.0 - hazard)


def discounted_returns(rewards, gamma):
    out = np.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def cumsum_int(counts):
    return np.cumsum(counts)


def running_max_loop(x):
    out = np.empty_like(x)
    m = -np.inf
    for i in range(x.shape[0]):
        if x[i] > m:
            m = x[i]
        out[i] = m
    return out


def _n(size, small, bench):
    return small if size == "small" else bench


def _vector(rng, size):
    return (rng.standard_normal(_n(size, 64, 500000)),)


def _loop_vector(rng, size):
    return (rng.standard_normal(_n(size, 64, 40000)),)


def _matrix(rng, size):
    return (rng.standard_normal((_n(size, 12, 1000), _n(size, 5, 500))),)


def _hazard(rng, size):
    return (rng.random(_n(size, 64, 500000)) * 0.01,)


def _rewards(rng, size):
    return rng.standard_normal(_n(size, 64, 30000)), 0.99


def _counts(rng, size):
    return (rng.integers(0, 10, _n(size, 64, 1000000)),)


CASES = [
    Kernel("cumsum_loop", "cumulative", cumsum_loop, _loop_vector),
    Kernel("running_mean", "cumulative", running_mean, _vector),
    Kernel("cumsum_axis0", "cumulative", cumsum_axis0, _matrix),
    Kernel("cumprod_survival", "cumulative", cumprod_survival, _hazard),
    Kernel("discounted_returns", "cumulative", discounted_returns, _rewards),
    Kernel("cumsum_int", "cumulative", cumsum_int, _counts),
    Kernel("running_max_loop", "cumulative", running_max_loop, _loop_vector),
]
