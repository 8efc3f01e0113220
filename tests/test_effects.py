"""print and assert keep Python semantics under every transform (issue 10, item 3)."""
import numpy as np
import pytest

import astjax


def f(x):
    assert x.shape[0] == 5, "need five"
    print("loss", np.sum(x))
    return np.sum(x * x)


X = np.arange(5.0)
SHORT = np.arange(3.0)

TRANSFORMS = {
    "grad": lambda: astjax.grad(f),
    "value_and_grad": lambda: astjax.value_and_grad(f),
    "jvp": lambda: (lambda x: astjax.jvp(f, (x,), (np.ones_like(x),))),
    "jacfwd": lambda: astjax.jacfwd(f),
    "hessian": lambda: astjax.hessian(f),
    "jit": lambda: astjax.jit(f),
    "jit_grad": lambda: astjax.jit(astjax.grad(f)),
}


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_assert_raised(kind):
    with pytest.raises(AssertionError, match="need five"):
        TRANSFORMS[kind]()(SHORT)


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_print_once_with_primal_values(kind, capsys):
    f(X)
    expected = capsys.readouterr().out
    assert expected == "loss 10.0\n"
    out = TRANSFORMS[kind]()(X)
    assert capsys.readouterr().out == expected
    if kind in ("grad", "jit_grad"):
        np.testing.assert_allclose(out, 2 * X)
    elif kind == "value_and_grad":
        np.testing.assert_allclose(out[0], 30.0)
        np.testing.assert_allclose(out[1], 2 * X)
    elif kind == "jvp":
        np.testing.assert_allclose(out, (30.0, 20.0))
    elif kind == "jacfwd":
        np.testing.assert_allclose(out, 2 * X)
    elif kind == "hessian":
        np.testing.assert_allclose(out, 2 * np.eye(5))
    else:
        np.testing.assert_allclose(out, 30.0)


def test_vmap_prints_batched_and_asserts_all_lanes(capsys):
    xb = np.arange(10.0).reshape(2, 5)
    out = astjax.vmap(f)(xb)
    np.testing.assert_allclose(out, [f(r) for r in xb])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "loss [10. 35.]"       # once, with the batched value
    with pytest.raises(AssertionError, match="need five"):
        astjax.vmap(f)(np.ones((2, 3)))


def test_vmap_assert_on_batched_condition():
    def g(x):
        assert np.sum(x) > 0, "positive"
        return x * 2.0
    np.testing.assert_allclose(astjax.vmap(g)(np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(AssertionError, match="positive"):
        astjax.vmap(g)(np.array([1.0, -2.0]))


def test_jit_explain_does_not_label_print_as_c():
    j = astjax.jit(f)
    j(X)
    text = str(astjax.explain(j))
    line = next(l for l in text.splitlines() if 'print("loss"' in l)
    assert "C" not in line.split()[1]
