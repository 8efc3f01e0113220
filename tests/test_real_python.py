"""Python that scientific programs are written in, under every transform (issue 15):
input checks that raise, f-strings in messages and logs, plotting code on a branch that
does not run, random draws inside an objective, parameters left at their defaults.

Each result is checked against an oracle: central differences of the plain function, the
plain function itself, or a Python loop.
"""
import numpy as np
import pytest

import astjax
from astjax.batching.control import BatchingWarning
from astjax.errors import UnsupportedError

X = np.array([0.1, 0.5, -0.3])


def fd_grad(f, x, reset=lambda: None, step=1e-6):
    out = []
    for e in np.eye(x.size):
        reset()
        up = f(x + step * e)
        reset()
        down = f(x - step * e)
        out.append((up - down) / (2 * step))
    return np.array(out)


# ---- raise ---------------------------------------------------------------------------------

def checked_energy(x, scale=2.0):
    if x.ndim != 1:
        raise ValueError(f"expected a vector, got {x.ndim} dimensions")
    if scale <= 0:
        raise ValueError("scale must be positive")
    return np.sum(np.tanh(x) * scale)


def test_input_checks_pass_through_when_the_input_is_good():
    np.testing.assert_allclose(astjax.grad(checked_energy)(X), fd_grad(checked_energy, X),
                               rtol=1e-7)
    np.testing.assert_allclose(astjax.hessian(checked_energy)(X),
                               np.diag(-4 * np.tanh(X) * (1 - np.tanh(X) ** 2)), rtol=1e-7)
    np.testing.assert_allclose(astjax.jit(checked_energy)(X), checked_energy(X))
    np.testing.assert_allclose(astjax.jit(astjax.grad(checked_energy))(X),
                               fd_grad(checked_energy, X), rtol=1e-7)
    batch = np.stack([X, 2 * X])
    np.testing.assert_allclose(astjax.vmap(checked_energy)(batch),
                               [checked_energy(row) for row in batch])


@pytest.mark.parametrize("transform", ["grad", "jvp", "jit", "vmap", "hessian"])
def test_input_checks_raise_the_users_error(transform):
    run = {"grad": lambda a, *r: astjax.grad(checked_energy)(a, *r),
           "jvp": lambda a, *r: astjax.jvp(lambda v: checked_energy(v, *r), (a,), (a,)),
           "jit": lambda a, *r: astjax.jit(checked_energy)(a, *r),
           "vmap": lambda a, *r: astjax.vmap(checked_energy)(a[None], *r),
           "hessian": lambda a, *r: astjax.hessian(checked_energy)(a, *r)}[transform]
    if transform != "jvp":
        with pytest.raises(ValueError, match="expected a vector, got 2 dimensions"):
            run(np.ones((2, 2)))
    if transform not in ("vmap", "jvp"):
        with pytest.raises(ValueError, match="scale must be positive"):
            run(X, -1.0)


# ---- f-strings -----------------------------------------------------------------------------

def logged_loss(x):
    loss = np.sum(x * x)
    print(f"loss {loss:.3f} at {x!r} {{step}}")
    return loss


def test_fstrings_print_the_real_values(capsys):
    expected = f"loss {np.sum(X * X):.3f} at {X!r} {{step}}"
    np.testing.assert_allclose(astjax.grad(logged_loss)(X), 2 * X)
    assert capsys.readouterr().out.strip() == expected
    np.testing.assert_allclose(astjax.jit(logged_loss)(X), np.sum(X * X))
    assert capsys.readouterr().out.strip() == expected
    astjax.vmap(logged_loss)(np.stack([X, 2 * X]))       # printed once, batched
    assert capsys.readouterr().out.startswith("loss [0.350, 1.400] at array(")
    assert "_ax.format('loss {:.3f} at {!r} {{step}}', loss, x)" in \
        astjax.source(astjax.grad(logged_loss))


# ---- code on a branch that does not run -----------------------------------------------------

def loss_with_plot(x, ax=None):
    y = np.sum(x * x)
    if ax:
        import matplotlib.pyplot as plt
        plt.cla()
        ax.plot(x)
    return y


def test_an_untaken_plotting_branch_does_not_stop_the_transform():
    np.testing.assert_allclose(astjax.grad(loss_with_plot)(X), 2 * X)
    np.testing.assert_allclose(astjax.vmap(loss_with_plot)(np.stack([X, X])),
                               [np.sum(X * X)] * 2)
    np.testing.assert_allclose(astjax.jit(loss_with_plot)(X), np.sum(X * X))


def test_the_branch_refuses_when_it_runs():
    with pytest.raises(UnsupportedError, match=r"test_real_python\.py:\d+: cannot "
                                               r"differentiate through 'import'"):
        astjax.grad(loss_with_plot)(X, True)


# ---- random draws ----------------------------------------------------------------------------

def bbvi_objective(params, seed=0):
    mean, log_std = params[:2], params[2:]
    rs = np.random.RandomState(seed)
    eps = rs.randn(2)
    sample = mean + np.exp(log_std) * eps            # the reparameterization trick
    return np.sum(sample ** 2)


