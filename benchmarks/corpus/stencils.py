"""Stencils: shifted-slice finite differences and explicit stencil loops."""
import numpy as np

from . import Kernel


def diffusion_2d(u, nu, dt, dx, steps):
    u = u.copy()
    for _ in range(steps):
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + nu * dt / dx ** 2 * (
            u[2:, 1:-1] - 2 * u[1:-1, 1:-1] + u[:-2, 1:-1]
            + u[1:-1, 2:] - 2 * u[1:-1, 1:-1] + u[1:-1, :-2])
    return u


def laplacian(image):
    out_image = np.abs(4 * image[1:-1, 1:-1] - image[0:-2, 1:-1] - image[2:, 1:-1]
                       - image[1:-1, 0:-2] - image[1:-1, 2:])
    valmax = np.max(out_image)
    valmax = max(1.0, valmax) + 1.0e-9
    out_image /= valmax
    return out_image


def wave_1d(u, u_prev, c, dt, dx, steps):
    u = u.copy()
    u_prev = u_prev.copy()
    r2 = (c * dt / dx) ** 2
    for n in range(steps):
        u_next = np.zeros_like(u)
        u_next[1:-1] = 2 * u[1:-1] - u_prev[1:-1] + r2 * (u[2:] - 2 * u[1:-1] + u[:-2])
        u_prev = u
        u = u_next
    return u


def grayscott(U, V, Du, Dv, F, k, steps):
    U = U.copy()
    V = V.copy()
    u, v = U[1:-1, 1:-1], V[1:-1, 1:-1]
    for i in range(steps):
        Lu = (U[0:-2, 1:-1] + U[1:-1, 0:-2] - 4 * U[1:-1, 1:-1] + U[1:-1, 2:] + U[2:, 1:-1])
        Lv = (V[0:-2, 1:-1] + V[1:-1, 0:-2] - 4 * V[1:-1, 1:-1] + V[1:-1, 2:] + V[2:, 1:-1])
        uvv = u * v * v
        u += Du * Lu - uvv + F * (1 - u)
        v += Dv * Lv + uvv - (F + k) * v
    return V


def jacobi_loops(u, f, h, iters):
    n, m = u.shape
    u = u.copy()
    for it in range(iters):
        new = u.copy()
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                new[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]
                                    - h * h * f[i, j])
        u = new
    return u


def harris(I):
    m, n = I.shape
    dx = (I[1:, :] - I[:m - 1, :])[:, 1:]
    dy = (I[:, 1:] - I[:, :n - 1])[1:, :]
    A = dx * dx
    B = dy * dy
    C = dx * dy
    tr = A + B
    det = A * B - C * C
    k = 0.05
    return det - k * tr * tr


def heat_1d_float32(T, alpha, steps):
    T = T.copy()
    n = T.shape[0]
    for s in range(steps):
        old = T.copy()
        for i in range(1, n - 1):
            T[i] = old[i] + alpha * (old[i - 1] - 2 * old[i] + old[i + 1])
    return T


def local_maxima(data):
    n, m = data.shape
    result = np.zeros((n, m), dtype=np.bool_)
    for i in range(1, n - 1):
        for j in range(1, m - 1):
            v = data[i, j]
            is_max = True
            for di in range(-1, 2):
                for dj in range(-1, 2):
                    if (di != 0 or dj != 0) and data[i + di, j + dj] >= v:
                        is_max = False
            result[i, j] = is_max
    return result


def gradient_magnitude(f, dx):
    gx = np.zeros_like(f)
    gy = np.zeros_like(f)
    gx[:, 1:-1] = (f[:, 2:] - f[:, :-2]) / (2 * dx)
    gy[1:-1, :] = (f[2:, :] - f[:-2, :]) / (2 * dx)
    return np.sqrt(gx ** 2 + gy ** 2)


def _n(size, small, bench):
    return small if size == "small" else bench


def _diffusion_args(rng, size):
    n = _n(size, 16, 200)
    return rng.random((n, n)), 0.1, 0.01, 1.0 / n, _n(size, 3, 10)


def _image(rng, size):
    n = _n(size, 16, 300)
    return (rng.random((n, n)),)


def _wave_args(rng, size):
    n = _n(size, 32, 20000)
    x = np.linspace(0.0, 1.0, n)
    u = np.exp(-100 * (x - 0.5) ** 2)
    return u, u.copy(), 1.0, 0.5 / n, 1.0 / n, _n(size, 5, 40)


def _grayscott_args(rng, size):
    n = _n(size, 16, 128)
    U = np.ones((n + 2, n + 2))
    V = np.zeros((n + 2, n + 2))
    r = n // 4
    U[n // 2 - r:n // 2 + r, n // 2 - r:n // 2 + r] = 0.50
    V[n // 2 - r:n // 2 + r, n // 2 - r:n // 2 + r] = 0.25
    U += 0.05 * rng.random((n + 2, n + 2))
    V += 0.05 * rng.random((n + 2, n + 2))
    return U, V, 0.16, 0.08, 0.035, 0.065, _n(size, 3, 20)


def _jacobi_args(rng, size):
    n = _n(size, 12, 50)
    return rng.random((n, n)), rng.random((n, n)), 1.0 / n, _n(size, 2, 3)


def _heat_args(rng, size):
    n = _n(size, 32, 2000)
    return rng.random(n).astype(np.float32), np.float32(0.25), _n(size, 4, 5)


def _maxima_args(rng, size):
    n = _n(size, 12, 50)
    return (rng.random((n, n)),)


def _gradient_args(rng, size):
    n = _n(size, 16, 500)
    return rng.random((n, n)), 0.1


CASES = [
    Kernel("diffusion_2d", "stencil", diffusion_2d, _diffusion_args),
    Kernel("laplacian", "stencil", laplacian, _image),
    Kernel("wave_1d", "stencil", wave_1d, _wave_args),
    Kernel("grayscott", "stencil", grayscott, _grayscott_args),
    Kernel("jacobi_loops", "stencil", jacobi_loops, _jacobi_args),
    Kernel("harris", "stencil", harris, _image),
    Kernel("heat_1d_float32", "stencil", heat_1d_float32, _heat_args),
    Kernel("local_maxima", "stencil", local_maxima, _maxima_args),
    Kernel("gradient_magnitude", "stencil", gradient_magnitude, _gradient_args),
]
