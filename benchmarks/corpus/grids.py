"""Grids: evaluation on meshgrids, interpolation, integration, smoothing on a lattice."""
import numpy as np

from . import Kernel


def hyantes(xmin, ymin, step, range_, range_x, range_y, t):
    pt = np.zeros((range_x, range_y))
    for i in range(range_x):
        for j in range(range_y):
            xi, yj = xmin + step * i, ymin + step * j
            for k in range(t.shape[0]):
                tmp = 6368.0 * np.arccos(np.cos(xi) * np.cos(t[k, 0]) * np.cos(yj - t[k, 1])
                                         + np.sin(xi) * np.sin(t[k, 0]))
                if tmp < range_:
                    pt[i, j] += t[k, 2] / (1 + tmp)
    return pt


def meshgrid_eval(x, y):
    X, Y = np.meshgrid(x, y)
    return np.exp(-(X ** 2 + Y ** 2)) * np.cos(X * Y)


def bilinear_interp(grid, xs, ys):
    out = np.empty(xs.shape[0])
    for p in range(xs.shape[0]):
        i = int(xs[p])
        j = int(ys[p])
        fx = xs[p] - i
        fy = ys[p] - j
        out[p] = (grid[i, j] * (1 - fx) * (1 - fy) + grid[i + 1, j] * fx * (1 - fy)
                  + grid[i, j + 1] * (1 - fx) * fy + grid[i + 1, j + 1] * fx * fy)
    return out


def trapezoid_2d(f, dx, dy):
    inner = (f[:, 1:] + f[:, :-1]).sum(axis=1) * dy / 2
    return (inner[1:] + inner[:-1]).sum() * dx / 2


def growcut(image, state, state_next, window_radius):
    changes = 0
    sqrt_3 = np.sqrt(3.0)
    height = image.shape[0]
    width = image.shape[1]
    for j in range(width):
        for i in range(height):
            winning_colony = state[i, j, 0]
            defense_strength = state[i, j, 1]
            for jj in range(max(j - window_radius, 0), min(j + window_radius + 1, width)):
                for ii in range(max(i - window_radius, 0), min(i + window_radius + 1, height)):
                    if ii == i and jj == j:
                        continue
                    d = image[i, j, 0] - image[ii, jj, 0]
                    s = d * d
                    for k in range(1, 3):
                        d = image[i, j, k] - image[ii, jj, k]
                        s += d * d
                    gval = 1.0 - np.sqrt(s) / sqrt_3
                    attack_strength = gval * state[ii, jj, 1]
                    if attack_strength > defense_strength:
                        defense_strength = attack_strength
                        winning_colony = state[ii, jj, 0]
                        changes += 1
            state_next[i, j, 0] = winning_colony
            state_next[i, j, 1] = defense_strength
    return changes


def potential_grid(charges, pos, n):
    phi = np.zeros((n, n))
    h = 1.0 / n
    for i in range(n):
        for j in range(n):
            x = (i + 0.5) * h
            y = (j + 0.5) * h
            for q in range(charges.shape[0]):
                r = np.sqrt((x - pos[q, 0]) ** 2 + (y - pos[q, 1]) ** 2)
                phi[i, j] += charges[q] / r
    return phi


def _n(size, small, bench):
    return small if size == "small" else bench


def _hyantes(rng, size):
    t = rng.random((_n(size, 5, 50), 3))
    n = _n(size, 5, 10)
    return 0.0, 0.0, 0.01, 500.0, n, n, t


def _mesh(rng, size):
    n = _n(size, 16, 500)
    return np.linspace(-2, 2, n), np.linspace(-1, 1, n + 3)


def _bilinear(rng, size):
    n, p = _n(size, 8, 200), _n(size, 30, 4000)
    return rng.random((n, n)), rng.random(p) * (n - 1.001), rng.random(p) * (n - 1.001)


def _trap(rng, size):
    n = _n(size, 16, 1000)
    return rng.random((n, n + 1)), 0.1, 0.2


def _growcut(rng, size):
    n = _n(size, 4, 22)
    image = rng.random((n, n, 3))
    state = np.zeros((n, n, 2))
    state[0, 0] = [1, 1]
    state[n - 1, n - 1] = [-1, 1]
    return image, state, state.copy(), 1


def _potential(rng, size):
    q = _n(size, 4, 12)
    return rng.standard_normal(q), rng.random((q, 2)) + 1.5, _n(size, 8, 30)


CASES = [
    Kernel("hyantes", "grid", hyantes, _hyantes),
    Kernel("meshgrid_eval", "grid", meshgrid_eval, _mesh),
    Kernel("bilinear_interp", "grid", bilinear_interp, _bilinear),
    Kernel("trapezoid_2d", "grid", trapezoid_2d, _trap),
    Kernel("growcut", "grid", growcut, _growcut),
    Kernel("potential_grid", "grid", potential_grid, _potential),
]
