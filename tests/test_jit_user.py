"""jit on loops written the way scientific Python users write them (issue 10).

Each function is compiled with strict=True where the whole body should become C, and
compared against the undecorated function run by NumPy: values and types.
"""
import numpy as np
import pytest

from astjax import jit


def same(got, want):
    assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want


# ------------------------------------------------------------------ defect 9: x.shape[k]

def sumsq_shape(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s


def times_length(x):
    return x * x.shape[0]


def sum_2d(x):
    s = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            s += x[i, j] * (j + 1)
    return s


def rows_cols(x):
    n, m = x.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            total += x[i, j]
    return total / (n * m)


def sumsq_len(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i]
    return s


def scale_by_cols(x):
    return x * x.shape[1]


def count_int(x):
    n = x.shape[0]
    k = 0
    for i in range(n):
        if x[i] > 0:
            k += 1
    return k


CASES = [
    (sumsq_shape, np.arange(7.0)),
    (sumsq_shape, np.arange(7, dtype=np.float32)),
    (times_length, np.arange(5.0)),
    (times_length, np.arange(5, dtype=np.float32)),
    (times_length, np.arange(5, dtype=np.int32)),
    (sum_2d, np.arange(12.0).reshape(3, 4)),
    (rows_cols, np.arange(12.0).reshape(3, 4)),
    (sumsq_len, np.arange(6.0)),
    (scale_by_cols, np.ones((2, 3), np.float32)),
    (count_int, np.array([1.0, -2.0, 3.0, 0.0])),
]


@pytest.mark.parametrize("fn,x", CASES, ids=[f"{c[0].__name__}-{c[1].dtype}" for c in CASES])
def test_shape_loops_match_numpy(fn, x):
    same(jit(fn)(x), fn(x))
