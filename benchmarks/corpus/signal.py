"""Signal processing: moving averages, FIR/IIR filters, np.roll derivatives, np.tile."""
import numpy as np

from . import Kernel


def moving_average(x, w):
    return np.convolve(x, np.ones(w) / w, mode="valid")


def roll_derivative(x, dx):
    return (np.roll(x, -1) - np.roll(x, 1)) / (2 * dx)


def fir_filter(x, h):
    n = x.shape[0]
    m = h.shape[0]
    y = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for k in range(m):
            if i - k >= 0:
                acc += h[k] * x[i - k]
        y[i] = acc
    return y


def autocorrelation(x, maxlag):
    n = x.shape[0]
    x = x - x.mean()
    out = np.empty(maxlag)
    for lag in range(maxlag):
        out[lag] = np.dot(x[:n - lag], x[lag:]) / n
    return out / out[0]


def biquad(x, b0, b1, b2, a1, a2):
    y = np.empty_like(x)
    x1 = x2 = y1 = y2 = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        yi = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        x2 = x1
        x1 = xi
        y2 = y1
        y1 = yi
        y[i] = yi
    return y


def windowed_frames(x, window, nframes):
    frames = x[:nframes * window.shape[0]].reshape(nframes, window.shape[0])
    return frames * np.tile(window, (nframes, 1))


def zero_crossings(x):
    return np.sum(np.diff(np.sign(x)) != 0)


def ewma_float32(x, alpha):
    out = np.empty_like(x)
    s = x[0]
    for i in range(x.shape[0]):
        s = alpha * x[i] + (1 - alpha) * s
        out[i] = s
    return out


def _n(size, small, bench):
    return small if size == "small" else bench


def _moving(rng, size):
    return rng.standard_normal(_n(size, 64, 500000)), 5


def _roll(rng, size):
    return rng.standard_normal(_n(size, 64, 500000)), 0.1


def _fir(rng, size):
    return rng.standard_normal(_n(size, 64, 2500)), rng.random(_n(size, 5, 16))


def _acf(rng, size):
    return rng.standard_normal(_n(size, 64, 5000)), _n(size, 8, 50)


def _biquad(rng, size):
    return rng.standard_normal(_n(size, 64, 12000)), 0.2, 0.4, 0.2, -0.3, 0.1


def _frames(rng, size):
    w, f = _n(size, 8, 256), _n(size, 6, 2000)
    return rng.standard_normal(w * f + 3), np.hanning(w), f


def _signal(rng, size):
    return (rng.standard_normal(_n(size, 64, 500000)),)


def _ewma(rng, size):
    return rng.standard_normal(_n(size, 64, 20000)).astype(np.float32), np.float32(0.1)


CASES = [
    Kernel("moving_average", "signal", moving_average, _moving),
    Kernel("roll_derivative", "signal", roll_derivative, _roll),
    Kernel("fir_filter", "signal", fir_filter, _fir),
    Kernel("autocorrelation", "signal", autocorrelation, _acf),
    Kernel("biquad", "signal", biquad, _biquad),
    Kernel("windowed_frames", "signal", windowed_frames, _frames),
    Kernel("zero_crossings", "signal", zero_crossings, _signal),
    Kernel("ewma_float32", "signal", ewma_float32, _ewma),
]
