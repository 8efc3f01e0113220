"""Pairwise distances: broadcasting, np.tile with periodic wrap, explicit loops."""
import numpy as np

from . import Kernel


def pairwise_broadcast(X):
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))


def pairwise_loops(X):
    M = X.shape[0]
    N = X.shape[1]
    D = np.empty((M, M), dtype=np.float64)
    for i in range(M):
        for j in range(M):
            d = 0.0
            for k in range(N):
                tmp = X[i, k] - X[j, k]
                d += tmp * tmp
            D[i, j] = np.sqrt(d)
    return D


def arc_distance(theta_1, phi_1, theta_2, phi_2):
    temp = (np.sin((theta_2 - theta_1) / 2) ** 2
            + np.cos(theta_1) * np.cos(theta_2) * np.sin((phi_2 - phi_1) / 2) ** 2)
    distance_matrix = 2 * (np.arctan2(np.sqrt(temp), np.sqrt(1 - temp)))
    return distance_matrix


def periodic_dist(x, y, z, L, periodicX, periodicY, periodicZ):
    N = len(x)
    xtemp = np.tile(x, (N, 1))
    dx = xtemp - xtemp.T
    ytemp = np.tile(y, (N, 1))
    dy = ytemp - ytemp.T
    ztemp = np.tile(z, (N, 1))
    dz = ztemp - ztemp.T
    if periodicX:
        dx[dx > L / 2] = dx[dx > L / 2] - L
        dx[dx < -L / 2] = dx[dx < -L / 2] + L
    if periodicY:
        dy[dy > L / 2] = dy[dy > L / 2] - L
        dy[dy < -L / 2] = dy[dy < -L / 2] + L
    if periodicZ:
        dz[dz > L / 2] = dz[dz > L / 2] - L
        dz[dz < -L / 2] = dz[dz < -L / 2] + L
    d = np.sqrt(dx ** 2 + dy ** 2 + dz ** 2)
    d[d == 0] = -1
    return d, dx, dy, dz


def wdist(A, B, W):
    k, m = A.shape
    _, n = B.shape
    D = np.zeros((m, n))
    for ii in range(m):
        for jj in range(n):
            wdiff = (A[:, ii] - B[:, jj]) / W[:, ii]
            D[ii, jj] = np.sqrt((wdiff ** 2).sum())
    return D


def sq_dist_gram_float32(X, Y):
    XX = np.sum(X * X, axis=1)[:, None]
    YY = np.sum(Y * Y, axis=1)[None, :]
    d = XX + YY - 2 * (X @ Y.T)
    return np.maximum(d, 0)


def nearest_neighbor(points, queries):
    best = np.empty(queries.shape[0], dtype=np.int64)
    for q in range(queries.shape[0]):
        best_d = np.inf
        for p in range(points.shape[0]):
            d = 0.0
            for k in range(points.shape[1]):
                t = points[p, k] - queries[q, k]
                d += t * t
            if d < best_d:
                best_d = d
                best[q] = p
    return best


def _n(size, small, bench):
    return small if size == "small" else bench


def _points(rng, size):
    return (rng.random((_n(size, 10, 70), 3)),)


def _arc_args(rng, size):
    n = _n(size, 64, 100000)
    return tuple(rng.random(n) for _ in range(4))


def _periodic_args(rng, size):
    n = _n(size, 12, 300)
    return rng.random(n), rng.random(n), rng.random(n), 1.0, True, True, False


def _wdist_args(rng, size):
    k, m, n = 3, _n(size, 6, 50), _n(size, 5, 40)
    return rng.random((k, m)), rng.random((k, n)), rng.random((k, m)) + 0.5


def _gram_args(rng, size):
    m, n = _n(size, 10, 600), _n(size, 8, 500)
    return (rng.random((m, 16)).astype(np.float32), rng.random((n, 16)).astype(np.float32))


def _nn_args(rng, size):
    return rng.random((_n(size, 20, 100), 3)), rng.random((_n(size, 5, 30), 3))


CASES = [
    Kernel("pairwise_broadcast", "pairwise", pairwise_broadcast, _points),
    Kernel("pairwise_loops", "pairwise", pairwise_loops, _points),
    Kernel("arc_distance", "pairwise", arc_distance, _arc_args),
    Kernel("periodic_dist", "pairwise", periodic_dist, _periodic_args),
    Kernel("wdist", "pairwise", wdist, _wdist_args),
    Kernel("sq_dist_gram_float32", "pairwise", sq_dist_gram_float32, _gram_args),
    Kernel("nearest_neighbor", "pairwise", nearest_neighbor, _nn_args),
]
