"""NumPy functions astjax differentiates from their NumPy source (astjax/rules/numpy_source.py)
and the elementwise primitives added beside them (issue 14): values equal NumPy's, grad and
jvp equal central differences, second order too, vmap equals a loop."""
import numpy as np
import pytest

import astjax
from astjax.rules import numpy_source

X = np.array([0.3, -0.7, 1.1, 0.5])
BIG = np.array([1.3, 1.7, 2.1, 1.5])        # arccosh's domain
M = np.arange(12.0).reshape(3, 4) / 7.0 - 0.5
AT_X1 = np.array([0.0, -0.7, 0.0, 0.0])       # x - AT_X1 has a zero factor at X


def cases():
    w = np.linspace(0.5, 1.5, 4)
    return [
        ("arcsinh", lambda x: np.sum(np.arcsinh(x) * w), X),
        ("arccosh", lambda x: np.sum(np.arccosh(x) * w), BIG),
        ("arctanh", lambda x: np.sum(np.arctanh(x * 0.5) * w), X),
        ("exp2", lambda x: np.sum(np.exp2(x) * w), X),
        ("hypot", lambda x: np.sum(np.hypot(x, w)), X),
        ("logaddexp", lambda x: np.sum(np.logaddexp(x, w * x)), X),
        ("logaddexp2", lambda x: np.sum(np.logaddexp2(x, w)), X),
        ("sinc", lambda x: np.sum(np.sinc(x) * w), X),
        ("fmax", lambda x: np.sum(np.fmax(x, 0.2) * w), X),
        ("fmin", lambda x: np.sum(np.fmin(x, 0.2 * w) * w), X),
        ("fabs", lambda x: np.sum(np.fabs(x) * w), X),
        ("reciprocal", lambda x: np.sum(np.reciprocal(x)), X),
        ("deg2rad", lambda x: np.sum(np.sin(np.deg2rad(x * 90.0))), X),
        ("radians", lambda x: np.sum(np.radians(x) ** 2), X),
        ("rad2deg", lambda x: np.sum(np.rad2deg(x) * w), X),
        ("degrees", lambda x: np.sum(np.degrees(x) ** 2), X),
        ("atleast_2d", lambda x: np.sum(np.atleast_2d(x) * M[:1]), X),
        ("atleast_3d", lambda x: np.sum(np.atleast_3d(np.outer(x, x)) ** 2), X),
        ("hstack", lambda x: np.sum(np.hstack([x, x * x]) * np.arange(8.0)), X),
        ("vstack", lambda x: np.sum(np.vstack([x, w * x]) ** 2 * M[:2]), X),
        ("column_stack", lambda x: np.sum(np.column_stack([x, x * x]) * M[:, :2].T[0][0]), X),
        ("append", lambda x: np.sum(np.append(x, x[:2] * 3.0) ** 2), X),
        ("split", lambda x: np.sum(np.split(x, 2)[1] * w[:2]), X),
        ("hsplit", lambda x: np.sum(np.hsplit(np.outer(x, x), 2)[0] ** 2), X),
        ("vsplit", lambda x: np.sum(np.vsplit(np.outer(x, w), 2)[1]), X),
        ("tile", lambda x: np.sum(np.tile(x, 3) * np.arange(12.0)), X),
        ("tile_rows", lambda x: np.sum(np.tile(x, (3, 1)) ** 2 * np.arange(3.0)[:, None]), X),
        ("tile_2d", lambda x: np.sum(np.tile(np.outer(x, w), (2, 3)) ** 3), X),
        ("repeat", lambda x: np.sum(np.repeat(x, 2) * np.arange(8.0)), X),
        ("repeat_axis", lambda x: np.sum(np.repeat(np.outer(x, w), 2, axis=1) ** 2), X),
        ("flipud", lambda x: np.sum(np.flipud(x) * w), X),
        ("fliplr", lambda x: np.sum(np.fliplr(np.outer(x, w)) * M[:1, :].T[:4]), X),
        ("rot90", lambda x: np.sum(np.rot90(np.outer(x, w)) * M[:, :4][0]), X),
        ("rot90_k3", lambda x: np.sum(np.rot90(np.outer(x, x), 3) * np.arange(4.0)), X),
        ("roll", lambda x: np.sum(np.roll(x, 1) * w), X),
        ("roll_axis", lambda x: np.sum(np.roll(np.outer(x, w), -1, axis=1) * np.arange(4.0)), X),
        ("tril", lambda x: np.sum(np.tril(np.outer(x, w)) ** 2), X),
        ("triu", lambda x: np.sum(np.triu(np.outer(x, w), 1) * 2.0), X),
        ("diagonal", lambda x: np.sum(np.diagonal(np.outer(x, x)) * w), X),
        ("diag", lambda x: np.sum(np.diag(x) * np.outer(w, w)), X),
        ("diag_k", lambda x: np.sum(np.diag(x, 1) ** 2 * np.arange(25.0).reshape(5, 5)), X),
        ("trace", lambda x: np.trace(np.outer(x, w) @ np.outer(w, x)), X),
        ("diff", lambda x: np.sum(np.diff(x) ** 2), X),
        ("diff_n2", lambda x: np.sum(np.diff(x * x, n=2) * 1.5), X),
        ("gradient", lambda x: np.sum(np.gradient(x * x, 0.5) * w), X),
        ("select", lambda x: np.sum(np.select([x > 0.4, x < -0.5], [x * x, 3.0 * x], 0.1)), X),
        ("cross", lambda x: np.sum(np.cross(x[:3], w[1:]) ** 2), X),
        ("inner", lambda x: np.inner(x, w) + np.sum(np.inner(np.outer(x, x), M)), X),
        ("kron", lambda x: np.sum(np.kron(x[:2], w) ** 2), X),
        ("kron_2d", lambda x: np.sum(np.kron(np.outer(x[:2], x[:2]), M[:2, :2])), X),
        ("tensordot", lambda x: np.sum(np.tensordot(np.outer(x, x), np.outer(x, w), 1)), X),
        ("tensordot2", lambda x: np.tensordot(np.outer(x, w), np.outer(w, x), 2), X),
        ("cumprod", lambda x: np.sum(np.cumprod(x) * w), X),
        ("cumprod_through_zero", lambda x: np.sum(np.cumprod(x - AT_X1) * w), X),
        ("cumprod_axis", lambda x: np.sum(np.cumprod(np.outer(x, w), axis=1) ** 2), X),
    ]


