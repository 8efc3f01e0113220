"""Jacobians, Hessians and compositions of transformations to any order.

Oracles: the seeds' known values, central finite differences of gradients, and the other
composition orders (forward-over-reverse, reverse-over-reverse, reverse-over-forward must
agree).  Every level is generated source, transformed again.
"""
import numpy as np
import pytest

import astjax
from checks import float_argnums
from grad_corpus import CORPUS


# ---- the seeds -------------------------------------------------------------------------------------

def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def rectified_cube(x):
    """|x| ** 3, written with a loop and a branch."""
    r = 1.0
    for i in range(3):
        r = r * x
    if x < 0.0:
        r = -r
    return r


def mapping(v):
    return np.array([v[0] * v[0], v[1] * v[2]])


def test_third_derivative_of_sum_logistic():
    d3 = astjax.grad(astjax.grad(astjax.grad(sum_logistic)))
    np.testing.assert_allclose(d3(1.0), -0.0353256, atol=1e-7)


@pytest.mark.parametrize("x", [0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
def test_third_derivative_of_rectified_cube(x):
    d3 = astjax.grad(astjax.grad(astjax.grad(rectified_cube)))
    assert d3(x) == pytest.approx(6.0)          # at 0 the branch x < 0.0 is not taken, as in JAX
    if x > 0:
        assert d3(-x) == pytest.approx(-6.0)


def test_jacfwd_of_mapping():
    np.testing.assert_allclose(astjax.jacfwd(mapping)(np.array([4.0, 5.0, 9.0])),
                               [[8, 0, 0], [0, 9, 5]])


def test_jacobians_of_numpy_functions():
    x = np.arange(3.0)
    np.testing.assert_allclose(astjax.jacfwd(np.exp)(x), np.diag(np.exp(x)))
    np.testing.assert_allclose(astjax.jacrev(np.sin)(x), np.diag(np.cos(x)))
    np.testing.assert_allclose(astjax.hessian(np.sum)(x), np.zeros((3, 3)))
    np.testing.assert_allclose(astjax.grad(astjax.jacfwd(np.tanh))(0.3),
                               -2 * np.tanh(0.3) / np.cosh(0.3) ** 2)


def test_hessian_of_sum_logistic():
    h = astjax.hessian(sum_logistic)(np.arange(3.0))
    np.testing.assert_allclose(np.diag(h), [0.0, -0.09085776, -0.07996249], atol=1e-8)
    np.testing.assert_allclose(h - np.diag(np.diag(h)), 0.0)


# ---- shapes as in JAX: output shape + input shape ----------------------------------------------

def vector_valued(x):
    return np.sin(x)[:, None] * x[None, :2]          # (n, 2)


def test_jacobian_and_hessian_shapes():
    x = np.linspace(0.1, 0.9, 5)
    assert astjax.jacfwd(vector_valued)(x).shape == (5, 2, 5)
    assert astjax.jacrev(vector_valued)(x).shape == (5, 2, 5)
    assert astjax.hessian(vector_valued)(x).shape == (5, 2, 5, 5)
    np.testing.assert_allclose(astjax.jacfwd(vector_valued)(x), astjax.jacrev(vector_valued)(x))
    assert np.shape(astjax.jacfwd(rectified_cube)(2.0)) == ()


def two_args(x, y):
    return np.sum(x ** 2 * y) + np.prod(y)


def test_argnums_tuples():
    x, y = np.array([1.0, 2.0]), np.array([0.5, 1.5])
    jx, jy = astjax.jacrev(two_args, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(jx, 2 * x * y)
    np.testing.assert_allclose(jy, x ** 2 + np.prod(y) / y)
    (hxx, hxy), (hyx, hyy) = astjax.hessian(two_args, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(hxy, np.diag(2 * x))
    np.testing.assert_allclose(hyx, hxy.T)
    np.testing.assert_allclose(hyy, [[0.0, 1.0], [1.0, 0.0]])
    fx, fy = astjax.jacfwd(two_args, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(fx, jx)
    np.testing.assert_allclose(fy, jy)


def test_float32_stays_float32():
    x = np.linspace(-1, 1, 4, dtype=np.float32)
    assert astjax.hessian(sum_logistic)(x).dtype == np.float32
    assert astjax.jacfwd(np.tanh)(x).dtype == np.float32
    assert astjax.jacrev(mapping)(x).dtype == np.float32


def test_layout_matches_jax_for_pytrees():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def f_np(p):
        return {"a": np.sin(p["w"]) * p["s"], "b": np.sum(p["w"])}

    def f_jax(p):
        return {"a": jnp.sin(p["w"]) * p["s"], "b": jnp.sum(p["w"])}
    p = {"w": np.arange(3.0), "s": 2.0}
    ours = astjax.jacfwd(f_np)(p)
    theirs = jax.jacfwd(f_jax)({"w": jnp.arange(3.0), "s": 2.0})
    for key in ("a", "b"):
        for inner in ("w", "s"):
            np.testing.assert_allclose(ours[key][inner], np.asarray(theirs[key][inner]),
                                       rtol=1e-6)
    rev = astjax.jacrev(f_np)(p)
    np.testing.assert_allclose(rev["a"]["w"], ours["a"]["w"])


# ---- Hessians against finite differences of gradients, on the corpus ---------------------------

def scalar_entries():
    out = []
    for fn, make in CORPUS:
        args = make()
        nums = float_argnums(args)
        if nums and args[0] is not None and np.size(args[nums[0]]) <= 12:
            out.append((fn, make, nums[0]))
    return out


SCALAR = scalar_entries()
IDS = [f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(SCALAR)]


def fd_jacobian(g, args, i, eps=1e-6):
    x = args[i]
    if np.ndim(x) == 0:
        a, b = list(args), list(args)
        a[i], b[i] = x + eps, x - eps
        return (np.asarray(g(*a)) - np.asarray(g(*b))) / (2 * eps)
    cols = []
    for idx in np.ndindex(np.shape(x)):
        a, b = list(args), list(args)
        a[i], b[i] = x.copy(), x.copy()
        a[i][idx] += eps
        b[i][idx] -= eps
        cols.append((np.asarray(g(*a)) - np.asarray(g(*b))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(g(*args)) + np.shape(x))


@pytest.mark.parametrize("fn,make,i", SCALAR, ids=IDS)
def test_hessian_matches_finite_differences_of_gradient(fn, make, i):
    args = make()
    expected = fd_jacobian(astjax.grad(fn, argnums=i), args, i)
    got = astjax.hessian(fn, argnums=i)(*args)
    assert np.shape(got) == np.shape(args[i]) * 2
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def summed_gradient(fn, i, v):
    """A function calling ``astjax.grad`` inside: its own gradient is reverse-over-reverse."""
    if fn.__code__.co_argcount == 1:
        def h(x):
            return np.sum(astjax.grad(fn)(x) * v)
    else:
        def h(x, y):
            return np.sum(astjax.grad(fn, argnums=0)(x, y) * v)
    return h


@pytest.mark.parametrize("fn,make,i", SCALAR, ids=IDS)
def test_orders_agree(fn, make, i):
    """Forward-over-reverse (jvp of grad) = reverse-over-reverse (grad of a function calling
    grad) = Hessian-vector product."""
    args = make()
    v = np.random.default_rng(3).standard_normal(np.shape(args[i]))
    if isinstance(args[i], float):
        v = float(v)
    tangents = [np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in args]
    tangents[i] = v
    _, fwd_rev = astjax.jvp(astjax.grad(fn, argnums=i), tuple(args), tuple(tangents))
    rev_rev = astjax.grad(summed_gradient(fn, i, v), argnums=i)(*args)
    hv = np.tensordot(astjax.hessian(fn, argnums=i)(*args), v, axes=np.ndim(v))
    np.testing.assert_allclose(fwd_rev, hv, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(rev_rev, hv, rtol=1e-6, atol=1e-8)


# ---- compositions ------------------------------------------------------------------------------

def smooth(x):
    y = np.tanh(x) ** 3
    total = 0.0
    for k in range(x.shape[0]):
        total = total + y[k] * x[(k + 1) % x.shape[0]]
    return total + np.sum(np.exp(-x * x))


def test_every_composition_of_two_jacobians_agrees():
    x = np.array([0.3, -0.8, 1.2, 0.1])
    reference = astjax.hessian(smooth)(x)
    for outer in (astjax.jacfwd, astjax.jacrev):
        for inner in (astjax.jacfwd, astjax.jacrev):
            np.testing.assert_allclose(outer(inner(smooth))(x), reference, rtol=1e-10)
    np.testing.assert_allclose(astjax.jacfwd(astjax.grad(smooth))(x), reference, rtol=1e-10)
    np.testing.assert_allclose(reference, reference.T, rtol=1e-10)


def test_third_order_tensor():
    x = np.array([0.3, -0.8, 1.2])
    t3 = astjax.jacfwd(astjax.hessian(smooth))(x)
    assert t3.shape == (3, 3, 3)
    fd = fd_jacobian(astjax.hessian(smooth), [x], 0)
    np.testing.assert_allclose(t3, fd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(t3, np.transpose(t3, (1, 0, 2)), atol=1e-10)
    for a in (astjax.jacfwd, astjax.jacrev):
        for b in (astjax.jacfwd, astjax.jacrev):
            for c in (astjax.jacfwd, astjax.jacrev):
                np.testing.assert_allclose(a(b(c(smooth)))(x), t3, rtol=1e-8, atol=1e-12)


def inner_loss(w):
    return np.sum(np.sin(w) * w)


def calls_grad_inside(w):
    g = astjax.grad(inner_loss)(w)
    return np.sum(g ** 2)


def test_grad_of_a_function_that_calls_grad():
    w = np.array([0.2, 0.7, -1.1])
    g_inner = np.sin(w) + w * np.cos(w)
    second = 2 * np.cos(w) - w * np.sin(w)
    np.testing.assert_allclose(astjax.grad(calls_grad_inside)(w), 2 * g_inner * second)
    text = astjax.source(astjax.grad(calls_grad_inside))
    assert "grad_inner_loss_fwd(w, _tape)" in text and "grad_inner_loss_bwd(" in text


def test_jvp_of_grad():
    x = np.array([0.5, -0.3])
    out, t = astjax.jvp(astjax.grad(sum_logistic), (x,), (np.array([1.0, 0.0]),))
    np.testing.assert_allclose(t, astjax.hessian(sum_logistic)(x)[:, 0])


def test_each_level_is_readable_source():
    g3 = astjax.grad(astjax.grad(astjax.grad(rectified_cube)))
    text = astjax.source(g3)
    assert "def grad_grad_grad_rectified_cube(x):" in text
    assert "_tape3 = []" in text and "d_d_d_r" in text          # a tape and adjoints per level
    assert "# test_higher_order.py:" in text                   # every level cites the user's lines
    assert "# <astjax-" not in text
    h = astjax.source(astjax.hessian(sum_logistic))
    assert "def jacfwd_jacrev_sum_logistic(x):" in h and "jacrev_sum_logistic_jvp_many(" in h
    assert "_ax.unit_basis(x)" in h


def test_transforms_are_cached():
    assert astjax.jacfwd(sum_logistic) is astjax.jacfwd(sum_logistic)
    assert astjax.hessian(sum_logistic) is astjax.hessian(sum_logistic)
