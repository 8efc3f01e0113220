"""NumPy functions written in NumPy, which astjax differentiates, batches and compiles from
their source like a user's helper, instead of giving them rules (and rules for their rules):
each is data movement or a few primitives, so its derivatives of every order follow.
Their values are NumPy's, bit for bit (the same operations, in the same order); a result
may be a view with other strides than NumPy's copy.

Before (user code)::                    After (what grad calls)::

    y = np.roll(x, 1)                       y = roll(x, 1, None)   # the source below
"""
import numpy as np

from astjax.rules import registry


# ---- shapes and joining -------------------------------------------------------------------------

def atleast_1d(a):
    if np.ndim(a) == 0:
        return np.reshape(a, (1,))
    return np.asarray(a)


def atleast_2d(a):
    if np.ndim(a) == 0:
        return np.reshape(a, (1, 1))
    if np.ndim(a) == 1:
        return a[np.newaxis, :]
    return np.asarray(a)


def atleast_3d(a):
    if np.ndim(a) == 0:
        return np.reshape(a, (1, 1, 1))
    if np.ndim(a) == 1:
        return a[np.newaxis, :, np.newaxis]
    if np.ndim(a) == 2:
        return a[:, :, np.newaxis]
    return np.asarray(a)


def hstack(tup):
    if np.ndim(tup[0]) == 1:
        return np.concatenate(tup, axis=0)
    return np.concatenate(tup, axis=1)


def vstack(tup):
    return np.concatenate([atleast_2d(a) for a in tup], axis=0)


def column_stack(tup):
    columns = [a[:, np.newaxis] if np.ndim(a) == 1 else a for a in tup]
    return np.concatenate(columns, axis=1)


def append(arr, values, axis=None):
    if axis is None:
        return np.concatenate([np.ravel(arr), np.ravel(values)], axis=0)
    return np.concatenate([arr, values], axis=axis)


def split(ary, indices_or_sections, axis=0):
    moved = np.moveaxis(ary, axis, 0)
    n = moved.shape[0]
    if n % indices_or_sections != 0:
        raise ValueError("array split does not result in an equal division")
    size = n // indices_or_sections
    return [np.moveaxis(moved[i * size:(i + 1) * size], 0, axis)
            for i in range(indices_or_sections)]


def hsplit(ary, indices_or_sections):
    if np.ndim(ary) == 1:
        return split(ary, indices_or_sections, 0)
    return split(ary, indices_or_sections, 1)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 0)


def tile(A, reps):
    tup = reps if isinstance(reps, tuple) else (reps,)
    out = np.asarray(A)
    while np.ndim(out) < len(tup):
        out = out[np.newaxis]
    lead = np.ndim(out) - len(tup)
    for axis in range(len(tup)):
        out = np.concatenate([out for _ in range(tup[axis])], axis=lead + axis)
    return out


