"""SciPy's entries: special functions as primitives, composite functions and distributions
as NumPy helpers (astjax/rules/scipy_numpy.py) that astjax differentiates from their source,
like a user's helper.  SciPy stays optional: nothing here imports it until a program has
(``registry.load_scipy``), so ``import astjax`` costs no SciPy import.

Before (user code)::

    from scipy.special import gammaln, logsumexp
    from scipy.stats import norm
    def nll(mu, x):
        return -np.sum(norm.logpdf(x, mu, 1.0)) + logsumexp(mu) + gammaln(mu[0])

After (in grad's reverse sweep)::

    d_mu = ... _ax.unbroadcast(g * scipy.special.digamma(item1), item1) ...  # gammaln'
    # norm.logpdf and logsumexp: their NumPy source in scipy_numpy.py, differentiated
"""
from astjax.rules import registry
from astjax.rules.registry import defprim

TWO_OVER_SQRT_PI = "1.1283791670955126"    # 2 / sqrt(pi), for erf
INV_SQRT_2PI = "0.3989422804014327"        # 1 / sqrt(2 pi), for ndtr


def register():
    import scipy.special
    import scipy.stats

    from astjax.rules import scipy_numpy as impl

    # ---- special functions: primitives with their rules --------------------------------
    s = "scipy.special"
    defprim(f"{s}.gammaln", vjp={"x": f"g * {s}.digamma(x)"}, jvp=f"t_x * {s}.digamma(x)")
    defprim(f"{s}.digamma", aliases=[f"{s}.psi"], vjp={"x": f"g * {s}.polygamma(1, x)"},
            jvp=f"t_x * {s}.polygamma(1, x)")
    defprim(f"{s}.polygamma", "n, x", vjp={"x": f"g * {s}.polygamma(n + 1, x)"},
            jvp=f"t_x * {s}.polygamma(n + 1, x)")
    defprim(f"{s}.gamma", vjp={"x": f"g * ans * {s}.digamma(x)"},
            jvp=f"t_x * ans * {s}.digamma(x)")
    defprim(f"{s}.erf", vjp={"x": f"g * {TWO_OVER_SQRT_PI} * np.exp(-x * x)"},
            jvp=f"t_x * {TWO_OVER_SQRT_PI} * np.exp(-x * x)")
    defprim(f"{s}.erfc", vjp={"x": f"-g * {TWO_OVER_SQRT_PI} * np.exp(-x * x)"},
            jvp=f"-t_x * {TWO_OVER_SQRT_PI} * np.exp(-x * x)")
    defprim(f"{s}.erfinv", vjp={"x": f"g * np.exp(ans * ans) / {TWO_OVER_SQRT_PI}"},
            jvp=f"t_x * np.exp(ans * ans) / {TWO_OVER_SQRT_PI}")
    defprim(f"{s}.expit", vjp={"x": "g * ans * (1.0 - ans)"}, jvp="t_x * ans * (1.0 - ans)")
    defprim(f"{s}.logit", vjp={"x": "g / (x * (1.0 - x))"}, jvp="t_x / (x * (1.0 - x))")
    defprim(f"{s}.ndtr", vjp={"x": f"g * {INV_SQRT_2PI} * np.exp(-0.5 * x * x)"},
            jvp=f"t_x * {INV_SQRT_2PI} * np.exp(-0.5 * x * x)")
    defprim(f"{s}.log_ndtr",
            vjp={"x": f"g * {INV_SQRT_2PI} * np.exp(-0.5 * x * x - ans)"},
            jvp=f"t_x * {INV_SQRT_2PI} * np.exp(-0.5 * x * x - ans)")
    defprim(f"{s}.ndtri", vjp={"x": f"g / ({INV_SQRT_2PI} * np.exp(-0.5 * ans * ans))"},
            jvp=f"t_x / ({INV_SQRT_2PI} * np.exp(-0.5 * ans * ans))")
    # modified Bessel functions: I_v' = (I_{v-1} + I_{v+1}) / 2; the e-scaled ones carry
    # exp(-|x|), whose derivative adds -sign(x) times the function
    defprim(f"{s}.i0", vjp={"x": f"g * {s}.i1(x)"}, jvp=f"t_x * {s}.i1(x)")
    defprim(f"{s}.i1", vjp={"x": f"g * 0.5 * ({s}.i0(x) + {s}.iv(2, x))"},
            jvp=f"t_x * 0.5 * ({s}.i0(x) + {s}.iv(2, x))")
    defprim(f"{s}.iv", "v, x", vjp={"x": f"g * 0.5 * ({s}.iv(v - 1, x) + {s}.iv(v + 1, x))"},
            jvp=f"t_x * 0.5 * ({s}.iv(v - 1, x) + {s}.iv(v + 1, x))")
    defprim(f"{s}.i0e", vjp={"x": f"g * ({s}.i1e(x) - np.sign(x) * ans)"},
            jvp=f"t_x * ({s}.i1e(x) - np.sign(x) * ans)")
    defprim(f"{s}.i1e", vjp={"x": f"g * (0.5 * ({s}.i0e(x) + {s}.ive(2, x)) - np.sign(x) * ans)"},
            jvp=f"t_x * (0.5 * ({s}.i0e(x) + {s}.ive(2, x)) - np.sign(x) * ans)")
    defprim(f"{s}.ive", "v, x",
            vjp={"x": f"g * (0.5 * ({s}.ive(v - 1, x) + {s}.ive(v + 1, x)) - np.sign(x) * ans)"},
            jvp=f"t_x * (0.5 * ({s}.ive(v - 1, x) + {s}.ive(v + 1, x)) - np.sign(x) * ans)")

    # ---- composite functions and distributions: NumPy source, differentiated -----------
    sp, st = scipy.special, scipy.stats
    for library, helper in [
            (sp.logsumexp, impl.logsumexp), (sp.softmax, impl.softmax),
            (sp.log_softmax, impl.log_softmax), (sp.xlogy, impl.xlogy),
            (sp.xlog1py, impl.xlog1py), (sp.betaln, impl.betaln), (sp.beta, impl.beta),
            (st.norm.logpdf, impl.norm_logpdf), (st.norm.pdf, impl.norm_pdf),
            (st.norm.cdf, impl.norm_cdf), (st.norm.logcdf, impl.norm_logcdf),
            (st.t.logpdf, impl.t_logpdf), (st.gamma.logpdf, impl.gamma_logpdf),
            (st.beta.logpdf, impl.beta_logpdf), (st.poisson.logpmf, impl.poisson_logpmf),
            (st.expon.logpdf, impl.expon_logpdf), (st.laplace.logpdf, impl.laplace_logpdf)]:
        registry.replace_with(library, helper)


registry.SCIPY_ENTRIES.append(register)
