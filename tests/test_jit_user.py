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


# ------------------------------------------------------------ defect 8: Python ints exact

def square(a):
    return a * a


def power_of_three():
    r = 1
    for i in range(50):
        r = r * 3
    return r


def power_loop(n):
    r = 1
    for i in range(n):
        r *= 3
    return r


def poly_int(a, b):
    return -a * a + b ** 3 - 7


def test_python_int_square_is_exact():
    f = jit(square)
    assert f(2 ** 40) == 2 ** 80 and type(f(2 ** 40)) is int
    assert f(3) == 9                       # small ints still run compiled
    assert jit(lambda a: a * a)(2 ** 40) == 2 ** 80


def test_python_int_loop_is_exact():
    assert jit(power_of_three)() == 3 ** 50
    f = jit(power_loop)
    assert f(50) == 3 ** 50
    assert f(10) == 3 ** 10
    assert jit(poly_int)(2 ** 31, 2 ** 21) == poly_int(2 ** 31, 2 ** 21)
    assert jit(poly_int)(5, -4) == poly_int(5, -4)


def test_python_int_argument_beyond_int64_runs_as_python():
    f = jit(square)
    assert f(2 ** 63) == 2 ** 126
    assert f(-2 ** 70) == 2 ** 140
    assert f(7) == 49


def test_numpy_ints_keep_wrapping():
    f = jit(square)
    with np.errstate(over="ignore"):
        want = square(np.int64(2 ** 40))
    got = f(np.int64(2 ** 40))
    same(got, want)
    x = np.array([2 ** 40, 3], np.int64)
    same(f(x), x * x)
