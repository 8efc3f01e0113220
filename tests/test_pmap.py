"""pmap on real Dask workers, and the collectives of astjax.lax under pmap and vmap.

Oracles: a Python loop over the shards, vmap of the same function, NumPy for every
collective, finite differences for grad inside pmap.  The embedded LocalCluster (2 worker
processes, ASTJAX_NUM_DEVICES=2) is started once for the session; one test starts a real
`dask scheduler` and two `dask worker` processes on free localhost ports, another kills a
worker in the middle of a call.
"""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import astjax
from astjax import lax
from astjax.parallel import cluster

distributed = pytest.importorskip("distributed")   # the test extra installs it
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def devices():
    os.environ["ASTJAX_NUM_DEVICES"] = "2"
    os.environ.pop("ASTJAX_SCHEDULER", None)
    devs = astjax.devices()            # starts the embedded LocalCluster
    yield devs
    cluster.shutdown()


# ---- functions mapped by the tests (module level: the workers get them by value) ---------

def affine(w, x, b):
    return np.tanh(x @ w) + b


def collectives(x):
    return (lax.psum(x, "i"), lax.pmean(x, "i"), lax.pmax(x, "i"), lax.pmin(x, "i"),
            lax.all_gather(x, "i"), lax.axis_index("i") + 0 * x)


def centered(x):
    c = x - lax.pmean(x, "i")
    total = lax.psum(c * c, "i")       # nested uses: two cuts, locals carried across both
    return c / np.sqrt(total + 1.0), lax.psum(x - lax.pmean(x, "i"), "i")


def loss_fn(w, xs, ys):
    return np.mean((np.tanh(xs @ w) - ys) ** 2)


def step(w, xs, ys):
    loss, g = astjax.value_and_grad(loss_fn)(w, xs, ys)
    return lax.pmean(loss, "i"), lax.pmean(g, "i")


def power(x, n, scale):
    return scale * x ** n


def per_row(w, x):
    return astjax.vmap(lambda r: np.sum(r * w))(x)


@astjax.jit
def jitted(x):
    return np.sin(x) * 2.0 + 1.0


def slow(x):
    import time as t
    t.sleep(2.0)
    return x + lax.psum(x, "i")


def in_a_loop(x):
    for _ in range(2):
        x = lax.psum(x, "i")
    return x


def wrong_name(x):
    return lax.psum(x, "j")


def helper_with_psum(x):
    return lax.psum(x, "i")


def calls_helper(x):
    return helper_with_psum(x) + 1.0


RNG = np.random.default_rng(0)
W, B = RNG.normal(size=(3, 4)), RNG.normal(size=4)
XS = RNG.normal(size=(2, 5, 3))


# ---- pmap against a loop and vmap -------------------------------------------------------

def test_devices_are_the_two_workers(devices):
    assert astjax.device_count() == 2 == len(devices)
    assert [d.id for d in devices] == [0, 1]
    assert len({d.address for d in devices}) == 2
    pids = cluster.get_client().run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_pmap_matches_loop_and_vmap(devices):
    p = astjax.pmap(affine, in_axes=(None, 0, None))
    out = p(W, XS, B)
    loop = np.stack([affine(W, x, B) for x in XS])
    np.testing.assert_allclose(out, loop, rtol=1e-12)
    np.testing.assert_allclose(out, astjax.vmap(affine, in_axes=(None, 0, None))(W, XS, B),
                               rtol=1e-12)


def test_each_shard_runs_on_its_own_worker(devices):
    def where(x):
        import os as o
        return np.array([o.getpid()]) + 0 * x[:1].astype(int)
    pids = astjax.pmap(where)(np.zeros((2, 3)))[:, 0]
    workers = cluster.get_client().run(os.getpid)
    assert [int(p) for p in pids] == [workers[d.address] for d in devices]


