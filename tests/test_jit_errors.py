"""jit keeps Python's meaning when compiled code fails or overflows (issue 10).

Errors raised by compiled code keep their type and name the user's file:line; Python-int
// and % floor like Python (C truncates), and a call that overflows int64 reruns as Python
without repeating what the compiled run already did to its arguments. Oracle: the same
function run by Python/NumPy.
"""
import itertools
import traceback

import numpy as np
import pytest

from astjax import explain, jit

HERE = __file__


def where(exc):
    return "".join(traceback.format_exception(exc))


def line_of(fn, text):
    """The file:line of the line of fn's source containing text."""
    import inspect
    lines, first = inspect.getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return f"{HERE}:{first + k}"
    raise AssertionError(text)


# ------------------------------------------------- Python's // and % on Python scalars

def floordiv(a, b):
    return a // b


def mod(a, b):
    return a % b


def divmod_loop(n, d):
    q, r = 0, 0
    for i in range(n):
        q = q + (i - 7) // d
        r = r + (i - 7) % d
    return q * 1000 + r


INTS = [-7, 7, 2, -2, 1, -1, 0, 3, 2 ** 62, -2 ** 63, 2 ** 63 - 1]
FLOATS = [-7.5, 7.5, 2.0, -2.0, 0.0, -0.0, 1e308, 3.0, 0.1]


def outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        return type(exc)


def same_outcome(got, want):
    if isinstance(want, float) and isinstance(got, float):
        if np.isnan(want):
            return np.isnan(got)
        return got == want and np.copysign(1, got) == np.copysign(1, want)
    return type(got) is type(want) and got == want


@pytest.mark.parametrize("fn", [floordiv, mod])
@pytest.mark.parametrize("values", [INTS, FLOATS, [-7, 2.0, -0.5, 3]], ids=["int", "float",
                                                                            "mixed"])
def test_python_floor_division_and_modulo(fn, values):
    assert floordiv(-7, 2) == -4 and mod(-7, 2) == 1 and mod(-7.5, 2) == 0.5
    f = jit(fn)
    bad = [(a, b, outcome(f, a, b), outcome(fn, a, b))
           for a, b in itertools.product(values, values)
           if not same_outcome(outcome(f, a, b), outcome(fn, a, b))]
    assert bad == []
    assert f.last.status == "compiled"


def test_floor_division_in_a_compiled_loop():
    f = jit(divmod_loop, strict=True)
    for d in (3, -3, 1, -1):
        assert f(15, d) == divmod_loop(15, d)
    with pytest.raises(ZeroDivisionError) as info:
        f(15, 0)
    assert line_of(divmod_loop, "q = q + (i - 7) // d") in where(info.value)


def ratio(a, b):
    return a / b + 1.0


def test_true_division_by_zero_names_the_line():
    with pytest.raises(ZeroDivisionError):
        ratio(1.0, 0.0)
    f = jit(ratio)
    assert f(1.0, 4.0) == ratio(1.0, 4.0)
    with pytest.raises(ZeroDivisionError) as info:
        f(1.0, 0.0)
    assert line_of(ratio, "return a / b + 1.0") in where(info.value)


def test_int64_min_floor_divided_by_minus_one_is_exact():
    assert jit(floordiv)(-2 ** 63, -1) == 2 ** 63


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float64, np.float32])
def test_numpy_scalar_floor_divide_and_remainder_follow_numpy(dtype):
    def both(a, b):
        return np.floor_divide(a, b), np.remainder(a, b), a // b, a % b
    f = jit(both)
    values = [-7, 7, 2, -2, 0, 3] + ([-7.5, 0.5, -0.0] if np.dtype(dtype).kind == "f" else [])
    with np.errstate(all="ignore"):
        for a, b in itertools.product(values, values):
            a, b = dtype(a), dtype(b)
            got, want = f(a, b), both(a, b)
            for g, w in zip(got, want):
                assert type(g) is type(w)
                np.testing.assert_array_equal(g, w)
                assert np.signbit(g) == np.signbit(w)
    assert f.last.status == "compiled"


