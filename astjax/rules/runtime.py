"""Small NumPy helpers that generated code calls as ``_ax.<name>``.

They keep generated source short where a rule needs a few lines of shape bookkeeping
(un-broadcasting, re-expanding a reduced axis).  Each one that generated code may call is
itself a primitive with rules in ``rules.py``, so generated code can be transformed again.
"""
import numpy as np

from astjax.lax import all_gather, axis_index, pmax, pmean, pmin, psum  # noqa: F401  (_ax.psum...)


# ---- shapes ----------------------------------------------------------------------------------

def unbroadcast(g, x):
    """Sum ``g`` down to the shape of ``x`` (the adjoint of NumPy broadcasting)."""
    if np.iscomplexobj(g) and not np.iscomplexobj(x):
        g = np.real(g)                 # a real operand's cotangent is the real part
    shape = np.shape(x)
    gshape = np.shape(g)
    if gshape == shape:
        return g
    g = np.asarray(g)
    extra = g.ndim - len(shape)
    if extra < 0:                      # a smaller cotangent (a zero): broadcast it
        return np.broadcast_to(g, shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if g.shape != shape:
        g = np.broadcast_to(g, shape)
    return g


def broadcast_like(g, x):
    """Broadcast ``g`` to the shape of ``x`` (the adjoint of unbroadcast)."""
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g
    return np.broadcast_to(g, shape)


def expand_reduced(g, x, axis=None, keepdims=False):
    """Broadcast the result ``g`` of a reduction of ``x`` over ``axis`` back to x's shape."""
    shape = np.shape(x)
    if not keepdims and axis is not None and np.ndim(g) > 0:   # a 0-d g broadcasts as it is
        axes = _axes(axis, len(shape))
        g = np.expand_dims(g, tuple(sorted(axes)))
    return np.broadcast_to(g, shape)


def reduced_count(x, axis=None):
    """How many elements of ``x`` a reduction over ``axis`` combines into one."""
    shape = np.shape(x)
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in _axes(axis, len(shape))], dtype=np.int64))


def _axes(axis, ndim):
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes)


def reshape_like(g, x):
    """``g`` in the shape of ``x`` (the scalar cotangent 0.0 of an unread result fills it)."""
    if np.ndim(g) == 0 and np.ndim(x) != 0:
        return np.full(np.shape(x), g)
    return np.reshape(g, np.shape(x))


def cast_like(g, x):
    """``g`` in the dtype of ``x`` when x is a floating array; unchanged otherwise."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind in "fc" and getattr(g, "dtype", None) != dtype:
        return np.asarray(g).astype(dtype)
    return g


def array_vjp(g, x):
    """Adjoint of ``np.array(x)``: a list/tuple ``x`` gets a list of cotangents."""
    if isinstance(x, (list, tuple)):
        g = np.broadcast_to(g, np.shape(np.asarray(x)))
        return [array_vjp(g[i], item) for i, item in enumerate(x)]
    if np.ndim(g) == 0 and np.ndim(x) != 0:      # the cotangent 0.0 of an unread copy
        g = np.full(np.shape(x), g)
    return cast_like(g, x)


def finalize(d, x):
    """The gradient w.r.t. an input ``x``: x's shape and dtype (a Python float gives a float).
    A pytree ``x`` (tuple, list, dict) gets a gradient of the same structure."""
    if isinstance(x, (tuple, list, dict)):
        from astjax.core.pytrees import flatten, flatten_like, unflatten
        xs, tree = flatten(x)
        return unflatten(tree, [finalize(di, xi) for di, xi in zip(flatten_like(d, tree), xs)])
    if isinstance(x, (float, int)) and not isinstance(x, (bool, np.generic)):
        return float(np.sum(d)) if np.ndim(d) else float(d)   # (np.float64 is a float too)
    d = np.asarray(d)
    shape = np.shape(x)
    dtype = np.result_type(x)
    if d.shape != shape:
        d = np.broadcast_to(d, shape)
    if d.dtype.kind == "c" and dtype.kind != "c":
        d = np.real(d)                  # a real input's gradient is the real part
    if d.dtype != dtype:
        d = d.astype(dtype)
    if not d.flags.writeable or not d.flags.owndata and d.base is not None and d.size != d.base.size:
        d = d.copy()
    if d.ndim == 0 and np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        return d[()]
    return d


def transpose_axes(axes, ndim):
    """The inverse permutation of ``axes`` (None reverses)."""
    if axes is None:
        return None
    return tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


# ---- indexing ----------------------------------------------------------------------------

def getitem_vjp(g, x, index):
    """Adjoint of ``x[index]``: g scattered into zeros shaped like x (repeats add up)."""
    if isinstance(x, dict):
        return {index: g}
    out = np.zeros(np.shape(x), dtype=np.result_type(g, x) if _is_float(x) else np.result_type(g))
    if isinstance(x, (list, tuple)):
        out = [0.0] * len(x)
        out[index] = g
        return out
    np.add.at(out, index, g) if _advanced(index) else out.__setitem__(index, g)
    return out


def add_at(d, x, index, g):
    """``d + getitem_vjp(g, x, index)`` without building the full zeros when d is an array."""
    if isinstance(x, (list, tuple)):
        d = list(d) if isinstance(d, (list, tuple)) else [0.0] * len(x)
        d[index] = d[index] + g
        return d
    if np.ndim(d) == 0 and not np.shape(x) == ():
        d = np.zeros(np.shape(x), dtype=np.result_type(g, x) if _is_float(x) else np.result_type(g)) + d
    else:
        d = np.array(d, dtype=np.result_type(d, g), copy=True)
    if _advanced(index):
        np.add.at(d, index, g)
    else:
        d[index] += g
    return d


def take_adjoint(d, x, index):
    """The cotangent stored at ``d[index]`` (0.0 where nothing flowed), then that slot zeroed.
    Used by the adjoint of an item write ``x[index] = v``.  Returns (value, new d)."""
    if np.ndim(d) == 0 and not isinstance(d, list):
        return 0.0, d
    d = d.copy() if isinstance(d, np.ndarray) else list(d)
    value = d[index]
    value = value.copy() if isinstance(value, np.ndarray) else value
    d[index] = 0.0
    return value, d


class _Missing:
    """The old value of a dict item that an item write created (``restore_slot`` removes it)."""
    def __repr__(self):
        return "<no item>"


MISSING = _Missing()


def slot_value(d, key):
    """A snapshot of ``d[key]`` before an item write, or MISSING where the write adds the key."""
    if isinstance(d, dict) and key not in d:
        return MISSING
    return copy_value(d[key])


def restore_slot(d, key, old):
    """Undo ``d[key] = v`` in the reverse sweep: the old value back, or the new key removed."""
    if old is MISSING:
        d.pop(key, None)
    else:
        d[key] = old


def copy_value(v):
    """A snapshot of ``v`` (arrays and lists are copied; scalars are immutable)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    return v


def _advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


def _is_float(x):
    return np.result_type(x).kind in "fc"


# ---- containers --------------------------------------------------------------------------

def list_pop_adjoint(d):
    """Adjoint of ``lst.append(v)``: the cotangent of the last element, and the rest."""
    if isinstance(d, list) and d:
        return d[-1], d[:-1]
    return 0.0, d


def unstack(g, n, axis=0):
    """The cotangents of the n arrays that ``np.stack`` combined along ``axis``."""
    if np.ndim(g) == 0:
        return [0.0] * n
    return [np.take(g, i, axis=axis) for i in range(n)]


def split_like(g, arrays, axis=0):
    """The cotangents of the arrays ``np.concatenate`` joined along ``axis``."""
    if np.ndim(g) == 0:
        return [0.0] * len(arrays)
    sizes = np.cumsum([np.shape(a)[axis] for a in arrays])[:-1]
    return np.split(g, sizes, axis=axis)


def copy_lane_scalar(v):
    """An item ``x[:, i]`` of a batched ``x``: copied when each lane's item is a scalar (NumPy
    gives a copy per example, the batched index a view)."""
    return np.copy(v) if np.ndim(v) <= 1 else v


