"""jit on loops written the way scientific Python users write them (issue 10).

Each function is compiled with strict=True where the whole body should become C, and
compared against the undecorated function run by NumPy: values and types.
"""
import numpy as np
import pytest

from astjax import explain, grad, jit


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


def backward_recurrence(x):
    out = np.empty_like(x)
    carry = 0.0
    for i in reversed(range(x.shape[0])):
        carry = 0.5 * carry + x[i]
        out[i] = carry
    return out


def backward_from(x):
    s = 0.0
    for i in reversed(range(2, len(x))):
        s = s * 0.5 + x[i]
    return s


def horner_reversed(coeffs, t):
    acc = 0.0
    for c in reversed(coeffs):
        acc = acc * t + c
    return acc


CASES = [
    (backward_recurrence, np.arange(6.0)),
    (backward_recurrence, np.arange(6, dtype=np.float32)),
    (backward_from, np.arange(7.0)),
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


def test_reversed_loops_compile_and_differentiate():
    x = np.linspace(0.0, 1.0, 7)
    same(jit(backward_from, strict=True)(x), backward_from(x))
    want = np.array([0.0, 0.0, 1.0, 0.5, 0.25, 0.125, 0.0625])
    np.testing.assert_allclose(grad(backward_from)(x), want)
    coeffs = [1.0, -2.0, 3.0]
    assert jit(horner_reversed)(coeffs, 2.0) == horner_reversed(coeffs, 2.0) == 9.0
    assert grad(horner_reversed, argnums=1)(coeffs, 2.0) == 2 * 3.0 * 2.0 - 2.0


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


# ------------------------------------------------------------------ issue 12: threads

from codegen import threads  # noqa: E402


def test_thread_count_follows_affinity_and_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)
    missing = tmp_path / "none"
    assert threads.available_cpus(missing) == 6
    quota = tmp_path / "cpu.max"
    quota.write_text("250000 100000\n")             # 2.5 CPUs: three threads
    assert threads.available_cpus(quota) == 3
    quota.write_text("max 100000\n")
    assert threads.available_cpus(quota) == 6
    for var in ("ASTJAX_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 6)
    assert threads._from_environment() == 6
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads._from_environment() == 4
    monkeypatch.setenv("ASTJAX_NUM_THREADS", "2")
    assert threads._from_environment() == 2


def test_quiet_openmp_respects_the_user(monkeypatch):
    monkeypatch.setattr(threads, "_quiet", False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    threads.quiet_openmp()
    assert threads.os.environ["OMP_WAIT_POLICY"] == "active"
    assert threads.os.environ["GOMP_SPINCOUNT"] == "0"


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x)) + x * x


def test_small_and_large_arrays_match_numpy():
    f = jit(logistic)
    for n in (5, 1000, 300_000):
        x = np.linspace(-3, 3, n)
        np.testing.assert_allclose(f(x), logistic(x), rtol=1e-14, atol=0)
        assert f(x).dtype == logistic(x).dtype
    source = f.__astjax_stage__("cython")
    assert "_astjax_threads_for(" in source and "_astjax_num_threads if" not in source


def test_threads_for_scales_with_work():
    src = f"""
def go(double work, int n):
    _astjax_set_num_threads(n)
    return _astjax_threads_for(work)
"""
    from codegen.build import build_module
    m = build_module(threads.PYX_PRELUDE + src, "threads_for")
    assert m.go(10, 8) == 1
    assert m.go(threads.PARALLEL_WORK - 1, 8) == 1
    assert m.go(threads.PARALLEL_WORK, 8) == threads.PARALLEL_WORK // threads.WORK_PER_THREAD
    assert m.go(1e9, 8) == 8
    assert m.go(1e9, 1) == 1


# ------------------------------------------- defect 10: lists written with other item types

def relax_point(grid, i, j):
    grid[i][j] = 0.25 * (grid[i - 1][j] + grid[i + 1][j] + grid[i][j - 1] + grid[i][j + 1])


def jacobi_sweeps(n_iter):
    grid = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    for j in range(5):
        grid[0][j] = 1
    for it in range(n_iter):
        for i in range(1, 3):
            for j in range(1, 4):
                relax_point(grid, i, j)
    return grid[1][1] + grid[2][3]


def gauss_seidel(grid, n_iter):
    for it in range(n_iter):
        for i in range(1, len(grid) - 1):
            for j in range(1, len(grid[0]) - 1):
                relax_point(grid, i, j)
    return grid


def row_alias(n):
    grid = [[0, 0, 0], [0, 0, 0]]
    row = grid[1]
    for j in range(3):
        row[j] = j * 0.5            # written through an alias of grid's row
    s = 0
    for j in range(3):
        s = s + grid[1][j]
    return s


def float_grid(n_iter):
    grid = [[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    for it in range(n_iter):
        relax_point(grid, 1, 1)
    return grid[1][1]


def boundary_grid():
    return [[1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]


def test_relaxation_on_int_lists_keeps_the_floats():
    assert jacobi_sweeps(6) != 0.25 * 1          # the oracle varies with the sweeps
    for n in (1, 2, 6):
        got = jit(jacobi_sweeps)(n)
        assert got == jacobi_sweeps(n) and type(got) is float
    f = jit(gauss_seidel)
    want, got = gauss_seidel(boundary_grid(), 7), f(boundary_grid(), 7)
    assert got == want
    assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in want]
    assert len({v for row in got[1:3] for v in row[1:4]}) > 1      # not one constant 0.25


def test_list_written_through_an_alias():
    got = jit(row_alias)(0)
    assert got == row_alias(0) == 1.5 and type(got) is float


def test_explain_says_why_mixed_list_items_are_python():
    f = jit(gauss_seidel)
    f(boundary_grid(), 1)
    assert "hold both int and float" in explain(f)


def test_float_lists_stay_c_doubles():
    f = jit(float_grid)
    same(f(3), float_grid(3))
    helper = f.__astjax_stage__("cython").split("def relax_point")[1]
    assert "cdef double" in helper


# ------------------------------------------------------------------ issue 12: corpus constructs

def periodic_dx(x, L):
    N = len(x)
    xtemp = np.tile(x, (N, 1))
    dx = xtemp - xtemp.T
    return dx


def test_tile_with_a_tuple_of_reps_is_numpys():
    x = np.linspace(0.0, 1.0, 5)
    same(jit(periodic_dx)(x, 1.0), periodic_dx(x, 1.0))
