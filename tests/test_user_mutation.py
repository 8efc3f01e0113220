"""Writes into arrays, containers and aliases keep NumPy's meaning under every transform
(issue 10, items 4-6), each checked from the user's side against an oracle: central finite
differences for derivatives, the plain function for jit, a Python loop for vmap."""
import warnings

import numpy as np
import pytest

import astjax
from astjax.errors import AstjaxError
from checks import numerical_grad

RNG = np.random.default_rng(7)
X1 = np.array([0.3, 1.7, 0.9, 2.4, 1.2])          # away from every threshold below
X2 = np.array([[0.3, 1.7, 0.9], [2.4, 1.2, 0.6], [1.1, 0.2, 1.9]])


# ---- item 4: bare NumPy calls that write into an array ----------------------------------------

def copyto(x):
    out = np.zeros_like(x)
    np.copyto(out, x * x)
    return np.sum(out * x)


def copyto_where(x):
    out = np.ones_like(x) * x
    np.copyto(out, np.sin(x), where=x > 1.0)
    return np.sum(out ** 2)


def copyto_slice(x):
    out = x * 2.0
    np.copyto(out[1:], x[:-1] ** 2)
    return np.sum(out * out)


def copyto_broadcast(x):
    out = np.zeros((2,) + x.shape)
    np.copyto(out, np.tanh(x))
    return np.sum(out * x)


def fill_diagonal(x):
    a = x * x
    np.fill_diagonal(a, np.sum(x))
    return np.sum(a * x)


def fill_diagonal_cyclic(x):
    a = np.exp(x)
    np.fill_diagonal(a, x[0, :2] * 3.0)
    return np.sum(a * a)


def put(x):
    a = x * 1.0
    np.put(a, [0, 2], x[1:3] ** 2)
    return np.sum(a * x)


def put_repeated_wrap(x):
    a = np.sin(x)
    np.put(a, [0, 0, 7], x[2:4] * 5.0, mode="wrap")      # 7 wraps to 2; 0 written twice
    return np.sum(a * x)


def putmask(x):
    a = x * 1.0
    np.putmask(a, x > 1.0, np.cos(x[:2]))                # values repeat by position
    return np.sum(a * a)


def place(x):
    a = np.exp(x)
    np.place(a, x < 1.5, x[::-1] * 3.0)                 # values used in order
    return np.sum(a * x)


def _fill(a, v):
    np.copyto(a, v)                      # a helper that writes into its argument


def copyto_in_helper(x):
    out = np.zeros_like(x)
    _fill(out, np.sin(x) * x)
    return np.sum(out * x)


WRITERS = [(copyto_in_helper, X1), (copyto, X1), (copyto_where, X1), (copyto_slice, X1), (copyto_broadcast, X1),
           (fill_diagonal, X2), (fill_diagonal_cyclic, X2), (put, X1),
           (put_repeated_wrap, X1), (putmask, X1), (place, X1)]
IDS = [f.__name__ for f, _ in WRITERS]


def _directional(f, x, v, eps=1e-6):
    return (f(x + eps * v) - f(x - eps * v)) / (2 * eps)