def repeat(a, repeats, axis=None):
    if axis is None:
        flat = np.ravel(a)
        return flat[np.arange(flat.size * repeats) // repeats]
    moved = np.moveaxis(a, axis, 0)
    picked = moved[np.arange(moved.shape[0] * repeats) // repeats]
    return np.moveaxis(picked, 0, axis)


# ---- flips, rolls, triangles, diagonals ---------------------------------------------------------

def flipud(m):
    return m[::-1]


def fliplr(m):
    return m[:, ::-1]


def rot90(m, k=1):
    turns = k % 4
    if turns == 0:
        return m
    if turns == 1:
        return np.swapaxes(m[:, ::-1], 0, 1)
    if turns == 2:
        return m[::-1, ::-1]
    return np.swapaxes(m, 0, 1)[:, ::-1]


def roll(a, shift, axis=None):
    if axis is None:
        flat = np.ravel(a)
        n = flat.shape[0]
        s = shift % n
        return np.reshape(np.concatenate([flat[n - s:], flat[:n - s]], axis=0), np.shape(a))
    moved = np.moveaxis(a, axis, 0)
    n = moved.shape[0]
    s = shift % n
    return np.moveaxis(np.concatenate([moved[n - s:], moved[:n - s]], axis=0), 0, axis)


def tril(m, k=0):
    rows, cols = np.shape(m)[-2], np.shape(m)[-1]
    keep = np.arange(rows)[:, np.newaxis] + k >= np.arange(cols)[np.newaxis, :]
    return np.where(keep, m, np.zeros_like(m))


def triu(m, k=0):
    rows, cols = np.shape(m)[-2], np.shape(m)[-1]
    keep = np.arange(rows)[:, np.newaxis] + k <= np.arange(cols)[np.newaxis, :]
    return np.where(keep, m, np.zeros_like(m))


def diagonal(a, offset=0):
    rows, cols = np.shape(a)[0], np.shape(a)[1]
    if offset >= 0:
        n = min(rows, cols - offset)
        return a[np.arange(n), np.arange(n) + offset]
    n = min(rows + offset, cols)
    return a[np.arange(n) - offset, np.arange(n)]


def diag(v, k=0):
    if np.ndim(v) == 2:
        return diagonal(v, k)
    pad = np.zeros(abs(k), dtype=v.dtype)
    row = np.concatenate([pad, v], axis=0) if k >= 0 else np.concatenate([v, pad], axis=0)
    return np.eye(v.shape[0] + abs(k), k=k, dtype=v.dtype) * row[np.newaxis, :]


def trace(a, offset=0):
    return np.sum(diagonal(a, offset))


# ---- differences, selection, products -------------------------------------------------------

def diff(a, n=1, axis=-1):
    moved = np.moveaxis(a, axis, 0)
    for _ in range(n):
        moved = moved[1:] - moved[:-1]
    return np.moveaxis(moved, 0, axis)


def gradient(f, spacing=1.0):
    if np.ndim(f) != 1:
        raise ValueError("astjax differentiates np.gradient of 1-D arrays only")
    inner = (f[2:] - f[:-2]) / (2.0 * spacing)
    first = (f[1:2] - f[0:1]) / spacing
    last = (f[-1:] - f[-2:-1]) / spacing
    return np.concatenate([first, inner, last], axis=0)


def select(condlist, choicelist, default=0):
    result = np.zeros_like(choicelist[0]) + default
    for i in range(len(condlist) - 1, -1, -1):
        result = np.where(condlist[i], choicelist[i], result)
    return result


def cross(a, b):
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def inner(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    if np.ndim(b) == 1:
        return np.dot(a, b)
    return np.dot(a, np.swapaxes(b, -1, -2))


def kron(a, b):
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return np.ravel(a[:, np.newaxis] * b[np.newaxis, :])
    outer = a[:, np.newaxis, :, np.newaxis] * b[np.newaxis, :, np.newaxis, :]
    return np.reshape(outer, (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]))


def tensordot(a, b, axes=2):
    front = np.shape(a)[:np.ndim(a) - axes]
    back = np.shape(b)[axes:]
    inner_size = int(np.prod(np.shape(b)[:axes]))
    left = np.reshape(a, (-1, inner_size))
    right = np.reshape(b, (inner_size, -1))
    return np.reshape(left @ right, front + back)


# ---- elementwise, in terms of primitives ------------------------------------------------------

def fabs(x):
    return np.abs(x) * 1.0


def reciprocal(x):
    return 1.0 / x


def deg2rad(x):
    return x * (np.pi / 180.0)


def rad2deg(x):
    return x * (180.0 / np.pi)


# ---- more splits, axes, sorting, padding (issue 14) -----------------------------------------

def array_split(ary, indices_or_sections, axis=0):
    moved = np.moveaxis(ary, axis, 0)
    n = moved.shape[0]
    if isinstance(indices_or_sections, int):
        each, extra = n // indices_or_sections, n % indices_or_sections
        bounds = [0]
        for i in range(indices_or_sections):
            bounds.append(bounds[-1] + each + (1 if i < extra else 0))
    else:
        bounds = [0] + [i for i in indices_or_sections] + [n]
    return [np.moveaxis(moved[bounds[i]:bounds[i + 1]], 0, axis)
            for i in range(len(bounds) - 1)]


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 2)


def rollaxis(a, axis, start=0):
    nd = np.ndim(a)
    axis = axis % nd
    if start < 0:
        start = start + nd
    if start > axis:
        start = start - 1
    return np.moveaxis(a, axis, start)


def _pad_index(n, before, after, mode):
    if mode == "edge":
        return np.concatenate([np.zeros(before, dtype=np.intp), np.arange(n),
                               np.zeros(after, dtype=np.intp) + (n - 1)], axis=0)
    if mode == "wrap":
        return np.arange(-before, n + after) % n
    if mode == "reflect" or mode == "symmetric":
        shift = 1 if mode == "reflect" else 0
        if before > n - shift or after > n - shift:
            raise ValueError("astjax differentiates np.pad reflect/symmetric only for pads "
                             "shorter than the axis")
        head = np.arange(before, 0, -1) - (1 - shift)
        tail = np.arange(n - 1 - shift, n - 1 - shift - after, -1)
        return np.concatenate([head, np.arange(n), tail], axis=0)
    raise ValueError(f"astjax differentiates np.pad modes constant, edge, wrap, reflect and "
                     f"symmetric, not {mode!r}")


def pad(array, pad_width, mode="constant", constant_values=0):
    nd = np.ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width), (nd, 2))
    out = array
    for axis in range(nd):
        before, after = int(widths[axis, 0]), int(widths[axis, 1])
        moved = np.moveaxis(out, axis, 0)
        n = moved.shape[0]
        if mode == "constant":
            fill = np.zeros_like(moved[np.zeros(1, dtype=np.intp)]) + constant_values
            moved = np.concatenate([fill[np.zeros(before, dtype=np.intp)], moved,
                                    fill[np.zeros(after, dtype=np.intp)]], axis=0)
        else:
            moved = moved[_pad_index(n, before, after, mode)]
        out = np.moveaxis(moved, 0, axis)
    return out


