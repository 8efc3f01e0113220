"""vmap: the generated batched source against the hand-batched product and a Python loop,
beside jax.vmap (when installed: a comparison, never a dependency), in one run.

    python benchmarks/bench_vmap.py [--repeat 7]

``apply_matrix(v) = np.dot(mat, v)`` with ``mat`` a global 150x100 float64 matrix: vmap
turns it into one matrix product, ``np.dot(v, np.transpose(mat))``; the hand-batched version
is ``batched_x @ mat.T``.  Times are per call (best of N); ratios are over hand-batched, so
1.00 means "as fast as writing the batched product yourself".  A second table times a
function with a data-dependent branch (a select) and a per-example gradient.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_time, optional, row  # noqa: E402

import astjax  # noqa: E402

mat = np.random.default_rng(0).standard_normal((150, 100))


def apply_matrix(v):
    return np.dot(mat, v)


def hand_batched(batched_x):
    return batched_x @ mat.T


def naive_loop(batched_x):
    return np.stack([apply_matrix(v) for v in batched_x])


def leaky(x):
    s = np.sum(x)
    if s > 0:
        y = x * 2.0
    else:
        y = x * 0.1
    return y


def leaky_by_hand(x):
    s = np.sum(x, axis=1)
    return np.where((s > 0)[:, None], x * 2.0, x * 0.1)


def loss(w, x, y):
    pred = np.tanh(np.dot(w, x))
    return np.sum((pred - y) ** 2)


def per_example_grad_by_hand(w, x, y):
    pred = np.tanh(x @ w.T)
    d = 2.0 * (pred - y) * (1.0 - pred * pred)
    return d[:, :, None] * x[:, None, :]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jmat = jax.numpy.asarray(mat)
        jax_apply = jax.jit(jax.vmap(lambda v: jax.numpy.dot(jmat, v)))

    batched = astjax.vmap(apply_matrix)
    print("vmap(apply_matrix), mat 150x100 float64: seconds per call, ratio to hand-batched")
    row("batch", "hand", "vmap", "loop", "jax.vmap", widths=(10, 12, 18, 18, 18))
    for n in (10, 10000):
        x = rng.standard_normal((n, 100))
        np.testing.assert_allclose(batched(x), hand_batched(x), rtol=1e-12)
        number = 2000 if n == 10 else 20
        t_hand = best_time(hand_batched, x, repeat=args.repeat, number=number)
        t_vmap = best_time(batched, x, repeat=args.repeat, number=number)
        t_loop = best_time(naive_loop, x, repeat=3, number=max(1, number // 20))
        cells = [n, f"{t_hand:.3g}", f"{t_vmap:.3g} ({t_vmap / t_hand:.2f}x)",
                 f"{t_loop:.3g} ({t_loop / t_hand:.1f}x)"]
        if jax is not None:
            jx = jax.numpy.asarray(x)
            jax_apply(jx).block_until_ready()
            t_jax = best_time(lambda a: jax_apply(a).block_until_ready(), jx,
                              repeat=args.repeat, number=number)
            cells.append(f"{t_jax:.3g} ({t_jax / t_hand:.2f}x)")
        else:
            cells.append("not installed")
        row(*cells, widths=(10, 12, 18, 18, 18))

    print()
    print("control flow and gradients, batch 10000: seconds per call, ratio to by-hand NumPy")
    row("function", "by hand", "vmap", widths=(34, 12, 18))
    x = rng.standard_normal((10000, 100))
    leaky_v = astjax.vmap(leaky)
    np.testing.assert_allclose(leaky_v(x), leaky_by_hand(x))
    t_hand = best_time(leaky_by_hand, x, repeat=args.repeat, number=10)
    t_vmap = best_time(leaky_v, x, repeat=args.repeat, number=10)
    row("branch on a per-example sum", f"{t_hand:.3g}", f"{t_vmap:.3g} ({t_vmap / t_hand:.2f}x)",
        widths=(34, 12, 18))
    w = rng.standard_normal((3, 100)) * 0.1
    xs, ys = rng.standard_normal((10000, 100)), rng.standard_normal((10000, 3))
    per_example = astjax.vmap(astjax.grad(loss), in_axes=(None, 0, 0))
    np.testing.assert_allclose(per_example(w, xs, ys), per_example_grad_by_hand(w, xs, ys),
                               rtol=1e-10)
    t_hand = best_time(per_example_grad_by_hand, w, xs, ys, repeat=args.repeat, number=5)
    t_vmap = best_time(per_example, w, xs, ys, repeat=args.repeat, number=5)
    row("per-example gradients", f"{t_hand:.3g}", f"{t_vmap:.3g} ({t_vmap / t_hand:.2f}x)",
        widths=(34, 12, 18))


if __name__ == "__main__":
    main()
