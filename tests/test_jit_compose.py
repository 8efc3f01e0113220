"""jit composed with the other transformations: jit(grad(f)), grad(jit(f)), jit(vmap(f)),
jit(hessian(f)), jit(value_and_grad(f)).

Each is compared with the same transformation without jit (and, for grad(jit(f)), with
grad(f)): values to rounding, dtypes and result types exactly. jit compiles the generated
Python of the inner transformation like any user function; grad sees through a jit function
to the function it wraps (`__astjax_function__`).
"""
import numpy as np
import pytest

import astjax
from astjax import explain, jit
from codegen.build import BuildFlags

RNG = np.random.default_rng(7)


def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def loss(w, x, b):
    return np.mean(np.tanh(x @ w + b) ** 2)


def cubic(x):
    return np.sum(x * x * x + 2.0 * x * x)


def rowwise(x):
    return np.sum(np.sin(x) * x)


def same(got, want, rtol=1e-12):
    assert type(got) is type(want), f"{type(got).__name__} != {type(want).__name__}"
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w, rtol)
        return
    assert np.asarray(got).dtype == np.asarray(want).dtype
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-15)


def test_jit_of_grad_fuses_the_generated_gradient():
    x = RNG.standard_normal(50_000)
    g = astjax.grad(sum_logistic)
    jg = jit(g)
    same(jg(x), g(x))
    assert jg.last.status == "compiled", explain(jg)
    text = str(explain(jg))
    assert "Python (fallback)" not in text, text
    pyx = jg.last.lowered.source
    assert pyx.count("prange(") <= 3, pyx        # forward sweep and backward sweep, fused


def test_grad_of_jit_sees_the_original_function():
    x = RNG.standard_normal(100)
    same(astjax.grad(jit(sum_logistic))(x), astjax.grad(sum_logistic)(x))


def test_jit_of_grad_with_broadcasting_and_several_arguments():
    w, x, b = RNG.standard_normal((8, 4)), RNG.standard_normal((30, 8)), RNG.standard_normal(4)
    g = astjax.grad(loss, argnums=(0, 2))
    jg = jit(g)
    same(jg(w, x, b), g(w, x, b))
    assert jg.last.status == "compiled", explain(jg)


def test_jit_of_value_and_grad():
    x = RNG.standard_normal(1000)
    vg = astjax.value_and_grad(cubic)
    same(jit(vg)(x), vg(x))


def test_jit_of_hessian():
    x = RNG.standard_normal(6)
    h = astjax.hessian(cubic)
    jh = jit(h)
    same(jh(x), h(x))
    np.testing.assert_allclose(jh(x), np.diag(6.0 * x + 4.0), rtol=1e-12)


def test_jit_of_vmap():
    try:
        from astjax import vmap
    except ImportError:
        pytest.skip("vmap is not importable yet (astjax/batching/control.py is in progress)")
    xs = RNG.standard_normal((10, 20))
    v = vmap(rowwise)
    same(jit(v)(xs), v(xs))


# ----------------------------------------------------------------------------- rematerialization

def softmax_escape(x):
    e = np.exp(-x)
    s = np.sum(e)
    return e / s, e


def scaled_after_update(x):
    e = np.exp(x * 0.5)
    s = np.sum(e)
    x *= 2.0
    return e / s + x


def sum_rational(x):
    return np.sum(1.0 / (1.0 + x * x))


def _stored_version(fn, x, monkeypatch, **flags):
    """jit(grad(fn))(x) built without rematerialization (the forward loop stores its
    temporaries): (result, generated source)."""
    from codegen import kernels
    with monkeypatch.context() as m:
        m.setattr(kernels, "REMAT_MAX_OPS", 0)
        j = jit(astjax.grad(fn))
        if flags:
            j.flags = BuildFlags(**flags)
        return j(x), j.last.lowered.source


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jit_of_grad_recomputes_forward_temporaries(dtype, monkeypatch):
    """The forward loop only feeds np.sum: it writes no array; the backward loop recomputes
    exp(-x), 1 + exp(-x) and 1 / (1 + exp(-x)) from x instead of reading three stored ones."""
    x = RNG.standard_normal(50_001).astype(dtype)
    g = astjax.grad(sum_logistic)
    jg = jit(g)
    got = jg(x)
    same(got, g(x), rtol=1e-12 if dtype == np.float64 else 1e-5)
    assert got.dtype == dtype
    assert jg.last.status == "compiled", explain(jg)
    pyx = jg.last.lowered.source
    body = pyx[pyx.index("def grad_sum_logistic"):]
    assert body.count("np.empty(") == 1, body           # the gradient, nothing else
    for temp in ("exp2", "add3", "div4"):
        assert f"_{temp}_out" not in body, body
    assert "recomputed in this loop, not stored: neg1, exp2, add3, div4 (from x)" in body, body
    assert body.count("prange(") == 2, body
    assert "recomputes neg1, exp2, add3, div4 (not stored)" in str(explain(jg))
    want, stored_pyx = _stored_version(sum_logistic, x, monkeypatch)
    assert "_exp2_out" in stored_pyx and "recomputed" not in stored_pyx
    assert want.dtype == got.dtype
    # libmvec's vector exp and the scalar exp of a loop's remainder may differ by a few ulp,
    # and the two loops split their items differently
    np.testing.assert_allclose(got, want, rtol=1e-14 if dtype == np.float64 else 1e-6)
    # with scalar libm only, recomputing gives the very values the stored arrays held
    scalar = jit(g)
    scalar.flags = BuildFlags(vector_math=False)
    np.testing.assert_array_equal(scalar(x), _stored_version(
        sum_logistic, x, monkeypatch, vector_math=False)[0])
    assert "recomputed" in scalar.last.lowered.source


def test_jit_of_grad_recomputation_is_bit_identical_to_numpy(monkeypatch):
    """Arithmetic only: NumPy's gradient, the stored loops and the recomputing loop agree to
    the bit (no reassociation, no contraction)."""
    x = RNG.standard_normal(70_001)
    g = astjax.grad(sum_rational)
    jg = jit(g)
    got = jg(x)
    assert got.dtype == np.float64
    assert "recomputed in this loop, not stored" in jg.last.lowered.source
    np.testing.assert_array_equal(got, g(x))
    np.testing.assert_array_equal(got, _stored_version(sum_rational, x, monkeypatch)[0])


def test_returned_temporary_is_stored_not_recomputed():
    x = RNG.standard_normal(1000)
    j = jit(softmax_escape)
    same(j(x), softmax_escape(x))
    pyx = j.last.lowered.source
    assert "recomputed" not in pyx and "_e_out" in pyx, pyx


def test_no_recomputation_after_an_in_place_update():
    x = RNG.standard_normal(1000)
    j = jit(scaled_after_update)
    same(j(x.copy()), scaled_after_update(x.copy()))
    assert "recomputed" not in j.last.lowered.source
