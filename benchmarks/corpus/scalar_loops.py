"""Scalar loops: recurrences, n-body, dynamic programming, dense linear algebra by hand."""
import numpy as np

from . import Kernel


def logistic_map(r, x0, n):
    x = x0
    for i in range(n):
        x = r * x * (1.0 - x)
    return x


def nbody_step(pos, vel, mass, dt, steps):
    pos = pos.copy()
    vel = vel.copy()
    n = pos.shape[0]
    for s in range(steps):
        acc = np.zeros_like(pos)
        for i in range(n):
            for j in range(n):
                if i != j:
                    dx = pos[j, 0] - pos[i, 0]
                    dy = pos[j, 1] - pos[i, 1]
                    dz = pos[j, 2] - pos[i, 2]
                    r2 = dx * dx + dy * dy + dz * dz + 0.01
                    inv = mass[j] / (r2 * np.sqrt(r2))
                    acc[i, 0] += dx * inv
                    acc[i, 1] += dy * inv
                    acc[i, 2] += dz * inv
        vel += dt * acc
        pos += dt * vel
    return pos, vel


def floyd_warshall(dist):
    n = dist.shape[0]
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if dist[i, k] + dist[k, j] < dist[i, j]:
                    dist[i, j] = dist[i, k] + dist[k, j]
    return dist


def lu_nopivot(A):
    n = A.shape[0]
    L = np.eye(n)
    U = A.copy()
    for k in range(n):
        for i in range(k + 1, n):
            L[i, k] = U[i, k] / U[k, k]
            for j in range(k, n):
                U[i, j] -= L[i, k] * U[k, j]
    return L, U


def smith_waterman(a, b, match, mismatch, gap):
    n = a.shape[0]
    m = b.shape[0]
    H = np.zeros((n + 1, m + 1), dtype=np.int64)
    best = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            s = match if a[i - 1] == b[j - 1] else mismatch
            h = max(0, H[i - 1, j - 1] + s, H[i - 1, j] - gap, H[i, j - 1] - gap)
            H[i, j] = h
            if h > best:
                best = h
    return best


def julia(x, y, cr, ci, maxiter):
    out = np.zeros((y.shape[0], x.shape[0]), dtype=np.int64)
    for i in range(y.shape[0]):
        for j in range(x.shape[0]):
            zr = x[j]
            zi = y[i]
            k = 0
            while zr * zr + zi * zi < 4.0 and k < maxiter:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                k += 1
            out[i, j] = k
    return out


def collatz_lengths(n):
    lengths = np.zeros(n, dtype=np.int64)
    for start in range(1, n + 1):
        k = start
        steps = 0
        while k != 1:
            if k % 2 == 0:
                k = k // 2
            else:
                k = 3 * k + 1
            steps += 1
        lengths[start - 1] = steps
    return lengths


def newton_sqrt(values, tol):
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        v = values[i]
        x = v if v > 1.0 else 1.0
        while abs(x * x - v) > tol * v:
            x = 0.5 * (x + v / x)
        out[i] = x
    return out


def back_substitution(U, b):
    n = b.shape[0]
    x = np.zeros(n)
    for i in reversed(range(n)):
        s = b[i]
        for j in range(i + 1, n):
            s -= U[i, j] * x[j]
        x[i] = s / U[i, i]
    return x


def _n(size, small, bench):
    return small if size == "small" else bench


def _logistic(rng, size):
    return 3.7, 0.4, _n(size, 100, 150000)


def _nbody(rng, size):
    n = _n(size, 6, 30)
    return rng.standard_normal((n, 3)), np.zeros((n, 3)), rng.random(n), 0.01, _n(size, 2, 4)


def _graph(rng, size):
    n = _n(size, 10, 32)
    d = rng.random((n, n)) * 10
    np.fill_diagonal(d, 0.0)
    return (d,)


def _lu(rng, size):
    n = _n(size, 8, 45)
    return (rng.random((n, n)) + n * np.eye(n),)


def _seqs(rng, size):
    return (rng.integers(0, 4, _n(size, 12, 100)), rng.integers(0, 4, _n(size, 10, 100)),
            2, -1, 1)


def _julia(rng, size):
    n = _n(size, 10, 25)
    return np.linspace(-1.5, 1.5, n), np.linspace(-1.0, 1.0, n), -0.8, 0.156, _n(size, 30, 100)


def _collatz(rng, size):
    return (_n(size, 50, 2000),)


def _newton(rng, size):
    return rng.random(_n(size, 50, 3000)) * 100 + 0.01, 1e-12


def _triangular(rng, size):
    n = _n(size, 10, 200)
    return np.triu(rng.random((n, n))) + n * np.eye(n), rng.random(n)


CASES = [
    Kernel("logistic_map", "scalar_loop", logistic_map, _logistic),
    Kernel("nbody_step", "scalar_loop", nbody_step, _nbody),
    Kernel("floyd_warshall", "scalar_loop", floyd_warshall, _graph),
    Kernel("lu_nopivot", "scalar_loop", lu_nopivot, _lu),
    Kernel("smith_waterman", "scalar_loop", smith_waterman, _seqs),
    Kernel("julia", "scalar_loop", julia, _julia),
    Kernel("collatz_lengths", "scalar_loop", collatz_lengths, _collatz),
    Kernel("newton_sqrt", "scalar_loop", newton_sqrt, _newton),
    Kernel("back_substitution", "scalar_loop", back_substitution, _triangular),
]
