"""Methods of user classes and attributes of user objects (issues 10 and 15), written the
way model classes in example programs are: a loss method reading ``self.w``, calling
``self.layer(...)`` and a nonlinearity stored on the object, and a module-level config
object.  Attributes are read when the function runs, as Python reads them: assigning
``model.w = ...`` after the transform is seen by grad, vmap and jit."""
import numpy as np
import pytest

import astjax
from checks import numerical_grad


class MLP:
    def __init__(self, w1, w2, act=np.tanh):
        self.w1 = w1
        self.w2 = w2
        self.act = act
        self.depth = 1

    def layer(self, w, x):
        return self.act(x @ w)

    def predict(self, x):
        h = x
        for _ in range(self.depth):
            h = self.layer(self.w1, h)
        return h @ self.w2

    def loss(self, x, y):
        return np.mean((self.predict(x) - y) ** 2)

    def loss_with(self, params, x, y):
        w1, w2 = params
        h = self.act(x @ w1)
        return np.mean((h @ w2 - y) ** 2) + 0.01 * np.sum(w1 ** 2)


class Config:
    pass


cfg = Config()
cfg.w = np.array([1.0, 2.0, 3.0])
cfg.scale = 2.0
cfg.power = 2


def uses_config(x):
    return cfg.scale * np.sum(cfg.w * x ** cfg.power)


RNG = np.random.default_rng(1)
X = RNG.normal(size=(5, 3))
Y = RNG.normal(size=5)


def model():
    return MLP(RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3))


def test_grad_of_a_method_reading_self():
    m = model()
    got = astjax.grad(m.loss)(X, Y)
    np.testing.assert_allclose(got, numerical_grad(m.loss, (X, Y), 0), rtol=1e-6, atol=1e-8)


def test_grad_with_respect_to_params_passed_to_a_method():
    m = model()
    params = (m.w1, m.w2)
    got = astjax.grad(m.loss_with)(params, X, Y)
    for k in range(2):
        def f(p, k=k):
            ps = list(params)
            ps[k] = p
            return m.loss_with(tuple(ps), X, Y)
        np.testing.assert_allclose(got[k], numerical_grad(f, (params[k],), 0), rtol=1e-6,
                                   atol=1e-8)


def test_attributes_assigned_after_the_transform_are_seen():
    m = model()
    g, j, v = astjax.grad(m.loss), astjax.jit(m.loss), astjax.vmap(m.predict)
    g(X, Y), j(X, Y), v(X[:, None, :])
    m.w1 = m.w1 * 2.0
    m.w2 = -m.w2
    np.testing.assert_allclose(g(X, Y), numerical_grad(m.loss, (X, Y), 0), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(j(X, Y), m.loss(X, Y), rtol=1e-12)
    np.testing.assert_allclose(v(X[:, None, :]), [m.predict(r[None, :]) for r in X],
                               rtol=1e-12)


def test_a_function_stored_on_the_object_and_an_int_attribute_are_followed():
    m = model()
    g = astjax.grad(m.loss)
    g(X, Y)
    m.act = np.sin                       # rebinding a callable attribute: derived again
    m.depth = 2                          # a folded int: derived again
    m.w1 = m.w1[:, :3]
    np.testing.assert_allclose(g(X, Y), numerical_grad(m.loss, (X, Y), 0), rtol=1e-6,
                               atol=1e-8)


def test_vmap_and_jit_of_methods_match_numpy():
    m = model()
    xs = RNG.normal(size=(4, 2, 3))
    np.testing.assert_allclose(astjax.vmap(m.predict)(xs), [m.predict(x) for x in xs],
                               rtol=1e-12)
    got = astjax.jit(m.loss)(X, Y)
    assert type(got) is type(m.loss(X, Y))
    np.testing.assert_allclose(got, m.loss(X, Y), rtol=1e-12)


@pytest.mark.parametrize("transform", ["grad", "jit"])
def test_attributes_of_a_global_object_are_read_when_the_function_runs(transform):
    x = np.array([0.5, -1.0, 2.0])
    fn = astjax.grad(uses_config) if transform == "grad" else astjax.jit(uses_config)
    want = (lambda: numerical_grad(uses_config, (x,), 0)) if transform == "grad" else \
        (lambda: uses_config(x))
    saved = (cfg.w, cfg.scale, cfg.power)
    try:
        np.testing.assert_allclose(fn(x), want(), rtol=1e-6)
        cfg.w = np.array([10.0, 20.0, 30.0])
        cfg.scale = 3.0
        np.testing.assert_allclose(fn(x), want(), rtol=1e-6)
        cfg.power = 3
        np.testing.assert_allclose(fn(x), want(), rtol=1e-6)
    finally:
        cfg.w, cfg.scale, cfg.power = saved


def test_generated_source_reads_the_attributes_on_entry():
    m = model()
    text = astjax.source(astjax.grad(m.loss))
    assert "self_w1 = _self.w1" in text, text