CASES = cases()
IDS = [c[0] for c in CASES]


def central(f, x, step=1e-6):
    return np.array([(f(x + step * e) - f(x - step * e)) / (2 * step) for e in np.eye(x.size)])


def named(name, fn):
    # a lambda in a list has no def of its own to read: give each a module-level name
    fn.__name__ = fn.__qualname__ = f"case_{name}"
    return fn


@pytest.mark.parametrize("name, f, x", CASES, ids=IDS)
def test_value_grad_jvp(name, f, x):
    want = central(f, x)
    np.testing.assert_allclose(astjax.grad(f)(x), want, rtol=1e-6, atol=1e-8)
    t = np.array([0.3, -1.0, 0.5, 0.25])
    value, slope = astjax.jvp(f, (x,), (t,))
    # NumPy's values (test_stand_ins_are_numpys_values); a stand-in's result may be a view
    # laid out otherwise, so a sum over it can differ in the last bit
    assert value == pytest.approx(f(x), rel=1e-15, abs=1e-15)
    assert slope == pytest.approx(np.dot(want, t), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("name, f, x", CASES, ids=IDS)
def test_second_order(name, f, x):
    np.testing.assert_allclose(astjax.hessian(f)(x), central(astjax.grad(f), x, 1e-5),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name, f, x", CASES, ids=IDS)
def test_vmap_matches_a_loop(name, f, x):
    batch = np.stack([x, x * 0.9, x * 1.1])
    np.testing.assert_allclose(astjax.vmap(f)(batch), [f(r) for r in batch], rtol=1e-12)


def test_stand_ins_are_numpys_values():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    v = rng.standard_normal(5)
    checks = [(np.roll, (v, 2)), (np.roll, (a, -1, 1)), (np.tril, (a, -1)), (np.triu, (a, 1)),
              (np.diag, (v, -2)), (np.diag, (a, 1)), (np.diagonal, (a, -1)), (np.trace, (a,)),
              (np.diff, (a, 2, 0)), (np.kron, (a, b)), (np.tensordot, (a, b, 1)),
              (np.repeat, (a, 3, 0)), (np.tile, (v, 2)), (np.tile, (v, (3, 1))),
              (np.tile, (a, (2, 1, 3))), (np.tile, (a, 2)), (np.rot90, (a, 2)),
              (np.cross, (v[:3], v[2:])), (np.inner, (a, a)), (np.gradient, (v, 0.3)),
              (np.hstack, ([a, a],)), (np.vstack, ([v, v],)), (np.append, (a, a)),
              (np.cumprod, (a,)), (np.cumprod, (a, 0)), (np.cumprod, (np.arange(1, 6, dtype=np.int8),))]
    for library, args in checks:
        ours = numpy_source.STAND_INS[library](*args)
        theirs = library(*args)
        assert np.shape(ours) == np.shape(theirs), library.__name__
        assert np.result_type(ours) == np.result_type(theirs), library.__name__
        np.testing.assert_array_equal(ours, theirs, err_msg=library.__name__)


def test_third_derivative_of_sinc_is_refused_not_zero():
    with pytest.raises(astjax.AstjaxError, match="sinc_curve"):
        astjax.grad(astjax.grad(astjax.grad(lambda x: np.sinc(x))))(0.3)
