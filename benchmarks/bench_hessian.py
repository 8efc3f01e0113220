"""Hessians: astjax (forward-over-reverse, generated source) beside autograd and JAX (when
installed; JAX in float64 like the others, jitted), in one run.

    python benchmarks/bench_hessian.py

Cases:
- ``sum(x ** 2)`` at 1000 elements: the full 1000 x 1000 Hessian;
- the 784-512-10 MLP loss of bench_grad.py at batch 128.  Its full Hessian (407k
  parameters) is out of reach for every tool, so we take the Hessian w.r.t. a small
  parameter slice: the output bias ``b2`` (10 x 10) and 32 output weights ``w2[:32, 0]``
  (32 x 32), the rest of the parameters held fixed.

astjax's ``hessian`` is ``jacfwd(jacrev(f))``: one forward-mode pass of the generated reverse
sweep per input element, each recomputing the primal (there is no batched or linearized
jvp yet), so its cost is about n_inputs x (forward + reverse) of f.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from bench_grad import mlp_args, mlp_loss, mlp_loss_in  # noqa: E402
from common import best_time, optional, row  # noqa: E402

import astjax  # noqa: E402


def sum_squares(x):
    return np.sum(x ** 2)


def mlp_loss_w2_slice(part, w1, b1, w2, b2, x, y):
    """The MLP loss as a function of w2[:32, 0] (the other weights fixed)."""
    col = np.concatenate([part, w2[32:, 0]])
    w = np.concatenate([col[:, None], w2[:, 1:]], axis=1)
    return mlp_loss(w1, b1, w, b2, x, y)


def peer_function(xnp, case):
    """The benchmark case written against a peer's NumPy module (jax.numpy, autograd.numpy)."""
    if case == "squares":
        return lambda x: xnp.sum(x ** 2)
    loss = mlp_loss_in(xnp)
    if case != "mlp_slice":
        return loss

    def f(part, w1, b1, w2, b2, x, y):
        col = xnp.concatenate([part, w2[32:, 0]])
        return loss(w1, b1, xnp.concatenate([col[:, None], w2[:, 1:]], axis=1), b2, x, y)
    return f


def jax_hessian(jax, case, argnum):
    return jax.jit(jax.hessian(peer_function(jax.numpy, case), argnums=argnum))


def autograd_hessian(ag, case, argnum):
    return ag.hessian(peer_function(ag.numpy, case), argnum=argnum)


def main():
    rng = np.random.default_rng(0)
    w1, b1, w2, b2, x, y = mlp_args(rng)
    quick = "--quick" in sys.argv
    cases = [("sum(x**2), 1000 elements", "squares", sum_squares, (rng.standard_normal(1000),), 0, 5),
             ("MLP loss, w.r.t. b2 (10)", "mlp", mlp_loss, (w1, b1, w2, b2, x, y), 3, 3)]
    if not quick:
        cases.append(("MLP loss, w.r.t. w2[:32, 0] (32)", "mlp_slice", mlp_loss_w2_slice,
                      (w2[:32, 0].copy(), w1, b1, w2, b2, x, y), 0, 2))
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    ag = optional("autograd")
    print("Hessian wall time in ms (best of a few runs); ratios: astjax time / peer time")
    row("case", "tool", "f (ms)", "hessian (ms)", "ratio")
    for label, case, fn, args, argnum, repeat in cases:
        t_f = best_time(fn, *args, repeat=repeat)
        h = astjax.hessian(fn, argnums=argnum)
        result = h(*args)
        t_h = best_time(h, *args, repeat=repeat)
        row(label, "astjax", t_f * 1e3, t_h * 1e3, "")
        if ag is not None:
            h_ag = autograd_hessian(ag, case, argnum)
            np.testing.assert_allclose(h_ag(*args), result, rtol=1e-6, atol=1e-9)
            t_a = best_time(h_ag, *args, repeat=repeat)
            row("", "autograd", "", t_a * 1e3, t_h / t_a)
        if jax is not None:
            h_j = jax_hessian(jax, case, argnum)
            jargs = [jax.numpy.asarray(a) for a in args]
            np.testing.assert_allclose(np.asarray(h_j(*jargs)), result, rtol=1e-6, atol=1e-9)
            run = lambda *a: h_j(*a).block_until_ready()  # noqa: E731
            t_j = best_time(run, *jargs, repeat=repeat)
            row("", "jax.jit(jax.hessian)", "", t_j * 1e3, t_h / t_j)


if __name__ == "__main__":
    main()