def cumprod(a, axis=None, dtype=None):
    # one product per step, left to right, like np.multiply.accumulate: a zero factor needs
    # no division, and the derivatives follow from the products
    moved = np.ravel(a) if axis is None else np.moveaxis(np.asarray(a), axis, 0)
    if dtype is not None:
        moved = moved.astype(dtype)
    running = np.prod(moved[:0], axis=0)          # ones, in the dtype np.cumprod accumulates in
    if dtype is not None:
        running = running.astype(dtype)
    rows = []
    for i in range(moved.shape[0]):
        running = running * moved[i]
        rows.append(running)
    out = np.stack(rows) if rows else moved[:0] * running
    return out if axis is None else np.moveaxis(out, 0, axis)


STAND_INS = {
    np.atleast_1d: atleast_1d, np.atleast_2d: atleast_2d, np.atleast_3d: atleast_3d,
    np.hstack: hstack, np.vstack: vstack, np.column_stack: column_stack, np.append: append,
    np.split: split, np.hsplit: hsplit, np.vsplit: vsplit, np.tile: tile, np.repeat: repeat,
    np.flipud: flipud, np.fliplr: fliplr, np.rot90: rot90, np.roll: roll, np.tril: tril,
    np.triu: triu, np.diagonal: diagonal, np.diag: diag, np.trace: trace, np.diff: diff,
    np.gradient: gradient, np.select: select, np.cross: cross, np.inner: inner,
    np.kron: kron, np.tensordot: tensordot, np.fabs: fabs, np.reciprocal: reciprocal,
    np.deg2rad: deg2rad, np.radians: deg2rad, np.rad2deg: rad2deg, np.degrees: rad2deg,
    np.array_split: array_split, np.dsplit: dsplit, np.rollaxis: rollaxis, np.pad: pad,
    np.cumprod: cumprod}
for _library, _helper in STAND_INS.items():
    registry.replace_with(_library, _helper)
