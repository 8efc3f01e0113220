"""Histograms: counting with int indices in loops, np.histogram, np.bincount."""
import numpy as np

from . import Kernel


def hist_loop(x, lo, hi, nbins):
    counts = np.zeros(nbins, dtype=np.int64)
    width = (hi - lo) / nbins
    for i in range(x.shape[0]):
        b = int((x[i] - lo) / width)
        if 0 <= b < nbins:
            counts[b] += 1
    return counts


def hist2d_loop(x, y, nbins):
    H = np.zeros((nbins, nbins))
    for i in range(len(x)):
        ix = int(x[i] * nbins)
        iy = int(y[i] * nbins)
        if ix == nbins:
            ix = nbins - 1
        if iy == nbins:
            iy = nbins - 1
        H[ix, iy] += 1
    return H


def weighted_bincount(idx, w, n):
    return np.bincount(idx, weights=w, minlength=n)


def np_histogram(x):
    counts, edges = np.histogram(x, bins=20, range=(0.0, 1.0))
    return counts


def image_histogram_int(img):
    h = np.zeros(256, dtype=np.int64)
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            h[img[i, j]] += 1
    return h


def searchsorted_counts(edges, x):
    idx = np.searchsorted(edges, x)
    counts = np.zeros(edges.shape[0] + 1, dtype=np.int64)
    for i in idx:
        counts[i] += 1
    return counts


def _n(size, small, bench):
    return small if size == "small" else bench


def _hist(rng, size):
    return rng.standard_normal(_n(size, 100, 20000)), -3.0, 3.0, 30


def _hist2d(rng, size):
    n = _n(size, 100, 10000)
    return rng.random(n), rng.random(n), 16


def _bincount(rng, size):
    n = _n(size, 100, 1000000)
    return rng.integers(0, 50, n), rng.random(n), 60


def _uniform(rng, size):
    return (rng.random(_n(size, 100, 500000)),)


def _image(rng, size):
    n = _n(size, 16, 150)
    return (rng.integers(0, 256, (n, n)),)


def _sorted(rng, size):
    return np.linspace(0.0, 1.0, 11), rng.random(_n(size, 100, 30000))


CASES = [
    Kernel("hist_loop", "histogram", hist_loop, _hist),
    Kernel("hist2d_loop", "histogram", hist2d_loop, _hist2d),
    Kernel("weighted_bincount", "histogram", weighted_bincount, _bincount),
    Kernel("np_histogram", "histogram", np_histogram, _uniform),
    Kernel("image_histogram_int", "histogram", image_histogram_int, _image),
    Kernel("searchsorted_counts", "histogram", searchsorted_counts, _sorted),
]
