"""The clean-up passes over generated code (astjax/core/simplify.py): what they merge, what
they must leave alone, and the size of higher derivatives they keep in check."""
import textwrap

import numpy as np
import pytest

import astjax
from astjax.core.emit import render
from astjax.core.simplify import simplify
from astjax.frontend.syntax import gast


def cleaned(source):
    """The body lines of ``source``'s function after the passes."""
    fdef = gast.parse(textwrap.dedent(source)).body[0]
    return [line.strip() for line in render(simplify(fdef), comments=False).splitlines()[1:]]


def test_repeated_expression_reads_the_first():
    assert cleaned("""
        def f(a, b):
            m1 = a * b
            m2 = a * b
            return m1 + m2
        """) == ["m1 = a * b", "return m1 + m1"]


def test_copies_are_propagated_and_dropped():
    assert cleaned("""
        def f(a):
            b = a
            c = b
            return np.sin(c)
        """) == ["return np.sin(a)"]


def test_rebinding_ends_a_merge():
    assert cleaned("""
        def f(a, b):
            m1 = a * b
            a = a + 1.0
            m2 = a * b
            return m1 + m2
        """) == ["m1 = a * b", "a = a + 1.0", "m2 = a * b", "return m1 + m2"]


def test_in_place_writes_forbid_merging():
    # y is written in place: two computations of x * 2.0 must stay two arrays
    assert cleaned("""
        def f(x):
            y = x * 2.0
            z = x * 2.0
            y[0] = 5.0
            return z
        """) == ["y = x * 2.0", "z = x * 2.0", "y[0] = 5.0", "return z"]


def test_allocations_and_draws_are_never_merged():
    body = cleaned("""
        def f(x):
            a = np.zeros(3)
            b = np.zeros(3)
            r = np.random.rand(3)
            s = np.random.rand(3)
            return a, b, r, s
        """)
    assert body[:4] == ["a = np.zeros(3)", "b = np.zeros(3)", "r = np.random.rand(3)",
                        "s = np.random.rand(3)"]


def test_effects_and_user_operations_are_kept_even_if_dead():
    # what raises in the user's code (a shape mismatch, a division) still raises
    assert cleaned("""
        def f(x, y):
            unused = x * y
            print(x)
            assert x.shape[0] == 3
            return x
        """) == ["unused = x * y", "print(x)", "assert x.shape[0] == 3", "return x"]


def test_loops_are_barriers():
    assert cleaned("""
        def f(x, n):
            a = x * 2.0
            for i in range(n):
                x = x + a
            b = x * 2.0
            return b
        """) == ["a = x * 2.0", "for i in range(n):", "x = x + a", "b = x * 2.0", "return b"]


def test_first_accumulation_of_an_adjoint_is_the_contribution():
    assert cleaned("""
        def f(g, x):
            d = 0.0
            u = _ax.unbroadcast(g, x)
            d = _ax.seq_acc(d, u)
            return d
        """) == ["u = _ax.unbroadcast(g, x)", "return u"]


def test_shared_statements_are_not_changed_in_place():
    # transforms share statement nodes between the functions they generate
    fdef = gast.parse("def f(a, b):\n    m1 = a * b\n    m2 = a * b\n    return m2\n").body[0]
    before = gast.dump(fdef)
    simplify(fdef)
    assert gast.dump(fdef) == before


def tanh(x):
    return np.tanh(x)


def tanh_derivatives(x, n):
    """d^k tanh / dx^k for k = 1..n: tanh' = 1 - t^2 as polynomials in t = tanh(x)."""
    t = np.tanh(x)
    poly = np.polynomial.Polynomial([0.0, 1.0])         # tanh itself, in t
    out = []
    for _ in range(n):
        poly = poly.deriv() * np.polynomial.Polynomial([1.0, 0.0, -1.0])
        out.append(poly(t))
    return out


def test_tanh_derivatives_to_sixth_order_stay_small():
    x = 0.3
    want = tanh_derivatives(x, 6)
    fn, sizes = tanh, []
    for k in range(6):
        fn = astjax.grad(fn)
        np.testing.assert_allclose(fn(x), want[k], rtol=1e-10)
        sizes.append(len(astjax.source(fn).splitlines()))
    # before the passes: 12, 33, 120, 538, 2731, 14597 lines
    assert sizes[5] < 2500, sizes
    assert all(b < 4 * a for a, b in zip(sizes[2:], sizes[3:])), sizes


@pytest.mark.parametrize("transform", ["grad", "hessian"])
def test_cleaned_derivatives_match_finite_differences(transform):
    def loss(w):
        h = np.tanh(w * w) * w
        return np.sum(h * h) + np.sum(np.exp(-w) * np.tanh(w * w))
    w = np.array([0.3, -0.7, 1.1])
    step = 1e-6
    if transform == "grad":
        got = astjax.grad(loss)(w)
        want = [(loss(w + step * e) - loss(w - step * e)) / (2 * step) for e in np.eye(3)]
    else:
        got = astjax.hessian(loss)(w)
        g = astjax.grad(loss)
        want = np.array([(g(w + step * e) - g(w - step * e)) / (2 * step) for e in np.eye(3)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