def test_every_collective_against_numpy(devices):
    xs = RNG.normal(size=(2, 3, 2))
    s, m, mx, mn, g, idx = astjax.pmap(collectives, axis_name="i")(xs)
    for got, want in [(s, xs.sum(0)), (m, xs.mean(0)), (mx, xs.max(0)), (mn, xs.min(0))]:
        np.testing.assert_allclose(got, np.stack([want, want]), rtol=1e-12)
    np.testing.assert_array_equal(g, np.stack([xs, xs]))
    np.testing.assert_array_equal(idx, np.stack([np.zeros((3, 2)), np.ones((3, 2))]))


def test_collectives_under_vmap_against_numpy():
    xs = RNG.normal(size=(4, 3))
    s, m, mx, mn, g, idx = astjax.vmap(collectives, axis_name="i")(xs)
    n = len(xs)
    for got, want in [(s, xs.sum(0)), (m, xs.mean(0)), (mx, xs.max(0)), (mn, xs.min(0))]:
        np.testing.assert_allclose(got, np.broadcast_to(want, (n, 3)), rtol=1e-12)
    np.testing.assert_array_equal(g, np.broadcast_to(xs, (n, n, 3)))
    np.testing.assert_array_equal(idx, np.broadcast_to(np.arange(n)[:, None], (n, 3)))


def test_vmap_collective_of_a_shared_value():
    def f(x, c):
        return x + lax.psum(c, "b") + lax.pmean(c, "b")
    out = astjax.vmap(f, in_axes=(0, None), axis_name="b")(np.zeros((3, 2)), np.ones(2))
    np.testing.assert_allclose(out, np.full((3, 2), 4.0))


def test_nested_collectives_make_several_cuts(devices):
    xs = RNG.normal(size=(2, 4))
    p = astjax.pmap(centered, axis_name="i")
    a, b = p(xs)
    va, vb = astjax.vmap(centered, axis_name="i")(xs)
    np.testing.assert_allclose(a, va, rtol=1e-12)
    np.testing.assert_allclose(b, vb, atol=1e-12)
    assert astjax.source(p).count("def centered__stage") == 5    # 1 + 1 + 2 cuts


def test_in_axes_and_out_axes(devices):
    x = RNG.normal(size=(3, 2))                          # mapped along axis 1
    out = astjax.pmap(lambda v, s: v * s, in_axes=(1, None))(x, 2.0)
    np.testing.assert_allclose(out, (x * 2.0).T)
    out = astjax.pmap(lambda v: v + 1.0, in_axes=1, out_axes=1)(x)
    np.testing.assert_allclose(out, x + 1.0)
    same = astjax.pmap(lambda v: lax.psum(v, "i"), axis_name="i", out_axes=None)(x.T)
    np.testing.assert_allclose(same, x.sum(1))
    pair = astjax.pmap(lambda v: (v, v.sum()), in_axes=1, out_axes=(1, 0))(x)
    np.testing.assert_allclose(pair[0], x)
    np.testing.assert_allclose(pair[1], x.sum(0))


def shifted(x, y, scale=3.0):
    return x * scale + y


def test_out_axes_none_checks_the_devices_agree(devices):
    x = RNG.normal(size=(2, 3))
    with pytest.raises(astjax.AstjaxError, match=r"out_axes=None for result\[1\].*device 1"):
        astjax.pmap(lambda v: (lax.psum(v, "i"), v), axis_name="i", out_axes=None)(x)
    s, v = astjax.pmap(lambda v: (lax.psum(v, "i"), v), axis_name="i", out_axes=(None, 0))(x)
    np.testing.assert_allclose(s, x.sum(0))
    np.testing.assert_allclose(v, x)


def test_keyword_arguments_are_mapped_over_axis_0(devices):
    x, y = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    out = astjax.pmap(shifted, in_axes=(0,))(x, y=y)        # as in JAX: keywords on axis 0
    np.testing.assert_allclose(out, np.stack([shifted(x[k], y[k]) for k in range(2)]))
    out = astjax.pmap(shifted)(x, y=y, scale=np.array([1.0, 2.0]))
    np.testing.assert_allclose(out, np.stack([shifted(x[k], y[k], s)
                                              for k, s in enumerate([1.0, 2.0])]))
    with pytest.raises(TypeError, match="shifted.*unexpected keyword"):
        astjax.pmap(shifted)(x, y=y, z=y)


