"""Python's iteration builtins in the code scientists write, under every transform (issue 15).

Generator expressions fed to sum/any/all/max/min, map over functions and lambdas, list(...)
and tuple(...) of arrays and lists, dict(key=value), comprehensions with several ``for``.
Each is checked against an oracle: central finite differences for grad and jvp, a Python loop
over the batch for vmap(grad), the plain function for jit.  ``list(rows)`` of an array was a
silent wrong answer (read as the display ``[rows]``, so ``np.sum(list(...))`` had a zero
gradient); it is kept here with the others.
"""
import warnings

import numpy as np
import pytest

import astjax

X = np.array([0.3, -1.2, 0.8, 0.45])
M = np.array([[0.2, -0.4, 1.1], [0.7, 0.3, -0.9]])


def central(f, x, h=1e-6):
    flat = x.ravel()
    out = np.zeros_like(flat)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = h
        out[i] = (f((flat + e).reshape(x.shape)) - f((flat - e).reshape(x.shape))) / (2 * h)
    return out.reshape(x.shape)


# ---- programs, written the way scientific Python is --------------------------------------------

def sum_of_squares_gen(x):
    return sum(v * v for v in x) + sum(x[i] * i for i in range(len(x)))


def soft_hinge(x):
    if any(v > 1.0 for v in x):
        return np.sum(np.log1p(np.exp(x)))
    if all(v < 0.5 for v in x):
        return np.sum(x ** 3)
    return max(np.sum(x), 0.1) + min(v * v for v in x)


def map_activations(x):
    layers = list(map(np.tanh, [x, 2.0 * x, x - 1.0]))
    return sum(map(np.sum, layers)) + np.sum(list(map(lambda v: v * v, x)))


def map_two_lists(x):
    weights = [0.5, -1.5, 2.0, 1.0]
    return sum(map(lambda v, w: w * v ** 2, x, weights))


def map_a_helper(x):
    return np.sum(np.array(list(map(_cube, x))))


def _cube(v):
    return v * v * v


def rows_of_a_matrix(m):
    rows = list(m)
    total = 0.0
    for r in rows:
        total = total + np.sum(np.sin(r) * r)
    return total + np.sum(list(m)[0])


def tuple_of_rows(m):
    first, second = tuple(m)
    return np.sum(first * second) + np.sum(np.stack(tuple(m)) ** 2)


def copy_then_append(x):
    items = list([x[0], x[1] * 2.0])
    items.append(x[2] ** 2)
    return sum(items) * x[3]


def params_by_keyword(x):
    p = dict(w=x, b=0.5, scale=np.float64(3.0))
    return np.sum(np.tanh(p["w"] * p["scale"] + p["b"]))


def pairwise_products(x):
    n = len(x)
    return sum([x[i] * x[j] for i in range(n) for j in range(n) if i != j])


def outer_pairs(x):
    return sum(x[i] * x[j] ** 2 for i in range(len(x)) for j in range(i))


def enumerate_from_one(x):
    # enumerate's start was dropped (a silent wrong answer under grad, jit and vmap)
    total = 0.0
    for k, v in enumerate(x, 1):
        total = total + k * v * v
    return total


def enumerate_zip(x):
    total = 0.0
    for k, (a, b) in enumerate(zip(x, x[1:]), start=2):
        total = total + k * np.sin(a - b)
    return total


def zip_reversed_pairs(x):
    # one target for zip's items (was an internal error under jit: len() of a zip object)
    total = 0.0
    for pair in zip(x, reversed(x)):
        total = total + pair[0] * pair[1] ** 2
    return total


def optional_data(x, data=None):
    # the branch on an argument left at its default (vmap looped isinstance over the batch,
    # then ran the other branch's len(None): an internal error)
    if isinstance(data, list):
        return np.sum(x) * len(data)
    return np.sum(x * x * x)


def walrus_gate(x):
    if (energy := np.sum(x * x)) > 0.5:
        return energy * np.sum(x)
    return energy


def walrus_in_while(x):
    y = x
    halvings = 0
    while (peak := np.max(np.abs(y))) > 0.2:
        y = y * 0.5
        halvings += 1
    return np.sum(y) * peak + halvings


def star_unpack(x):
    first, *middle, last = x
    return first * last + sum(v * v for v in middle) + len(middle)


