"""Runtime helpers of the linalg and fft entries (astjax/rules/linalg.py, fft.py), reached
from generated code as ``_ax.<name>`` (runtime.py imports them).

A decomposition with several results is one primitive returning them *packed* into one array,
so that it has one cotangent and one tangent (its NumPy stand-in unpacks it by slicing)::

    eigh_packed(a)   (..., n + 1, n)       row 0: eigenvalues w; rows 1..n: eigenvectors V
    svd_packed(a)    (..., m + 1 + n, k)   rows :m: U; row m: s; rows m+1..: V (= Vh^T)
    qr_packed(a)     (..., m + n, n)       rows :m: Q; rows m..: R         (m >= n)
"""
import numpy as np


def eigh_packed(a):
    w, v = np.linalg.eigh(a)
    return np.concatenate([w[..., None, :], v], axis=-2)


def svd_packed(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.concatenate([u, s[..., None, :], np.swapaxes(vh, -1, -2)], axis=-2)


def qr_packed(a):
    q, r = np.linalg.qr(a)
    return np.concatenate([q, r], axis=-2)


def slogdet_sign(a):
    return np.linalg.slogdet(a)[0]


def slogdet_logabs(a):
    return np.linalg.slogdet(a)[1]


def tri_mask(a, k=0):
    """The (n, m) boolean mask np.tril(., k) keeps, for a's last two axes."""
    n, m = np.shape(a)[-2], np.shape(a)[-1]
    return np.arange(m)[None, :] - np.arange(n)[:, None] <= k


def diag_mask(a):
    """The (n, m) boolean mask of the diagonal of a's last two axes."""
    n, m = np.shape(a)[-2], np.shape(a)[-1]
    return np.arange(m)[None, :] == np.arange(n)[:, None]


def undefined_where(x, skip_diagonal=False):
    """NaN where ``x`` is nonzero (off the diagonal of its last two axes when skip_diagonal),
    else 0, in x's dtype: the derivative through a degenerate eigen- or singular-value pair
    does not exist, unless nothing flows through it (then it is 0)."""
    x = np.asarray(x)
    bad = x != 0
    if skip_diagonal:
        bad = bad & ~diag_mask(x)
    out = np.zeros(x.shape, dtype=x.dtype if x.dtype.kind in "fc" else np.float64)
    out[bad] = np.nan
    return out


def real_like(g, x):
    """``g``, made real where ``x`` is real: the cotangent of a real input of a complex result
    (autograd's convention: a real input's gradient is the real part)."""
    if np.iscomplexobj(g) and not np.iscomplexobj(x):
        return np.real(g)
    return g


def pair_divide(x, d, skip_diagonal=True):
    """x / d where d != 0; where d == 0, 0 if x is 0 and NaN otherwise (undefined_where)."""
    zero = d == 0
    safe = np.where(zero, 1, d)
    return np.where(zero, undefined_where(np.broadcast_to(x, np.broadcast_shapes(
        np.shape(x), np.shape(d))), skip_diagonal), x / safe)


def sym_from_lower(x):
    """The symmetric matrix whose lower triangle is x's (what cholesky and eigh read)."""
    return np.where(tri_mask(x, 0), x, np.swapaxes(x, -1, -2))


def fold_lower(x):
    """The adjoint of sym_from_lower: the upper triangle added onto the lower one."""
    low = np.where(tri_mask(x, -1), x + np.swapaxes(x, -1, -2), 0)
    return low + np.where(diag_mask(x), x, 0)


def is_tall(a):
    return np.shape(a)[-2] > np.shape(a)[-1]


def is_wide(a):
    return np.shape(a)[-2] < np.shape(a)[-1]