def test_pytree_arguments_and_results(devices):
    tree = {"a": XS, "b": (XS[:, 0], XS[:, 1])}
    out = astjax.pmap(lambda t: {"s": t["a"].sum() + t["b"][0].sum(), "c": t["b"][1]})(tree)
    np.testing.assert_allclose(out["s"], XS.sum((1, 2)) + XS[:, 0].sum(1))
    np.testing.assert_allclose(out["c"], XS[:, 1])


def test_static_broadcasted_argnums(devices):
    xs = np.arange(6.0).reshape(2, 3)
    p = astjax.pmap(power, static_broadcasted_argnums=(1,), in_axes=(0, None))
    np.testing.assert_allclose(p(xs, 3, 0.5), 0.5 * xs ** 3)
    p2 = astjax.pmap(power, static_broadcasted_argnums=1, in_axes=(0, None, None))
    np.testing.assert_allclose(p2(xs, 2, 1.0), xs ** 2)


# ---- compositions -------------------------------------------------------------------------

def test_value_and_grad_inside_pmap_against_finite_differences(devices):
    w = RNG.normal(size=(3, 2))
    xs, ys = RNG.normal(size=(2, 6, 3)), RNG.normal(size=(2, 6, 2))
    loss, g = astjax.pmap(step, axis_name="i", in_axes=(None, 0, 0))(w, xs, ys)
    full = lambda w_: loss_fn(w_, xs.reshape(12, 3), ys.reshape(12, 2))   # equal shards
    np.testing.assert_allclose(loss, [full(w)] * 2, rtol=1e-12)
    eps, fd = 1e-6, np.zeros_like(w)
    for i in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        fd[i] = (full(w + d) - full(w - d)) / (2 * eps)
    np.testing.assert_allclose(g[0], fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(g[0], g[1])


def test_pmap_of_vmap_and_of_jit(devices):
    w = RNG.normal(size=3)
    np.testing.assert_allclose(astjax.pmap(per_row, in_axes=(None, 0))(w, XS), XS @ w)
    np.testing.assert_allclose(astjax.pmap(jitted)(XS), np.sin(XS) * 2.0 + 1.0)


# ---- errors -------------------------------------------------------------------------------

def test_mapped_axis_must_equal_device_count(devices):
    with pytest.raises(ValueError, match=r"argument 0, 'x'\) has size 3, but pmap runs on 2"):
        astjax.pmap(lambda x: x)(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="size 1, but pmap runs on 2"):
        astjax.pmap(lambda x: x, in_axes=1)(np.zeros((2, 1)))
    one = astjax.pmap(lambda x: x * 2, devices=devices[1:])
    np.testing.assert_allclose(one(np.ones((1, 2))), np.full((1, 2), 2.0))


def fails_on_device_1(x):
    if lax.axis_index("i") == 1:
        raise FloatingPointError("shard 1 says no")
    return x


def test_an_exception_on_a_worker_reaches_the_caller(devices):
    with pytest.raises(FloatingPointError, match="shard 1 says no"):
        astjax.pmap(fails_on_device_1, axis_name="i")(np.ones((2, 2)))
    np.testing.assert_allclose(astjax.pmap(affine, in_axes=(None, 0, None))(W, XS, B)[0],
                               affine(W, XS[0], B))          # the cluster is still fine


def test_unpicklable_argument_is_named(devices):
    with pytest.raises(astjax.AstjaxError, match=r"argument 2 \('scale', a lock\)"):
        astjax.pmap(power, in_axes=(0, None, None))(np.ones((2, 2)), 2, threading.Lock())


def test_collective_placement_errors_name_the_line(devices):
    with pytest.raises(astjax.AstjaxError, match=r"test_pmap.py:\d+: pmap: lax.psum inside a "
                                                 r"'for' loop"):
        astjax.pmap(in_a_loop, axis_name="i")(np.ones((2, 2)))
    with pytest.raises(astjax.AstjaxError, match=r"axis name 'j' is not bound by this pmap"):
        astjax.pmap(wrong_name, axis_name="i")(np.ones((2, 2)))
    with pytest.raises(astjax.AstjaxError, match="not in helper functions"):
        astjax.pmap(calls_helper, axis_name="i")(np.ones((2, 2)))


def test_unbound_collective_under_vmap():
    with pytest.raises(astjax.AstjaxError, match="axis name 'i' is not bound by this vmap"):
        astjax.vmap(wrong_name_i)(np.ones((2, 2)))


def wrong_name_i(x):
    return lax.pmean(x, "i")


def coupled(x):
    return np.sum(np.sin(x) * lax.psum(x * x, "i"))


def gathered(x):
    return np.sum(lax.all_gather(x, "i") * np.arange(1.0, 4.0)[:, None])


def squared_mean(x):
    return np.sum(lax.pmean(x, "i") ** 2 * x)


def local_loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


def mean_loss(w, x):
    return lax.pmean(local_loss(w, x), "i")


def _fd(total, x, eps=1e-6):
    fd = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        fd[i] = (total(x + d) - total(x - d)) / (2 * eps)
    return fd


# As in JAX, a member's gradient is that of the sum of every member's result w.r.t. its own
# input: psum and pmean are their own transposes, all_gather's is a psum and a pick.
LANES = {
    "coupled": (coupled, lambda X: sum(np.sum(np.sin(x) * np.sum(X * X, axis=0)) for x in X)),
    "gathered": (gathered, lambda X: len(X) * np.sum(X * np.arange(1.0, 4.0)[:, None])),
    "squared_mean": (squared_mean, lambda X: sum(np.sum(X.mean(0) ** 2 * x) for x in X)),
}


@pytest.mark.parametrize("name", sorted(LANES))
def test_grad_of_collectives_under_vmap_against_finite_differences(name):
    f, total = LANES[name]
    xs = RNG.normal(size=(3, 2))
    got = astjax.vmap(astjax.grad(f), axis_name="i")(xs)
    np.testing.assert_allclose(got, _fd(total, xs), rtol=1e-6, atol=1e-8)
    assert got.dtype == np.float64


def test_grad_under_vmap_agrees_with_jax():
    jax = pytest.importorskip("jax")        # an extra comparison; the oracle above is FD
    jnp = jax.numpy
    xs = RNG.normal(size=(3, 2))
    want = jax.vmap(jax.grad(lambda x: jnp.sum(jnp.sin(x) * jax.lax.psum(x * x, "i"))),
                    axis_name="i")(xs)
    got = astjax.vmap(astjax.grad(coupled), axis_name="i")(xs)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5)