def list_slices(x):
    # a slice of a list is a list (vmap read it as one item: an internal error, and
    # list(terms[1:]) a silent wrong answer); head, *tail = [...] slices the same way
    terms = [x[0] * 2.0, x[1], x[2] ** 2, np.sin(x[3])]
    rest = terms[1:]
    head, *tail = list(terms[:3])
    return head * tail[0] + tail[-1] * rest[-1] + len(rest)


PROGRAMS = [sum_of_squares_gen, soft_hinge, map_activations, map_two_lists, map_a_helper,
            copy_then_append, params_by_keyword, pairwise_products, outer_pairs,
            enumerate_from_one, enumerate_zip, zip_reversed_pairs, optional_data, walrus_gate,
            walrus_in_while, star_unpack, list_slices]
MATRIX_PROGRAMS = [rows_of_a_matrix, tuple_of_rows]
ALL = [(f, X) for f in PROGRAMS] + [(f, M) for f in MATRIX_PROGRAMS]
IDS = [f.__name__ for f, _ in ALL]


@pytest.mark.parametrize("f, x", ALL, ids=IDS)
def test_grad_matches_finite_differences(f, x):
    np.testing.assert_allclose(astjax.grad(f)(x), central(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, x", ALL, ids=IDS)
def test_jvp_matches_finite_differences(f, x):
    t = np.linspace(0.5, -0.7, x.size).reshape(x.shape)
    value, tangent = astjax.jvp(f, (x,), (t,))
    h = 1e-6
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    np.testing.assert_allclose(tangent, (f(x + h * t) - f(x - h * t)) / (2 * h), rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("f, x", ALL, ids=IDS)
def test_vmap_grad_matches_a_loop(f, x):
    batch = np.stack([x, 0.9 * x, x[::-1] * 1.1])
    loop = np.stack([astjax.grad(f)(row) for row in batch])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # a loop over the batch is allowed here
        got = astjax.vmap(astjax.grad(f))(batch)
    np.testing.assert_allclose(got, loop, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", [sum_of_squares_gen, map_two_lists, pairwise_products,
                               rows_of_a_matrix, enumerate_from_one, enumerate_zip,
                               zip_reversed_pairs, walrus_in_while, star_unpack, list_slices])
def test_jit_matches_python(f):
    x = M if f is rows_of_a_matrix else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = astjax.jit(f)(x)
    np.testing.assert_allclose(got, f(x), rtol=1e-12)


def test_float32_stays_float32():
    x = X.astype(np.float32)
    g = astjax.grad(map_a_helper)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-5)


def test_values_and_types_are_pythons():
    # list(...) and tuple(...) give what Python gives, so code reading them keeps working
    def shapes(x):
        rows = tuple(x)
        return len(rows), len(list(map(np.sum, rows))), any(np.sum(r) > 0 for r in rows)
    assert astjax.jit(shapes)(M) == shapes(M)


def test_a_shadowed_builtin_is_the_users():
    def map(xs, scale):    # noqa: A001  (the user's own map: called as a helper)
        return [np.sin(x) * scale for x in xs]

    def uses_own_map(x):
        return sum(map(x, 2.0))

    # the nested def named map is lifted as a helper, not read as the builtin
    np.testing.assert_allclose(astjax.grad(uses_own_map)(X), 2.0 * np.cos(X), rtol=1e-12)


def scaled_sines(xs, scale):
    return [np.sin(v) * scale for v in xs]


def sum_of_a_helpers_list(x):
    return sum(scaled_sines(x, 2.0)) + np.sum(np.tanh(scaled_sines(x, 0.5)))


def test_a_helpers_list_read_by_numpy():
    # np.sum / the builtin sum of a list a helper returns: the helper's reverse sweep pops its
    # items' cotangents (was a silent zero gradient)
    np.testing.assert_allclose(astjax.grad(sum_of_a_helpers_list)(X),
                               central(sum_of_a_helpers_list, X), rtol=1e-6)
    batch = np.stack([X, 0.5 * X])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = astjax.vmap(astjax.grad(sum_of_a_helpers_list))(batch)
    np.testing.assert_allclose(got, [astjax.grad(sum_of_a_helpers_list)(r) for r in batch],
                               rtol=1e-10)