def unstack_batched(g, n, axis):
    """``unstack`` on a batch: ``g`` has the batch axis first and ``axis`` counts it; each
    item keeps the batch axis.  A cotangent with no per-example axes is a zero per lane."""
    if np.ndim(g) <= 1:
        return [g] * n
    return [np.take(g, i, axis=axis) for i in range(n)]


def split_like_batched(g, arrays, axis):
    """``split_like`` on a batch: ``arrays`` (the joined items) may be batched or shared, so
    their sizes are read from the end of ``g`` when the axis is negative."""
    if np.ndim(g) <= 1:
        return [g] * len(arrays)
    sizes = [np.shape(a)[axis] if axis < 0 or np.ndim(a) == np.ndim(g) else
             np.shape(a)[axis - 1] for a in arrays]
    return np.split(g, np.cumsum(sizes)[:-1], axis=axis)


def seq_add(d, i, g):
    """``d[i] += g`` for the adjoint of a list or tuple, which starts as 0.0."""
    if np.ndim(g) == 0 and not isinstance(g, np.ndarray) and g == 0.0:
        return d
    d = list(d) if isinstance(d, (list, tuple)) else []
    while len(d) <= i:
        d.append(0.0)
    d[i] = d[i] + g
    return d


def seq_item(d, i):
    """The cotangent of element i of a sequence whose adjoint is ``d`` (0.0 if none flowed);
    ``i`` is a key when ``d`` is the adjoint of a dict."""
    if isinstance(d, dict):
        return d.get(i, 0.0)
    if isinstance(d, (list, tuple)) and isinstance(i, int) and i < len(d):
        return d[i]
    if isinstance(d, np.ndarray) and d.ndim > 0 and isinstance(i, (int, np.integer)):
        return d[i]          # a NumPy function read the sequence as an array: so did its adjoint
    return 0.0


def as_list(seq):
    """``list(seq)``: a new list of the items of ``seq`` (the rows of an array)."""
    return list(seq)


def as_tuple(seq):
    """``tuple(seq)``: a tuple of the items of ``seq`` (the rows of an array)."""
    return tuple(seq)


def as_seq_vjp(g, seq):
    """The cotangent of ``seq`` from the cotangent ``g`` of ``list(seq)`` / ``tuple(seq)``:
    item by item for a list or tuple; for an array, its rows stacked (0.0 rows are zeros)."""
    if isinstance(seq, (list, tuple)):
        if isinstance(g, (list, tuple)) or np.ndim(g) > 0:
            return list(g)         # (a NumPy function read the copy as one array: its rows)
        return g                   # 0.0: nothing flowed
    if not isinstance(g, (list, tuple)):
        return g                   # 0.0, or the array's own cotangent
    rows = np.shape(seq)[1:]
    return np.stack([np.broadcast_to(r, rows) for r in g]) if len(g) else np.zeros(np.shape(seq))


def seq_tangent(t, kind):
    """The tangent of ``list(seq)`` (``kind`` 'list' or 'tuple') from the tangent of seq."""
    if isinstance(t, (list, tuple)) or np.ndim(t) > 0:
        return list(t) if kind == "list" else tuple(t)
    return t                       # 0.0: no tangent


# ---- linear algebra ------------------------------------------------------------------------

def _matmul_cotangent(g, a, b):
    """``g`` with the shape of ``a @ b``: a result nobody reads has the scalar cotangent 0.0."""
    if np.ndim(g) == 0 and (np.ndim(a) > 1 or np.ndim(b) > 1):
        return np.full(np.shape(np.matmul(a, b)), g)
    return g


def matmul_vjp_a(g, a, b):
    """Cotangent of ``a`` in ``a @ b`` (1-D operands as NumPy treats them)."""
    g = _matmul_cotangent(g, a, b)
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if b_nd == 1:
        if a_nd == 1:
            return g * b
        return np.expand_dims(g, -1) * b
    if a_nd == 1:
        return np.matmul(b, g) if b_nd == 2 else unbroadcast(np.sum(np.matmul(b, np.expand_dims(g, -1))[..., 0], axis=tuple(range(b_nd - 2))), a)
    return unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), a)


def matmul_vjp_b(g, a, b):
    """Cotangent of ``b`` in ``a @ b``."""
    g = _matmul_cotangent(g, a, b)
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if a_nd == 1:
        if b_nd == 1:
            return g * a
        return np.multiply.outer(a, g) if b_nd == 2 else unbroadcast(np.expand_dims(a, -1) * np.expand_dims(g, -2), b)
    if b_nd == 1:
        return unbroadcast(np.sum(np.swapaxes(a, -1, -2) * np.expand_dims(g, -2), axis=-1), b)
    return unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), b)


def einsum_vjp(g, subscripts, operands, i):
    """Cotangent of operand ``i`` of ``np.einsum(subscripts, *operands)``."""
    inputs, arrow, output = subscripts.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if not arrow:
        output = "".join(sorted(c for c in set(inputs) if c.isalpha() and inputs.count(c) == 1))
    target = terms[i]
    if len(set(target)) != len(target):
        from astjax.errors import DifferentiationError
        raise DifferentiationError(f"no gradient for einsum {subscripts!r}: an index repeats "
                                   f"within one operand (a trace or diagonal)")
    others = [t for j, t in enumerate(terms) if j != i]
    ops = [o for j, o in enumerate(operands) if j != i]
    present = set(output) | set("".join(others))
    kept = "".join(c for c in target if c in present)
    partial = np.einsum(",".join([output] + others) + "->" + kept, g, *ops)
    if kept != target:        # letters only operand i has were summed out: broadcast them back
        missing = tuple(k for k, c in enumerate(target) if c not in present)
        partial = np.broadcast_to(np.expand_dims(partial, missing), np.shape(operands[i]))
    return partial


def solve_vjp_a(g, ans, a):
    """Cotangent of ``a`` in ``ans = np.linalg.solve(a, b)``."""
    gb = np.linalg.solve(np.swapaxes(a, -1, -2), g)
    if np.ndim(ans) == np.ndim(a) - 1:
        return -np.expand_dims(gb, -1) * np.expand_dims(ans, -2)
    return -np.matmul(gb, np.swapaxes(ans, -1, -2))


def cumsum_vjp(g, axis=None, x=None):
    """Adjoint of ``np.cumsum(x, axis)``: a reversed cumulative sum."""
    if axis is None:
        g = np.flip(np.cumsum(np.flip(np.ravel(g))))
        return np.reshape(g, np.shape(x))
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def max_vjp(g, ans, x, axis=None, keepdims=False):
    """Adjoint of ``np.max``/``np.min``: g split evenly among the elements that attain it."""
    full = expand_reduced(ans, x, axis, keepdims)
    mask = (np.asarray(x) == full)
    count = expand_reduced(np.sum(mask, axis=axis, keepdims=keepdims), x, axis, keepdims)
    return expand_reduced(g, x, axis, keepdims) * mask / count


# ---- reverse-mode bookkeeping --------------------------------------------------------------

def seed(ans):
    """The cotangent 1 for a scalar result (``grad`` needs one, as in JAX)."""
    if np.ndim(ans) != 0:
        from astjax.errors import DifferentiationError
        raise DifferentiationError(
            f"grad requires a scalar output, got an array of shape {np.shape(ans)}; "
            f"use vjp or jacrev for non-scalar outputs")
    if isinstance(ans, (float, int)) and not isinstance(ans, bool):
        return 1.0
    return np.ones((), dtype=np.result_type(ans))[()]


def seq_acc(d, c):
    """Accumulate the cotangent ``c`` of a list/tuple (or dict) into ``d`` elementwise."""
    if isinstance(c, dict) or isinstance(d, dict):
        if not isinstance(c, dict):
            return d if np.ndim(c) == 0 and c == 0.0 else c
        out = dict(d) if isinstance(d, dict) else {}
        for k, ck in c.items():
            out[k] = seq_acc(out[k], ck) if k in out else ck
        return out
    if not isinstance(c, (list, tuple)):
        return d if np.ndim(c) == 0 and c == 0.0 else d + c
    if not isinstance(d, (list, tuple)):
        return list(c)
    out = list(d) + [0.0] * max(0, len(c) - len(d))
    for i, ci in enumerate(c):
        out[i] = seq_acc(out[i], ci)           # items may be sequences themselves
    return out


