"""vmap against its oracle: a Python loop that calls the function once per example and
stacks the results.  One table of cases (every batching rule, in_axes/out_axes variants,
branches, data-dependent loops, helpers, early returns, item writes, composition with grad)
drives one parametrized check of values, shapes and dtypes."""
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

import astjax
from astjax import vmap
from astjax.batching.batcher import BatchingWarning

rng = np.random.default_rng(0)
B = 5
X = rng.standard_normal((B, 4))                 # a batch of vectors
X3 = rng.standard_normal((B, 3, 4))             # a batch of matrices
S = rng.standard_normal(B) * 2                  # a batch of scalars
V4 = rng.standard_normal(4)                     # shared
W = rng.standard_normal((3, 4))                 # shared
SPD = np.stack([np.eye(3) * (2 + i) + 0.1 for i in range(B)])
mat = rng.standard_normal((150, 100))           # the seeds' global matrix


# ---- the oracle ---------------------------------------------------------------------------------

def _take(a, ax, b):
    if isinstance(ax, dict):
        return {k: _take(a[k], ax.get(k), b) for k in a}
    if isinstance(ax, (tuple, list)):
        return type(a)(_take(x, s, b) for x, s in zip(a, ax))
    if ax is None:
        return a
    if isinstance(a, dict):
        return {k: _take(v, ax, b) for k, v in a.items()}
    if isinstance(a, tuple):
        return tuple(_take(x, ax, b) for x in a)
    return np.take(a, b, axis=ax)


def _size(a, ax):
    leaves = []

    def walk(a, ax):
        if isinstance(ax, (tuple, list)):
            for x, s in zip(a, ax):
                walk(x, s)
        elif ax is not None:
            if isinstance(a, (tuple, dict)):
                for x in (a.values() if isinstance(a, dict) else a):
                    walk(x, ax)
            else:
                leaves.append(np.shape(a)[ax])
    walk(a, ax)
    return leaves[0] if leaves else None


def loop_reference(f, args, in_axes=0, out_axes=0):
    axes = list(in_axes) if isinstance(in_axes, (tuple, list)) else [in_axes] * len(args)
    n = next(s for s in (_size(a, ax) for a, ax in zip(args, axes)) if s is not None)
    outs = [f(*[_take(a, ax, b) for a, ax in zip(args, axes)]) for b in range(n)]

    def stack(items):
        if isinstance(items[0], tuple):
            return tuple(stack([it[i] for it in items]) for i in range(len(items[0])))
        return np.stack([np.asarray(i) for i in items], axis=out_axes)
    return stack(outs)


def assert_same(got, want, path="result"):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]")
        return
    got = np.asarray(got)
    assert got.shape == want.shape, (path, got.shape, want.shape)
    assert got.dtype == want.dtype, (path, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8, err_msg=path)


# ---- the functions ------------------------------------------------------------------------------
# operators and elementwise functions (the shared elementwise rule), with broadcasting

def add_shared(x):
    return x + V4 - 1.0


def scalar_times_vector(s):
    return s * V4 + s


def elementwise_mix(x):
    return np.tanh(x) * np.exp(-x) + np.sin(x) ** 2 - x / 3.0 + np.sqrt(np.abs(x)) % 0.7


def comparisons_and_logic(x):
    a = np.logical_and(x > -0.5, x <= 1.0)
    return np.where(a | (x == 0.0), x, np.maximum(x, 0.0)) + np.isfinite(x) + np.sign(x)


def clip_round_floor(x):
    return np.clip(x, -0.5, 0.5) + np.round(x, 1) + np.floor(x) + x // 0.3


def not_(s):
    return not (s > 0.0)


def casts_float32(x):
    return np.float32(x) * 2.0 + np.asarray(x, dtype=np.float32)


def float32_math(x):
    return np.sum(np.exp(x) * 0.5 + 1.0) / 3.0


# reductions

def reduce_all(x):
    return np.sum(x ** 2)


