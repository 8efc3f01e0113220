"""np.fft and complex intermediates of real losses under every transform (issue 14): fft,
ifft, rfft, irfft (with n, axis, norm), fft2/ifft2, fftn/ifftn, fftshift/ifftshift, and
np.real/imag/conj/abs/angle of complex values, checked against NumPy (values), central
differences (grad, jvp, second order) and a Python loop (vmap).  Each case is a real scalar
loss of a real parameter vector, as spectral code writes it (power spectra, filters)."""
import numpy as np
import pytest

import astjax

RNG = np.random.default_rng(1)
P = RNG.normal(size=12)
W = np.linspace(0.5, 1.6, 12)
W34 = W.reshape(3, 4)
W232 = W.reshape(2, 3, 2)


def f_power_spectrum(x): return np.sum(np.abs(np.fft.fft(x)) ** 2 * W)
def f_fft_parts(x):
    z = np.fft.fft(x * W)
    return np.sum(np.real(z) * W) + np.sum(np.imag(z) ** 2) + np.sum(np.abs(z))
def f_fft_n_axis_norm(x):
    m = np.reshape(x, (3, 4))
    return (np.sum(np.abs(np.fft.fft(m, 6, axis=0)) ** 2)
            + np.sum(np.real(np.fft.fft(m, 3, norm="ortho") * (0.3 - 0.7j)))
            + np.sum(np.imag(np.fft.fft(m, axis=1, norm="forward")) * W34))
def f_ifft(x):
    z = np.fft.ifft(x[:6] + 1j * x[6:])
    return np.sum(np.real(z) * W[:6]) + np.sum(np.imag(z) ** 2)
def f_roundtrip(x):                         # a filter: multiply the spectrum, transform back
    spec = np.fft.fft(x) * np.exp(-W)
    return np.sum(np.real(np.fft.ifft(spec)) ** 2)
def f_rfft(x): return np.sum(np.abs(np.fft.rfft(x)) * W[:7]) + np.sum(np.abs(np.fft.rfft(x, 9)))
def f_irfft(x):
    z = x[:6] + 1j * x[6:]
    return (np.sum(np.fft.irfft(z) * W[:10]) + np.sum(np.fft.irfft(z, 9, norm="ortho") ** 2)
            + np.sum(np.fft.irfft(z, 12) ** 3))
def f_rfft_irfft(x): return np.sum(np.fft.irfft(np.fft.rfft(x) * np.exp(-W[:7])) * W)
def f_fft2(x):
    z = np.fft.fft2(np.reshape(x, (3, 4)))
    return np.sum(np.abs(z) ** 2 * W34) + np.sum(np.real(np.fft.ifft2(z * W34)))
def f_fftn(x):
    z = np.fft.fftn(np.reshape(x, (2, 3, 2)))
    return np.sum(np.abs(z) * W232) + np.sum(np.imag(np.fft.ifftn(z * W232, axes=(0, 2))))
def f_shifts(x):
    m = np.reshape(x, (3, 4))
    return (np.sum(np.fft.fftshift(m) * W34) + np.sum(np.fft.ifftshift(m, axes=1) ** 2 * W34)
            + np.sum(np.abs(np.fft.fftshift(np.fft.fft(x))) * W))
def f_complex_parts(x):
    z = x[:6] + 1j * x[6:]
    w = np.conj(z) * (0.5 - 1.0j) + z * z
    return (np.sum(np.real(w) * W[:6]) + np.sum(np.imag(w)) + np.sum(np.abs(z * w))
            + np.sum(np.angle(z)) + np.sum(np.angle(w, deg=True)))
def f_real_times_complex(x): return np.sum(np.real(np.exp(x * (0.2 + 1.0j))) * W)


CASES = [f_power_spectrum, f_fft_parts, f_fft_n_axis_norm, f_ifft, f_roundtrip, f_rfft,
         f_irfft, f_rfft_irfft, f_fft2, f_fftn, f_shifts, f_complex_parts, f_real_times_complex]
IDS = [f.__name__[2:] for f in CASES]


def central(f, x, step=1e-6):
    return np.array([(f(x + step * e) - f(x - step * e)) / (2 * step) for e in np.eye(x.size)])


@pytest.mark.parametrize("f", CASES, ids=IDS)
def test_grad_and_jvp_match_central_differences(f):
    want = central(f, P)
    value, grad = astjax.value_and_grad(f)(P)
    assert value == pytest.approx(f(P), rel=1e-12)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)
    t = RNG.normal(size=P.size)
    value, slope = astjax.jvp(f, (P,), (t,))
    assert value == pytest.approx(f(P), rel=1e-12)
    assert slope == pytest.approx(np.dot(want, t), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("f", CASES, ids=IDS)
def test_second_order(f):
    grad = astjax.grad(f)
    want = central(grad, P, 1e-5)
    np.testing.assert_allclose(astjax.hessian(f)(P), want, rtol=1e-4, atol=1e-5)
    v = RNG.normal(size=P.size)                       # grad of grad (reverse over reverse)
    np.testing.assert_allclose(astjax.grad(lambda x: np.sum(grad(x) * v))(P), want @ v,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("f", CASES, ids=IDS)
def test_vmap_matches_a_loop(f):
    batch = np.stack([P, P * 0.9, P[::-1] * 1.05])
    np.testing.assert_allclose(astjax.vmap(f)(batch), [f(row) for row in batch], rtol=1e-10)
    np.testing.assert_allclose(astjax.vmap(astjax.grad(f))(batch),
                               [astjax.grad(f)(row) for row in batch], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("f", CASES, ids=IDS)
def test_float32_stays_float32(f):
    x = P.astype(np.float32)
    g = astjax.grad(f)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, central(f, P), rtol=2e-2, atol=2e-2)


def fft_calls(z):
    x = np.real(z)
    return [np.fft.fft(z), np.fft.ifft(z, 5, 0), np.fft.rfft(x, 6), np.fft.irfft(z, 7),
            np.fft.fft2(z), np.fft.ifftn(z), np.fft.fftshift(x), np.fft.ifftshift(x, 0)]


def test_values_are_numpys_and_vmap_maps_them():
    x = np.reshape(P, (3, 4))
    z = x + 1j * x[::-1]
    batch = np.stack([z, 2 * z])
    got = astjax.vmap(fft_calls)(batch)
    for i, want in enumerate(zip(fft_calls(z), fft_calls(2 * z))):
        np.testing.assert_allclose(got[i], np.stack(want), rtol=1e-12, atol=1e-12)


def test_gradient_of_a_complex_input_is_autograds_convention():
    # L = |z|^2 = u^2 + v^2: g = dL/du - i dL/dv = 2 conj(z)... astjax's cotangent of z
    def loss(z):
        return np.sum(np.abs(z) ** 2)
    z = np.array([1.0 + 2.0j, -0.5 + 0.25j])
    np.testing.assert_allclose(astjax.grad(loss)(z), 2 * np.conj(z), rtol=1e-12)