def add_to(d, x, index, g):
    """``d[index] += g`` for the adjoint of ``x[index]``; ``d`` starts as 0.0 and is owned
    by the generated code, so it is updated in place after its first allocation."""
    if isinstance(x, dict):
        d = dict(d) if isinstance(d, dict) else {}
        d[index] = seq_acc(d[index], g) if index in d else g
        return d
    if isinstance(x, (list, tuple)):
        d = list(d) if isinstance(d, (list, tuple)) else [0.0] * len(x)
        d[index] = seq_acc(d[index], g)       # items may be lists themselves (a tape)
        return d
    if not isinstance(d, np.ndarray) or d.shape != np.shape(x) or not d.flags.writeable:
        base = d                        # (a read-only d is shared, e.g. a broadcast zero)
        dtype = np.result_type(g, x) if _is_float(x) else np.result_type(g)
        d = np.zeros(np.shape(x), dtype=dtype)
        if np.ndim(base) != 0 or base != 0.0:
            d += base
    if _advanced(index):
        np.add.at(d, index, g)
    else:
        d[index] += g
    return d


def take_slot(d, index):
    """The cotangent at ``d[index]`` and ``d`` with that slot zeroed (in place: ``d`` is owned).
    The adjoint of an item write ``x[index] = v``."""
    if isinstance(d, dict):
        value = d.get(index, 0.0)
        d[index] = 0.0
        return value, d
    if isinstance(d, list):
        value = d[index] if index < len(d) else 0.0
        if index < len(d):
            d[index] = 0.0
        return value, d
    if not isinstance(d, np.ndarray):
        return 0.0, d
    if not d.flags.writeable:            # a broadcast view of a cotangent: own a copy
        d = np.array(d)
    value = np.copy(d[index])
    d[index] = 0.0
    return value, d


def seq_pop(d):
    """Adjoint of ``lst.append(v)``: (cotangent of v, adjoint of the shorter list)."""
    if isinstance(d, list) and d:
        return d[-1], d[:-1]
    return 0.0, d


def seq_push(d, g, n):
    """Adjoint of ``v = lst.pop()`` where the list had ``n`` items after the pop."""
    d = list(d) if isinstance(d, (list, tuple)) else []
    d = d + [0.0] * max(0, n - len(d))
    return d[:n] + [g]


def check_differentiable(x, label):
    """grad w.r.t. an integer or boolean input is an error, as in JAX."""
    kind = np.result_type(x).kind if not isinstance(x, (list, tuple, dict)) else "f"
    if kind not in "fc":
        from astjax.errors import DifferentiationError
        raise DifferentiationError(
            f"grad requires real- or complex-valued inputs; argument {label!r} has dtype "
            f"{np.result_type(x)} (use a float input, e.g. {label}.astype(float) or 1.0)")


# ---- forward mode and higher order ------------------------------------------------------------
# Zero tangents, the adjoints of the adjoint helpers above (so generated gradients can be
# differentiated again), and the basis/assembly helpers of jacfwd and jacrev.

