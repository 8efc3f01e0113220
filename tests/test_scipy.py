"""SciPy under every transform, unchanged user code (issue 14): special functions and
distributions are checked against SciPy itself (values, dtypes), central differences (grad,
jvp, second order) and a Python loop (vmap).  SciPy is optional for astjax; these tests need
it, and the test extra installs it."""
import numpy as np
import pytest
import scipy.special as sc
from scipy import stats
from scipy.special import expit, gammaln, logsumexp
from scipy.stats import norm

import astjax
from astjax.rules import registry

X = np.array([0.3, -0.7, 1.1])
POS = np.array([0.4, 1.7, 3.2])          # in the domain of gammaln, log-densities of gamma...
UNIT = np.array([0.2, 0.55, 0.9])        # in (0, 1): logit, erfinv, ndtri, beta


def f_gammaln(x): return np.sum(gammaln(x) * x)
def f_digamma(x): return np.sum(sc.digamma(x) ** 2)
def f_psi(x): return np.sum(sc.psi(x))
def f_polygamma(x): return np.sum(sc.polygamma(1, x) * x)
def f_gamma(x): return np.sum(np.log(sc.gamma(x)))
def f_erf(x): return np.sum(sc.erf(x) * x)
def f_erfc(x): return np.sum(sc.erfc(x) ** 2)
def f_erfinv(x): return np.sum(sc.erfinv(x * 0.9))
def f_expit(x): return np.sum(expit(x) * x)
def f_logit(x): return np.sum(sc.logit(x) ** 2)
def f_ndtr(x): return np.sum(sc.ndtr(x) * x)
def f_log_ndtr(x): return np.sum(sc.log_ndtr(x))
def f_ndtri(x): return np.sum(sc.ndtri(x))
def f_i0(x): return np.sum(sc.i0(x))
def f_i0e(x): return np.sum(sc.i0e(x) * x)
def f_i1(x): return np.sum(sc.i1(x) * x)
def f_i1e(x): return np.sum(sc.i1e(x))
def f_iv(x): return np.sum(sc.iv(1.5, x * x + 0.1))
def f_ive(x): return np.sum(sc.ive(0.5, x) * x)
def f_logsumexp(x): return logsumexp(x * 2.0) + logsumexp(np.outer(x, x), axis=1)[1]
def f_logsumexp_keep(x): return np.sum(logsumexp(np.outer(x, x), axis=0, keepdims=True) * x)
def f_softmax(x): return np.sum(sc.softmax(x) * x)
def f_log_softmax(x): return np.sum(sc.log_softmax(np.outer(x, x), axis=1)[0] * x)
def f_xlogy(x): return np.sum(sc.xlogy(x, x * x + 1.0))
def f_xlog1py(x): return np.sum(sc.xlog1py(x, x * x))
def f_betaln(x): return np.sum(sc.betaln(x, 2.0 * x))
def f_beta(x): return np.sum(sc.beta(x, x + 1.0))
def f_norm_logpdf(x): return np.sum(norm.logpdf(x, 0.5 * x[0], 1.0 + x * x))
def f_norm_pdf(x): return np.sum(norm.pdf(x, loc=0.2, scale=1.5))
def f_norm_cdf(x): return np.sum(norm.cdf(x * 2.0, 0.1, 1.3))
def f_norm_logcdf(x): return np.sum(norm.logcdf(x))
def f_t_logpdf(x): return np.sum(stats.t.logpdf(x, 3.0 + x * x, 0.1, 1.2))
def f_gamma_logpdf(x): return np.sum(stats.gamma.logpdf(x, 2.0 + x))
def f_beta_logpdf(x): return np.sum(stats.beta.logpdf(x, 2.0, 3.0 * x + 1.0))
def f_poisson_logpmf(x): return np.sum(stats.poisson.logpmf(3.0, x))
def f_expon_logpdf(x): return np.sum(stats.expon.logpdf(x, scale=1.0 + x))
def f_laplace_logpdf(x): return np.sum(stats.laplace.logpdf(x, 0.5, 2.0 * x))


CASES = [(f_gammaln, POS), (f_digamma, POS), (f_psi, POS), (f_polygamma, POS),
         (f_gamma, POS), (f_erf, X), (f_erfc, X), (f_erfinv, UNIT), (f_expit, X),
         (f_logit, UNIT), (f_ndtr, X), (f_log_ndtr, X), (f_ndtri, UNIT), (f_i0, X),
         (f_i0e, X), (f_i1, X), (f_i1e, X), (f_iv, X), (f_ive, POS), (f_logsumexp, X), (f_logsumexp_keep, X), (f_softmax, X),
         (f_log_softmax, X), (f_xlogy, X), (f_xlog1py, POS), (f_betaln, POS), (f_beta, POS),
         (f_norm_logpdf, X), (f_norm_pdf, X), (f_norm_cdf, X), (f_norm_logcdf, X),
         (f_t_logpdf, X), (f_gamma_logpdf, POS), (f_beta_logpdf, UNIT),
         (f_poisson_logpmf, POS), (f_expon_logpdf, POS), (f_laplace_logpdf, POS)]
