"""Pytrees: arguments and results that are nested tuples, lists and dicts of arrays.

Gradients, tangents and Jacobians come back in the structure of what they are taken with
respect to, for every transformation."""
from collections import namedtuple

import numpy as np
import pytest

import astjax
from astjax.core.pytrees import flatten, flatten_like, tree_map, unflatten

Pair = namedtuple("Pair", ["a", "b"])

TREES = [
    np.arange(3.0),
    2.5,
    (np.ones(2), 3.0),
    [np.zeros((2, 2)), (1.0, np.arange(2.0))],
    {"w": np.eye(2), "b": np.ones(2), "nested": {"s": 1.5, "t": [2.0, np.ones(1)]}},
    Pair(np.ones(3), {"k": (4.0,)}),
    (),
    {"empty": []},
]


@pytest.mark.parametrize("tree", TREES, ids=[f"tree{i}" for i in range(len(TREES))])
def test_flatten_unflatten_round_trip(tree):
    leaves, structure = flatten(tree)
    assert structure.num_leaves == len(leaves)
    back = unflatten(structure, leaves)
    assert type(back) is type(tree)
    for x, y in zip(flatten(back)[0], leaves):
        assert x is y
    assert repr(flatten(back)[1]) == repr(structure)


def test_tree_map_and_missing_parts():
    tree = {"a": (1.0, 2.0), "b": [3.0]}
    assert tree_map(lambda x, y: x + y, tree, tree) == {"a": (2.0, 4.0), "b": [6.0]}
    _, structure = flatten(tree)
    assert flatten_like({"a": [5.0]}, structure) == [5.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        unflatten(structure, [1.0])


# ---- transformations over pytrees ----------------------------------------------------------------

def model(params, x):
    h = np.tanh(x @ params["w"] + params["b"])
    return np.sum(h ** 2) * params["scale"]


def unpacks(p):
    a, (b, c) = p
    return np.sum(a * b) + c * np.sum(np.sin(a))


def builds(x):
    return {"sq": x * x, "both": (np.sum(x), x[0])}


def dict_literal(x):
    d = {"u": x * 2.0, "v": np.cos(x)}
    d["u"] = d["u"] * d["v"]                # an item write to an existing key
    return np.sum(d["u"])


rng = np.random.default_rng(0)
PARAMS = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2), "scale": 1.5}
X = rng.standard_normal((4, 3))


def numerical_tree_grad(f, tree, eps=1e-6):
    leaves, structure = flatten(tree)
    grads = []
    for i, leaf in enumerate(leaves):
        leaf = np.asarray(leaf, dtype=float)
        g = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            plus, minus = leaf.copy(), leaf.copy()
            plus[idx] += eps
            minus[idx] -= eps
            at = [lv if j != i else None for j, lv in enumerate(leaves)]
            at[i] = plus if leaf.ndim else float(plus)
            fp = f(unflatten(structure, at))
            at[i] = minus if leaf.ndim else float(minus)
            fm = f(unflatten(structure, at))
            g[idx] = (fp - fm) / (2 * eps)
        grads.append(g if leaf.ndim else float(g))
    return unflatten(structure, grads)


def assert_tree_close(a, b):
    la, ta = flatten(a)
    lb, tb = flatten(b)
    assert repr(ta) == repr(tb)
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_grad_of_a_params_dict():
    g = astjax.grad(model)(PARAMS, X)
    assert isinstance(g, dict) and set(g) == {"w", "b", "scale"}
    assert isinstance(g["scale"], float)
    assert_tree_close(g, numerical_tree_grad(lambda p: model(p, X), PARAMS))


def test_value_and_grad_and_vjp_of_a_params_dict():
    value, g = astjax.value_and_grad(model)(PARAMS, X)
    np.testing.assert_allclose(value, model(PARAMS, X))
    out, vjp_fn = astjax.vjp(model, PARAMS, X)
    g_params, g_x = vjp_fn(1.0)
    assert_tree_close(g_params, g)
    assert g_x.shape == X.shape