def reduce_axes(x):
    return np.mean(x, axis=-1, keepdims=True) + np.max(x, axis=(0, 1)) + np.prod(x, axis=0)[0]


def var_std(x):
    return np.var(x, axis=0) + np.std(x, ddof=1) + np.min(x)


def cumsums(x):
    return np.cumsum(x), np.cumsum(x, axis=0)


def argmaxes(x):
    return np.argmax(x), np.argmin(x, axis=1)


def any_all(x):
    return np.any(x > 1.0) & np.all(x > -3.0, axis=0)


# shapes

def shape_facts(x):
    return np.zeros(x.shape) + x.ndim + x.size + len(x)


def transposes(x):
    return x.T, np.transpose(x, (1, 0)), np.swapaxes(x, 0, -1), np.moveaxis(x, 0, 1)


def reshapes(x):
    return x.reshape(-1), np.reshape(x, (2, 6)), np.ravel(x) * 2, np.reshape(x, x.shape)


def squeeze_expand(x):
    return np.squeeze(x[None, 0:1]), np.expand_dims(x, 0) + np.expand_dims(x, -1)


def broadcast_flip(x):
    return np.broadcast_to(x, (3, 4)), np.flip(x) - np.flip(x, 0)


def concat_stack(x):
    return np.concatenate([x, V4, x * 2]), np.stack([x, V4], axis=1), np.array([x, V4])


# products

def apply_matrix(v):
    return np.dot(mat, v)


def dots(v):
    return np.dot(W, v), np.dot(v, W.T), np.dot(v, v), np.dot(V4, v)


def matmuls(v):
    return W @ v, v @ W.T, np.matmul(v, v)


def matmul_stack(x):
    return x @ W.T, np.dot(x, V4), W @ x.T


def outer_einsum(x):
    return np.outer(x, V4), np.einsum("i,j->ij", x, x), np.einsum("ij,kj->ik", W, W) * x[0]


def linear_solve(a, y):
    return np.linalg.solve(a, y), np.linalg.inv(a)


# indexing and item writes

def indexing(x):
    return x[1], x[1:3], x[:, 0], x[None], x[..., 0], x[[0, 2]], x[-1, ::2]


def gather(x, i):
    return x[i] + W[i % 3, 0]


def item_writes(x):
    out = np.zeros(4)
    out[1:3] = x[0:2]
    out[0] = np.sum(x)
    return out


def scatter(x, i):
    y = np.zeros(5)
    y[i] = x[0]
    return y


def creation(x):
    return np.full((2, 4), np.sum(x)) + np.ones(4) + np.zeros_like(x) + np.arange(4.0) + \
        np.eye(4)[0] + np.full(3, 2.0)[0]


# control flow on per-example values

def relu_branch(x):
    if x > 0:
        y = x
    else:
        y = 0.1 * x
    return y


def nested_branches(x):
    if x > 0:
        if x > 1:
            y = 3.0
        else:
            y = 2.0
    else:
        y = 1.0
    return y * x


def ifexp_and_or(x):
    a = x if x > 0 else -x
    return a if (x > 1 or x < -1) and a > 0.5 else 0.0


def branch_on_array(x):
    s = np.sum(x)
    if s > 0:
        x = x * 2
        z = x[0]
    else:
        z = -1.0
    return x + z


def early_returns(x):
    if x > 1.0:
        return x * 2
    y = x + 1
    if y < 0:
        return -y
    return y


def newton_sqrt(a):
    x = a
    i = 0
    while np.abs(x * x - a) > 1e-9 and i < 50:
        x = 0.5 * (x + a / x)
        i = i + 1
    return x, i


def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps = steps + 1
    return steps


def scan_until(x, n):
    i = 0
    while i < n and x[i] > -0.5:       # x[i] is guarded: lanes that stopped never read it
        i = i + 1
    return i


def break_in_for(x):
    s = 0.0
    for i in range(4):
        if x[i] > 0.5:
            break
        s = s + x[i]
    return s