def test_pmap_of_grad_of_pmean_against_a_loop(devices):
    # the cotangent of pmean(L) is pmean(1) = 1 on every member: each device gets the
    # gradient of its own shard's loss (JAX's semantics), checked shard by shard
    w, xs = RNG.normal(size=3), RNG.normal(size=(2, 4, 3))
    got = astjax.pmap(astjax.grad(mean_loss), axis_name="i", in_axes=(None, 0))(w, xs)
    for k in range(2):
        np.testing.assert_allclose(got[k], _fd(lambda w_: local_loss(w_, xs[k]), w),
                                   rtol=1e-6, atol=1e-8)


def test_pmax_and_pmin_have_no_derivative():
    def top(x):
        return np.sum(lax.pmax(x, "i"))
    with pytest.raises(astjax.NoRuleError, match="pmax has no differentiation rule"):
        astjax.vmap(astjax.grad(top), axis_name="i")(np.ones((2, 2)))


@pytest.mark.xfail(strict=True, reason="issue 17: forward mode through a collective: jacfwd "
                   "vmaps a helper over tangents, whose psum is not bound to the outer axis")
def test_jacfwd_of_psum_under_vmap():
    xs = RNG.normal(size=(3, 2))
    got = astjax.vmap(astjax.jacfwd(coupled), axis_name="i")(xs)
    np.testing.assert_allclose(got, astjax.vmap(astjax.grad(coupled), axis_name="i")(xs),
                               rtol=1e-10)


