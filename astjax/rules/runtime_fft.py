"""Runtime helpers of the fft and complex entries (astjax/rules/fft.py), reached from
generated code as ``_ax.<name>`` (runtime.py imports them).  Each transforms the LAST axis;
the stand-ins of fft_numpy.py move the user's axis there."""
import numpy as np


def fft_last(a, norm=None):
    return np.fft.fft(a, axis=-1, norm=norm)


def ifft_last(a, norm=None):
    return np.fft.ifft(a, axis=-1, norm=norm)


def rfft_last(a, norm=None):
    return np.fft.rfft(a, axis=-1, norm=norm)


def irfft_last(a, n, norm=None):
    return np.fft.irfft(a, n, axis=-1, norm=norm)


def fit_last(x, n):
    """``x`` cut or zero-padded to length ``n`` along its last axis (what np.fft's ``n`` does)."""
    x = np.asarray(x)
    m = x.shape[-1]
    if m >= n:
        return x[..., :n]
    pad = np.zeros(x.shape[:-1] + (n - m,), dtype=x.dtype)
    return np.concatenate([x, pad], axis=-1)


def irfft_weights(a, n):
    """How often each of irfft's m = n // 2 + 1 inputs counts in the Hermitian spectrum of
    length n: 1 for frequency 0 (and n / 2 when n is even), 2 for the others."""
    m = np.shape(a)[-1]
    k = np.arange(m)
    return np.where((k == 0) | (2 * k == n), 1.0, 2.0)


def abs_slope(x):
    """d|x|: sign(x) for real x; conj(x) / |x| for complex x (0 at 0), the cotangent
    convention of autograd and JAX (a real loss L of z = u + iv has g_z = dL/du - i dL/dv)."""
    if not np.iscomplexobj(x):
        return np.sign(x)
    r = np.abs(x)
    return np.where(r == 0, 0, np.conj(x) / np.where(r == 0, 1, r))


def complex_only(v, x):
    """``v`` where ``x`` is complex, zeros (of v's shape) where it is real."""
    if np.iscomplexobj(x):
        return v
    return np.zeros(np.shape(v), dtype=np.real(np.asarray(v)).dtype)


def permute_along(v, perm, axis):
    """``np.take_along_axis(v, perm, axis)`` for a permutation ``perm`` of that axis, ``v``
    broadcast against it (a cotangent may be the 0.0 standing for zero)."""
    v, perm = np.asarray(v), np.asarray(perm)
    if v.ndim < perm.ndim or v.shape[axis] != perm.shape[axis]:
        v = np.broadcast_to(v, np.broadcast_shapes(v.shape, perm.shape))
    while perm.ndim < v.ndim:
        perm = perm[None]
    return np.take_along_axis(v, perm, axis)