def return_in_for(x):
    for i in range(4):
        if x[i] > 0.5:
            return x[i] * 10
    return -1.0


def per_lane_range(n):
    s = 0
    for i in range(n):
        s = s + i * i
    return s


def per_lane_trip_count(n):
    s = 1.0
    for i in range(n):
        s = s * 1.5
    return s


def accumulate_float32(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i]
    return s


def list_of_rows(x):
    rows = []
    for i in range(3):
        rows.append(x[i] * i)
    return np.stack(rows), rows[0] + rows[-1]


def set_inside_loop_read_after(x):
    last = -1.0
    i = 0
    while i < 4 and x[i] < 0.5:
        last = x[i] * 2
        i = i + 1
    return last, i


def first_set_in_a_branch_of_a_loop(x):
    for i in range(4):
        if x[i] > 0:
            v = x[i]
    return v


def loop_variable_after_break(x):
    for i in range(4):
        if x[i] > 0.8:
            break
    return i


def break_in_nested_loops(x):
    total = 0.0
    for i in range(3):
        for j in range(3):
            if x[i] * x[j] > 1.0:
                break
            total = total + x[i] * x[j]
    return total


def branches_in_a_while(x):
    i = 0
    acc = 0.0
    while i < 4:
        if x[i] > 0:
            if x[i] > 1:
                acc = acc + 2.0
            else:
                acc = acc + 1.0
        else:
            acc = acc - x[i]
        i = i + 1
        if acc > 3.0:
            break
    return acc


def return_in_while(x):
    i = 0
    while i < 4:
        if x[i] > 1.0:
            return i * 10
        i = i + 1
    return -1


def shared_outputs(x):
    return x * 2, 7.0, np.ones(2)


# helpers (the user's own functions), tuple and dict arguments

def _square_if_positive(z):
    if np.sum(z) > 0:
        return z * z
    return -z


def calls_helper(x, w):
    return _square_if_positive(np.dot(w, x))


def two_outputs(x, w):
    return np.dot(w, x), x * 2


def tuple_arg(p, x):
    a, b = p
    return a * x + b


def dict_arg(p, x):
    return p["w"] @ x + p["b"]


def loss(w, x, y):
    pred = np.tanh(np.dot(w, x))
    return np.sum((pred - y) ** 2)


def poly_branch(x):
    r = 1.0
    for i in range(3):
        r = r * x
    if x < 0.0:
        r = -r
    return r


