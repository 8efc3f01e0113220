"""Oracles shared by the transform tests: central finite differences."""
import numpy as np


def numerical_grad(f, args, argnum, eps=1e-6):
    """Central finite differences of scalar ``f`` w.r.t. args[argnum] (float64)."""
    args = list(args)
    x = args[argnum]
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        def at(v):
            a = list(args)
            a[argnum] = v
            return float(f(*a))
        return (at(x + eps) - at(x - eps)) / (2 * eps)
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        a_plus, a_minus = list(args), list(args)
        a_plus[argnum], a_minus[argnum] = plus, minus
        grad[idx] = (float(f(*a_plus)) - float(f(*a_minus))) / (2 * eps)
    return grad


def float_argnums(args):
    return [i for i, a in enumerate(args)
            if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")]