def noisy_loss(x):
    eps = np.random.randn(*x.shape)
    return np.sum((x + 0.1 * eps) ** 2)


RNG = np.random.default_rng(0)


def generator_loss(x):
    eps = RNG.standard_normal(x.shape)
    return np.sum(np.sin(x) * eps)


P = np.array([0.1, 0.2, -0.3, 0.4])


def test_draws_are_constants_of_the_sample():
    np.testing.assert_allclose(astjax.grad(bbvi_objective)(P), fd_grad(bbvi_objective, P),
                               rtol=1e-6)
    np.random.seed(1)
    got = astjax.grad(noisy_loss)(P)
    np.testing.assert_allclose(got, fd_grad(noisy_loss, P, lambda: np.random.seed(1)),
                               rtol=1e-6)
    global RNG
    RNG = np.random.default_rng(3)
    got = astjax.grad(generator_loss)(P)

    def reset():
        global RNG
        RNG = np.random.default_rng(3)
    np.testing.assert_allclose(got, fd_grad(generator_loss, P, reset), rtol=1e-6)


def test_draws_are_never_merged_or_dropped():
    def two_draws(x):
        a = np.random.randn(3)
        b = np.random.randn(3)
        unused = np.random.randn(3)
        return np.sum(x * a) + np.sum(x * b)
    np.random.seed(5)
    got = astjax.grad(two_draws)(X)
    after = np.random.randn()             # the unused draw ran too: this is the 10th number
    stream = np.random.RandomState(5).randn(10)
    a, b = stream[:3], stream[3:6]
    np.testing.assert_allclose(got, a + b)
    assert after == stream[9]


def test_vmap_of_draws_matches_a_python_loop():
    batch = np.stack([P, 2 * P, -P])
    np.random.seed(2)
    with pytest.warns(BatchingWarning, match="a random draw differs per lane"):
        got = astjax.vmap(noisy_loss)(batch)
    np.random.seed(2)
    np.testing.assert_allclose(got, [noisy_loss(row) for row in batch])


def test_jit_and_hessian_of_draws():
    np.random.seed(4)
    got = astjax.jit(noisy_loss)(P)
    np.random.seed(4)
    assert got == noisy_loss(P)
    np.testing.assert_allclose(astjax.hessian(bbvi_objective)(P),
                               np.array([fd_grad(lambda q: astjax.grad(bbvi_objective)(q)[i], P)
                                         for i in range(4)]), rtol=1e-5, atol=1e-7)


# ---- parameters left at their defaults -------------------------------------------------------

def scaled(x, scale=2.0, shift=0.5):
    return np.sum(np.tanh(x) * scale + shift)


def test_defaults_under_jvp_vmap_and_jacfwd():
    t = np.array([1.0, -1.0, 0.5])
    y, ty = astjax.jvp(scaled, (X,), (t,))
    assert y == pytest.approx(scaled(X))
    assert ty == pytest.approx(np.dot(2.0 * (1 - np.tanh(X) ** 2), t))
    batch = np.stack([X, 3 * X])
    np.testing.assert_allclose(astjax.vmap(scaled)(batch), [scaled(r) for r in batch])
    np.testing.assert_allclose(astjax.vmap(scaled, in_axes=(0, None))(batch, 3.0),
                               [scaled(r, 3.0) for r in batch])
    np.testing.assert_allclose(astjax.jacfwd(scaled)(X), fd_grad(scaled, X), rtol=1e-7)
    with pytest.raises(TypeError, match="missing 'x'"):
        astjax.jvp(scaled, (), ())


def test_a_draw_from_a_differentiated_value_is_refused_not_zero():
    def sampled(mu):
        rs = np.random.RandomState(0)
        return np.sum(rs.normal(mu, 1.0))       # d/dmu is not 0: reparameterize instead
    with pytest.raises(astjax.AstjaxError, match=r"test_real_python\.py:\d+.*_ax\.draw"):
        astjax.grad(sampled)(X)
    with pytest.raises(astjax.AstjaxError, match=r"_ax\.draw"):
        astjax.jvp(sampled, (X,), (X,))


# ---- a helper that rebinds the loop's state: h = step(w, h, x) --------------------------------

def rnn_step(w, h, x):
    return np.tanh(w * h + x)


def rnn_scan(w, xs):
    h = np.zeros(2)
    for x in xs:
        h = rnn_step(w, h, x)
    return np.sum(h * h)


def test_helper_rebinding_its_operand_in_a_loop():
    # the helper's tape is pushed after the saved h: reverse mode restores h after the
    # helper's own reverse sweep (this crashed with 'cannot unpack' from generated code)
    xs = np.array([[0.5, -0.3], [0.8, 0.1], [-0.2, 0.4]])
    w = np.array([0.7, -0.4])
    np.testing.assert_allclose(astjax.grad(rnn_scan)(w, xs),
                               fd_grad(lambda v: rnn_scan(v, xs), w), rtol=1e-6)
    H = astjax.hessian(rnn_scan)(w, xs)
    want = fd_grad(lambda v: astjax.grad(rnn_scan)(v, xs), w, step=1e-5)
    np.testing.assert_allclose(H, want, rtol=1e-4, atol=1e-7)