def loop_sum(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sin(x[i]) * x[i]
    return s


def halve_until_small(x):
    y = x
    while np.sum(y * y) > 1.0:
        y = y * 0.5
    return np.sum(y)


def write_items(x):
    out = np.zeros(3)
    for i in range(3):
        out[i] = x[i] * x[i + 1]
    return np.sum(out)


# ---- the table ----------------------------------------------------------------------------------

@dataclass
class Case:
    fn: object
    args: tuple
    in_axes: object = 0
    out_axes: int = 0
    id: str = ""
    loops: bool = False           # expected to fall back to a loop over the batch somewhere
    kw: dict = field(default_factory=dict)


IDX = np.array([0, 3, 1, 2, 0])
COUNTS = np.array([3, 0, 5, 1, 2])

CASES = [
    # elementwise operators and functions, broadcasting against shared arrays
    Case(add_shared, (X,)),
    Case(scalar_times_vector, (S,)),
    Case(elementwise_mix, (X,)),
    Case(comparisons_and_logic, (X,)),
    Case(clip_round_floor, (X,)),
    Case(not_, (S,)),
    Case(casts_float32, (X,)),
    Case(float32_math, (X.astype(np.float32),), id="float32_in_float32_out"),
    # reductions
    Case(reduce_all, (np.arange(100.0).reshape(10, 10),), id="seed_square"),
    Case(reduce_axes, (X3,)),
    Case(var_std, (X3,)),
    Case(cumsums, (X3,)),
    Case(argmaxes, (X3,)),
    Case(any_all, (X3,)),
    # shapes
    Case(shape_facts, (X3,)),
    Case(transposes, (X3,)),
    Case(reshapes, (X3,)),
    Case(squeeze_expand, (X,)),
    Case(broadcast_flip, (X,)),
    Case(concat_stack, (X,)),
    # products
    Case(apply_matrix, (rng.standard_normal((B, 100)),), id="seed_apply_matrix"),
    Case(dots, (X,)),
    Case(matmuls, (X,)),
    Case(matmul_stack, (X3,)),
    Case(outer_einsum, (X,)),
    Case(linear_solve, (SPD, X[:, :3])),
    Case(linear_solve, (SPD[0], X[:, :3]), in_axes=(None, 0), id="solve_shared_matrix"),
    Case(linear_solve, (SPD, X[0, :3]), in_axes=(0, None), id="solve_shared_rhs"),
    # indexing and item writes
    Case(indexing, (X3,)),
    Case(gather, (X, IDX)),
    Case(item_writes, (X,)),
    Case(scatter, (X, IDX)),
    Case(creation, (X,)),
    # control flow
    Case(relu_branch, (S,)),
    Case(nested_branches, (S,)),
    Case(ifexp_and_or, (S,)),
    Case(branch_on_array, (X,)),
    Case(early_returns, (S,)),
    Case(newton_sqrt, (np.abs(S) + 0.5,)),
    Case(collatz_steps, (np.array([1, 6, 7, 27, 3]),)),
    Case(scan_until, (X, 4), in_axes=(0, None)),
    Case(break_in_for, (X,)),
    Case(return_in_for, (X,)),
    Case(per_lane_range, (COUNTS,)),
    Case(per_lane_trip_count, (COUNTS,)),
    Case(accumulate_float32, (X.astype(np.float32),)),
    Case(list_of_rows, (X3,)),
    Case(set_inside_loop_read_after, (X,)),
    Case(first_set_in_a_branch_of_a_loop, (np.abs(X),)),
    Case(loop_variable_after_break, (X,)),
    Case(break_in_nested_loops, (X,)),
    Case(branches_in_a_while, (X,)),
    Case(return_in_while, (X,)),
    Case(shared_outputs, (X,)),
    # helpers, in_axes / out_axes, pytrees
    Case(calls_helper, (X, W), in_axes=(0, None)),
    Case(two_outputs, (X, W), in_axes=(0, None)),
    Case(two_outputs, (X.T.copy(), W), in_axes=(1, None), out_axes=1, id="in_axes_1_out_axes_1"),
    Case(two_outputs, (X, W), in_axes=(-2, None), out_axes=-1, id="negative_axes"),
    Case(tuple_arg, ((S, 2.0), X), in_axes=((0, None), 0)),
    Case(dict_arg, ({"w": W, "b": np.ones(3)}, X), in_axes=(None, 0)),
    Case(loss, (W, X, X[:, :3]), in_axes=(None, 0, 0), id="shared_weights"),
    # composition: per-example gradients (the generated gradient code is batched)
    Case(astjax.grad(loss), (W, X, X[:, :3]), in_axes=(None, 0, 0), id="per_example_grad"),
    Case(astjax.grad(poly_branch), (S,), id="grad_with_branch"),
    Case(astjax.grad(loop_sum), (X,), id="grad_with_loop"),
    Case(astjax.grad(halve_until_small), (X * 3,), id="grad_with_while"),
    Case(astjax.grad(write_items), (X,), id="grad_with_item_writes"),
]


def _case_id(c):
    return c.id or c.fn.__name__


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_vmap_matches_a_loop(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error" if not case.loops else "ignore", BatchingWarning)
        batched = vmap(case.fn, in_axes=case.in_axes, out_axes=case.out_axes)
        got = batched(*case.args)
    want = loop_reference(case.fn, case.args, case.in_axes, case.out_axes)
    assert_same(got, want)
    assert not re.search(r"for \w+ in range\(B\)", astjax.source(batched))   # no hidden loop


# ---- the seeds ----------------------------------------------------------------------------------

def square(x):
    return np.sum(x ** 2)


def test_seed_square():
    got = vmap(square)(np.arange(100).reshape(10, 10))
    assert got.tolist() == [285, 2185, 6085, 11985, 19885, 29785, 41685, 55585, 71485, 89385]
    text = astjax.source(vmap(square))
    assert "np.sum(pow1, axis=(1,))" in text


def test_seed_apply_matrix_is_one_matrix_product():
    batched_x = rng.standard_normal((10, 100))
    f = vmap(apply_matrix)
    np.testing.assert_allclose(f(batched_x), batched_x @ mat.T, rtol=1e-12)
    text = astjax.source(f)
    assert "np.dot(v, " in text and "for " not in text


# ---- control flow becomes masks -----------------------------------------------------------------

def test_branch_becomes_a_select():
    f = vmap(relu_branch)
    f(S)
    code = [line.strip() for line in astjax.source(f).splitlines()
            if not line.strip().startswith("#")]
    assert "y = np.where(gt1, x, y_2)" in code            # (y_1 = x, propagated)
    assert not any(line.startswith("if ") for line in code)


def test_while_runs_until_every_lane_is_done():
    f = vmap(collatz_steps)
    assert f(np.array([1, 6, 7, 27, 3])).tolist() == [0, 8, 16, 111, 7]
    text = astjax.source(f)
    assert "while any" in text and "np.where(live" in text


def test_shared_trip_count_stays_a_plain_loop():
    f = vmap(accumulate_float32)
    f(X)
    text = astjax.source(f)
    assert "for i in range(" in text and "live" not in text


# ---- composition --------------------------------------------------------------------------------

def test_nested_vmap():
    def f(x):
        return np.sum(np.sin(x) * x)
    x = rng.standard_normal((4, 5, 3))
    got = vmap(vmap(f))(x)
    np.testing.assert_allclose(got, [[f(x[i, j]) for j in range(5)] for i in range(4)])
    got = vmap(vmap(f, in_axes=1), in_axes=2)(np.moveaxis(x, 2, 0).copy())
    want = loop_reference(lambda xi: loop_reference(f, (xi,), 1), (np.moveaxis(x, 2, 0),), 2)
    np.testing.assert_allclose(got, want)


def per_example_loss(w, x, y):
    pred = np.tanh(np.dot(w, x))
    return np.sum((pred - y) ** 2)


batched_loss = vmap(per_example_loss, in_axes=(None, 0, 0))
XS, YS = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))


