"""Loop kernels: signatures declared as annotations."""
import numpy as np

from astjax import jit


@jit
def pairwise_distances(p: "float64[:, ::1]"):
    n = p.shape[0]
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            d = 0.0
            for k in range(p.shape[1]):
                t = p[i, k] - p[j, k]
                d += t * t
            out[i, j] = np.sqrt(d)
    return out


@jit
def logistic_map(x0: "float", r: "float", steps: "int"):
    x = x0
    for i in range(steps):
        x = r * x * (1.0 - x)
    return x
