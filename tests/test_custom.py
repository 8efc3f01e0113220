"""custom_jvp and custom_vjp: user rules honoured by every transformation, whether the
decorated function is transformed itself or called inside another function."""
import functools

import numpy as np
import pytest

import astjax
from astjax import custom_jvp, custom_vjp
from astjax.errors import UnsupportedError


@custom_jvp
def logsumexp(x):
    return np.log(np.sum(np.exp(x)))          # overflows for large x; the rule does not


@logsumexp.defjvp
def logsumexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    m = np.max(x)
    ans = m + np.log(np.sum(np.exp(x - m)))
    return ans, np.sum(np.exp(x - ans) * t)


@custom_vjp
def clip_gradient(lo, hi, x):
    return x


def clip_fwd(lo, hi, x):
    return x, (lo, hi)


def clip_bwd(res, g):
    lo, hi = res
    return (None, None, np.clip(g, lo, hi))


clip_gradient.defvjp(clip_fwd, clip_bwd)


def stable(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def uses_both(x):
    return logsumexp(x * 2.0) + np.sum(clip_gradient(-0.1, 0.1, x) ** 2)


X = np.array([0.5, -1.0, 2.0])


def test_custom_jvp_direct():
    np.testing.assert_allclose(logsumexp(X), stable(X))
    np.testing.assert_allclose(astjax.grad(logsumexp)(X), softmax(X))
    out, t = astjax.jvp(logsumexp, (X,), (np.ones(3),))
    np.testing.assert_allclose(t, 1.0)


def test_custom_jvp_rule_is_used_where_the_function_would_overflow():
    big = np.array([1000.0, 1001.0, 999.0])
    value, g = astjax.value_and_grad(logsumexp)(big)
    np.testing.assert_allclose(value, stable(big))
    np.testing.assert_allclose(g, softmax(big))
    _, t = astjax.jvp(logsumexp, (big,), (np.array([1.0, 0.0, 0.0]),))
    np.testing.assert_allclose(t, softmax(big)[0])


def test_custom_jvp_second_order_differentiates_the_rule():
    h = astjax.hessian(logsumexp)(X)
    s = softmax(X)
    np.testing.assert_allclose(h, np.diag(s) - np.outer(s, s), atol=1e-12)
    np.testing.assert_allclose(astjax.jacfwd(astjax.jacfwd(logsumexp))(X), h, atol=1e-12)
    np.testing.assert_allclose(astjax.jacrev(astjax.jacrev(logsumexp))(X), h, atol=1e-12)


def test_custom_vjp_clips_the_gradient():
    g = astjax.grad(uses_both)(X)
    expected = 2.0 * softmax(2.0 * X) + np.clip(2.0 * X, -0.1, 0.1)
    np.testing.assert_allclose(g, expected)
    np.testing.assert_allclose(astjax.jacrev(lambda_free_clip)(X), 0.3 * np.eye(3))


def lambda_free_clip(x):
    return clip_gradient(-0.1, 0.1, x * 3.0)


def cube_clipped(y):
    return clip_gradient(-0.1, 0.1, y) ** 3


def test_higher_order_through_custom_vjp_differentiates_bwd():
    # d/dy clip(3 y^2): 6 y inside the clipping range, 0 outside
    d2 = astjax.grad(astjax.grad(cube_clipped))
    assert d2(0.1) == pytest.approx(0.6)
    assert d2(0.5) == 0.0
    np.testing.assert_allclose(astjax.hessian(cube_clipped)(0.1), 0.6)


def test_forward_mode_through_custom_vjp_is_an_error_as_in_jax():
    with pytest.raises(UnsupportedError, match="custom_vjp"):
        astjax.jvp(uses_both, (X,), (np.ones(3),))


@functools.partial(custom_jvp, nondiff_argnums=(0,))
def scaled_square(k, x):
    return k * x * x


@scaled_square.defjvp
def scaled_square_jvp(k, primals, tangents):
    (x,), (t,) = primals, tangents
    return k * x * x, 2.0 * k * x * t * 10.0       # a deliberately wrong factor 10: visible


def test_nondiff_argnums_are_passed_first():
    assert astjax.grad(scaled_square, argnums=1)(3.0, 2.0) == pytest.approx(120.0)
    _, t = astjax.jvp(scaled_square, (3.0, 2.0), (0.0, 1.0))
    assert t == pytest.approx(120.0)


def test_generated_source_calls_the_rules():
    text = astjax.source(astjax.grad(uses_both))
    assert "clip_gradient_user_fwd(" in text and "clip_gradient_user_bwd(res, g)" in text
    assert "logsumexp_jvp_tangent_bwd(" in text
    from astjax.autodiff.jacobians import jvp_function
    assert "logsumexp_jvp_rule((x,), (t_x,))" in astjax.source(jvp_function(logsumexp))