def mean_loss(w):
    return np.mean(batched_loss(w, XS, YS))


def test_grad_of_vmap():
    got = astjax.grad(mean_loss)(W)
    want = np.mean([astjax.grad(per_example_loss)(W, XS[i], YS[i]) for i in range(6)], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_per_example_gradients_are_batched_code():
    f = vmap(astjax.grad(per_example_loss), in_axes=(None, 0, 0))
    got = f(W, XS, YS)
    want = np.stack([astjax.grad(per_example_loss)(W, XS[i], YS[i]) for i in range(6)])
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert "for " not in astjax.source(f)


def leaky(x, a):
    if np.sum(x) > 0:
        return x * a
    return x * 0.1


batched_leaky = vmap(leaky, in_axes=(0, None))


def total_leaky(a):
    return np.sum(batched_leaky(XS, a))


def halving_steps(x):
    i = 0
    while x > 1.0:
        x = x / 2
        i = i + 1
    return i


def test_grad_through_batched_control_flow():
    # the generated masks and selects are NumPy source that reverse mode differentiates
    got = astjax.grad(total_leaky)(2.0)
    assert np.isclose(got, sum(np.sum(x) for x in XS if np.sum(x) > 0))


def test_nested_vmap_of_a_while_loop():
    a = np.abs(rng.standard_normal((3, 4))) * 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchingWarning)
        got = vmap(vmap(halving_steps))(a)
    assert got.tolist() == [[halving_steps(v) for v in row] for row in a]


