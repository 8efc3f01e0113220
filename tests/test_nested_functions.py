"""Nested defs and lambdas inside a transformed function (issue 15), written the way RNN,
LSTM and mixture-model examples write them: a step function closing over the weights, a
lambda for a nonlinearity, a recursive power.  Each is checked against the plain function
(values), finite differences (grad, hessian), a Python loop (vmap), and jit."""
import numpy as np
import pytest

import astjax
from astjax.errors import AstjaxError
from checks import numerical_grad


def rnn_loss(w, xs):
    def step(h, x):
        return np.tanh(w * h + x)
    h = 0.0
    for x in xs:
        h = step(h, x)
    return h * h


def lstm_like(W, xs):
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))      # noqa: E731

    def cell(h, c, x):
        gates = W @ np.concatenate([h, x])
        i, f, o = sigmoid(gates[0:2]), sigmoid(gates[2:4]), sigmoid(gates[4:6])
        c = f * c + i * np.tanh(gates[6:8])
        return o * np.tanh(c), c
    h = np.zeros(2)
    c = np.zeros(2)
    for t in range(xs.shape[0]):
        h, c = cell(h, c, xs[t])
    return np.sum(h ** 2) + 0.1 * np.sum(c)


def mixture_elbo(theta, x):
    scale = 2.0
    sq = lambda z: z * z                              # noqa: E731

    def log_component(mu, k=1.5):
        return -scale * sq(x - mu) + k
    total = 0.0
    for j in range(theta.shape[0]):
        total = total + np.sum(log_component(theta[j]))
    return total


def recursive_power(x, n):
    def p(k):
        if k == 0:
            return 1.0
        return x * p(k - 1)
    return p(n)


def reads_later_value(x):
    def f(z):
        return z * bias                               # bias is assigned after the def
    bias = np.sum(x)
    return np.sum(f(x))


def siblings(x):
    a = np.cos(x)

    def g(z):
        return z * a

    def h(z):
        return np.sum(g(z) ** 2)                      # h reads a only through g
    return h(x)


RNG = np.random.default_rng(3)
CASES = [
    (rnn_loss, (0.7, np.array([0.5, -0.3, 0.8]))),
    (lstm_like, (RNG.normal(size=(8, 4)) * 0.5, RNG.normal(size=(3, 2)))),
    (mixture_elbo, (np.array([0.2, -0.4]), np.array([0.1, 0.5, -0.7]))),
    (recursive_power, (1.3, 4)),
    (reads_later_value, (np.array([0.3, -1.2, 2.0]),)),
    (siblings, (np.array([0.3, -1.2, 2.0]),)),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("fn,args", CASES, ids=IDS)
def test_grad_matches_finite_differences(fn, args):
    got = astjax.grad(fn)(*args)
    np.testing.assert_allclose(got, numerical_grad(fn, args, 0), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fn,args", CASES, ids=IDS)
def test_jit_matches_numpy(fn, args):
    got, want = astjax.jit(fn)(*args), fn(*args)
    assert type(got) is type(want)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("fn,args", CASES[:3], ids=IDS[:3])
def test_hessian_matches_finite_differences_of_grad(fn, args):
    H = np.asarray(astjax.hessian(fn)(*args))
    gfn = astjax.grad(fn)
    x = np.asarray(args[0], dtype=float)
    eps = 1e-5
    cols = []
    for idx in np.ndindex(x.shape or (1,)):
        e = np.zeros_like(x)
        e[idx if x.shape else ()] = eps
        cols.append((np.asarray(gfn(x + e, *args[1:])) - np.asarray(gfn(x - e, *args[1:])))
                    / (2 * eps))
    want = np.stack(cols, axis=-1).reshape(H.shape)
    np.testing.assert_allclose(H, want, rtol=1e-4, atol=1e-6)


def test_vmap_over_sequences_matches_a_loop():
    xs = RNG.normal(size=(4, 3))
    got = astjax.vmap(rnn_loss, in_axes=(None, 0))(0.7, xs)
    np.testing.assert_allclose(got, [rnn_loss(0.7, row) for row in xs], rtol=1e-12)
    thetas = RNG.normal(size=(3, 2))
    x = np.array([0.1, 0.5, -0.7])
    got = astjax.vmap(astjax.grad(mixture_elbo), in_axes=(0, None))(thetas, x)
    want = [numerical_grad(mixture_elbo, (t, x), 0) for t in thetas]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_generated_source_shows_the_lifted_helper():
    text = astjax.source(astjax.grad(rnn_loss))
    assert "def step(w, h, x):" in text or "step_fwd" in text
    assert "step_bwd" in text


# ---- refused, naming the line --------------------------------------------------------------

def returns_the_closure(x):
    def f(z):
        return z * x
    return f


def maps_a_lambda(x):
    sq = lambda z: z * z                              # noqa: E731
    return np.sum(list(map(sq, x)))


def rebinds_the_name(x):
    def f(z):
        return z * 2.0
    f = np.sin
    return np.sum(f(x))


def nonlocal_update(x):
    total = 0.0

    def add(z):
        nonlocal total
        total = total + z
    add(np.sum(x))
    return total


@pytest.mark.parametrize("fn,words", [
    (returns_the_closure, "used as a value"),
    (maps_a_lambda, "used as a value"),
    (rebinds_the_name, "rebound"),
    (nonlocal_update, "nonlocal"),
])
def test_refused_with_the_users_line(fn, words):
    with pytest.raises(AstjaxError) as info:
        astjax.grad(fn)(np.array([1.0, 2.0]))
    message = str(info.value)
    assert words in message
    assert "test_nested_functions.py:" in message
