"""jit against NumPy: every kernel must give NumPy's values and exactly NumPy's types.

The oracle is the undecorated function run by NumPy. Values must match bit for bit where
the C code does the same IEEE operations in the same order (arithmetic, comparisons,
integer semantics); transcendental functions may differ by a few ulp (glibc's libmvec vs
NumPy's own SIMD code), and sums by reassociation. Types must match exactly: array dtypes,
and NumPy scalar vs Python scalar results.

All kernels are built once per session, two at a time, before the comparisons run.
"""
import concurrent.futures
import math

import numpy as np
import pytest

from astjax import explain, jit
from codegen.errors import FallbackError

RNG = np.random.default_rng(20260523)


def floats(*shape, dtype=np.float64, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def ints(*shape, lo=-50, hi=50, dtype=np.int64):
    return RNG.integers(lo, hi, size=shape).astype(dtype)


# ----------------------------------------------------------------------------- kernels
# elementwise chains

def poly(x):
    return x + x * x + x * x * x


def selu(x, alpha=1.67, lmbda=1.05):
    return lmbda * np.where(x > 0, x, alpha * np.exp(x) - alpha)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def relu(x):
    return np.maximum(x, 0.0)


def trig(x):
    return np.sin(x) ** 2 + np.cos(x) ** 2 - np.tanh(x) * np.arctan(x)


def int_arith(a, b):
    return (a * 3 + b) // 4 % 7 - (a // b) + (b % a)


def int32_scalar(x):
    return x * 2 + 1 - x // 3


def int8_wraps(x):
    return x * 100 + 7


def mixed_promotion(a, b):
    return a + b * 2.5


def strong_scalar(x, s):
    return x * s + 1.0


def logic(x, y):
    return np.logical_and(x > 0, y < 1.0) | (x == y)


def bool_ops(m, n):
    return ~m & n ^ (m | n)


def float_div(x, y):
    return x / y + x // y + x % y


def int_true_div(a, b):
    return a / b


def rounding(x):
    return np.abs(x) + np.sign(x) + np.floor(x) * np.ceil(x) + np.round(x)


def clip(x):
    return np.clip(x, -1.0, 1.0) * 2.0


def where_scalars(x):
    return np.where(x > 0, 1.0, -1.0)


def same_ndim_broadcast(x, y):
    return x * y + x


def different_ndim(x, y):
    return x * y + 1.0


def special_values(x):
    return np.maximum(x, 0.5) + np.exp(x) * 0.0 + np.log(x) + np.sqrt(x)


def float32_math(x):
    return np.exp(x) + np.log(np.abs(x) + 1.0) + np.tanh(x) + np.sqrt(np.abs(x))


def astype_chain(x):
    return np.float32(x) * 3.0 + 0.1


# reductions

def sum_squares(x):
    return np.sum(x * x)


def mean_f32(x):
    return np.mean(x)


def max_min(x):
    return np.max(x) - np.min(x * 2.0)


def prod_int(x):
    return np.prod(x)


def sum_bool(x):
    return np.sum(x > 0.5)


def sum_int32(x):
    return np.sum(x)


def sum_axis(x):
    return np.sum(x, axis=0)


def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


# scalar loops

def logistic_map(x, r, n):
    for i in range(n):
        x = r * x * (1.0 - x)
    return x


def mandelbrot_point(cr, ci, max_iter):
    zr = 0.0
    zi = 0.0
    k = 0
    while k < max_iter:
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
        if zr * zr + zi * zi > 4.0:
            break
        k += 1
    return k


def fib(n):
    a, b = 0, 1
    for i in range(n):
        a, b = b, a + b
    return a


def python_int_division(a, b):
    return a // b + a % b * 10 + (-a) // b


def math_calls(x):
    return math.sqrt(x) + math.exp(-x) + math.atan2(x, 2.0)


def count_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def early_return(x, limit):
    s = 0.0
    for i in range(len(x)):
        s += x[i]
        if s > limit:
            return i
    return -1


# indexing loops

def dot_loop(x, y):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * y[i]
    return s


def row_sums(a):
    n, m = a.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(m):
            out[i] += a[i, j]
    return out


def double_into(x):
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = x[i] * 2
    return out


def ends(x):
    return x[-1] + x[0] * 2


def out_of_bounds(x):
    return x[len(x)]


def prefix_sum(x):
    out = np.zeros(len(x), dtype=np.int64)
    total = 0
    for i in range(len(x)):
        total += x[i]
        out[i] = total
    return out


def count_true(mask):
    count = 0
    for i in range(len(mask)):
        if mask[i]:
            count += 1
    return count


# helpers, tuples, BLAS

def hypot2(a, b):
    return a * a + b * b


def helper_in_loop(x):
    s = 0.0
    for i in range(len(x)):
        s += hypot2(x[i], 1.0)
    return s


def normalize_rows(a):
    return a / np.sum(a)


def helper_arrays(a):
    return normalize_rows(a) * 2.0


def stats(x):
    return np.sum(x), np.max(x), len(x)


def affine(a, b):
    return np.dot(a, b) + 1.0


# fallbacks

def cumsum_fallback(x):
    return np.cumsum(x) * 2.0


def build_list(x):
    items = []
    for i in range(len(x)):
        items.append(x[i] * 2.0)
    return items


def uses_try(x):
    try:
        return x + 1.0
    except ValueError:
        return x


# broadcasting between arrays of different shapes or ndims

def bias_rows(x, w, b):
    return np.tanh(x @ w + b)


def col_scale(x, col):
    return x * col[:, None] - col[:, None]


def broadcast_mix(x, y):
    t = x * y
    return t + 1.0, np.sum(t * 2.0), np.maximum(t, 0.5) > x


def broadcast_dtypes(a, b):
    return a * b + 1


def broadcast_3d(x, y):
    return x + y * 2.0


def strided_plus_row(x, y):
    xt = x.T
    return xt * 2.0 + y


def broadcast_refused(x, y):
    return x + y * 2.0


# reductions over an axis

def axis_reductions(x):
    return (np.sum(x, axis=0), np.sum(x, axis=-1), np.mean(x, axis=1, keepdims=True),
            np.max(x, axis=0), np.min(x, axis=1), np.prod(x, axis=0))


def axis_reductions_3d(x):
    return np.sum(x, axis=1), np.max(x, axis=-1), np.mean(x, axis=0, keepdims=True)


def normalize_columns(x):
    centered = x - np.mean(x, axis=0)
    return centered / np.sqrt(np.sum(centered * centered, axis=0))


# in-place updates (augmented assignments): the caller's arrays change exactly as in NumPy

def decay(x):
    for i in range(10):
        x -= 0.1 * x
    return x


def alias_update(x):
    y = x
    y += 1.0
    y *= 2.0
    return x, y


def overlap_update(x):
    y = x[1:]
    y += x[:-1]
    return x


def int_inplace(x):
    x //= 2
    x += 3
    return x


def broadcast_inplace(x, b):
    x += b
    x *= b
    return x


def inplace_then_rebind(x):
    x -= 1.0
    x = x * 2.0
    x += 1.0
    return x


def inplace_int_with_float(x):
    x += 1.5
    return x


# static arguments

def power_loop(x, n):
    y = x
    for i in range(n):
        y = y * x
    return y


def case(fn, make_args, rtol=0.0, atol=0.0, compiled=True, static=()):
    return pytest.param(fn, make_args, rtol, atol, compiled, static, id=fn.__name__)


F32 = dict(dtype=np.float32)
CASES = [
    case(poly, lambda: (floats(300, 200, **F32),)),
    case(selu, lambda: (floats(100_000, **F32),), rtol=2e-6, atol=1e-6),
    case(sigmoid, lambda: (floats(1000),), rtol=1e-14),
    case(relu, lambda: (floats(1000, **F32),)),
    case(trig, lambda: (floats(1000),), rtol=1e-14, atol=1e-15),
    case(int_arith, lambda: (ints(500), np.where(ints(500) == 0, 3, ints(500)))),
    case(int32_scalar, lambda: (ints(500, dtype=np.int32),)),
    case(int8_wraps, lambda: (ints(500, dtype=np.int8),)),
    case(mixed_promotion, lambda: (ints(500), floats(500, **F32))),
    case(strong_scalar, lambda: (floats(500, **F32), np.float64(1.5))),
    case(logic, lambda: (floats(500), np.round(floats(500)))),
    case(bool_ops, lambda: (floats(500) > 0, floats(500) > 0.5)),
    case(float_div, lambda: (floats(500), np.where(floats(500) > 1, 0.0, floats(500)))),
    case(int_true_div, lambda: (ints(500), np.where(ints(500) == 0, 1, ints(500)))),
    case(rounding, lambda: (np.append(floats(500) * 3, [np.nan, 0.5, 1.5, -2.5, -0.0]),)),
    case(clip, lambda: (np.append(floats(500, **F32), np.float32(np.nan)),)),
    case(where_scalars, lambda: (floats(500, **F32),)),
    case(same_ndim_broadcast, lambda: (floats(30, 1), floats(1, 40))),
    case(different_ndim, lambda: (floats(30, 40), floats(40))),
    case(special_values, lambda: (np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e-300, 2.0]),),
         rtol=1e-14),
    case(float32_math, lambda: (floats(10_000, **F32, scale=3.0),), rtol=3e-6, atol=1e-6),
    case(astype_chain, lambda: (floats(500),)),
    case(sum_squares, lambda: (floats(100_000),), rtol=1e-12),
    case(mean_f32, lambda: (floats(100_000, **F32),), rtol=1e-5),
    case(max_min, lambda: (np.append(floats(1000), np.nan),)),
    case(prod_int, lambda: (ints(20, lo=1, hi=4),)),
    case(sum_bool, lambda: (floats(1000),)),
    case(sum_int32, lambda: (ints(1000, dtype=np.int32),)),
    case(sum_axis, lambda: (floats(20, 30),), rtol=1e-14),
    case(sum_logistic, lambda: (floats(100_000, **F32),), rtol=1e-5),
    case(logistic_map, lambda: (0.5, 3.7, 1000)),
    case(mandelbrot_point, lambda: (-0.5, 0.5, 200)),
    case(fib, lambda: (50,)),
    case(python_int_division, lambda: (-7, 3)),
    case(math_calls, lambda: (2.5,), rtol=1e-15),
    case(count_steps, lambda: (27,)),
    case(early_return, lambda: (floats(100), 3.0)),
    case(dot_loop, lambda: (floats(1000), floats(1000)), rtol=1e-13),
    case(row_sums, lambda: (floats(20, 30),), rtol=1e-14),
    case(double_into, lambda: (floats(100, **F32),)),
    case(ends, lambda: (ints(10),)),
    case(prefix_sum, lambda: (ints(100, dtype=np.int32),)),
    case(count_true, lambda: (floats(100) > 0,)),
    case(helper_in_loop, lambda: (floats(100),), rtol=1e-14),
    case(helper_arrays, lambda: (floats(10, 10),), rtol=1e-14),
    case(stats, lambda: (floats(100),), rtol=1e-14),
    case(affine, lambda: (floats(20, 30), floats(30, 10)), rtol=1e-12),
    case(cumsum_fallback, lambda: (floats(100),)),
    case(build_list, lambda: (floats(10),)),
    case(uses_try, lambda: (floats(10),), compiled=False),
    case(power_loop, lambda: (floats(100), 3), static=(1,), rtol=1e-15),
    case(bias_rows, lambda: (floats(40, 30), floats(30, 20), floats(20)), rtol=1e-13),
    case(col_scale, lambda: (floats(40, 30, **F32), floats(40, **F32))),
    case(broadcast_mix, lambda: (floats(30, 1), floats(1, 40)), rtol=1e-13),
    case(broadcast_dtypes, lambda: (ints(20, 1, dtype=np.int32), floats(7, **F32))),
    case(broadcast_3d, lambda: (floats(4, 1, 5), floats(3, 1))),
    case(strided_plus_row, lambda: (floats(30, 20), floats(30))),
    case(broadcast_refused, lambda: (floats(3, 4), floats(4))),
    case(axis_reductions, lambda: (floats(50, 30),), rtol=1e-13),
    case(axis_reductions, lambda: (floats(50, 1000, **F32),), rtol=1e-5),
    case(axis_reductions, lambda: (ints(40, 7, lo=-3, hi=4, dtype=np.int32),)),
    case(axis_reductions_3d, lambda: (floats(5, 6, 7),), rtol=1e-13),
    case(axis_reductions_3d, lambda: (ints(5, 6, 7),)),
    case(normalize_columns, lambda: (floats(200, 30),), rtol=1e-12),
    case(decay, lambda: (floats(300, 300, **F32),)),
    case(alias_update, lambda: (floats(100),)),
    case(overlap_update, lambda: (floats(100),)),
    case(int_inplace, lambda: (ints(50, 20),)),
    case(broadcast_inplace, lambda: (floats(40, 30), floats(30))),
    case(inplace_then_rebind, lambda: (floats(100),)),
]


def copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


@pytest.fixture(scope="module")
def compiled():
    """Every kernel jitted in the background (builds two at a time), then ready."""
    jitted = {}
    for param in CASES:
        fn, make_args, _, _, _, static, = param.values
        jf = jitted.get(fn.__name__) or jit(fn, background=True, static_argnums=static)
        with np.errstate(all="ignore"):
            jf(*copies(make_args()))            # starts the build; NumPy answers meanwhile
        jitted[fn.__name__] = jf
    futures = [spec.future for jf in jitted.values() for spec in jf.specializations.values()
               if spec.future is not None]
    concurrent.futures.wait(futures, timeout=600)
    for jf in jitted.values():
        for spec in jf.specializations.values():
            spec.poll()
    return jitted


def assert_same(got, want, rtol, atol):
    assert type(got) is type(want), f"type {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w, rtol, atol)
        return
    if isinstance(want, (np.ndarray, np.generic)):
        assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
        assert np.shape(got) == np.shape(want)
    if rtol or atol:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fn, make_args, rtol, atol, expect_compiled, static", CASES)
def test_matches_numpy(compiled, fn, make_args, rtol, atol, expect_compiled, static):
    jf = compiled[fn.__name__]
    args = make_args()
    mine, theirs = copies(args), copies(args)
    with np.errstate(all="ignore"):
        want = fn(*theirs)
        got = jf(*mine)
    spec = jf.last
    assert (spec.status == "compiled") == expect_compiled, explain(jf)
    assert_same(got, want, rtol, atol)
    assert_same(mine, theirs, rtol, atol)      # arguments updated in place as NumPy does


