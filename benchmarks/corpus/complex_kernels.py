"""Complex arrays: DFTs, phase factors, power spectra, Mandelbrot on complex numbers."""
import numpy as np

from . import Kernel


def dft_matrix(x):
    N = x.shape[0]
    n = np.arange(N)
    k = n.reshape((N, 1))
    M = np.exp(-2j * np.pi * k * n / N)
    return M @ x


def dft_loop(x):
    N = x.shape[0]
    out = np.zeros(N, dtype=np.complex128)
    for k in range(N):
        s = 0j
        for t in range(N):
            s += x[t] * np.exp(-2j * np.pi * k * t / N)
        out[k] = s
    return out


def power_spectrum(z):
    return np.real(z * np.conj(z))


def propagate_field(field, kz, z):
    out = field * np.exp(1j * kz * z)
    return out.real, out.imag, np.abs(out)


def mandelbrot_complex(c, maxiter):
    out = np.zeros(c.shape, dtype=np.int64)
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            z = 0j
            n = 0
            while abs(z) <= 2.0 and n < maxiter:
                z = z * z + c[i, j]
                n += 1
            out[i, j] = n
    return out


def mandelbrot_vectorized(c, maxiter):
    z = np.zeros_like(c)
    count = np.zeros(c.shape, dtype=np.int64)
    for _ in range(maxiter):
        z = np.where(np.abs(z) <= 2.0, z * z + c, z)
        count += np.abs(z) <= 2.0
    return count


def phase_unwrap_sum(z):
    ang = np.angle(z)
    return np.sum(np.cos(ang) * np.abs(z))


def _n(size, small, bench):
    return small if size == "small" else bench


def _signal(rng, size):
    return (rng.standard_normal(_n(size, 16, 400)),)


def _dft_loop(rng, size):
    return (rng.standard_normal(_n(size, 16, 70)),)


def _phases(rng, size):
    n = _n(size, 64, 250000)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n),)


def _complex(rng, size):
    n = _n(size, 64, 500000)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n),)


def _field(rng, size):
    n = _n(size, 64, 300000)
    return rng.standard_normal(n) + 1j * rng.standard_normal(n), rng.random(n), 0.7


def _grid(rng, size):
    n = _n(size, 8, 40)
    x = np.linspace(-2.0, 0.6, n)
    y = np.linspace(-1.2, 1.2, n)
    return x[None, :] + 1j * y[:, None], _n(size, 20, 50)


CASES = [
    Kernel("dft_matrix", "complex", dft_matrix, _signal),
    Kernel("dft_loop", "complex", dft_loop, _dft_loop),
    Kernel("power_spectrum", "complex", power_spectrum, _complex),
    Kernel("propagate_field", "complex", propagate_field, _field),
    Kernel("mandelbrot_complex", "complex", mandelbrot_complex, _grid),
    Kernel("mandelbrot_vectorized", "complex", mandelbrot_vectorized, _grid),
    Kernel("phase_unwrap_sum", "complex", phase_unwrap_sum, _phases),
]
