"""Python's meaning of globals, closures and decorators under every transform (issue 10,
items 1 and 2), written the way a scientist writes code: module-level arrays and constants
reassigned between calls, closures whose cells change, functools.wraps decorators on the
function and on its helpers.  Every value is checked against an oracle: central finite
differences for derivatives, a Python loop for vmap, the NumPy function called directly for
jit."""
import functools

import numpy as np
import pytest

import astjax
from astjax.errors import AstjaxError
from checks import numerical_grad

# ---- the user's module: globals, helpers, decorators ----------------------------------------

W = np.array([1.0, 2.0, 3.0])
SCALE = 2.0
POWER = 2


def square(x):
    return x * x


def cube(x):
    return x * x * x


helper = square


def scale10(f):
    @functools.wraps(f)
    def wrapper(x):
        return f(x) * 10.0
    return wrapper


def register(f):                     # a decorator that returns the function itself
    REGISTRY.append(f.__name__)
    return f


REGISTRY = []


def weighted(x):
    return np.sum(W * np.sin(x))


def scaled(x):
    return np.sum(x * x) * SCALE


def powered(x):
    return np.sum(x ** POWER)


def uses_helper(x):
    return np.sum(W * helper(x))


MODE = "sin"


def flagged(x):
    if MODE == "sin":
        return np.sum(np.sin(x) * W)
    return np.sum(x * x * W)


DTYPE = np.dtype(np.float64)


def cast(x):
    return np.sum(x.astype(DTYPE) * 3.0)


@scale10
def decorated(x):
    return np.sum(x * x)


@scale10
def decorated_part(x):
    return np.sum(np.sin(x))


def calls_decorated(x):
    return decorated_part(x) + np.sum(x)


@register
def registered(x):
    return np.sum(np.cos(x) * x)


@functools.lru_cache(maxsize=None)
def coefficient(n):
    return n * 0.5


def uses_cache(x):
    return np.sum(x * x) * coefficient(3)


def make_loss(w):
    def loss(x):
        return np.sum(w * x * x)

    def set_w(value):
        nonlocal w
        w = value
    return loss, set_w


closure_loss, set_closure_w = make_loss(np.array([1.0, 1.0, 1.0]))


@pytest.fixture(autouse=True)
def restore_globals():
    saved = {k: globals()[k] for k in ("W", "SCALE", "POWER", "helper", "MODE", "DTYPE")}
    saved["W"] = saved["W"].copy()        # a test may write into W itself
    set_closure_w(np.array([1.0, 1.0, 1.0]))
    yield
    globals().update(saved)
    set_closure_w(np.array([1.0, 1.0, 1.0]))


# ---- oracles ----------------------------------------------------------------------------------

X = np.array([0.3, -0.7, 1.1])
XS = np.array([[0.3, -0.7, 1.1], [0.5, 0.2, -0.4]])
V = np.array([1.0, -2.0, 0.5])


def numerical_hessian(f, x, eps=1e-4):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((numerical_grad(f, (x + e,), 0) - numerical_grad(f, (x - e,), 0))
                    / (2 * eps))
    return np.stack(cols, axis=-1)


def transform(kind, f):
    """The transformed function (built once, as a user would) and its oracle from f."""
    if kind == "grad":
        return astjax.grad(f), lambda x: numerical_grad(f, (x,), 0)
    if kind == "value_and_grad":
        return astjax.value_and_grad(f), lambda x: (f(x), numerical_grad(f, (x,), 0))
    if kind == "jvp":
        return (lambda x: astjax.jvp(f, (x,), (V,))), \
            lambda x: (f(x), numerical_grad(f, (x,), 0) @ V)
    if kind == "vjp":
        return (lambda x: astjax.vjp(f, x)[1](1.0)[0]), lambda x: numerical_grad(f, (x,), 0)
    if kind == "jacfwd":
        return astjax.jacfwd(f), lambda x: numerical_grad(f, (x,), 0)
    if kind == "hessian":
        return astjax.hessian(f), lambda x: numerical_hessian(f, x)
    if kind == "vmap":
        return astjax.vmap(f), lambda xs: np.stack([f(x) for x in xs])
    if kind == "jit":
        return astjax.jit(f), f
    if kind == "jit_grad":
        return astjax.jit(astjax.grad(f)), lambda x: numerical_grad(f, (x,), 0)
    raise ValueError(kind)