def shifts(a, b):
    return (a << b) + (a >> b)


def test_shifts_of_python_ints_are_exact():
    f = jit(shifts)
    for a, b in [(1, 70), (-7, 3), (3, 0), (-1, 64), (2 ** 62, 5)]:
        assert f(a, b) == shifts(a, b)
    with pytest.raises(ValueError):
        f(1, -1)


def test_list_items_of_another_type_than_inferred_are_refused():
    from codegen import cexpr
    from codegen.build import build_module
    from codegen.errors import ListItemType
    m = build_module("from libc.stdint cimport int64_t\n" + cexpr.CHECKED_INT_PRELUDE +
                     "\ndef first_int(lst):\n    return _astjax_int_item(lst[0])\n"
                     "\ndef first_float(lst):\n    return _astjax_float_item(lst[0])\n",
                     "list_items")
    assert m.first_int([3]) == 3 and m.first_float([0.25]) == 0.25
    with pytest.raises(ListItemType, match="holds the float 0.25"):
        m.first_int([0.25])                 # Cython alone would give 0
    with pytest.raises(ListItemType, match="holds the int 1"):
        m.first_float([1])
    with pytest.raises(OverflowError):
        m.first_int([2 ** 70])


# ------------------------------------------- overflow reruns must not repeat mutations

def bump_then_power(x, n):
    x[0] = x[0] + 1.0
    r = 1
    for i in range(n):
        r = r * 3
    return r


def inplace_then_power(x, n):
    x += 1.0
    r = 1
    for i in range(n):
        r = r * 3
    return r


def append_then_power(lst, n):
    lst.append(n)
    lst[0][0] = lst[0][0] + 1
    r = 1
    for i in range(n):
        r = r * 3
    return r


def print_then_power(x, n):
    print("start", n)
    r = 1
    for i in range(n):
        r = r * 3
    return r + x


@pytest.mark.parametrize("fn", [bump_then_power, inplace_then_power])
@pytest.mark.parametrize("n", [5, 50])
def test_overflow_rerun_applies_an_array_write_once(fn, n):
    want_x, got_x = np.arange(3.0), np.arange(3.0)
    want = fn(want_x, n)
    assert jit(fn)(got_x, n) == want
    np.testing.assert_array_equal(got_x, want_x)


def test_overflow_rerun_applies_a_list_write_once():
    inner = [1]
    want_l, got_l = [[1]], [inner]
    want = append_then_power(want_l, 50)
    assert jit(append_then_power)(got_l, 50) == want == 3 ** 50
    assert got_l == want_l and got_l[0] is inner


COUNTS = np.zeros(3)


def global_then_power(n):
    COUNTS[0] = COUNTS[0] + 1.0
    r = 1
    for i in range(n):
        r = r * 3
    return r


def local_then_power(x, n):
    w = np.zeros(3)
    w[0] = x[0] + 1.0
    r = 1
    for i in range(n):
        r = r * 3
    return r + w[0]


def test_overflow_rerun_applies_a_global_write_once():
    COUNTS[:] = 0
    assert jit(global_then_power)(50) == 3 ** 50
    np.testing.assert_array_equal(COUNTS, [1.0, 0.0, 0.0])


def test_overflow_after_writing_only_locals_reruns_without_copies():
    f = jit(local_then_power)
    x = np.arange(3.0)
    assert f(x, 50) == local_then_power(x, 50)
    assert f.last.snapshot == () and f.last.lowered.writes      # x is only read


