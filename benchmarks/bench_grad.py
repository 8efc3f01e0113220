"""Reverse mode: cost of the gradient over the cost of the function, astjax beside
autograd and JAX (when installed, JAX in float64 like the others), in one run.

    python benchmarks/bench_grad.py

On glibc, large fresh arrays are returned to the OS when freed and page-fault again when
reallocated; a gradient keeps more arrays alive than the function, so it pays that more
often.  For the allocator-independent cost run with
``MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000``.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_time, optional, row  # noqa: E402

import astjax  # noqa: E402


def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def mlp_loss(w1, b1, w2, b2, x, y):
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    m = np.max(logits, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.mean(np.sum(y * (logits - lse), axis=1))


def mlp_args(rng):
    w1 = rng.standard_normal((784, 512)) * 0.05
    b1 = np.zeros(512)
    w2 = rng.standard_normal((512, 10)) * 0.05
    b2 = np.zeros(10)
    x = rng.standard_normal((128, 784))
    y = np.eye(10)[rng.integers(0, 10, 128)]
    return w1, b1, w2, b2, x, y


def mlp_loss_in(xnp):
    """``mlp_loss`` written against a NumPy-like module (autograd.numpy, jax.numpy)."""
    def loss(w1, b1, w2, b2, x, y):
        h = xnp.tanh(xnp.dot(x, w1) + b1)
        logits = xnp.dot(h, w2) + b2
        m = xnp.max(logits, axis=1, keepdims=True)
        lse = m + xnp.log(xnp.sum(xnp.exp(logits - m), axis=1, keepdims=True))
        return -xnp.mean(xnp.sum(y * (logits - lse), axis=1))
    return loss


def peer_versions(xnp, fn_np):
    """The benchmark function written against a peer's NumPy module."""
    if fn_np is sum_logistic:
        return lambda x: xnp.sum(1.0 / (1.0 + xnp.exp(-x)))
    return mlp_loss_in(xnp)


def jax_versions(jax, fn_np, argnums):
    f = peer_versions(jax.numpy, fn_np)
    return jax.jit(f), jax.jit(jax.grad(f, argnums=argnums))


def autograd_versions(ag, fn_np, argnums):
    f = peer_versions(ag.numpy, fn_np)
    return f, ag.grad(f, argnum=argnums)


def main():
    rng = np.random.default_rng(0)
    cases = [("sum_logistic, 1e6 float64", sum_logistic, (rng.standard_normal(10**6),), 0),
             ("MLP 784-512-10 loss, batch 128", mlp_loss, mlp_args(rng), (0, 1, 2, 3))]
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)   # compare float64 with float64
    ag = optional("autograd")
    print("gradient time / function time (lower is better); times in ms")
    row("case", "tool", "f (ms)", "grad (ms)", "grad / f")
    for label, fn, args, argnums in cases:
        t_f = best_time(fn, *args)
        g = astjax.grad(fn, argnums=argnums)
        t_g = best_time(g, *args)
        row(label, "astjax", t_f * 1e3, t_g * 1e3, t_g / t_f)
        if ag is not None:
            f_ag, g_ag = autograd_versions(ag, fn, argnums)
            t_fa, t_ga = best_time(f_ag, *args), best_time(g_ag, *args)
            row("", "autograd", t_fa * 1e3, t_ga * 1e3, t_ga / t_fa)
        if jax is not None:
            f_j, g_j = jax_versions(jax, fn, argnums)
            jargs = [jax.numpy.asarray(a) for a in args]
            run_f = lambda *a: f_j(*a).block_until_ready()  # noqa: E731
            run_g = lambda *a: jax.tree_util.tree_map(lambda v: v.block_until_ready(), g_j(*a))  # noqa: E731
            t_fj, t_gj = best_time(run_f, *jargs), best_time(run_g, *jargs)
            row("", "jax.jit", t_fj * 1e3, t_gj * 1e3, t_gj / t_fj)
            row("", "astjax grad vs jax grad", "", "", t_g / t_gj)


if __name__ == "__main__":
    main()
