"""Reverse mode against central finite differences on the corpus (every construct and
primitive), plus dtype, API and error behaviour."""
import numpy as np
import pytest

import astjax
from checks import float_argnums, numerical_grad
from grad_corpus import CORPUS


@pytest.mark.parametrize("fn,make", CORPUS, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(CORPUS)])
def test_grad_matches_finite_differences(fn, make):
    args = make()
    for i in float_argnums(args):
        expected = numerical_grad(fn, args, i)
        got = astjax.grad(fn, argnums=i)(*args)
        assert np.shape(got) == np.shape(args[i])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn,make", CORPUS[:20], ids=[f.__name__ for f, _ in CORPUS[:20]])
def test_value_and_grad_agrees_with_function(fn, make):
    args = make()
    value, g = astjax.value_and_grad(fn)(*args)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
    np.testing.assert_allclose(g, astjax.grad(fn)(*args), rtol=1e-12)