def test_vmap_of_jacobians():
    def f(x):
        return np.sin(x) * x[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchingWarning)    # jacfwd's basis helper loops
        got = vmap(astjax.jacfwd(f))(X)
        rev = vmap(astjax.jacrev(f))(X)
    want = np.stack([astjax.jacfwd(f)(x) for x in X])
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(rev, want)


def test_source_before_any_call_is_the_rank_polymorphic_version():
    text = astjax.source(vmap(per_example_loss, in_axes=(None, 0, 0)))
    assert "_ax.lane_axes" in text or "_ax.dot_spec" in text


# ---- what cannot be batched loops over the batch, and says so -----------------------------------

def grows_a_list_per_lane(x):
    out = []
    for i in range(3):
        if x[i] > 0:
            out.append(x[i])
    return len(out)


def arange_of_per_lane_length(n):
    return np.sum(np.arange(n))


def test_fallback_warns_and_stays_right():
    xs = rng.standard_normal((6, 4))
    with pytest.warns(BatchingWarning, match="list"):
        f = vmap(grows_a_list_per_lane)
        got = f(xs)
    assert got.tolist() == [grows_a_list_per_lane(x) for x in xs]
    assert "vmap loops over the batch" in astjax.source(f)
    n = np.array([3, 4, 5])
    with pytest.warns(BatchingWarning, match="np.arange"):
        got = vmap(arange_of_per_lane_length)(n)
    assert got.tolist() == [3, 6, 10]


# ---- errors, as in JAX --------------------------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match="at least one"):
        vmap(square, in_axes=None)(X)
    with pytest.raises(ValueError, match="inconsistent sizes"):
        vmap(two_outputs, in_axes=(0, 0))(X, W)
    with pytest.raises(ValueError, match="out of range"):
        vmap(square, in_axes=3)(X)
    with pytest.raises(TypeError):
        vmap(square, in_axes="x")


def test_every_primitive_has_a_batching_rule():
    from astjax.batching.rules import RULES, rule_for
    from astjax.rules.registry import REGISTRY
    for prim in REGISTRY.values():
        # a named rule, or a family's own function (np.linalg's matrix rules)
        assert rule_for(prim) in RULES.values() or callable(prim.batch), prim.key


# ---- per-example gradients of helpers that branch on an option ----------------------------------

def vector_norm(x, ord=None):
    nd = np.ndim(x)
    if ord is None:
        return np.sqrt(np.sum(x * x))
    if nd == 1:
        return np.sum(np.abs(x) ** ord) ** (1.0 / ord)
    return np.max(x)


def two_norms(x):
    return vector_norm(x) + vector_norm(x, 3)