def test_broadcast_and_axis_reductions_become_c_loops(compiled):
    for name in ("bias_rows", "col_scale", "broadcast_mix", "broadcast_3d", "axis_reductions",
                 "normalize_columns", "decay", "broadcast_inplace"):
        text = str(explain(compiled[name]))
        assert "Python (fallback)" not in text, text
    pyx = compiled["decay"].last.lowered.source
    assert "np.empty" not in pyx.split("def decay")[1]      # x -= 0.1 * x writes x's buffer


def test_broadcast_refused_raises_numpys_error(compiled):
    x, y = floats(3, 4), floats(5)
    with pytest.raises(ValueError, match="could not be broadcast"):
        compiled["broadcast_refused"](x, y)


def test_inplace_update_keeps_numpy_casting_rules():
    x = ints(10)
    with pytest.raises(TypeError, match="Cannot cast ufunc 'add' output"):
        inplace_int_with_float(x.copy())
    with pytest.raises(TypeError, match="Cannot cast ufunc 'add' output"):
        jit(inplace_int_with_float)(x.copy())


def test_inplace_update_of_read_only_array_raises(compiled):
    x = floats(100)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        compiled["alias_update"](x)


def test_out_of_bounds_index_raises_index_error():
    x = ints(10)
    with pytest.raises(IndexError):
        out_of_bounds(x)
    with pytest.raises(IndexError):
        jit(out_of_bounds)(x)