def test_grad_of_nested_tuples():
    p = (np.array([0.5, -1.0]), (np.array([2.0, 3.0]), 0.7))
    g = astjax.grad(unpacks)(p)
    assert isinstance(g, tuple) and isinstance(g[1], tuple)
    assert_tree_close(g, numerical_tree_grad(unpacks, p))


def test_dict_displays_and_string_keys():
    x = np.array([0.1, 0.4, -0.3])
    expected = numerical_tree_grad(dict_literal, x)
    np.testing.assert_allclose(astjax.grad(dict_literal)(x), expected, rtol=1e-6)
    _, t = astjax.jvp(dict_literal, (x,), (np.ones(3),))
    np.testing.assert_allclose(t, np.sum(expected), rtol=1e-6)


def test_jvp_with_pytree_primals_and_results():
    tangent = {"w": np.ones((3, 2)), "b": np.zeros(2), "scale": 0.0}
    out, t_out = astjax.jvp(model, (PARAMS, X), (tangent, np.zeros_like(X)))
    g = astjax.grad(model)(PARAMS, X)
    np.testing.assert_allclose(t_out, np.sum(g["w"]), rtol=1e-8)
    out, t_out = astjax.jvp(builds, (np.arange(3.0),), (np.ones(3),))
    assert set(t_out) == {"sq", "both"} and isinstance(t_out["both"], tuple)
    np.testing.assert_allclose(t_out["sq"], 2 * np.arange(3.0))
    assert t_out["both"] == (3.0, 1.0)


def test_jacobians_nest_input_structure_inside_output_structure():
    jf = astjax.jacfwd(builds)(np.arange(3.0))
    jr = astjax.jacrev(builds)(np.arange(3.0))
    for j in (jf, jr):
        assert j["sq"].shape == (3, 3)
        assert j["both"][0].shape == (3,) and j["both"][1].shape == (3,)
        np.testing.assert_allclose(j["sq"], np.diag(2 * np.arange(3.0)))
        np.testing.assert_allclose(j["both"][1], [1.0, 0.0, 0.0])
    jp = astjax.jacrev(model)(PARAMS, X)
    assert set(jp) == {"w", "b", "scale"} and jp["w"].shape == (3, 2)
    assert_tree_close(jp, astjax.jacfwd(model)(PARAMS, X))


def test_hessian_of_a_params_dict():
    h = astjax.hessian(model)(PARAMS, X)
    assert h["b"]["w"].shape == (2, 3, 2) and h["w"]["b"].shape == (3, 2, 2)
    np.testing.assert_allclose(h["w"]["b"], np.transpose(h["b"]["w"], (1, 2, 0)), atol=1e-12)
    fd = numerical_tree_grad(lambda p: astjax.grad(model)(p, X)["b"][0], PARAMS)
    np.testing.assert_allclose(h["b"]["w"][0], fd["w"], rtol=1e-5, atol=1e-7)


def test_namedtuples_keep_their_type():
    p = Pair(np.ones(3), {"k": (4.0,)})
    g = astjax.grad(f_named)(p)
    assert isinstance(g, Pair)
    np.testing.assert_allclose(g.a, 2.0)
    assert g.b["k"][0] == pytest.approx(8.0)


def f_named(p):
    a, b = p
    return np.sum(a * 2.0) + b["k"][0] ** 2


def l2(params):
    total = 0.0
    for name, w in params.items():
        total = total + np.sum(w ** 2)
    for w in params.values():
        total = total + np.sum(np.sin(w))
    return total


def test_loops_over_dict_items_and_values():
    p = {"w": np.array([[0.5, -1.0]]), "b": np.array([2.0])}
    expected = {k: 2 * v + np.cos(v) for k, v in p.items()}
    assert_tree_close(astjax.grad(l2)(p), expected)
    _, t = astjax.jvp(l2, (p,), ({"w": np.ones((1, 2)), "b": np.zeros(1)},))
    np.testing.assert_allclose(t, np.sum(expected["w"]))
    h = astjax.hessian(l2)(p)
    np.testing.assert_allclose(h["b"]["b"], [[2.0 - np.sin(2.0)]])