def test_vmap_grad_of_a_helper_returning_early_on_an_option():
    # the reverse sweep branches on `ord is None` read back from its tape, which also holds
    # the values each early return overwrote: the branch stays an `if` (it was if-converted,
    # popping the tape on every path: IndexError)
    xs = np.random.default_rng(3).normal(size=(3, 4))
    loop = np.stack([astjax.grad(two_norms)(x) for x in xs])
    np.testing.assert_allclose(vmap(astjax.grad(two_norms))(xs), loop, rtol=1e-12)
    h = 1e-6
    fd = [(two_norms(xs[0] + h * e) - two_norms(xs[0] - h * e)) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(loop[0], fd, rtol=1e-6)


def item_then_write(x):
    v = x * 2.0
    s = v[0]                      # a NumPy scalar: a copy, not a view of v
    v[0] = 5.0
    return s + v


def item_write_then_while(x):
    v = 1.0 - x * 0.5
    v[0] *= np.mean(x)            # reads v[0], then overwrites it
    k = 0
    while k < 2:
        v = 0.5 * v + x
        k += 1
    return np.sum(v)


def test_an_item_read_is_a_copy_per_example():
    # across the batch v[:, 0] is a view of v: the write after it changed it (vmap refused a
    # write NumPy allows; vmap of grad read the overwritten item, a silent wrong gradient)
    X = np.random.default_rng(1).normal(size=(3, 4))
    np.testing.assert_allclose(vmap(item_then_write)(X), [item_then_write(r) for r in X])
    g = astjax.grad(item_write_then_while)
    np.testing.assert_allclose(vmap(g)(X), [g(r) for r in X], rtol=1e-12)
    np.testing.assert_allclose(g(X[0]), [numerical_grad_1(item_write_then_while, X[0], i)
                                         for i in range(4)], rtol=1e-6)


def numerical_grad_1(f, x, i, h=1e-6):
    e = np.zeros_like(x)
    e[i] = h
    return (f(x + e) - f(x - e)) / (2 * h)


# ---- vmap(grad) of loops whose lanes leave at different times ----------------------------

def _sgd_with_skips(w):
    # a shared `continue` (every lane skips odd epochs) inside a loop whose `break` is per lane
    for epoch in range(6):
        if epoch % 2 == 1:
            continue
        w = w - 0.3 * np.sin(w)
        if np.sum(w ** 2) < 0.5:
            break
    return np.sum(w ** 3)


def test_vmap_grad_of_a_shared_continue_in_a_loop_with_a_per_lane_break():
    ws = np.array([[0.1, 0.2], [2.0, 1.5], [0.5, 0.4]])      # lanes break after 1, 3, 2 trips
    g = astjax.grad(_sgd_with_skips)
    np.testing.assert_allclose(astjax.vmap(g)(ws), [g(w) for w in ws], rtol=1e-12)


def _horner(p):
    xs = np.linspace(-1.0, 1.0, 5)
    acc = np.zeros_like(xs)
    for c in reversed(list(p)):
        acc = acc * xs + c
    return np.sum(acc ** 2)


def test_vmap_grad_of_list_of_a_per_lane_vector():
    ps = np.arange(12.0).reshape(3, 4) / 10.0
    g = astjax.grad(_horner)
    np.testing.assert_allclose(astjax.vmap(g)(ps), [g(p) for p in ps], rtol=1e-12)
    np.testing.assert_allclose(astjax.vmap(_horner)(ps), [_horner(p) for p in ps], rtol=1e-12)


SMOOTH = True


def _transpose_on_a_path_not_taken(x):
    # found by tools/fuzz_programs.py (vmap_grad, seed 7): the transpose's cotangent is the
    # shared zero 0.0 on the path taken, and its lane axes were computed for a matrix
    xt = x.T
    if SMOOTH:
        out = np.sum(np.sin(x))
    else:
        xt = 0.5 * xt + xt @ x
        out = np.sum(xt)
    return out


def test_vmap_grad_of_a_transpose_read_only_on_a_path_not_taken():
    xs = np.linspace(0.1, 1.2, 12).reshape(2, 3, 2)
    g = astjax.grad(_transpose_on_a_path_not_taken)
    np.testing.assert_allclose(astjax.vmap(g)(xs), np.cos(xs), rtol=1e-12)


def test_vmap_if_on_a_list_of_per_lane_items():
    # a list's truth is its length, the same in every lane (was an internal AttributeError)
    def pair_products(x):
        parts = []
        for i in range(x.shape[0] - 1):
            parts.append(x[i] * x[i + 1])
        total = sum(parts) if parts else 0.0
        if not parts:
            total = -1.0
        return total

    batch = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    np.testing.assert_allclose(astjax.vmap(pair_products)(batch),
                               [pair_products(row) for row in batch])
    np.testing.assert_allclose(astjax.vmap(astjax.grad(pair_products))(batch),
                               [astjax.grad(pair_products)(row) for row in batch])