def test_without_dask_astjax_imports_and_pmap_says_how_to_install(tmp_path):
    script = tmp_path / "no_dask.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.modules["distributed"] = None          # as if dask[distributed] were missing
        import astjax
        print(astjax.grad(lambda x: x * x)(3.0))
        try:
            astjax.pmap(lambda x: x)
        except astjax.AstjaxError as e:
            print(e)
    """))
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["6.0", "pmap needs Dask's distributed scheduler: "
                                                 "pip install astjax[dask]"]


# ---- a real scheduler and workers, and a killed worker -----------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_scheduler_and_two_workers(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("ASTJAX_NUM_DEVICES", None)
    worker_env = dict(env, ASTJAX_CACHE_DIR=str(tmp_path / "worker-cache"))   # empty
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host",
                               "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        for name in ("w0", "w1"):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                 "--name", name, "--no-dashboard", "--no-nanny"], cwd=ROOT, env=worker_env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = distributed.Client(address, timeout=30, set_as_default=False)
        try:
            client.wait_for_workers(2, timeout=60)
            devs = astjax.devices(client)
            assert [d.name for d in devs] == ["w0", "w1"]
            xs = RNG.normal(size=(2, 3))
            s, m, mx, mn, g, idx = astjax.pmap(collectives, axis_name="i", client=client)(xs)
            np.testing.assert_allclose(s[1], xs.sum(0))
            np.testing.assert_allclose(idx[:, 0], [0, 1])
            # pmap(jit(f)): built here, shipped; the workers load it, no compiler run there
            np.testing.assert_allclose(astjax.pmap(jitted, client=client)(XS),
                                       np.sin(XS) * 2.0 + 1.0)
            stats = client.run(_jit_stats)
            assert all(s.get("builds", 0) == 0 and s.get("disk_loads", 0) >= 1
                       for s in stats.values()), stats
            assert jitted.last.status == "compiled"
            # a worker that joins later fetches the program, extension included, from a peer
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                 "--name", "w2", "--no-dashboard", "--no-nanny"], cwd=ROOT,
                env=dict(worker_env, ASTJAX_CACHE_DIR=str(tmp_path / "late-cache")),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            client.wait_for_workers(3, timeout=60)
            devs = astjax.devices(client)
            late = [d for d in devs if d.name == "w2"]
            p = astjax.pmap(jitted, client=client, devices=[devs[0]] + late)
            np.testing.assert_allclose(p(XS), np.sin(XS) * 2.0 + 1.0)
            stats = client.run(_jit_stats, workers=[late[0].address])[late[0].address]
            assert stats.get("builds", 0) == 0 and stats.get("disk_loads", 0) >= 1, stats
        finally:
            client.close()
        script = tmp_path / "on_cluster.py"
        script.write_text(textwrap.dedent("""
            import numpy as np, astjax
            from astjax import lax
            def f(x):
                return lax.psum(x, "i")
            if __name__ == "__main__":
                n = astjax.device_count()
                print(n, astjax.pmap(f, axis_name="i")(np.eye(n)).tolist())
        """))
        out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                             text=True, timeout=90, env=dict(env, ASTJAX_SCHEDULER=address))
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == "3 " + str(np.ones((3, 3)).tolist())   # w0, w1, w2
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs[::-1]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _jit_stats():
    from codegen import cache
    return dict(cache.stats())


def test_killed_worker_reruns_the_call(devices):
    client = cluster.get_client()
    before = astjax.devices()
    pid = client.run(os.getpid, workers=[before[1].address])[before[1].address]
    timer = threading.Timer(0.7, os.kill, (pid, signal.SIGKILL))
    timer.start()
    start = time.monotonic()
    out = astjax.pmap(slow, axis_name="i")(np.array([[1.0], [2.0]]))
    timer.join()
    np.testing.assert_allclose(out, [[4.0], [5.0]])
    after = astjax.devices()
    assert [d.name for d in after] == [d.name for d in before]
    assert after[1].address != before[1].address            # the nanny restarted it
    assert time.monotonic() - start > 2.7                   # killed at 0.7 s, then 2 s again
