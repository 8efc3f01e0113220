"""np.angle and np.real_if_close written in NumPy over primitives, which
astjax differentiates, batches and compiles from their source like a user's helper."""
import numpy as np


def angle(z, deg=False):
    out = np.arctan2(np.imag(z), np.real(z))
    if deg:
        return out * (180.0 / np.pi)
    return out


def real_if_close(a, tol=100):
    if np.iscomplexobj(a) and np.all(np.abs(np.imag(a)) < tol * (1.1920929e-07 if np.real(a).dtype == np.float32 else 2.220446049250313e-16)):
        return np.real(a)
    return a