def test_explain_names_lines_and_fallbacks(compiled):
    text = str(explain(compiled["cumsum_fallback"]))
    assert "compiled to C" in text
    assert "np.cumsum has no Cython rule" in text
    assert "Python (fallback)" in text
    text = str(explain(compiled["selu"]))
    assert "C loop (fused)" in text and "np.where" in text
    assert "runs as NumPy" in str(explain(compiled["uses_try"]))


def test_strict_raises_on_fallback():
    with pytest.raises(FallbackError, match="np.cumsum"):
        jit(cumsum_fallback, strict=True)(floats(10))


def test_generated_source_is_readable(compiled):
    from astjax.api import source
    pyx = source(compiled["selu"], stage="cython")
    assert "prange" in pyx and "expf" in pyx
    assert "# test_jit.py" in pyx          # comments tie lines to the user's source


def test_static_argnums_specialize_per_value(compiled):
    jf = compiled["power_loop"]
    x = floats(10)
    np.testing.assert_allclose(jf(x, 2), x ** 3, rtol=1e-15)
    assert len(jf.specializations) == 2


def test_no_compiler_falls_back_to_numpy(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/astjax-test-cc")

    def shifted(x):
        return x + 17.25
    jf = jit(shifted)
    x = floats(10)
    np.testing.assert_array_equal(jf(x), x + 17.25)
    assert jf.last.status == "numpy"
    assert "no C compiler" in str(explain(jf))
