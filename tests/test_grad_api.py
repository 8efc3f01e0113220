"""reverse-mode API: JAX's signatures (argnums, has_aux, vjp), dtypes, caching, source,
and errors that name the user's file, line and construct."""
import numpy as np
import pytest

import astjax
from userfiles import bad_model


def loss(w, x, y):
    pred = np.tanh(x @ w)
    return np.mean((pred - y) ** 2)


def with_aux(x):
    y = np.sin(x)
    return np.sum(y * y), y


def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def test_argnums_tuple_and_negative():
    rng = np.random.default_rng(0)
    w, x, y = rng.standard_normal(3), rng.standard_normal((5, 3)), rng.standard_normal(5)
    gw, gy = astjax.grad(loss, argnums=(0, 2))(w, x, y)
    assert gw.shape == w.shape and gy.shape == y.shape
    np.testing.assert_allclose(astjax.grad(loss, argnums=-1)(w, x, y), gy)
    (single,) = astjax.grad(loss, argnums=(1,))(w, x, y)
    assert single.shape == x.shape


def test_has_aux():
    x = np.linspace(0.1, 1.0, 4)
    g, aux = astjax.grad(with_aux, has_aux=True)(x)
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x))
    np.testing.assert_allclose(aux, np.sin(x))
    (value, aux2), g2 = astjax.value_and_grad(with_aux, has_aux=True)(x)
    np.testing.assert_allclose(value, np.sum(np.sin(x) ** 2))
    np.testing.assert_allclose(g2, g)


def test_float32_stays_float32():
    x = np.arange(3, dtype=np.float32)
    g = astjax.grad(sum_logistic)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [0.25, 0.19661193, 0.10499359], rtol=1e-6)
    value, g = astjax.value_and_grad(sum_logistic)(x)
    assert g.dtype == np.float32 and np.asarray(value).dtype == np.float32


def test_python_float_in_float_out():
    g = astjax.grad(lambda_free)(3.0)
    assert isinstance(g, float)
    assert g == pytest.approx(np.sin(3.0) + 3.0 * np.cos(3.0))


def lambda_free(x):
    return x * np.sin(x)


def test_vjp_called_many_times():
    def f(x):
        return np.sin(x) * x
    x = np.linspace(0, 1, 5)
    out, vjp_fn = astjax.vjp(f, x)
    np.testing.assert_allclose(out, f(x))
    for k in range(3):
        (ct,) = vjp_fn(np.ones(5) * (k + 1))
        np.testing.assert_allclose(ct, (k + 1) * (np.cos(x) * x + np.sin(x)))


def writes_items(x):
    out = np.zeros(3)
    for i in range(3):
        out[i] = x[i] * x[i]
    return out


def test_vjp_with_item_writes_reusable():
    x = np.array([1.0, 2.0, 3.0])
    out, vjp_fn = astjax.vjp(writes_items, x)
    np.testing.assert_allclose(out, x * x)
    first = vjp_fn(np.ones(3))[0]
    second = vjp_fn(np.ones(3))[0]
    np.testing.assert_allclose(first, 2 * x)
    np.testing.assert_allclose(second, 2 * x)


def test_vjp_several_primals():
    def f(a, b):
        return a * b + np.sin(a)
    a, b = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    out, vjp_fn = astjax.vjp(f, a, b)
    da, db = vjp_fn(np.ones(2))
    np.testing.assert_allclose(da, b + np.cos(a))
    np.testing.assert_allclose(db, a)


def test_transforms_are_cached():
    assert astjax.grad(sum_logistic) is astjax.grad(sum_logistic)
    assert astjax.grad(sum_logistic, argnums=0) is not astjax.value_and_grad(sum_logistic)


def test_source_is_readable_and_points_at_user_lines():
    text = astjax.source(astjax.grad(sum_logistic))
    assert "def grad_sum_logistic(x):" in text
    assert "test_grad_api.py" in text and "np.exp(" in text
    assert "# test_grad_api.py:" in text
    for line in text.splitlines():          # one statement per line
        assert ";" not in line
    core = astjax.source(sum_logistic, stage="core")
    assert "np.exp(neg" in core


def scaled_sin(x, y):
    return np.sin(x) * np.exp(y)


def uses_scaled_sin(x, y):
    return np.sum(scaled_sin(x, y))


def power_of(x, n):
    if n == 0:
        return 1.0
    return x * power_of(x, n - 1)


def uses_power_of(x):
    return np.sum(power_of(x, 3))


def test_helper_sweeps_carry_only_the_active_arguments():
    # only x is active at the call: scaled_sin gets sweeps for x alone, no adjoint of y
    x, y = np.array([0.3, -1.2]), np.array([0.5, 2.0])
    grad_x = astjax.grad(uses_scaled_sin, argnums=0)
    text = astjax.source(grad_x)
    assert "def scaled_sin_bwd_x(" in text and "scaled_sin_bwd(" not in text
    assert "d_y" not in text
    np.testing.assert_allclose(grad_x(x, y), np.cos(x) * np.exp(y))
    # both active: the plain names, and both cotangents
    both = astjax.grad(uses_scaled_sin, argnums=(0, 1))
    text = astjax.source(both)
    assert "def scaled_sin_bwd(" in text and "d_y" in text
    dx, dy = both(x, y)
    np.testing.assert_allclose(dy, np.sin(x) * np.exp(y))
    # a recursive helper calling itself with the same pattern reuses its variant
    text = astjax.source(astjax.grad(uses_power_of))
    assert text.count("def power_of_bwd_x(") == 1 and "d_n" not in text
    np.testing.assert_allclose(astjax.grad(uses_power_of)(x), 3 * x ** 2)


def test_grad_of_integer_argument_is_an_error():
    with pytest.raises(astjax.DifferentiationError, match="argument 'x' has dtype int64"):
        astjax.grad(sum_logistic)(np.arange(3))


def test_non_scalar_output_is_an_error():
    with pytest.raises(astjax.DifferentiationError, match="scalar output"):
        astjax.grad(bad_model.vector_out)(np.ones(3))


def test_bad_argnums():
    with pytest.raises(astjax.DifferentiationError, match="out of range"):
        astjax.grad(sum_logistic, argnums=3)


@pytest.mark.parametrize("fn,pattern", [
    (bad_model.uses_yield, r"bad_model.py:8: cannot differentiate through 'yield'"),
    (bad_model.uses_try, r"bad_model.py:12: cannot differentiate through 'try'"),
    (bad_model.uses_stdlib, r"bad_model.py:19: statistics.fmean has no astjax rule"),
    (bad_model.uses_unwrap, r"bad_model.py:23: no differentiation rule for np.unwrap"),
    (bad_model.undefined_name, r"bad_model.py:31: name 'not_defined_anywhere' is not defined"),
])
def test_errors_name_file_line_and_construct(fn, pattern):
    with pytest.raises(astjax.AstjaxError, match=pattern):
        astjax.grad(fn)(np.ones(3))


def test_error_shows_the_user_line():
    with pytest.raises(astjax.UnsupportedError) as info:
        astjax.grad(bad_model.uses_yield)
    assert "yield y" in str(info.value)


def test_not_a_function():
    with pytest.raises(TypeError):
        astjax.grad(3.0)
    with pytest.raises(astjax.AstjaxError, match="Python functions"):
        astjax.grad(print)(1.0)
