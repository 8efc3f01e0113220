"""np.linalg functions written in NumPy over the primitives of linalg.py, which astjax
differentiates, batches and compiles from their source like a user's helper.  They return
plain tuples where NumPy returns named tuples: ``w, V = np.linalg.eigh(A)`` and
``np.linalg.slogdet(A)[1]`` work, attribute access (``.eigenvalues``) does not."""
import numpy as np

from astjax.rules import runtime as _ax


def slogdet(a):
    return (_ax.slogdet_sign(a), _ax.slogdet_logabs(a))


def eigh(a, UPLO="L"):
    if UPLO != "L":
        raise ValueError("astjax differentiates np.linalg.eigh with UPLO='L' only")
    packed = _ax.eigh_packed(a)
    return (packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(a, UPLO="L"):
    if UPLO != "L":
        raise ValueError("astjax differentiates np.linalg.eigvalsh with UPLO='L' only")
    return _ax.eigh_packed(a)[..., 0, :]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    if hermitian:
        raise ValueError("astjax differentiates np.linalg.svd with hermitian=False only")
    if full_matrices and compute_uv and m != n:
        raise ValueError("astjax differentiates np.linalg.svd of non-square matrices with "
                         "full_matrices=False only (the extra columns are not unique)")
    packed = _ax.svd_packed(a)
    s = packed[..., m, :]
    if not compute_uv:
        return s
    return (packed[..., :m, :], s, np.swapaxes(packed[..., m + 1:, :], -1, -2))


def svdvals(x):
    return _ax.svd_packed(x)[..., np.shape(x)[-2], :]


def qr(a, mode="reduced"):
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    known = mode == "reduced" or mode == "r" or mode == "complete" and m == n
    if m < n or not known:
        raise ValueError("astjax differentiates np.linalg.qr of matrices with at least as "
                         "many rows as columns, mode 'reduced' or 'r'")
    packed = _ax.qr_packed(a)
    if mode == "r":
        return packed[..., m:, :]
    return (packed[..., :m, :], packed[..., m:, :])


def pinv(a, rcond=None, hermitian=False):
    if rcond is None:
        rcond = 1e-15
    m = np.shape(a)[-2]
    packed = _ax.svd_packed(a)
    u, s, v = packed[..., :m, :], packed[..., m, :], packed[..., m + 1:, :]
    large = s > rcond * np.max(s, axis=-1, keepdims=True)
    s_inv = np.where(large, 1.0 / np.where(large, s, 1.0), 0.0)
    return np.matmul(v * np.expand_dims(s_inv, -2), np.swapaxes(u, -1, -2))


# ---- norms --------------------------------------------------------------------------------

def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum((x != 0) * 1.0, axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _singular_values(x, row, col):
    moved = np.moveaxis(x, (row, col), (-2, -1))
    return _ax.svd_packed(moved)[..., np.shape(moved)[-2], :]


def _matrix_norm(x, ord, row, col, keepdims):
    nd = np.ndim(x)
    row, col = row % nd, col % nd
    if ord is None or ord == "fro":
        out = np.sqrt(np.sum(x * x, axis=(row, col)))
    elif ord == "nuc":
        out = np.sum(_singular_values(x, row, col), axis=-1)
    elif ord == 2:
        out = np.max(_singular_values(x, row, col), axis=-1)
    elif ord == -2:
        out = np.min(_singular_values(x, row, col), axis=-1)
    elif ord == 1 or ord == -1:
        sums = np.sum(np.abs(x), axis=row)
        c = col - 1 if col > row else col
        out = np.max(sums, axis=c) if ord == 1 else np.min(sums, axis=c)
    elif ord == np.inf or ord == -np.inf:
        sums = np.sum(np.abs(x), axis=col)
        r = row - 1 if row > col else row
        out = np.max(sums, axis=r) if ord == np.inf else np.min(sums, axis=r)
    else:
        raise ValueError("Invalid norm order for matrices.")
    if keepdims:
        return np.expand_dims(out, (min(row, col), max(row, col)))
    return out


def norm(x, ord=None, axis=None, keepdims=False):
    nd = np.ndim(x)
    if axis is None:
        if ord is None:
            flat = np.ravel(x)
            out = np.sqrt(np.sum(flat * flat))
            if keepdims:
                return np.reshape(out, (1,) * nd)
            return out
        if nd == 1:
            return _vector_norm(x, ord, 0, keepdims)
        if nd == 2:
            return _matrix_norm(x, ord, 0, 1, keepdims)
        raise ValueError("Improper number of dimensions to norm.")
    if isinstance(axis, int):
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis[0], axis[1], keepdims)
    raise ValueError("Improper number of dimensions to norm.")


def vector_norm(x, axis=None, keepdims=False, ord=2):
    if axis is None:
        flat = np.ravel(x)
        out = _vector_norm(flat, ord, 0, False)
        if keepdims:
            return np.reshape(out, (1,) * np.ndim(x))
        return out
    return _vector_norm(x, ord, axis, keepdims)


def matrix_norm(x, keepdims=False, ord="fro"):
    return _matrix_norm(x, ord, -2, -1, keepdims)
