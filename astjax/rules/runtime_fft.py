"""Runtime helpers of the fft and complex entries (astjax/rules/fft.py), reached from
generated code as ``_ax.<name>`` (runtime.py imports them).  Each transforms the LAST axis;
the stand-ins of fft_numpy.py move the user's axis there."""
import numpy as np


def fit_like(v, a):
    """``v`` cut or zero-padded, axis by axis from the last, to the shape of ``a`` (the
    adjoint of np.fft's ``n`` / ``s``, which cut or pad the input)."""
    v = np.asarray(v)
    for k in range(1, min(v.ndim, np.ndim(a)) + 1):
        m, want = v.shape[-k], np.shape(a)[-k]
        if m > want:
            v = v[(Ellipsis, slice(0, want)) + (slice(None),) * (k - 1)]
        elif m < want:
            pad = list(v.shape)
            pad[-k] = want - m
            v = np.concatenate([v, np.zeros(pad, dtype=v.dtype)], axis=-k)
    return v


def fft_size(a, n, axis):
    """The transform length of np.fft.fft/rfft(a, n, axis)."""
    return np.shape(a)[axis] if n is None else n


def irfft_size(a, n, axis):
    """The output length of np.fft.irfft(a, n, axis)."""
    return 2 * (np.shape(a)[axis] - 1) if n is None else n


def pad_to(v, size, axis):
    """``v`` cut or zero-padded to ``size`` along ``axis``."""
    shape = list(np.shape(v))
    shape[axis] = size
    return fit_like(v, np.empty(shape))


def irfft_weights(a, n, axis):
    """How often each input of np.fft.irfft(a, n, axis) counts in the Hermitian spectrum of
    length n: 1 for frequency 0 (and n / 2 when n is even), 2 below n / 2, 0 above (cut off),
    broadcast to a's shape."""
    n = irfft_size(a, n, axis)
    m = np.shape(a)[axis]
    k = np.arange(m)
    w = np.where((k == 0) | (2 * k == n), 1.0, np.where(2 * k < n, 2.0, 0.0))
    shape = [1] * np.ndim(a)
    shape[axis] = m
    return np.broadcast_to(np.reshape(w, shape), np.shape(a))


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


def _order(x, kth, axis):
    if axis is None:
        x = np.ravel(x)
        axis = -1
    if kth is None:
        return np.argsort(x, axis=axis, kind="stable"), axis
    return np.argpartition(x, kth, axis=axis), axis


def order_take(t, x, kth=None, axis=-1):
    """``t`` reordered as np.sort(x, axis) (kth None) or np.partition(x, kth, axis) reorders
    x: the tangent of a sort; linear in t."""
    perm, ax = _order(x, kth, axis)
    return permute_along(np.ravel(t) if axis is None and np.ndim(t) else t, perm, ax)


def order_put(g, x, kth=None, axis=-1):
    """The adjoint of order_take: ``g`` put back where the sorted entries came from."""
    perm, ax = _order(x, kth, axis)
    out = permute_along(g, np.argsort(perm, axis=ax), ax)
    return np.reshape(out, np.shape(x)) if axis is None else out