def zeros_like(x):
    """A zero tangent (or cotangent) for ``x``: float zeros of x's shape and (floating)
    dtype, 0.0 for Python scalars, and the same structure for tuples, lists and dicts."""
    if isinstance(x, tuple):
        return tuple(zeros_like(v) for v in x)
    if isinstance(x, list):
        return [zeros_like(v) for v in x]
    if isinstance(x, dict):
        return {k: zeros_like(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return np.zeros(x.shape, x.dtype if x.dtype.kind in "fc" else np.float64)
    if isinstance(x, np.generic) and x.dtype.kind in "fc":
        return x.dtype.type(0)
    return 0.0


def finalize_vjp(g, d):
    """Adjoint of ``finalize(d, x)``: the cotangent ``g`` of the gradient, brought back to the
    shape, dtype and structure of ``d``."""
    if isinstance(d, (list, tuple)):
        return [finalize_vjp(seq_item(g, i), di) for i, di in enumerate(d)]
    if isinstance(d, dict):
        return {k: finalize_vjp(seq_item(g, k), v) for k, v in d.items()}
    if isinstance(g, (list, tuple, dict)):
        return 0.0                        # d is a zero placeholder: nothing flows to it
    if np.shape(g) == np.shape(d):
        return cast_like(g, d)
    if np.ndim(g) < np.ndim(d):
        return cast_like(np.broadcast_to(g, np.shape(d)), d)
    return cast_like(unbroadcast(g, d), d)


def take_index(v, index):
    """``v[index]``, where a zero cotangent 0.0 stays 0.0 (the adjoint of getitem_vjp)."""
    if isinstance(v, dict):
        return v.get(index, 0.0)
    if isinstance(v, (list, tuple)):
        return v[index] if not isinstance(index, int) or index < len(v) else 0.0
    if np.ndim(v) == 0:
        return v
    return v[index]


def take_slot_vjp(g, d, index):
    """Adjoint of ``(value, d2) = take_slot(d, index)``: value was d[index], d2 is d with that
    slot zeroed, so d's cotangent is g's second part with g's first part in the slot."""
    g_value, g_rest = seq_item(g, 0), seq_item(g, 1)
    if isinstance(d, dict):
        out = dict(g_rest) if isinstance(g_rest, dict) else {}
        out[index] = g_value
        return out
    if isinstance(d, list):
        out = list(g_rest) if isinstance(g_rest, (list, tuple)) else []
        out += [0.0] * max(0, len(d) - len(out))
        out[index] = g_value
        return out
    if not isinstance(d, np.ndarray):
        return g_rest
    out = np.array(np.broadcast_to(g_rest, d.shape), dtype=np.result_type(g_rest, d), copy=True)
    out[index] = g_value
    return out


def seq_pop_vjp(g, d):
    """Adjoint of ``(last, rest) = seq_pop(d)``."""
    g_last, g_rest = seq_item(g, 0), seq_item(g, 1)
    if isinstance(d, list) and d:
        rest = list(g_rest) if isinstance(g_rest, (list, tuple)) else []
        rest = rest[:len(d) - 1] + [0.0] * max(0, len(d) - 1 - len(rest))
        return rest + [g_last]
    return g_rest


def seq_head(g, n):
    """The first ``n`` items of a sequence cotangent (the adjoint of seq_push for ``d``)."""
    if isinstance(g, (list, tuple)):
        return list(g[:n])
    return 0.0


def seq_like(g, d):
    """The part of the cotangent ``g`` that belongs to ``d`` (the adjoint of seq_acc)."""
    if isinstance(d, (list, tuple)):
        return [seq_item(g, i) for i in range(len(d))]
    if isinstance(d, dict):
        return {k: seq_item(g, k) for k in d}
    if isinstance(g, (list, tuple, dict)):
        return 0.0
    return g


def concat_like(g, arrays, axis=0):
    """Adjoint of ``split_like``: the pieces' cotangents joined again (0.0 pieces as zeros)."""
    pieces = [np.broadcast_to(seq_item(g, i), np.shape(a)) for i, a in enumerate(arrays)]
    return np.concatenate(pieces, axis=axis)


def stack_like(g, v, axis=0):
    """Adjoint of ``unstack(v, n, axis)``: the items' cotangents stacked again."""
    if np.ndim(v) == 0:
        return 0.0
    n = np.shape(v)[axis]
    shape = np.shape(np.take(v, 0, axis=axis))
    return np.stack([np.broadcast_to(seq_item(g, i), shape) for i in range(n)], axis=axis)


def einsum_jvp(subscripts, operands, tangents):
    """Tangent of ``np.einsum(subscripts, *operands)``: one term per operand (multilinear)."""
    total = 0.0
    for i, t in enumerate(tangents):
        if np.ndim(t) == 0 and np.ndim(operands[i]) != 0 and t == 0.0:
            continue
        total = total + np.einsum(subscripts, *operands[:i], t, *operands[i + 1:])
    return total


def einsum_vjp_jvp(g, subscripts, operands, tangents, i):
    """Tangent of ``einsum_vjp(g, subscripts, operands, i)`` through the other operands."""
    total = 0.0
    for j, t in enumerate(tangents):
        if j == i or np.ndim(t) == 0 and np.ndim(operands[j]) != 0 and t == 0.0:
            continue
        swapped = list(operands[:j]) + [t] + list(operands[j + 1:])
        total = total + einsum_vjp(g, subscripts, swapped, i)
    return total


def unit_basis(x):
    """One tangent per element of ``x`` (a pytree): zeros with a single 1 (jacfwd's columns,
    jacrev's rows), in the dtype of each leaf."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "fc":        # the common case, fast
        return list(np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape))
    from astjax.core.pytrees import flatten, unflatten
    xs, tree = flatten(x)
    out = []
    for i, leaf in enumerate(xs):
        for e in range(int(np.size(leaf))):
            parts = [zeros_like(v) if j != i else _unit(leaf, e) for j, v in enumerate(xs)]
            out.append(unflatten(tree, parts))
    return out


def _unit(leaf, e):
    zero = zeros_like(leaf)
    if not isinstance(zero, np.ndarray):
        return type(zero)(1)
    zero.flat[e] = 1
    return zero


def jacobian(parts, out, x, mode):
    """Assemble a Jacobian with JAX's layout: for each leaf of ``out``, for each leaf of ``x``,
    an array of shape out_leaf.shape + x_leaf.shape.  ``mode='rows'``: ``parts[k]`` is the
    gradient (shaped like x) of output element k (jacrev); ``mode='cols'``: ``parts[k]`` is
    the tangent (shaped like out) for input element k (jacfwd)."""
    if not isinstance(out, (tuple, list, dict)) and not isinstance(x, (tuple, list, dict)):
        return _jacobian_of_leaves(parts, out, x, mode)
    from astjax.core.pytrees import flatten, flatten_like, unflatten
    outs, otree = flatten(out)
    xs, xtree = flatten(x)
    blocks = []
    if mode == "rows":
        flat = [flatten_like(p, xtree) for p in parts]
        k = 0
        for o in outs:
            n = int(np.size(o))
            row = []
            for i, xi in enumerate(xs):
                items = [np.broadcast_to(flat[k + e][i], np.shape(xi)) for e in range(n)]
                row.append(_block(items, np.shape(o), np.shape(xi), 0, o, xi))
            k += n
            blocks.append(unflatten(xtree, row))
        return unflatten(otree, blocks)
    flat = [flatten_like(p, otree) for p in parts]
    offsets = np.cumsum([0] + [int(np.size(xi)) for xi in xs])
    for j, o in enumerate(outs):
        row = []
        for i, xi in enumerate(xs):
            items = [np.broadcast_to(flat[offsets[i] + e][j], np.shape(o))
                     for e in range(int(np.size(xi)))]
            row.append(_block(items, np.shape(o), np.shape(xi), -1, o, xi))
        blocks.append(unflatten(xtree, row))
    return unflatten(otree, blocks)


def _jacobian_of_leaves(parts, out, x, mode):
    """jacobian() when ``out`` and ``x`` are single arrays or scalars."""
    oshape, xshape = np.shape(out), np.shape(x)
    inner, axis = (xshape, 0) if mode == "rows" else (oshape, -1)
    if not all(isinstance(p, np.ndarray) and p.shape == inner for p in parts):
        parts = [np.broadcast_to(p, inner) for p in parts]
    return _block(parts, oshape, xshape, axis, out, x)


def _block(items, oshape, xshape, axis, o, xi):
    dtype = np.result_type(*items) if items else np.result_type(float, o)
    if items:
        arr = np.stack(items, axis=axis).astype(dtype, copy=False)
    else:
        arr = np.zeros(oshape + xshape, dtype=dtype)
    arr = np.reshape(arr, oshape + xshape) + 0.0       # + 0.0: no negative zeros
    if arr.ndim == 0 and _python_scalar(o) and _python_scalar(xi):
        return float(arr)
    return arr


def _python_scalar(v):
    return isinstance(v, (float, int)) and not isinstance(v, bool)


def jacobian_vjp(g, parts, out, x, mode):
    """Adjoint of :func:`jacobian`: the cotangent of each part (the inverse reshuffle)."""
    from astjax.core.pytrees import flatten, flatten_like, unflatten
    outs, otree = flatten(out)
    xs, xtree = flatten(x)
    if not isinstance(g, (tuple, list, dict)) and np.ndim(g) == 0 and g == 0.0 and \
            (len(outs) > 1 or len(xs) > 1 or np.ndim(outs[0]) or np.ndim(xs[0])):
        return [0.0] * len(parts)
    jtree_leaves = flatten_like(g, _nested_tree(otree, xtree))
    nx = len(xs)
    result = []
    if mode == "rows":
        for j, o in enumerate(outs):
            n = int(np.size(o))
            flat = [np.reshape(np.broadcast_to(jtree_leaves[j * nx + i], np.shape(o) + np.shape(xi)),
                               (n,) + np.shape(xi)) for i, xi in enumerate(xs)]
            for e in range(n):
                result.append(unflatten(xtree, [_cast(f[e], xi) for f, xi in zip(flat, xs)]))
        return result
    for i, xi in enumerate(xs):
        m = int(np.size(xi))
        flat = [np.reshape(np.broadcast_to(jtree_leaves[j * nx + i], np.shape(o) + np.shape(xi)),
                           np.shape(o) + (m,)) for j, o in enumerate(outs)]
        for e in range(m):
            result.append(unflatten(otree, [_cast(f[..., e], o) for f, o in zip(flat, outs)]))
    return result


def _cast(v, like):
    return float(v) if _python_scalar(like) else v


def _nested_tree(otree, xtree):
    from astjax.core.pytrees import Tree
    if otree.kind == "leaf":
        return xtree
    return Tree(otree.kind, tuple(_nested_tree(c, xtree) for c in otree.children), otree.keys,
                otree.cls)


def seq_put(v, d, i):
    """A cotangent shaped like the sequence (or dict) ``d`` holding ``v`` at ``i`` and 0.0
    elsewhere (the adjoint of seq_item)."""
    if isinstance(d, dict):
        return {i: v}
    if isinstance(d, np.ndarray) and d.ndim > 0:            # the adjoint array of a list
        out = np.zeros(np.shape(d), dtype=np.result_type(v, np.float64))
        out[i] = v
        return out
    n = len(d) if isinstance(d, (list, tuple)) else i + 1
    out = [0.0] * max(n, i + 1)
    out[i] = v
    return out


def einsum_cross(subscripts, operands, tangents, t_operands):
    """Second-order term of einsum_jvp: operand i replaced by tangents[i] and operand j != i
    by t_operands[j], summed."""
    total = 0.0
    for i, t in enumerate(tangents):
        for j, u in enumerate(t_operands):
            if i == j:
                continue
            swapped = list(operands)
            swapped[i], swapped[j] = t, u
            total = total + np.einsum(subscripts, *swapped)
    return total


def einsum_jvp_vjp(g, subscripts, operands):
    """Adjoint of einsum_jvp w.r.t. its tangents: one einsum_vjp per operand."""
    return [einsum_vjp(g, subscripts, operands, i) for i in range(len(operands))]


def none_to_zero(cts):
    """The cotangents a custom_vjp ``bwd`` returned, None meaning zero."""
    if isinstance(cts, (tuple, list)):
        return tuple(0.0 if c is None else c for c in cts)
    return (0.0,) if cts is None else (cts,)


def einsum_swap(subscripts, operands, i, x):
    """``np.einsum(subscripts, *operands)`` with operand i replaced by x (the adjoint of
    einsum_vjp w.r.t. its cotangent)."""
    ops = list(operands)
    ops[i] = x
    return np.einsum(subscripts, *ops)


def sinc_slope(x, s):
    """d sinc(x)/dx given s = sinc(x): (cos(pi x) - s) / x, and 0 at x = 0."""
    x = np.asarray(x)
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 0.0, (np.cos(np.pi * x) - s) / safe)


def sinc_curve(x, s):
    """d^2 sinc(x)/dx^2 given s = sinc(x): -pi^2 s - 2 sinc'(x) / x, and -pi^2/3 at 0."""
    x = np.asarray(x)
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, -np.pi ** 2 / 3.0,
                    -np.pi ** 2 * s - 2.0 * sinc_slope(x, s) / safe)


def draw(source, method, *args, **kwargs):
    """``source.method(*args, **kwargs)``: a random draw from np.random, a RandomState or a
    Generator (or making one).  A constant of the sample: no derivative flows through it."""
    return getattr(source, method)(*args, **kwargs)


def draw_from(source, method, args, **kwargs):
    """``source.method(*args, **kwargs)``, ``args`` a sequence (``rs.randn(*x.shape)``)."""
    return getattr(source, method)(*args, **kwargs)


def refuse(message):
    """Raised where the user's program reaches a statement astjax could not transform (it
    sits on a branch, so the transform itself went ahead)."""
    from astjax.errors import UnsupportedError
    raise UnsupportedError(message)


def format(template, *values):
    """An f-string of generated code: ``format("loss {:.3f}", loss)`` is f"loss {loss:.3f}".
    An array given a spec NumPy's ``__format__`` refuses (a batch of losses under vmap) is
    formatted item by item: ``[0.350, 1.400]``."""
    try:
        return template.format(*values)
    except TypeError:
        import string
        out, k = [], 0
        for text, field_name, spec, conversion in string.Formatter().parse(template):
            out.append(text)
            if field_name is None:
                continue
            value = values[k]
            k += 1
            if conversion:
                value = {"r": repr, "s": str, "a": ascii}[conversion](value)
            if isinstance(value, np.ndarray) and value.ndim > 0 and spec:
                out.append(np.array2string(value, separator=", ", formatter={
                    "all": lambda item, spec=spec: builtins_format(item, spec)}))
            else:
                out.append(builtins_format(value, spec))
        return "".join(out)


builtins_format = __builtins__["format"] if isinstance(__builtins__, dict) else \
    __builtins__.format


def _symbolic_zero(t, like):
    """Whether tangent ``t`` is the 0.0 that stands for a zero tangent of ``like``."""
    return np.ndim(t) == 0 and np.ndim(like) != 0 and t == 0.0


def einsum_swap_jvp(subscripts, operands, i, x, t_operands):
    """Tangent of ``einsum_swap(subscripts, operands, i, x)`` through the other operands
    (x's own tangent is the rule's other term): operand i is x, one other takes its tangent."""
    ops = list(operands)
    ops[i] = x
    total = 0.0
    for j, t in enumerate(t_operands):
        if j == i or _symbolic_zero(t, ops[j]):
            continue
        swapped = list(ops)
        swapped[j] = t
        total = total + np.einsum(subscripts, *swapped)
    return total


def einsum_vjp_operands_jvp(ct, v, subscripts, operands, t_operands, i):
    """Tangent of ``einsum_vjp_operands(ct, v, subscripts, operands, i)`` through the
    operands (operand i is ct there, so its own tangent does not enter)."""
    ops = list(operands)
    ops[i] = ct
    out = []
    for j in range(len(ops)):
        total = 0.0
        for k, t in enumerate(t_operands):
            if j == i or k in (i, j) or _symbolic_zero(t, ops[k]):
                continue
            swapped = list(ops)
            swapped[k] = t
            total = total + einsum_vjp(v, subscripts, swapped, j)
        out.append(total)
    return out


def einsum_vjp_operands(ct, v, subscripts, operands, i):
    """Adjoint of ``einsum_vjp(v, subscripts, operands, i)`` w.r.t. the operands: the
    cotangent ``ct`` of operand i's adjoint takes operand i's place."""
    ops = list(operands)
    ops[i] = ct
    return [0.0 if j == i else einsum_vjp(v, subscripts, ops, j) for j in range(len(ops))]


def solve_vjp_a_vjp(ct, v, m, a, which):
    """Adjoint of ``solve_vjp_a(v, m, a) = -solve(a.T, v) m.T`` w.r.t. v, m or a (2-D a)."""
    u = np.linalg.solve(a, np.matmul(ct, m))
    if which == "v":
        return -u
    gb = np.linalg.solve(np.swapaxes(a, -1, -2), v)
    if which == "m":
        return -np.matmul(np.swapaxes(ct, -1, -2), gb)
    return np.multiply.outer(gb, u) if np.ndim(gb) == 1 else np.matmul(gb, np.swapaxes(u, -1, -2))


# ---- vmap: rank-polymorphic helpers ------------------------------------------------------------
# Batched values carry the batch axis first (``nb`` leading batch axes when vmaps nest); a
# batched value of per-example rank 0 may be a plain scalar, the same in every lane.  These
# helpers do the shape bookkeeping generated code cannot write statically when a rank is
# unknown; the data itself flows through ordinary NumPy calls wherever possible.

def align(x, rank, nb=1):
    """``x`` with singleton axes inserted after its ``nb`` batch axes until its per-example
    rank is at least ``rank`` (0-d values broadcast as they are)."""
    nd = np.ndim(x)
    if nd == 0 or nd - nb >= rank:
        return x
    shape = np.shape(x)
    return np.reshape(x, shape[:nb] + (1,) * (rank - (nd - nb)) + shape[nb:])


def lane_axes(x, nb=1):
    """Every per-example axis of ``x`` (what ``axis=None`` means for one example)."""
    return tuple(range(nb, np.ndim(x)))


def batch_axis(axis, x, nb=1):
    """A per-example ``axis`` (None, an int or a tuple) on the batched ``x``."""
    if axis is None:
        return lane_axes(x, nb)
    if isinstance(axis, tuple):
        return tuple(batch_axis(a, x, nb) for a in axis)
    axis = int(axis)
    return axis + nb if axis >= 0 else axis


def batch_shape(n, shape):
    """``(n,) + shape`` for a shape given as an int or a sequence."""
    if isinstance(shape, (int, np.integer)):
        return (n, int(shape))
    return (n,) + tuple(shape)


def tape_record(record, shared, n):
    """A forward sweep's record (a tuple) stored on vmap's tape: the items flagged
    ``shared`` get a batch axis of size ``n``; None (nothing recorded yet) stays None."""
    if record is None:
        return None
    return tuple(batch_broadcast(v, n) if s else v for v, s in zip(record, shared))


def batch_broadcast(x, n, nb=0):
    """A shared value seen as per-lane: a read-only broadcast view with a batch axis of size
    ``n`` inserted at ``nb`` (scalars stay scalars: they broadcast as they are)."""
    if np.ndim(x) == 0:
        return x
    x = np.asarray(x)
    view = np.expand_dims(x, nb)
    return np.broadcast_to(view, view.shape[:nb] + (n,) + view.shape[nb + 1:])


def lanes_shape(x, n):
    """The shape that gives a possibly-scalar batched value its batch axis."""
    return (n,) if np.ndim(x) == 0 else np.shape(x)


def lane_ndim(x, nb=1):
    return max(np.ndim(x) - nb, 0)


def lane_size(x, nb=1):
    return int(np.prod(np.shape(x)[nb:], dtype=np.int64))


def lane_len(x, nb=1):
    if isinstance(x, (list, tuple)):
        return len(x)
    return np.shape(x)[nb]


def lane_transpose_axes(x, axes, nb=1):
    """np.transpose axes for the batched ``x`` from per-example ``axes`` (None reverses).
    A shared scalar (the zero cotangent of a path not taken) has none to permute."""
    if np.ndim(x) < nb:
        return None
    r = np.ndim(x) - nb
    per = tuple(range(r - 1, -1, -1)) if axes is None else tuple(a % r for a in axes)
    return tuple(range(nb)) + tuple(a + nb for a in per)


def lane_singletons(x, nb=1):
    """The per-example axes of length 1 (what np.squeeze removes), on the batched ``x``."""
    return tuple(i for i in range(nb, np.ndim(x)) if np.shape(x)[i] == 1)


def lane_ids(n, index, nb=1):
    """``np.arange(n)`` shaped to broadcast against a per-lane index array."""
    return np.reshape(np.arange(n), (n,) + (1,) * max(np.ndim(index) - nb, 0))


def dot_spec(x, y, bx, by, kind="dot"):
    """einsum subscripts of a batched np.dot/np.matmul (``bx``/``by``: operand batched?)."""
    rx, ry = np.ndim(x) - bx, np.ndim(y) - by
    letters = "abcdefghijklmnopqrstuvwxy"
    xs = letters[:rx]
    if kind == "dot":
        if ry == 1:
            ys, out = xs[-1], xs[:-1]
        else:
            ys = letters[rx:rx + ry - 2] + xs[-1] + letters[rx + ry - 2]
            out = xs[:-1] + ys[:-2] + ys[-1]
    elif rx == 1 and ry == 1:
        ys, out = xs, ""
    elif rx == 1:
        ys, out = "..." + xs + "k", "...k"
    elif ry == 1:
        xs = "..." + xs[-2:]
        ys, out = xs[-1], xs[:-1]
    else:
        xs, ys, out = "...ij", "...jk", "...ik"
    return f"{'z' if bx else ''}{xs},{'z' if by else ''}{ys}->z{out}"


def clip_index(i, x, axis):
    """An index into axis ``axis`` of ``x`` clamped into range (for lanes a mask discards)."""
    n = np.shape(x)[axis]
    return np.clip(i, -n, n - 1) if n else i


def where_defined(m, a, b):
    """``np.where(m, a, b)`` where either side may still be None (not yet set in any lane)."""
    if b is None:
        return a
    if a is None:
        return b
    return np.where(m, a, b)


def dyn_getitem(x, index):
    """``x[index]`` per lane, for a value that may be a tuple/list or a batched array."""
    if isinstance(x, (list, tuple)):
        return x[index]
    parts = index if isinstance(index, tuple) else (index,)
    return x[(slice(None),) + parts]


def lane(x, b):
    """Lane ``b`` of a batched value (scalars, and tuples/lists item by item)."""
    if isinstance(x, (list, tuple)):
        return type(x)(lane(v, b) for v in x)
    if np.ndim(x) == 0:
        return x
    return x[b]


def pop_like(tape, popped):
    """After a loop over the lanes ran a reverse sweep on per-lane copies of ``tape``: pop
    from ``tape`` the records each copy lost (all lanes pop alike)."""
    del tape[len(popped):]


def stack_lanes(items):
    """Stack per-lane results (tuples/lists item by item)."""
    first = items[0]
    if isinstance(first, (list, tuple)):
        return type(first)(stack_lanes([it[i] for it in items]) for i in range(len(first)))
    return np.stack(items)


def batch_out(x, n, axis=0, batched=1, nb=0):
    """An output of vmap: the batch axis (after ``nb`` outer batch axes) moved to ``axis``;
    shared values and lane-invariant scalars are broadcast to ``n`` lanes."""
    if isinstance(x, (list, tuple)):
        return type(x)(batch_out(v, n, axis, batched, nb) for v in x)
    x = np.asarray(x)
    if not batched or x.ndim == nb:
        x = np.expand_dims(x, nb)
        x = np.array(np.broadcast_to(x, x.shape[:nb] + (n,) + x.shape[nb + 1:]))
    if axis == 0:
        return x
    return np.moveaxis(x, nb, axis if axis < 0 else nb + axis)


def move_batch_axis(x, src, dst):
    """np.moveaxis over the leaves of a tuple/list argument."""
    if isinstance(x, (list, tuple)):
        return type(x)(move_batch_axis(v, src, dst) for v in x)
    return np.moveaxis(x, src, dst)


def leading_size(x, nb=0):
    """The batch size: the length of axis ``nb`` of the first array leaf."""
    if isinstance(x, (list, tuple)):
        for v in x:
            n = leading_size(v, nb)
            if n is not None:
                return n
        return None
    return np.shape(x)[nb] if np.ndim(x) > nb else None


def unbroadcast_lanes(v, shape, nb=1):
    """``unbroadcast`` per lane: sum ``v`` down to ``shape``, keeping its ``nb`` batch axes."""
    shape = tuple(shape)
    nd = np.ndim(v)
    if nd < nb:                       # a scalar standing for every lane
        return v if shape == () else np.broadcast_to(v, shape)
    lead = np.shape(v)[:nb]
    v = np.asarray(v)
    extra = nd - nb - len(shape)
    if extra < 0:                     # a smaller cotangent (a zero): broadcast it per lane
        v = np.reshape(v, lead + (1,) * -extra + v.shape[nb:])
        return np.broadcast_to(v, lead + shape)
    if extra > 0:
        v = np.sum(v, axis=tuple(range(nb, nb + extra)))
    axes = tuple(nb + i for i, s in enumerate(shape) if s == 1 and v.shape[nb + i] != 1)
    if axes:
        v = np.sum(v, axis=axes, keepdims=True)
    if v.shape != lead + shape:
        v = np.broadcast_to(v, lead + shape)
    return v


def broadcast_lanes(v, shape, nb=1):
    """``broadcast_like`` per lane: ``v`` (``nb`` batch axes) broadcast to ``shape``."""
    shape = tuple(shape)
    if np.ndim(v) < nb:
        return np.broadcast_to(v, shape)
    lead = np.shape(v)[:nb]
    v = align(v, len(shape), nb)
    return np.broadcast_to(v, lead + shape)


def array_vjp_lanes(g, x, xb=1):
    """``array_vjp`` on a batch: ``g`` carries the batch axis first (a list's cotangent is its
    stacked array, (B, n, ...)); ``x`` carries it too when ``xb``.  A list or tuple ``x`` gets
    a list of batched cotangents, one per item."""
    g = g if np.ndim(g) else np.reshape(g, (1,))          # a 0-d g stands for every lane
    if isinstance(x, (list, tuple)):
        g = broadcast_lanes(g, _list_lane_shape(x, xb))
        return [array_vjp_lanes(g[:, i], item, xb) for i, item in enumerate(x)]
    return cast_like(broadcast_lanes(g, np.shape(x)[1:] if xb else np.shape(x)), x)


def _list_lane_shape(x, xb):
    """The per-example shape of ``np.array(x)`` for a (nested) list of batched items: each
    leaf carries the batch axis first, so a nested list's batch axis is not x's axis 1."""
    if isinstance(x, (list, tuple)):
        return (len(x),) + np.broadcast_shapes(*[_list_lane_shape(i, xb) for i in x]) \
            if len(x) else (0,)
    return np.shape(x)[1:] if xb else np.shape(x)


def seed_lanes(ans):
    """The cotangent 1 of a scalar result, checked per lane (the same in every lane)."""
    if np.ndim(ans) > 1:
        from astjax.errors import DifferentiationError
        raise DifferentiationError(
            f"grad requires a scalar output, got an array of shape {np.shape(ans)[1:]} per "
            f"example; use vjp or jacrev for non-scalar outputs")
    return np.ones((), dtype=np.result_type(ans))[()]


def finalize_lanes(d, x, n, d_batched=1, x_batched=1):
    """``finalize`` per lane: the gradient in the per-example shape and dtype of ``x``."""
    shape = np.shape(x)[1:] if x_batched else np.shape(x)
    dtype = np.result_type(x) if not isinstance(x, (float, int)) else np.float64
    if dtype.kind not in "fc":
        dtype = np.float64
    d = np.asarray(d)
    if not d_batched or d.ndim == 0:
        d = np.broadcast_to(d, shape)
        d = np.broadcast_to(d[None], (n,) + shape)
    elif d.shape != (n,) + shape:
        d = np.broadcast_to(align(d, len(shape)), (n,) + shape)
    if d.dtype.kind == "c" and dtype.kind != "c":
        d = np.real(d)                  # a real input's gradient is the real part
    d = d.astype(dtype, copy=False)
    if not d.flags.writeable:
        d = d.copy()
    return d


def add_to_lanes(d, x, index, g, n, x_batched=1, g_batched=1, index_batched=0):
    """``add_to`` per lane: ``d[:, index] += g`` into a per-lane adjoint shaped like ``x``
    (with ``index_batched``, index arrays with a batch axis pick per-lane positions).
    Into a list, tuple or dict (a helper's packed results), the item's adjoint is the
    per-lane one: the container itself has no batch axis."""
    if isinstance(x, (list, tuple, dict)):
        if index_batched:
            from astjax.errors import AstjaxError
            raise AstjaxError("vmap of a gradient: a per-lane index into a list or tuple is not "
                              "supported; index it with a Python int")
        return add_to(d, x, index, g)
    shape = (n,) + (np.shape(x)[1:] if x_batched else np.shape(x))
    if not isinstance(d, np.ndarray) or d.shape != shape or not d.flags.writeable:
        base = d
        dtype = np.result_type(g, x) if _is_float(x) else np.result_type(g)
        d = np.zeros(shape, dtype=dtype)
        if np.ndim(base) != 0 or base != 0.0:
            d += base
    where = _lane_index(index, n, index_batched)
    if g_batched and np.ndim(g) > 0:
        g = align(g, d[where].ndim - 1)
    if _advanced(where):
        np.add.at(d, where, g)
    else:
        d[where] += g
    return d


def _lane_index(index, n, index_batched):
    """The index of each lane's own slots: ``(:, *index)``, or ``(arange(n), *index)`` when
    some index array carries the batch axis."""
    parts = index if isinstance(index, tuple) else (index,)
    per_lane = index_batched and any(np.ndim(p) > 0 and not isinstance(p, slice)
                                     for p in parts)
    if not per_lane:
        return (slice(None),) + parts
    rank = max(np.ndim(p) - 1 for p in parts if not isinstance(p, slice))
    return (np.reshape(np.arange(n), (n,) + (1,) * max(rank, 0)),) + parts


def take_slot_lanes(d, index, index_batched=0):
    """``take_slot`` per lane: (the adjoint at ``d[:, index]``, ``d`` with it zeroed); of a
    list, tuple or dict of per-lane adjoints, the item's."""
    if isinstance(d, (list, tuple, dict)):
        return take_slot(d if not isinstance(d, tuple) else list(d), index)
    where = _lane_index(index, np.shape(d)[0], index_batched)
    value = np.copy(d[where])
    d[where] = 0.0
    return value, d


def lane_shape(x, nb=1):
    """The per-example shape of ``x`` (its shape after ``nb`` batch axes)."""
    return np.shape(x)[nb:]


def sum_lanes(g, x, nb=0):
    """Adjoint of ``batch_broadcast``: the per-lane cotangents of a shared ``x`` summed."""
    if np.ndim(g) <= np.ndim(x):
        return g
    return np.sum(g, axis=nb)


def where_defined_vjp(m, g, other, first=True):
    """Cotangent of one side of ``where_defined(m, a, b)`` (the other side may be None)."""
    if other is None:
        return g
    return np.where(m, g, 0.0) if first else np.where(m, 0.0, g)


def dyn_getitem_vjp(g, x, index):
    """Adjoint of ``dyn_getitem``: g scattered back into zeros shaped like x."""
    if isinstance(x, (list, tuple)):
        out = [0.0] * len(x)
        out[index] = g
        return out
    parts = index if isinstance(index, tuple) else (index,)
    out = np.zeros(np.shape(x), dtype=np.result_type(g, x))
    np.add.at(out, (slice(None),) + parts, g)
    return out


def lane_vjp(g, x, b):
    """Adjoint of ``lane(x, b)``."""
    if isinstance(x, (list, tuple)):
        return type(x)(lane_vjp(gi, xi, b) for gi, xi in zip(g, x))
    if np.ndim(x) == 0:
        return g
    out = np.zeros(np.shape(x), dtype=np.result_type(g, x))
    out[b] = g
    return out


def batch_out_vjp(g, x, axis=0, batched=1, nb=0):
    """Adjoint of ``batch_out``."""
    if isinstance(x, (list, tuple)):
        return type(x)(batch_out_vjp(gi, xi, axis, batched, nb) for gi, xi in zip(g, x))
    if axis != 0:
        g = np.moveaxis(g, axis if axis < 0 else nb + axis, nb)
    if not batched or np.ndim(x) == nb:
        g = np.sum(g, axis=nb)
    return g


def unstack_lanes(g, items):
    """Adjoint of ``stack_lanes``: one cotangent per lane."""
    first = items[0]
    if isinstance(first, (list, tuple)):
        parts = [unstack_lanes(g[i], [it[i] for it in items]) for i in range(len(first))]
        return [type(first)(p[k] for p in parts) for k in range(len(items))]
    return [g[k] for k in range(len(items))]


def tangent_if_defined(x, t):
    """The tangent ``t`` of ``x``, or None where ``x`` itself is None (see where_defined)."""
    return None if x is None else t


def dict_keys(d):
    """The keys of a dict, in order, as a list (``for k, v in d.items()`` indexes it)."""
    return list(d)


# ---- in-place writers as pure functions ------------------------------------------------------
# ``np.copyto(out, v)`` and its kin write into their first operand.  Normalization rewrites
#     np.put(a, ind, v)   ->   written = _ax.put_into(a, ind, v); a[...] = written
# so every transform sees an item write (which it already understands) of a pure value.  Each
# ``*_into`` helper returns a new array: its first operand with NumPy's write applied.

def copyto_into(dst, src, casting="same_kind", where=True):
    out = np.array(dst, copy=True)
    np.copyto(out, src, casting=casting, where=where)
    return out


def fill_diagonal_into(a, val, wrap=False):
    out = np.array(a, copy=True)
    np.fill_diagonal(out, val, wrap=wrap)
    return out


def put_into(a, ind, v, mode="raise"):
    out = np.array(a, copy=True)
    np.put(out, ind, v, mode=mode)
    return out


def putmask_into(a, mask, values):
    out = np.array(a, copy=True)
    np.putmask(out, mask, values)
    return out


def place_into(arr, mask, vals):
    out = np.array(arr, copy=True)
    np.place(out, mask, vals)
    return out


def _written(kind, a, *args):
    """(positions, sources): the flat positions of ``a`` a writer sets and, for each, the
    flat index into its (cyclically repeated) values; a position written twice keeps only its
    last write."""
    size = int(np.size(a))
    if kind == "put":
        ind, mode = args
        pos = np.take(np.arange(size), np.ravel(ind).astype(np.intp), mode=mode)
        src = np.arange(pos.size)
    elif kind == "fill_diagonal":
        marker = np.zeros(np.shape(a), dtype=bool)
        np.fill_diagonal(marker, True, wrap=args[0])
        pos = np.flatnonzero(marker)
        src = np.arange(pos.size)
    elif kind == "putmask":
        pos = np.flatnonzero(np.broadcast_to(args[0], np.shape(a)))
        src = pos
    else:                                   # place
        pos = np.flatnonzero(args[0])
        src = np.arange(pos.size)
    last = np.zeros(size, dtype=np.intp) - 1
    last[pos] = np.arange(pos.size)          # for repeated positions the last index wins
    keep = last[pos] == np.arange(pos.size)
    return pos[keep], src[keep]


def _values_vjp(g, v, pos, src):
    """The cotangent of the values a writer took from ``v``: g at the written positions,
    summed back onto the value each was repeated from."""
    n = int(np.size(v))
    picked = np.ravel(np.asarray(g))[pos] if pos.size else np.zeros(0)
    out = np.bincount(src % max(n, 1), weights=picked, minlength=n) if n else np.zeros(0)
    out = out.reshape(np.shape(v))
    return out if np.ndim(v) else out[()]


def fill_diagonal_vjp_val(g, a, val, wrap=False):
    return _values_vjp(g, val, *_written("fill_diagonal", a, wrap))


def put_vjp_v(g, a, ind, v, mode="raise"):
    return _values_vjp(g, v, *_written("put", a, ind, mode))


def putmask_vjp_values(g, a, mask, values):
    return _values_vjp(g, values, *_written("putmask", a, mask))


def place_vjp_vals(g, arr, mask, vals):
    return _values_vjp(g, vals, *_written("place", arr, mask))


# ---- slopes of array constructors and of clip ------------------------------------------------

def arange_slope(ans, stop, which):
    """d np.arange(start, stop, step) / d start (ones) or / d step (0, 1, 2, ...); with one
    argument (``np.arange(stop)``) the values do not depend on it."""
    n = np.shape(ans)[0]
    if stop is None:
        return np.zeros(n)
    return np.ones(n) if which == "start" else np.arange(n, dtype=np.float64)


def linspace_weights(like, num, endpoint=True):
    """The weights w of np.linspace's points start + (stop - start) * w, shaped to broadcast
    against ``like`` (points along the first axis)."""
    num = int(num)
    div = (num - 1) if endpoint else num
    w = np.arange(num, dtype=np.float64) / div if div > 0 else np.zeros(num)
    return w.reshape((num,) + (1,) * max(np.ndim(like) - 1, 0))


def clip_from(x, a_min, a_max, which):
    """1.0 where np.clip's element comes from operand ``which`` (0: x, 1: a_min, 2: a_max)."""
    lo = x if a_min is None else np.maximum(x, a_min)
    hi_wins = np.zeros(np.shape(lo), dtype=bool) if a_max is None else lo > a_max
    lo_wins = np.zeros(np.shape(lo), dtype=bool) if a_min is None else \
        np.logical_and(np.logical_not(hi_wins), np.asarray(x) < a_min)
    mask = {0: np.logical_not(np.logical_or(hi_wins, lo_wins)), 1: lo_wins, 2: hi_wins}[which]
    return mask.astype(np.float64)


def float_part(g, like):
    """``g`` where ``like`` is floating (or complex), zero where it is an integer or bool
    array: a value cast to integers carries no derivative."""
    kind = np.asarray(like).dtype.kind
    return g if kind in "fc" else zeros_like(g)


def sum_lanes_vjp(c, v, x, nb=0):
    """Adjoint of ``sum_lanes(v, x, nb)``: the cotangent ``c`` of the sum, given back to each
    of v's lanes (or unchanged when v had no lanes to sum)."""
    if np.ndim(v) <= np.ndim(x):
        return c
    return batch_broadcast(c, np.shape(v)[nb], nb)


def einsum_jvp_vjp_operands(ct, subscripts, operands, tangents):
    """Cotangents of the operands of ``einsum_jvp`` (a list): the tangent of an einsum is a
    sum of einsums with one operand replaced by its tangent, each linear in the others."""
    out = []
    for j in range(len(operands)):
        total = np.zeros(np.shape(operands[j]))
        for i, t in enumerate(tangents):
            if i != j and t is not None:
                ops = list(operands)
                ops[i] = t
                total = total + einsum_vjp(ct, subscripts, ops, j)
        out.append(total)
    return out


def _shares(w, other):
    """Whether a write into ``w`` shows through ``other`` (the same object, a view, or a
    list, tuple or dict holding one)."""
    if w is other and isinstance(w, (np.ndarray, list, dict)):
        return True
    if isinstance(other, (list, tuple)):
        return any(_shares(w, item) for item in other)
    if isinstance(other, dict):
        return any(_shares(w, item) for item in other.values())
    return isinstance(w, np.ndarray) and isinstance(other, np.ndarray) and \
        np.shares_memory(w, other)


def check_no_alias(w, other, w_name, other_name, filename=None, lineno=None, text=None):
    """Before an in-place write into ``w``: refuse when ``other``, read again later, shares
    its memory (a view, or the same list or array), which the transforms do not follow."""
    if _shares(w, other):
        from astjax.errors import UnsupportedError
        raise UnsupportedError(
            f"this writes into '{w_name}', which shares memory with '{other_name}' (a view or "
            f"the same array), and '{other_name}' is read again: astjax does not follow writes "
            f"through aliases; write into a copy ('{w_name} = ....copy()') or into "
            f"'{other_name}' itself", where=(filename, lineno) if filename else None,
            construct=text)


def seq_item_lanes(d, i):
    """``seq_item`` on a batched adjoint: a list keeps its per-lane items; an adjoint array
    (batch axis first) has the item along its next axis."""
    if isinstance(d, np.ndarray) and d.ndim > 1 and isinstance(i, (int, np.integer)):
        return d[:, i]
    return seq_item(d, i)


def seq_put_lanes(v, d, i):
    """Adjoint of ``seq_item_lanes``."""
    if isinstance(d, np.ndarray) and d.ndim > 1:
        out = np.zeros(np.shape(d), dtype=np.result_type(v, np.float64))
        out[:, i] = v
        return out
    return seq_put(v, d, i)


# ---- products of all other elements (np.prod's derivatives, zeros included) ------------------

def _reduced_last(x, axis):
    """x with the reduced axes moved last and flattened into one, and how to undo it."""
    x = np.asarray(x)
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else tuple(sorted(_axes(axis, nd)))
    rest = tuple(a for a in range(nd) if a not in axes)
    perm = rest + axes
    moved = np.transpose(x, perm)
    lead = moved.shape[:len(rest)]
    flat = moved.reshape(lead + (-1,))

    def undo(y):
        return np.transpose(np.reshape(y, moved.shape), np.argsort(perm))
    return flat, undo


def _others(x, t, s, axis):
    """Hyper-dual exclusive products along the reduced axes: for each element i the product
    of all other elements x_j with the perturbations x_j + e1 t_j + e2 s_j, as its four
    parts (value, e1, e2, e1 e2)."""
    y, undo = _reduced_last(x, axis)
    dtype = np.result_type(y, np.float64) if y.dtype.kind not in "fc" else y.dtype
    ty = _reduced_last(np.broadcast_to(t, np.shape(x)), axis)[0] if t is not None else None
    sy = _reduced_last(np.broadcast_to(s, np.shape(x)), axis)[0] if s is not None else None
    n = y.shape[-1]
    zero = np.zeros(y.shape[:-1], dtype=dtype)

    def sweep(order):
        out = [np.zeros(y.shape, dtype=dtype) for _ in range(4)]
        acc = [zero + 1.0, zero.copy(), zero.copy(), zero.copy()]
        for k in order:
            for part, a in zip(out, acc):
                part[..., k] = a
            v, a1, a2, a12 = acc
            yk = y[..., k]
            tk = ty[..., k] if ty is not None else 0.0
            sk = sy[..., k] if sy is not None else 0.0
            acc = [v * yk, a1 * yk + v * tk, a2 * yk + v * sk, a12 * yk + a1 * sk + a2 * tk]
        return out
    lv, l1, l2, l12 = sweep(range(n))
    rv, r1, r2, r12 = sweep(range(n - 1, -1, -1))
    parts = (lv * rv, l1 * rv + lv * r1, l2 * rv + lv * r2,
             l12 * rv + l1 * r2 + l2 * r1 + lv * r12)
    return [undo(p) for p in parts]


def prod_others(x, axis=None):
    """For each element, the product of the other elements it is reduced with."""
    return _others(x, None, None, axis)[0]


def prod_others_jvp(x, t, axis=None):
    """The tangent of prod_others(x) along t (symmetric in its use: also its cotangent)."""
    return _others(x, t, None, axis)[1]


def prod_others_jvp2(x, t, s, axis=None):
    """The second mixed derivative of prod_others(x) along t and s."""
    return _others(x, t, s, axis)[3]
from astjax.rules.runtime_linalg import (  # noqa: E402,F401  (linalg helpers)
    eigh_packed, svd_packed, qr_packed, slogdet_sign, slogdet_logabs, tri_mask, diag_mask,
    undefined_where, pair_divide, sym_from_lower, fold_lower, is_tall, is_wide, real_like)
from astjax.rules.runtime_fft import (  # noqa: E402,F401  (fft and complex helpers)
    fit_like, fft_size, irfft_size, pad_to, irfft_weights, abs_slope,
    complex_only, permute_along, order_take, order_put)
