"""pmap on the embedded Dask LocalCluster: per-call overhead, 1 -> 2 worker scaling, and the
data-parallel training step against the same step in one process, in one run.

    python benchmarks/bench_pmap.py [--repeat 9] [--work 1.0]

Rows (medians of ``--repeat`` calls, after a warm-up call; 2 worker processes, one thread
each, BLAS limited to one thread by Dask's nanny):
- overhead, no collective: ``pmap(lambda x: x * 2)`` on a (2, 4) array: one task per shard;
- overhead, one psum: two stages, the operands gathered and reduced between them;
- overhead, three collectives in sequence: four stages;
- compute-heavy map on 1 worker vs 2 workers: the same total work (``--work`` scales it), a
  chain of 128x128 tanh(a @ m) per row block, split over 1 or 2 devices (``devices=``);
  speedup = t(1) / t(2), 2.0 ideal on 2 idle cores;
- the data-parallel MLP step of examples/data_parallel.py (value_and_grad + pmean on 2
  devices) against value_and_grad of the whole batch in this process, at batch 2048 and
  32768.
In-process rows run with one BLAS thread, as a worker does (this script sets
OPENBLAS/OMP/MKL_NUM_THREADS=1 unless they are set already).
"""
import argparse
import os
import statistics
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")     # in-process rows use one thread, as one worker does
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.dirname(__file__))
from common import row  # noqa: E402

import astjax  # noqa: E402
from astjax import lax  # noqa: E402
import data_parallel  # noqa: E402


def double(x):
    return x * 2.0


def one_psum(x):
    return lax.psum(x, "i")


def three(x):
    s = lax.psum(x, "i")
    m = lax.pmax(x - s, "i")
    return lax.pmean(m * x, "i")


def heavy(a, m, steps):
    for _ in range(steps):
        a = np.tanh(a @ m)
    return np.sum(a)


def median_time(fn, *args, repeat=9):
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--work", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("ASTJAX_NUM_DEVICES", "2")
    start = time.perf_counter()
    devs = astjax.devices()
    print(f"{len(devs)} devices (Dask worker processes), cluster started in "
          f"{time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    two = devs[:2]

    print("\nper-call overhead (2 workers)")
    row("call", "median ms")
    x = np.ones((2, 4))
    for label, fn in [("no collective (1 stage)", double), ("one psum (2 stages)", one_psum),
                      ("three collectives (4 stages)", three)]:
        p = astjax.pmap(fn, axis_name="i", devices=two)
        row(label, 1e3 * median_time(p, x, repeat=args.repeat))
    row("the function itself, in process", 1e3 * median_time(double, x[0]))

    print("\ncompute-heavy map, same total work on 1 and on 2 workers")
    rng = np.random.default_rng(0)
    m = rng.normal(size=(128, 128)) / 12.0
    rows, steps = 512, max(1, int(200 * args.work))
    a = rng.normal(size=(rows, 128))
    row("devices", "median s", "speedup")
    base = None
    for n in (1, 2):
        p = astjax.pmap(heavy, in_axes=(0, None, None), static_broadcasted_argnums=(2,),
                        devices=devs[:n])
        t = median_time(p, a.reshape(n, rows // n, 128), m, steps, repeat=max(3, args.repeat // 3))
        base = base or t
        row(n, t, base / t)
    row("in process", median_time(heavy, a, m, steps, repeat=3))

    print("\ndata-parallel MLP step (value_and_grad + pmean) vs one process")
    row("batch", "pmap 2 ms", "1 proc ms", "ratio")
    params = data_parallel.init(rng)
    vg = astjax.value_and_grad(data_parallel.loss_fn, argnums=(0, 1, 2, 3))
    p_step = astjax.pmap(data_parallel.step, axis_name="i", devices=two,
                         in_axes=(None, None, None, None, 0, 0), out_axes=None)
    for batch in (2048, 32768):
        xb, yb = data_parallel.data(rng, batch)
        xs, ys = xb.reshape(2, -1, xb.shape[1]), yb.reshape(2, -1, yb.shape[1])
        tp = median_time(p_step, *params, xs, ys, repeat=args.repeat)
        t1 = median_time(vg, *params, xb, yb, repeat=args.repeat)
        row(batch, 1e3 * tp, 1e3 * t1, t1 / tp)


if __name__ == "__main__":
    main()
