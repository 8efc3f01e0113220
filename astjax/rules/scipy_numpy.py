"""SciPy functions written in NumPy, for astjax to differentiate from source like a user's
helper (see astjax/rules/scipy.py).  Each computes what SciPy computes, stably, for the
arguments scientific code passes; a call with an argument these do not take (logsumexp's
``b=``, a distribution's ``moments=``) is refused by name.
"""
import numpy as np
import scipy.special

HALF_LOG_2PI = 0.9189385332046727          # log(2 pi) / 2


# ---- scipy.special ------------------------------------------------------------------------

def logsumexp(a, axis=None, keepdims=False):
    peak = np.max(a, axis=axis, keepdims=True)
    total = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=keepdims))
    if keepdims:
        return total + peak
    return total + np.squeeze(peak, axis=axis)


def softmax(x, axis=None):
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def log_softmax(x, axis=None):
    return x - logsumexp(x, axis=axis, keepdims=True)


def xlogy(x, y):
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def xlog1py(x, y):
    return np.where(x == 0, 0.0, x * np.log1p(np.where(x == 0, 0.0, y)))


def betaln(a, b):
    return scipy.special.gammaln(a) + scipy.special.gammaln(b) - scipy.special.gammaln(a + b)


def beta(a, b):
    return np.exp(betaln(a, b))


# ---- scipy.stats: log densities -------------------------------------------------------------

def norm_logpdf(x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return -0.5 * z * z - np.log(scale) - HALF_LOG_2PI


def norm_pdf(x, loc=0.0, scale=1.0):
    return np.exp(norm_logpdf(x, loc, scale))


def norm_cdf(x, loc=0.0, scale=1.0):
    return scipy.special.ndtr((x - loc) / scale)


def norm_logcdf(x, loc=0.0, scale=1.0):
    return scipy.special.log_ndtr((x - loc) / scale)


def t_logpdf(x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    half = (df + 1.0) / 2.0
    return (scipy.special.gammaln(half) - scipy.special.gammaln(df / 2.0)
            - 0.5 * np.log(df * np.pi) - np.log(scale) - half * np.log1p(z * z / df))


def gamma_logpdf(x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return (a - 1.0) * np.log(z) - z - scipy.special.gammaln(a) - np.log(scale)


def beta_logpdf(x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return ((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - betaln(a, b)
            - np.log(scale))


def poisson_logpmf(k, mu, loc=0):
    n = k - loc
    return xlogy(n, mu) - mu - scipy.special.gammaln(n + 1.0)


def expon_logpdf(x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return -z - np.log(scale)


def laplace_logpdf(x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return -np.abs(z) - np.log(2.0 * scale)