IDS = [f.__name__[2:] for f, _ in CASES]


def central(f, x, step=1e-6):
    return np.array([(f(x + step * e) - f(x - step * e)) / (2 * step) for e in np.eye(x.size)])


@pytest.mark.parametrize("f, x", CASES, ids=IDS)
def test_grad_and_jvp_match_central_differences(f, x):
    want = central(f, x)
    np.testing.assert_allclose(astjax.grad(f)(x), want, rtol=1e-6, atol=1e-8)
    t = np.array([0.3, -1.0, 0.5])
    value, slope = astjax.jvp(f, (x,), (t,))
    assert value == pytest.approx(f(x), rel=1e-12)
    assert slope == pytest.approx(np.dot(want, t), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("f, x", CASES, ids=IDS)
def test_second_order(f, x):
    grad = astjax.grad(f)
    np.testing.assert_allclose(astjax.hessian(f)(x), central(grad, x, 1e-5),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("f, x", CASES, ids=IDS)
def test_vmap_matches_a_loop(f, x):
    batch = np.stack([x, x * 0.9, x * 1.05])
    np.testing.assert_allclose(astjax.vmap(f)(batch), [f(row) for row in batch],
                               rtol=1e-12)
    if f is f_log_softmax:
        return                   # vmap(grad) of it: test_vmap_of_grad_through_a_keepdims_helper
    np.testing.assert_allclose(astjax.vmap(astjax.grad(f))(batch),
                               [astjax.grad(f)(row) for row in batch], rtol=1e-10)


def _lse(a, axis=None, keepdims=False):
    peak = np.max(a, axis=axis, keepdims=True)
    total = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=keepdims))
    if keepdims:
        return total + peak
    return total + np.squeeze(peak, axis=axis)


def _lsm(x, axis=None):
    return x - _lse(x, axis=axis, keepdims=True)


def _first_row_of_log_softmax(x):
    return np.sum(_lsm(np.outer(x, x), axis=1)[0] * x)


def test_vmap_of_grad_through_a_keepdims_helper():
    batch = np.stack([X, 0.9 * X])
    np.testing.assert_allclose(astjax.vmap(astjax.grad(_first_row_of_log_softmax))(batch),
                               [astjax.grad(_first_row_of_log_softmax)(r) for r in batch])


def test_helpers_compute_what_scipy_computes():
    # the NumPy stand-ins run in the primal sweep: SciPy's values and types
    m = np.outer(X, X)
    for axis in (None, 0, 1):
        for keep in (False, True):
            def total(v, axis=axis, keep=keep):
                return logsumexp(np.outer(v, v), axis=axis, keepdims=keep)
            value, _ = astjax.vjp(total, X)
            want = logsumexp(m, axis=axis, keepdims=keep)
            np.testing.assert_allclose(value, want, rtol=1e-14)
            assert type(value) is type(want) and np.shape(value) == np.shape(want)
    value, _ = astjax.value_and_grad(f_norm_logpdf)(X)
    assert value == pytest.approx(f_norm_logpdf(X), rel=1e-13)


def test_float32_stays_float32():
    x = X.astype(np.float32)
    g = astjax.grad(f_expit)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, central(f_expit, X), rtol=1e-5)


def test_an_argument_the_stand_in_does_not_take_is_refused_by_name():
    def weighted(x):
        return logsumexp(x, b=np.ones(3))
    with pytest.raises(astjax.AstjaxError, match="logsumexp.*'b'"):
        astjax.grad(weighted)(X)


def test_names_are_scipys_in_errors_and_source():
    src = astjax.source(astjax.grad(f_gammaln))
    assert "scipy.special.gammaln(x)" in src and "scipy.special.digamma(x)" in src
    def unknown(x):
        return np.sum(sc.struve(1.0, x))
    with pytest.raises(astjax.AstjaxError, match=r"no differentiation rule for "
                                                 r"scipy\.special\.struve"):
        astjax.grad(unknown)(X)


def test_every_scipy_entry_is_tested():
    registry.load_scipy()
    entries = {k for k in registry.REGISTRY if k.startswith("scipy.")}
    used = set()
    for f, _ in CASES:
        src = astjax.source(astjax.grad(f))
        used |= {k for k in entries if k + "(" in src}
    assert entries - used == set()
    scipy_stand_ins = [helper for _, helper in registry.REPLACEMENTS.values()
                       if helper.__module__ == "astjax.rules.scipy_numpy"]
    assert len(scipy_stand_ins) == sum(1 for f, _ in CASES if f.__name__.endswith((
        "logsumexp", "softmax", "log_softmax", "xlogy", "xlog1py", "betaln", "beta",
        "norm_logpdf", "norm_pdf", "norm_cdf", "norm_logcdf", "t_logpdf", "gamma_logpdf",
        "beta_logpdf", "poisson_logpmf", "expon_logpdf", "laplace_logpdf")) and
        not f.__name__.endswith("_keep"))
