"""Log-likelihoods: Gaussian, Poisson, logistic regression, mixtures, logsumexp."""
import numpy as np

from . import Kernel


def gaussian_loglik(x, mu, sigma):
    n = x.size
    return (-0.5 * np.sum(((x - mu) / sigma) ** 2)
            - n * np.log(sigma) - 0.5 * n * np.log(2 * np.pi))


def logsumexp_rows(a):
    m = np.max(a, axis=1)
    return m + np.log(np.sum(np.exp(a - m[:, None]), axis=1))


def poisson_loglik(k, lam):
    return np.sum(k * np.log(lam) - lam)


def logistic_nll(w, X, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z) / y.shape[0]


def gmm_loglik_loops(x, weights, means, sigmas):
    total = 0.0
    for i in range(x.shape[0]):
        p = 0.0
        for k in range(weights.shape[0]):
            z = (x[i] - means[k]) / sigmas[k]
            p += weights[k] * np.exp(-0.5 * z * z) / (sigmas[k] * np.sqrt(2 * np.pi))
        total += np.log(p)
    return total


def student_t_float32(x, nu):
    return np.sum(-(nu + 1) / 2 * np.log1p(x * x / nu))


def _n(size, small, bench):
    return small if size == "small" else bench


def _gauss(rng, size):
    return rng.standard_normal(_n(size, 64, 300000)), 0.3, 1.7


def _lse(rng, size):
    return (rng.standard_normal((_n(size, 10, 1000), _n(size, 6, 300))),)


def _poisson(rng, size):
    n = _n(size, 64, 300000)
    return rng.poisson(3.0, n), rng.random(n) * 5 + 0.1


def _logistic(rng, size):
    n, d = _n(size, 40, 50000), _n(size, 4, 20)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    return rng.standard_normal(d), X, y


def _gmm(rng, size):
    n = _n(size, 40, 1500)
    return (rng.standard_normal(n), np.array([0.2, 0.5, 0.3]), np.array([-1.0, 0.0, 2.0]),
            np.array([0.5, 1.0, 0.7]))


def _student(rng, size):
    return rng.standard_normal(_n(size, 64, 300000)).astype(np.float32), np.float32(4.0)


CASES = [
    Kernel("gaussian_loglik", "likelihood", gaussian_loglik, _gauss),
    Kernel("logsumexp_rows", "likelihood", logsumexp_rows, _lse),
    Kernel("poisson_loglik", "likelihood", poisson_loglik, _poisson),
    Kernel("logistic_nll", "likelihood", logistic_nll, _logistic),
    Kernel("gmm_loglik_loops", "likelihood", gmm_loglik_loops, _gmm),
    Kernel("student_t_float32", "likelihood", student_t_float32, _student),
]
