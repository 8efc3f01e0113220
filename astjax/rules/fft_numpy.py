"""np.fft functions (and np.angle) written in NumPy over the primitives of fft.py, which
astjax differentiates, batches and compiles from their source like a user's helper."""
import numpy as np

from astjax.rules import runtime as _ax


def _last(a, axis):
    return np.moveaxis(a, axis, -1)


def fft(a, n=None, axis=-1, norm=None):
    x = _last(a, axis)
    if n is not None:
        x = _ax.fit_last(x, n)
    return np.moveaxis(_ax.fft_last(x, norm), -1, axis)


def ifft(a, n=None, axis=-1, norm=None):
    x = _last(a, axis)
    if n is not None:
        x = _ax.fit_last(x, n)
    return np.moveaxis(_ax.ifft_last(x, norm), -1, axis)


def rfft(a, n=None, axis=-1, norm=None):
    x = _last(a, axis)
    if n is not None:
        x = _ax.fit_last(x, n)
    return np.moveaxis(_ax.rfft_last(x, norm), -1, axis)


def irfft(a, n=None, axis=-1, norm=None):
    x = _last(a, axis)
    if n is None:
        n = 2 * (np.shape(x)[-1] - 1)
    x = _ax.fit_last(x, n // 2 + 1)
    return np.moveaxis(_ax.irfft_last(x, n, norm), -1, axis)


def _axes(a, s, axes):
    if axes is None:
        if s is None:
            return list(range(np.ndim(a)))
        return list(range(np.ndim(a) - len(s), np.ndim(a)))
    return list(axes)


def fftn(a, s=None, axes=None, norm=None):
    out = a
    ax = _axes(a, s, axes)
    for i in range(len(ax) - 1, -1, -1):
        out = fft(out, None if s is None else s[i], ax[i], norm)
    return out


def ifftn(a, s=None, axes=None, norm=None):
    out = a
    ax = _axes(a, s, axes)
    for i in range(len(ax) - 1, -1, -1):
        out = ifft(out, None if s is None else s[i], ax[i], norm)
    return out


def fft2(a, s=None, axes=(-2, -1), norm=None):
    return fftn(a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    return ifftn(a, s, axes, norm)


def _shift_axes(x, axes):
    if axes is None:
        return list(range(np.ndim(x)))
    if isinstance(axes, int):
        return [axes]
    return list(axes)


def fftshift(x, axes=None):
    out = x
    for ax in _shift_axes(x, axes):
        out = np.roll(out, np.shape(x)[ax] // 2, ax)
    return out


def ifftshift(x, axes=None):
    out = x
    for ax in _shift_axes(x, axes):
        out = np.roll(out, -(np.shape(x)[ax] // 2), ax)
    return out


def angle(z, deg=False):
    out = np.arctan2(np.imag(z), np.real(z))
    if deg:
        return out * (180.0 / np.pi)
    return out


def real_if_close(a, tol=100):
    if np.iscomplexobj(a) and np.all(np.abs(np.imag(a)) < tol * np.finfo(np.real(a).dtype).eps):
        return np.real(a)
    return a