@pytest.mark.parametrize("f, x", WRITERS, ids=IDS)
def test_writer_grad(f, x):
    np.testing.assert_allclose(astjax.grad(f)(x), numerical_grad(f, (x,), 0), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("f, x", WRITERS, ids=IDS)
def test_writer_jvp(f, x):
    v = RNG.standard_normal(x.shape)
    y, t = astjax.jvp(f, (x,), (v,))
    assert np.allclose(y, f(x))
    np.testing.assert_allclose(t, _directional(f, x, v), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("f, x", WRITERS, ids=IDS)
def test_writer_hessian(f, x):
    g = astjax.grad(f)
    n = x.size
    fd = np.stack([_directional(lambda z: g(z), x, e.reshape(x.shape)).ravel()
                   for e in np.eye(n)], axis=-1).reshape(x.shape + x.shape)
    np.testing.assert_allclose(astjax.hessian(f)(x), fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f, x", WRITERS, ids=IDS)
def test_writer_vmap(f, x):
    xs = np.stack([x, x * 0.9 + 0.05, x[::-1].copy() if x.ndim == 1 else x.T.copy()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = astjax.vmap(f)(xs)
        got_grad = astjax.vmap(astjax.grad(f))(xs)
    if "copyto" in f.__name__:           # np.copyto batches without a loop over the batch
        assert not [w for w in caught if "copyto" in str(w.message)], caught[0].message
    np.testing.assert_allclose(got, [f(a) for a in xs], rtol=1e-12)
    np.testing.assert_allclose(got_grad, [astjax.grad(f)(a) for a in xs], rtol=1e-12)


@pytest.mark.parametrize("f, x", WRITERS, ids=IDS)
def test_writer_jit(f, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.allclose(astjax.jit(f)(x), f(x), rtol=1e-12)
        np.testing.assert_allclose(astjax.jit(astjax.grad(f))(x), astjax.grad(f)(x),
                                   rtol=1e-12)


def test_writer_primal_value_under_every_transform():
    # the value itself (the first complaint: 0 instead of 14)
    def f(x):
        out = np.zeros_like(x)
        np.copyto(out, x * x)
        return np.sum(out)
    x = np.array([1.0, 2.0, 3.0])
    assert astjax.value_and_grad(f)(x)[0] == 14.0
    assert astjax.jit(f)(x) == 14.0
    np.testing.assert_allclose(astjax.grad(f)(x), 2 * x)


def test_writer_result_used_as_value_is_refused():
    def f(x):
        out = np.zeros_like(x)
        r = np.copyto(out, x)
        return np.sum(out)
    with pytest.raises(AstjaxError, match=r"test_user_mutation.py:\d+.*statement of its own"):
        astjax.grad(f)(X1)


def test_writer_into_a_temporary_is_refused():
    def f(x):
        np.copyto(np.asarray(x), x * 2.0)
        return np.sum(x)
    with pytest.raises(AstjaxError, match=r"test_user_mutation.py:\d+"):
        astjax.grad(f)(X1)


def shuffle_active(x):
    y = x * 2.0
    np.random.shuffle(y)                # an effect astjax has no rule for
    return np.sum(y * y[0])


def shuffle_constant(x):
    idx = np.arange(5.0)
    np.random.shuffle(idx)              # touches nothing differentiated: runs, and is fine
    return np.sum(x * x) + 0.0 * np.sum(idx)


@pytest.mark.parametrize("kind", ["grad", "jvp", "hessian"])
def test_unknown_effect_on_a_differentiated_value_is_refused(kind):
    run = {"grad": lambda: astjax.grad(shuffle_active)(X1),
           "jvp": lambda: astjax.jvp(shuffle_active, (X1,), (X1,)),
           "hessian": lambda: astjax.hessian(shuffle_active)(X1)}[kind]
    with pytest.raises(AstjaxError, match=r"test_user_mutation.py:\d+.*np.random.shuffle"):
        run()


def _rng_after(fn):
    np.random.seed(3)
    fn(X1)
    return np.random.random()


def test_unknown_effect_elsewhere_still_runs():
    np.testing.assert_allclose(astjax.grad(shuffle_constant)(X1), 2 * X1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jitted = astjax.jit(shuffle_constant)
        jitted(X1)                                     # build first
        ran = _rng_after(shuffle_constant)
        assert ran != _rng_after(lambda x: None)       # the oracle consumes random state
        assert _rng_after(jitted) == ran               # and so does each transform: it ran
        assert _rng_after(astjax.grad(shuffle_constant)) == ran
        assert _rng_after(astjax.vmap(shuffle_constant)) == ran


def test_unknown_effect_under_vmap_loops_over_lanes():
    xs = np.stack([X1, X1 + 1.0])
    np.random.seed(5)
    expect = [shuffle_active(a) for a in xs]
    np.random.seed(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = astjax.vmap(shuffle_active)(xs)
    np.testing.assert_allclose(got, expect)


# ---- item 6: aliases -----------------------------------------------------------------------------

def rebound(x):
    y = x.copy()
    z = y
    z[0] = 0.0                          # writes into y as well
    return np.sum(y * x)


def rebound_both_ways(x):
    y = x * 2.0
    z = y
    y[1] = x[0] ** 2                    # z sees it
    z[2] = np.sin(x[1])                 # and y sees this
    return np.sum(z * y) + np.sum(y)


def rebound_in_loop(x):
    acc = x * 1.0
    for i in range(3):
        alias = acc
        alias[i] = alias[i] * x[i]
    return np.sum(acc * x)


def rebound_in_branch(x):
    y = x * 1.0
    z = y
    if x[0] > 0.0:
        z[1] = 3.0 * x[2]
    return np.sum(y ** 2)


def copy_is_not_an_alias(x, v):
    w = np.array(x)                     # a copy: the caller's x (and its tangent) stay as they are
    w[1:] += np.tanh(x[1:] * v)
    return np.sum(w * w)


ALIASED = [rebound, rebound_both_ways, rebound_in_loop, rebound_in_branch]


@pytest.mark.parametrize("f", ALIASED, ids=[f.__name__ for f in ALIASED])
def test_alias_followed(f):
    x = X1[:3].copy()
    keep = x.copy()
    np.testing.assert_allclose(astjax.grad(f)(x), numerical_grad(f, (x,), 0), rtol=1e-6,
                               atol=1e-6)
    v = RNG.standard_normal(3)
    y, t = astjax.jvp(f, (x,), (v,))
    np.testing.assert_allclose(y, f(x.copy()))
    np.testing.assert_allclose(t, _directional(f, x, v), rtol=1e-6, atol=1e-6)
    g = astjax.grad(f)
    fd = np.stack([_directional(g, x, e) for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(astjax.hessian(f)(x), fd, rtol=1e-5, atol=1e-5)
    xs = np.stack([x, x + 0.5, -x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(astjax.vmap(f)(xs), [f(a.copy()) for a in xs])
        np.testing.assert_allclose(astjax.jit(f)(x), f(x.copy()))
    np.testing.assert_array_equal(x, keep)


def test_np_array_copies_under_jvp():
    x, t = np.array([1.0, 2.0, 3.0]), np.ones(3)
    y, dy = astjax.jvp(lambda a: copy_is_not_an_alias(a, 2.0), (x,), (t,))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(t, [1.0, 1.0, 1.0])
    assert np.isclose(y, copy_is_not_an_alias(x, 2.0))
    assert np.isclose(dy, _directional(lambda a: copy_is_not_an_alias(a, 2.0), x, t))
    np.testing.assert_allclose(astjax.grad(copy_is_not_an_alias)(x, 2.0),
                               numerical_grad(copy_is_not_an_alias, (x, 2.0), 0), rtol=1e-6)


def through_view(x):
    y = x * 1.0
    v = y[1:]
    v[0] = 5.0                           # y[1] is 5 now
    return np.sum(y * x)


def through_asarray(x):
    w = np.asarray(x)                    # x itself
    w[0] = 5.0
    return np.sum(w * x)


def through_transpose(x):
    m = np.outer(x, x)
    t = m.T
    t[0, 1] = 0.0
    return np.sum(m)


def augmented_on_alias(x):
    y = x * 2.0
    z = y
    z += 1.0                             # in place: y changes too
    return np.sum(y * x)


def through_a_list(x):
    w = x * 2.0
    lst = [w]                            # the list holds w itself
    w[0] = 0.0                           # lst[0][0] is 0 now
    return np.sum(lst[0] * x)


def through_an_appended_item(x):
    w = x * 2.0
    lst = []
    lst.append(w)
    w[0] = 0.0
    return np.sum(np.stack(lst) * x)


def through_loop_rows(x):
    rows = [x * 1.0, x * 2.0]
    for r in rows:
        r[0] = 0.0                       # writes into the list's items
    return np.sum(rows[0] * rows[1])


def tail(a):
    return a[1:]


def through_a_helper_result(x):
    y = x * 1.0
    v = tail(y)                          # a view of y, made in a helper
    v[0] = 5.0
    return np.sum(y * x)


@pytest.mark.parametrize("f", [through_view, through_asarray, through_transpose,
                               augmented_on_alias, through_a_list, through_an_appended_item,
                               through_loop_rows, through_a_helper_result])
@pytest.mark.parametrize("kind", ["grad", "jvp", "vmap"])
def test_write_through_a_view_is_refused(f, kind):
    x = X1[:3].copy()
    run = {"grad": lambda: astjax.grad(f)(x),
           "jvp": lambda: astjax.jvp(f, (x,), (x,)),
           "vmap": lambda: astjax.vmap(f)(np.stack([x, x]))}[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AstjaxError, match=r"test_user_mutation.py:\d+: .*shares memory"):
            run()


def test_views_that_do_not_share_are_fine():
    def scalar_item(x):
        s = x[0]                         # a 1-d item is a copy: s += does not touch x
        s += 2.0
        return s * np.sum(x)

    def float_alias(a):
        b = a
        b += 1.0                         # floats are immutable: a keeps its value
        return a * b

    def list_of_a_rebound_name(x):
        w = x * 2.0
        lst = [w]
        w = w * 1.0                      # a new array: the write below leaves lst alone
        w[0] = 0.0
        return np.sum(lst[0] * w)

    def helper_result_is_new(x):
        v = tail(x) * 1.0                # a fresh array
        v[0] = 5.0
        return np.sum(v * x[1:])

    x = X1[:3].copy()
    np.testing.assert_allclose(astjax.grad(scalar_item)(x), numerical_grad(scalar_item, (x,), 0),
                               rtol=1e-6)
    for f in (list_of_a_rebound_name, helper_result_is_new):
        np.testing.assert_allclose(astjax.grad(f)(x), numerical_grad(f, (x,), 0), rtol=1e-6)
        np.testing.assert_allclose(astjax.vmap(f)(np.stack([x, 2 * x])),
                                   [f(x), f(2 * x)], rtol=1e-12)
    assert np.isclose(astjax.grad(float_alias)(2.0), 5.0)


# ---- item 5: containers ------------------------------------------------------------------------

def list_of_scalars(a):
    b = [1.0, a * a, 2.0]
    return np.sum(b)


def nested_list(a):
    b = [[a, 1.0], [np.sin(a), a * a]]
    return np.sum(np.array(b) ** 2)


def test_list_read_by_numpy():
    for f in (list_of_scalars, nested_list):
        a = 0.7
        assert np.isclose(astjax.grad(f)(a), numerical_grad(f, (a,), 0))
        y, t = astjax.jvp(f, (a,), (1.0,))
        assert np.isclose(y, f(a)) and np.isclose(t, numerical_grad(f, (a,), 0))
        g = astjax.grad(f)
        assert np.isclose(astjax.hessian(f)(a), (g(a + 1e-5) - g(a - 1e-5)) / 2e-5, rtol=1e-5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.isclose(astjax.jit(f)(a), f(a))
            xs = np.array([0.3, -1.2, 2.0])
            np.testing.assert_allclose(astjax.vmap(f)(xs), [f(v) for v in xs])
            np.testing.assert_allclose(astjax.vmap(astjax.grad(f))(xs), [g(v) for v in xs])


def sq_first(v):
    return np.sum(v[0] ** 2)


def tuple_to_helper(p):
    return sq_first(p) + np.sum(p[0])


def sq_key(v):
    return np.sum(v["a"] ** 2) + v["b"]


def dict_to_helper(p):
    return sq_key(p) + np.sum(p["a"]) * p["b"]


def two_helpers(p):
    return sq_first(p) + sq_first(p) * 2.0


def test_container_argument_reaching_a_helper():
    w = np.array([1.0, 2.0, 3.0])
    (gw,) = astjax.grad(tuple_to_helper)((w,))
    np.testing.assert_allclose(gw, 2 * w + 1)
    (gw,) = astjax.grad(two_helpers)((w,))
    np.testing.assert_allclose(gw, 6 * w)
    gd = astjax.grad(dict_to_helper)({"a": w, "b": 1.5})
    np.testing.assert_allclose(gd["a"], 2 * w + 1.5)
    assert np.isclose(gd["b"], 1.0 + np.sum(w))
    y, t = astjax.jvp(dict_to_helper, ({"a": w, "b": 1.5},), ({"a": np.ones(3), "b": 1.0},))
    fd = (dict_to_helper({"a": w + 1e-6, "b": 1.5 + 1e-6}) -
          dict_to_helper({"a": w - 1e-6, "b": 1.5 - 1e-6})) / 2e-6
    assert np.isclose(y, dict_to_helper({"a": w, "b": 1.5})) and np.isclose(t, fd)


def mixed_array(x):
    return np.sum(np.array([x[0], 2.0, x[1] * x[2]]) ** 2)


def mixed_sum(x):
    b = [x[0], 2.0]
    return np.sum(b) * x[1]


def mixed_stack(x):
    b = [x, np.ones(3)]
    return np.sum(np.stack(b) ** 2)


def mixed_rows(x):
    b = [x[0] * 2.0, 3.0]
    return np.array(b)


@pytest.mark.parametrize("f", [mixed_array, mixed_sum, mixed_stack, mixed_rows])
def test_vmap_of_a_list_mixing_batched_and_shared_items(f):
    xs = np.array([[0.3, 1.7, 0.9], [-0.3, -1.7, -0.9], [1.1, 0.2, -0.4]])
    d = astjax.jacrev(f) if f is mixed_rows else astjax.grad(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(astjax.vmap(f)(xs), [f(a) for a in xs])
        np.testing.assert_allclose(astjax.vmap(d)(xs), [d(a) for a in xs])
    if f is not mixed_rows:
        np.testing.assert_allclose(d(xs[0]), numerical_grad(f, (xs[0],), 0), rtol=1e-6)


def checked(x):
    np.testing.assert_array_less(x, 10.0)          # a check: it only raises, kept everywhere
    return np.sum(x * x)


def test_numpy_testing_checks_run_under_grad():
    np.testing.assert_allclose(astjax.grad(checked)(X1), 2 * X1)
    with pytest.raises(AssertionError):
        astjax.grad(checked)(X1 + 20.0)