def test_overflow_after_writing_a_large_argument_refuses():
    from codegen.guard import SNAPSHOT_BYTES
    x = np.zeros(SNAPSHOT_BYTES // 8 + 1)
    f = jit(bump_then_power)
    assert f(x, 5) == 243 and x[0] == 1.0
    with pytest.raises(OverflowError, match="wrote into its arguments") as info:
        f(x, 50)
    assert line_of(bump_then_power, "r = r * 3") in str(info.value)


def test_overflow_after_print_refuses_naming_both_lines(capsys):
    f = jit(print_then_power)
    assert f(1, 5) == print_then_power(1, 5)
    capsys.readouterr()
    with pytest.raises(OverflowError) as info:
        f(1, 50)
    message = str(info.value)
    assert line_of(print_then_power, "r = r * 3") in message
    assert line_of(print_then_power, 'print("start", n)') in message
    assert capsys.readouterr().out == "start 50\n"        # printed once, not twice


# ------------------------------------------------ errors name the user's file:line

def out_of_bounds(x):
    s = 0.0
    for i in range(x.shape[0] + 1):
        s += x[i]
    return s


def write_out_of_bounds(x, k):
    x[k] = 1.0
    return x


def helper_reads(x, i):
    return x[i] * 2.0


def calls_helper(x):
    s = 0.0
    for i in range(4):
        s += helper_reads(x, i)
    return s


def checked(x, n):
    assert n > 0, "n must be positive"
    return x * n


def test_index_error_names_the_users_line():
    f = jit(out_of_bounds)
    with pytest.raises(IndexError):
        out_of_bounds(np.arange(3.0))
    with pytest.raises(IndexError) as info:
        f(np.arange(3.0))
    assert line_of(out_of_bounds, "s += x[i]") in where(info.value)
    assert "s += x[i]" in where(info.value)
    with pytest.raises(IndexError) as info:
        jit(write_out_of_bounds)(np.zeros(3), 5)
    assert line_of(write_out_of_bounds, "x[k] = 1.0") in where(info.value)


def test_index_error_in_a_helper_names_both_lines():
    with pytest.raises(IndexError) as info:
        jit(calls_helper)(np.arange(3.0))
    text = where(info.value)
    assert line_of(helper_reads, "return x[i] * 2.0") in text
    assert line_of(calls_helper, "s += helper_reads(x, i)") in text


def test_assert_is_a_c_check_with_the_users_message():
    f = jit(checked, strict=True)            # strict: no line of it runs as Python
    same = f(np.arange(3.0), 2)
    np.testing.assert_array_equal(same, checked(np.arange(3.0), 2))
    with pytest.raises(AssertionError, match="n must be positive") as info:
        f(np.arange(3.0), 0)
    assert line_of(checked, "assert n > 0") in where(info.value)
    assert "Python" not in [line for line in explain(f).splitlines() if "assert" in line][0]


# ------------------------------------------ functions whose source jit cannot read

import warnings  # noqa: E402

from astjax import AstjaxWarning  # noqa: E402
from codegen.errors import FallbackError  # noqa: E402


def exec_defined():
    namespace = {"np": np}
    exec("def scaled(x):\n    return np.sin(x) * 2.0\n", namespace)
    return namespace["scaled"]


def test_unreadable_source_warns_once_and_runs_as_numpy():
    fn = exec_defined()
    x = np.linspace(0, 1, 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = jit(fn)
        same = f(x), f(x), jit(fn)(x)               # the same function: one warning
    np.testing.assert_array_equal(same[0], fn(x))
    np.testing.assert_array_equal(same[2], fn(x))
    mine = [w for w in caught if issubclass(w.category, AstjaxWarning)]
    assert len(mine) == 1 and "runs as NumPy" in str(mine[0].message)
    assert mine[0].filename == HERE                  # points at the jit(...) line
    assert "source cannot be read" in explain(f)


@pytest.mark.parametrize("fn,args", [(np.sin, (np.arange(3.0),)), (np.add, (1.5, 2)),
                                     (max, (3, 7)), (len, ([1, 2],))],
                         ids=["ufunc", "binary-ufunc", "builtin-max", "builtin-len"])
def test_builtins_and_ufuncs_run_as_themselves(fn, args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = jit(fn)
    np.testing.assert_array_equal(f(*args), fn(*args))
    assert "no Python source" in explain(f)
    assert all(issubclass(w.category, AstjaxWarning) for w in caught)


def test_unreadable_source_with_strict_raises():
    with pytest.raises(FallbackError, match="source cannot be read"):
        jit(exec_defined(), strict=True)
    with pytest.raises(FallbackError, match="no Python source"):
        jit(np.sin, strict=True)


# ------------------------------------ a jit called from inside its own build: no deadlock

MODEL = '''
import numpy as np
from astjax import jit

@jit
def outer(x):
    return x * 2.0 + 1.0

@jit
def at_import(x):
    return x * 3.0 - 0.5
'''

# a user module named like a standard-library module that Cython imports while it compiles;
# it calls a jitted function when imported, then becomes the real module
SHADOW = '''
import model
import numpy as np
RESULT = model.at_import(np.arange(4.0))
print("shadow called at_import:", RESULT.tolist(), flush=True)

import importlib.util, os, sys, sysconfig
_real = os.path.join(sysconfig.get_paths()["stdlib"], __name__ + ".py")
_spec = importlib.util.spec_from_file_location(__name__, _real)
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module
_spec.loader.exec_module(_module)
globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
'''

MAIN = '''
import sys
import numpy as np
import model
from astjax import explain
sys.modules.pop("{shadowed}", None)          # imported again, from here, during the build
print("outer:", model.outer(np.arange(3.0)).tolist(), flush=True)
print(explain(model.at_import))
print("at_import later:", model.at_import(np.arange(4.0)).tolist(),
      model.at_import.last.status, flush=True)
'''


PROBE = '''
import sys
import numpy as np
from astjax import jit
def double(x):
    return x * 2.0 + 1.0
before = set(sys.modules)
jit(double)(np.arange(3.0))
print(" ".join(sorted(m for m in set(sys.modules) - before if "." not in m)))
'''


def find_shadowed_module(folder):
    """A standard-library module that the first jit build of a process imports."""
    import subprocess
    import sys
    (folder / "probe.py").write_text(PROBE)
    (folder / "probe_cache").mkdir()
    out = subprocess.run([sys.executable, "probe.py"], capture_output=True, text=True,
                         timeout=300, env=_env(str(folder / "probe_cache")),
                         cwd=folder).stdout.split()
    for name in ("calendar", "glob", "gzip", "quopri", "gettext", "argparse"):
        if name in out:
            return name
    raise AssertionError(f"no candidate module imported by the build: {out}")


def _root():
    import os
    return os.path.dirname(os.path.dirname(os.path.abspath(HERE)))


def _env(cache):
    import os
    env = dict(os.environ, ASTJAX_CACHE_DIR=cache)
    env["PYTHONPATH"] = _root() + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_jit_called_inside_a_build_does_not_deadlock(tmp_path):
    import subprocess
    import sys
    shadowed = find_shadowed_module(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / f"{shadowed}.py").write_text(SHADOW)
    (tmp_path / "main.py").write_text(MAIN.format(shadowed=shadowed))
    cache = tmp_path / "cache"
    cache.mkdir()
    try:
        proc = subprocess.run([sys.executable, "main.py"], capture_output=True, text=True,
                              timeout=400, cwd=tmp_path, env=_env(str(cache)))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"deadlock: jit called from inside a build hung\n{exc.stdout}")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "shadow called at_import: [-0.5, 2.5, 5.5, 8.5]" in out      # NumPy's answer
    assert "outer: [1.0, 3.0, 5.0]" in out
    assert "ran as NumPy: jit was called again while this thread was building" in out
    assert "at_import later: [-0.5, 2.5, 5.5, 8.5] compiled" in out
