"""Data-parallel training of a small MLP with astjax.pmap: per-device gradients, pmean.

    python examples/data_parallel.py [--steps 30]

Each device (a Dask worker process of the embedded LocalCluster; ASTJAX_NUM_DEVICES sets
how many, ASTJAX_SCHEDULER=tcp://host:port uses a real cluster) computes the loss and the
gradient of its shard of the batch with astjax.value_and_grad; lax.pmean averages them
across devices, so every device (and the client) holds the same update, as in JAX's pmap
examples.  Prints the loss falling and the time per step.
"""
import argparse
import time

import numpy as np

import astjax
from astjax import lax


def init(rng, sizes=(32, 64, 10)):
    (n_in, n_hidden, n_out) = sizes
    return (rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in), np.zeros(n_hidden),
            rng.normal(size=(n_hidden, n_out)) / np.sqrt(n_hidden), np.zeros(n_out))


def loss_fn(w1, b1, w2, b2, x, y):
    """Softmax cross-entropy of a one-hidden-layer tanh network; y is one-hot."""
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    top = np.max(logits, axis=1, keepdims=True)
    log_z = np.log(np.sum(np.exp(logits - top), axis=1, keepdims=True)) + top
    return -np.mean(np.sum(y * (logits - log_z), axis=1))


def step(w1, b1, w2, b2, x, y):
    """One device's part: its shard's loss and gradients, averaged over the devices."""
    loss, grads = astjax.value_and_grad(loss_fn, argnums=(0, 1, 2, 3))(w1, b1, w2, b2, x, y)
    return lax.pmean(loss, "i"), lax.pmean(grads, "i")


def data(rng, n, n_in=32, n_out=10):
    """A learnable synthetic task: the label is the argmax of a fixed linear map."""
    teacher = np.random.default_rng(1).normal(size=(n_in, n_out))
    x = rng.normal(size=(n, n_in))
    y = np.eye(n_out)[np.argmax(x @ teacher, axis=1)]
    return x, y


def train(steps=30, batch=2048, lr=0.5, report=5):
    rng = np.random.default_rng(0)
    params = init(rng)
    n_dev = astjax.device_count()
    p_step = astjax.pmap(step, axis_name="i", in_axes=(None, None, None, None, 0, 0),
                         out_axes=None)       # the results are the same on every device
    x, y = data(rng, batch)
    xs, ys = x.reshape(n_dev, -1, x.shape[1]), y.reshape(n_dev, -1, y.shape[1])
    times, losses = [], []
    for i in range(steps):
        start = time.perf_counter()
        loss, grads = p_step(*params, xs, ys)
        params = tuple(p - lr * g for p, g in zip(params, grads))
        times.append(time.perf_counter() - start)
        losses.append(float(loss))
        if i % report == 0 or i == steps - 1:
            print(f"step {i:3d}  loss {loss:.4f}  {1e3 * times[-1]:7.1f} ms/step")
    return losses, times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    print(f"{astjax.device_count()} devices: {[d.address for d in astjax.devices()]}")
    losses, times = train(args.steps)
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; median {1e3 * np.median(times[1:]):.1f} "
          f"ms/step after the first ({1e3 * times[0]:.0f} ms: transform and ship)")


if __name__ == "__main__":       # the embedded cluster's workers are spawned processes
    main()
