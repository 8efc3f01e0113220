"""Small NumPy helpers that generated code calls as ``_ax.<name>``.

They keep generated source short where a rule needs a few lines of shape bookkeeping
(un-broadcasting, re-expanding a reduced axis).  Each one that generated code may call is
itself a primitive with rules in ``rules.py``, so generated code can be transformed again.
"""
import numpy as np


# ---- shapes ----------------------------------------------------------------------------------

def unbroadcast(g, x):
    """Sum ``g`` down to the shape of ``x`` (the adjoint of NumPy broadcasting)."""
    shape = np.shape(x)
    gshape = np.shape(g)
    if gshape == shape:
        return g
    g = np.asarray(g)
    extra = g.ndim - len(shape)
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
    if not keepdims and axis is not None:
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
    """``g`` in the shape of ``x``."""
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
    return cast_like(g, x)


def finalize(d, x):
    """The gradient w.r.t. an input ``x``: x's shape and dtype (a Python float gives a float).
    A pytree ``x`` (tuple, list, dict) gets a gradient of the same structure."""
    if isinstance(x, (tuple, list, dict)):
        from .pytrees import flatten, flatten_like, unflatten
        xs, tree = flatten(x)
        return unflatten(tree, [finalize(di, xi) for di, xi in zip(flatten_like(d, tree), xs)])
    if isinstance(x, (float, int)) and not isinstance(x, bool):
        return float(np.sum(d)) if np.ndim(d) else float(d)
    d = np.asarray(d)
    shape = np.shape(x)
    dtype = np.result_type(x)
    if d.shape != shape:
        d = np.broadcast_to(d, shape)
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
    return 0.0


# ---- linear algebra ------------------------------------------------------------------------

def matmul_vjp_a(g, a, b):
    """Cotangent of ``a`` in ``a @ b`` (1-D operands as NumPy treats them)."""
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
    inputs, _, output = subscripts.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if not _:
        output = "".join(sorted(c for c in set(inputs) if c.isalpha() and inputs.count(c) == 1))
    others = [t for j, t in enumerate(terms) if j != i]
    ops = [o for j, o in enumerate(operands) if j != i]
    target = terms[i]
    # letters of operand i that appear nowhere else are summed out: broadcast them back
    present = set(output) | set("".join(others))
    kept = "".join(c for c in target if c in present)
    spec = ",".join([output] + others) + "->" + kept
    partial = np.einsum(spec, g, *ops)
    if kept != target:
        shape = np.shape(operands[i])
        expand = [target.index(c) for c in target if c not in kept]
        partial = np.einsum(kept + "->" + "".join(c for c in target if c in kept), partial)
        partial = np.broadcast_to(np.expand_dims(partial, tuple(expand)), shape)
    if len(set(target)) != len(target):
        raise NotImplementedError("einsum with a repeated index in one operand (a trace)")
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
        from .errors import DifferentiationError
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
            out[k] = out[k] + ck if k in out else ck
        return out
    if not isinstance(c, (list, tuple)):
        return d if np.ndim(c) == 0 and c == 0.0 else d + c
    if not isinstance(d, (list, tuple)):
        return list(c)
    out = list(d) + [0.0] * max(0, len(c) - len(d))
    for i, ci in enumerate(c):
        out[i] = out[i] + ci
    return out


def add_to(d, x, index, g):
    """``d[index] += g`` for the adjoint of ``x[index]``; ``d`` starts as 0.0 and is owned
    by the generated code, so it is updated in place after its first allocation."""
    if isinstance(x, dict):
        d = dict(d) if isinstance(d, dict) else {}
        d[index] = d[index] + g if index in d else g
        return d
    if isinstance(x, (list, tuple)):
        d = list(d) if isinstance(d, (list, tuple)) else [0.0] * len(x)
        d[index] = d[index] + g
        return d
    if not isinstance(d, np.ndarray) or d.shape != np.shape(x):
        base = d
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
        from .errors import DifferentiationError
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
    from .pytrees import flatten, unflatten
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
    from .pytrees import flatten, flatten_like, unflatten
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


def _block(items, oshape, xshape, axis, o, xi):
    dtype = np.result_type(*items) if items else np.result_type(float, o)
    if items:
        arr = np.stack(items, axis=axis).astype(dtype, copy=False)
    else:
        arr = np.zeros(oshape + xshape, dtype=dtype)
    arr = np.reshape(arr, oshape + xshape)
    if arr.ndim == 0 and _python_scalar(o) and _python_scalar(xi):
        return float(arr)
    return arr


def _python_scalar(v):
    return isinstance(v, (float, int)) and not isinstance(v, bool)


def jacobian_vjp(g, parts, out, x, mode):
    """Adjoint of :func:`jacobian`: the cotangent of each part (the inverse reshuffle)."""
    from .pytrees import flatten, flatten_like, unflatten
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
    from .pytrees import Tree
    if otree.kind == "leaf":
        return xtree
    return Tree(otree.kind, tuple(_nested_tree(c, xtree) for c in otree.children), otree.keys,
                otree.cls)


def seq_put(v, d, i):
    """A cotangent shaped like the sequence (or dict) ``d`` holding ``v`` at ``i`` and 0.0
    elsewhere (the adjoint of seq_item)."""
    if isinstance(d, dict):
        return {i: v}
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