KINDS = ["grad", "value_and_grad", "jvp", "vjp", "jacfwd", "hessian", "vmap", "jit",
         "jit_grad"]


def check(kind, got, want):
    tol = dict(rtol=2e-4, atol=2e-4) if kind == "hessian" else dict(rtol=1e-6, atol=1e-6)
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **tol)
    else:
        np.testing.assert_allclose(got, want, **tol)


def arg_for(kind):
    return XS if kind == "vmap" else X


# ---- 2. globals and closure cells are read when the function runs -----------------------------

def _set_W():
    global W
    W = np.array([10.0, -20.0, 30.0])


def _set_W_int():
    global W
    W = np.array([4, 5, 6])           # another dtype: jit re-specializes


def _set_scale():
    global SCALE
    SCALE = 5.0


def _set_power():
    global POWER
    POWER = 3                         # a folded int: guarded, derived again


def _set_helper():
    global helper
    helper = cube                     # a helper rebound: guarded, derived again


def _set_mode():
    global MODE
    MODE = "square"                   # a folded str flag: guarded, derived again


def _mutate_W_in_place():
    W[1] = -7.0                       # the same array object, new contents


def _set_cell():
    set_closure_w(np.array([2.0, -3.0, 4.0]))


SCENARIOS = {
    "global array": (weighted, [_set_W, _set_W_int]),
    "global float": (scaled, [_set_scale]),
    "global int": (powered, [_set_power]),
    "global helper": (uses_helper, [_set_helper, _set_W]),
    "closure cell": (closure_loss, [_set_cell]),
    "global flag": (flagged, [_set_mode, _mutate_W_in_place]),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reassigned_between_calls(scenario, kind):
    f, changes = SCENARIOS[scenario]
    fn, oracle = transform(kind, f)
    x = arg_for(kind)
    check(kind, fn(x), oracle(x))
    for change in changes:
        change()
        check(kind, fn(x), oracle(x))        # the same transformed object, new values
    fresh, _ = transform(kind, f)            # and asking again gives the new values too
    check(kind, fresh(x), oracle(x))


def test_issue_snippets():
    global W, SCALE
    W = np.array([1.0, 2.0, 3.0])
    gf = astjax.grad(lambda x: np.sum(W * x))
    x = np.ones(3)
    np.testing.assert_allclose(gf(x), [1.0, 2.0, 3.0])
    W = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(gf(x), [10.0, 20.0, 30.0])
    SCALE = 2.0
    k = astjax.jit(scaled)
    assert k(x) == pytest.approx(6.0)
    SCALE = 5.0
    assert k(x) == pytest.approx(15.0)


def test_caching_survives_and_unchanged_values_build_nothing_new():
    g1 = astjax.grad(uses_helper)
    assert astjax.grad(uses_helper) is g1      # data read at call time: nothing to re-derive
    _set_W()
    assert astjax.grad(uses_helper) is g1
    _set_helper()
    g2 = astjax.grad(uses_helper)
    assert g2 is not g1 and astjax.grad(uses_helper) is g2
    np.testing.assert_allclose(g1(X), g2(X))   # the old object forwards to the new one


def test_generated_source_reads_globals_when_it_runs():
    text = astjax.source(astjax.grad(weighted))
    assert "W = _globals['W']" in text and "read when this runs" in text
    text = astjax.source(astjax.grad(uses_helper))
    assert "_captures.stale()" in text          # the helper it differentiated is guarded
    text = astjax.source(astjax.grad(closure_loss))
    assert "_cells['w'].cell_contents" in text


def test_jit_reads_globals_in_c_and_explains():
    global W
    k = astjax.jit(weighted)
    k(X)
    _set_W_int()
    np.testing.assert_allclose(k(X), weighted(X))
    text = astjax.explain(k)
    assert "reads the global 'W' at each call" in text
    assert "with W: float64" in text and "with W: int64" in text
    assert "_astjax_refresh" in astjax.source(k, stage="cython")


@pytest.mark.parametrize("kind", ["jit", "vmap"])
def test_global_dtype_is_specialized_on_and_guarded(kind):
    global DTYPE
    fn = astjax.jit(cast) if kind == "jit" else astjax.vmap(cast)
    x = arg_for(kind).astype(np.float32)
    for dtype in (np.float64, np.float32, np.float64):
        DTYPE = np.dtype(dtype)
        got = fn(x)
        want = cast(x) if kind == "jit" else np.stack([cast(e) for e in x])
        assert np.asarray(got).dtype == np.asarray(want).dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("kind", ["jit", "jit_grad", "vmap", "grad"])
def test_global_rebound_to_other_kinds_of_value(kind):
    global W
    fn, oracle = transform(kind, weighted)
    x = arg_for(kind)
    for value in (np.array([1.0, 2.0, 3.0]), np.arange(6.0)[::2], np.array([1, 2, 3]),
                  2.5, np.float32(1.5), np.array([[1.0], [2.0]])[:, :1].reshape(2, 1)[0]):
        W = value                          # contiguity, dtype, Python scalar, NumPy scalar
        check(kind, fn(x), oracle(x))


def test_jit_integer_loop_over_a_global_array():
    global W
    W = np.array([1.0, 2.0, 3.0])

    def dot_w(x):
        s = 0.0
        for i in range(x.shape[0]):
            s += W[i] * x[i]
        return s
    k = astjax.jit(dot_w)
    assert k(X) == pytest.approx(dot_w(X))
    W = np.array([-1.0, 0.5, 2.0])            # same type: the same compiled code, new values
    assert k(X) == pytest.approx(dot_w(X))
    assert len(k.specializations) == 1


# ---- 1. decorators: the wrapper is what runs ---------------------------------------------------

DECORATED = {
    "functools.wraps wrapper": decorated,
    "decorated helper": calls_decorated,
    "passthrough decorator": registered,
    "lru_cache helper": uses_cache,
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(DECORATED))
def test_decorators_kept(case, kind):
    f = DECORATED[case]
    fn, oracle = transform(kind, f)
    x = arg_for(kind)
    check(kind, fn(x), oracle(x))


def test_wrapper_scales_the_gradient():
    np.testing.assert_allclose(astjax.grad(decorated)(X), 20.0 * X)
    assert "registered" in REGISTRY


@astjax.jit
@scale10
def jit_over_decorator(x):
    return np.sum(x * x)


def test_jit_as_decorator_on_top_of_a_decorator():
    assert jit_over_decorator(X) == pytest.approx(10.0 * np.sum(X * X))
    assert "runs as NumPy" not in astjax.explain(jit_over_decorator)


class Timed:
    """A decorator that returns an object, not a function."""

    def __init__(self, f):
        functools.update_wrapper(self, f)
        self.f = f

    def __call__(self, x):
        return self.f(x) * 3.0


@Timed
def object_decorated(x):
    return np.sum(x * x)


def calls_object_decorated(x):
    return object_decorated(x) + 1.0


def test_undecoratable_object_is_refused_naming_the_definition():
    line = object_decorated.__wrapped__.__code__.co_firstlineno
    with pytest.raises(AstjaxError, match=rf"test_user_semantics.py:{line}:.*decorated"):
        astjax.grad(object_decorated)
    with pytest.raises(AstjaxError, match=r"test_user_semantics.py:\d+:"):
        astjax.grad(calls_object_decorated)
    k = astjax.jit(object_decorated)
    assert k(X) == pytest.approx(object_decorated(X))       # runs as Python
    assert "decorated" in astjax.explain(k) and "runs as NumPy" in astjax.explain(k)


def star_args(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs) * 2.0
    return wrapper


@star_args
def star_decorated(x):
    return np.sum(x * x)


def test_star_args_wrapper_is_a_clear_error():
    with pytest.raises(AstjaxError, match=r"test_user_semantics.py:\d+: \*args"):
        astjax.grad(star_decorated)
