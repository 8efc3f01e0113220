"""pmap: one shard of the mapped axis per Dask worker, collectives between stages.

    p_step = astjax.pmap(step, axis_name="i", in_axes=(None, 0, 0))
    loss, g = p_step(w, xs, ys)          # xs.shape[0] == astjax.device_count()

A call: the mapped function is cut into stages at its collectives (stages.py, once per
pmap); the program (the stages, pickled by value with the source lines of the user's
files) is scattered to every worker once (a worker that joins later fetches it from a
peer); each shard's arguments are sent to its own worker and every stage runs as one Dask
task per shard, pinned to that worker (``workers=[address]``, ``allow_other_workers=False``,
``pure=False``).  A stage's task returns only the collectives' operands: the client gathers
them, reduces them and sends the result to every shard's next stage, while the locals
carried across the cut stay in the worker process.  The last stage's results are gathered
and stacked along ``out_axes``.

When a worker leaves during a call (killed, or lost), its shard's tasks cannot run: the
call waits for the cluster to have as many workers again (a LocalCluster's nanny restarts
a killed worker under the same name) and reruns the whole call on the current devices,
at most ``RETRIES`` times, then raises ``AstjaxError``.
"""
import collections
import inspect
import numbers
import pickle
import sys
import time
import uuid

import numpy as np

from astjax.errors import AstjaxError
from astjax.lax import reduce_shards
from astjax.parallel import cluster, stages

RETRIES = 2
REJOIN_TIMEOUT = 60.0          # seconds to wait for a lost worker to come back
SCATTER_BYTES = 1 << 20        # arguments at least this big are scattered, not embedded


def pmap(fun, axis_name=None, *, in_axes=0, out_axes=0, static_broadcasted_argnums=(),
         devices=None, client=None):
    """Map ``fun`` over the leading (``in_axes``) axis of its arguments, one slice per
    device (Dask worker), as ``jax.pmap``: the mapped axis size must equal the number of
    devices.  ``axis_name`` names the axis for the collectives of ``astjax.lax``;
    ``static_broadcasted_argnums`` are passed whole to every device; ``devices`` (from
    ``astjax.devices()``) picks and orders the workers; ``client`` a Dask client (default:
    ``ASTJAX_SCHEDULER`` or the embedded LocalCluster, see astjax/parallel/cluster.py)."""
    cluster.require_dask()
    if not callable(fun):
        raise TypeError(f"pmap expects a function, got {type(fun).__name__}")
    return Pmapped(fun, axis_name, in_axes, out_axes, static_broadcasted_argnums, devices,
                   client)


class Pmapped:
    def __init__(self, fun, axis_name, in_axes, out_axes, static, devices, client):
        self.fun = fun
        self.axis_name = axis_name
        self.in_axes = in_axes
        self.out_axes = out_axes
        self.static = (static,) if isinstance(static, numbers.Integral) else tuple(static)
        self.devices = list(devices) if devices is not None else None
        self.client = client
        base = getattr(fun, "__name__", "f").replace("<lambda>", "lambda_")
        self.__name__ = self.__qualname__ = f"pmap_{base}"
        self.__doc__ = getattr(fun, "__doc__", None)
        self._staged = None
        self._program = {}           # id(client) -> (client, future of the pickled program)
        self._shipped = set()        # jit signatures whose extension the program carries
        self._devs = {}              # id(client) -> (client, devices): refreshed when one is lost
        _check_axes(in_axes, "in_axes")
        _check_axes(out_axes, "out_axes")

    # ---- the program --------------------------------------------------------------------
    @property
    def staged(self):
        if self._staged is None:
            from astjax.compiler import JitFunction
            if isinstance(self.fun, JitFunction):
                self._staged = stages.whole(self.fun)
            else:
                self._staged = stages.cut(self.fun, self.axis_name)
        return self._staged

    @property
    def __astjax_source__(self):
        return self.staged.source

    def _program_future(self, client):
        hit = self._program.get(id(client))
        if hit is not None and hit[0] is client and hit[1].status == "finished":
            return hit[1]
        _by_value(self.fun)
        key = f"astjax-program-{self.__name__}-{uuid.uuid4().hex}"
        blob = (key, dumps(self.staged))
        future = client.scatter([blob], broadcast=True, hash=False)[0]
        self._program[id(client)] = (client, future)
        return future

    # ---- calling ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        args, in_axes = self._bind_keywords(args, kwargs)
        client = cluster.get_client(self.client)
        for attempt in range(RETRIES + 1):
            devs = self._devs.get(id(client))
            if devs is None or devs[0] is not client:
                devs = self._devs[id(client)] = (client, self._current_devices(client))
            devs = devs[1]
            shards = self._shards(args, len(devs), in_axes)
            self._ship_jit(shards[0])
            try:
                return self._run(client, devs, shards)
            except _WorkerLost as lost:
                self._devs.clear()                   # ask the scheduler again
                if attempt == RETRIES:
                    raise AstjaxError(
                        f"{self.__name__}: worker {lost.address} left during the call, "
                        f"{RETRIES + 1} times; giving up") from None
                _wait_for(client, [d.name for d in devs], lost.address)

    def _ship_jit(self, args):
        """pmap(jit(f)): build f's extension here for a shard's signature, once, and put it
        in the program the workers get (ship.py)."""
        compiler = sys.modules.get("astjax.compiler")    # not imported: not a jit function
        if compiler is None or not isinstance(self.fun, compiler.JitFunction):
            return
        key = self.fun._key(args)
        if key in self._shipped:
            return
        from astjax.parallel import ship
        self.staged.artifacts.update(ship.build_here(self.fun, args))
        self._shipped.add(key)
        self._program.clear()                   # scatter the program again, with them

    def _current_devices(self, client):
        now = cluster.devices(client)
        if self.devices is None:
            return now
        by_name = {d.name: d for d in now}
        out = []
        for d in self.devices:
            if d.name not in by_name:
                raise AstjaxError(f"{self.__name__}: device {d!r} is not in the cluster now "
                                  f"(its workers: {[x.name for x in now]})")
            out.append(by_name[d.name])
        return out

    def _bind_keywords(self, args, kwargs):
        """Keyword arguments become positional ones; as in JAX they are mapped over axis 0
        (in_axes covers only the positional ones), and unfilled defaults are broadcast."""
        if not kwargs:
            return args, self.in_axes
        try:
            sig = inspect.signature(self.fun)
            bound = sig.bind(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self.__name__}: {exc}") from None
        params = list(sig.parameters.values())
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in params):
            raise AstjaxError(f"{self.__name__}: pmap passes keyword arguments by position; "
                              f"it needs a function without *args, **kwargs or keyword-only "
                              f"parameters to take them")
        bound.apply_defaults()
        names = [p.name for p in params]
        spec = self.in_axes
        if isinstance(spec, (tuple, list)):
            if len(spec) != len(args):
                raise ValueError(f"{self.__name__}: in_axes has {len(spec)} entries for "
                                 f"{len(args)} positional arguments")
            head = tuple(spec)
        else:
            head = (spec,) * len(args)
        tail = tuple(0 if name in kwargs else None for name in names[len(args):])
        return tuple(bound.arguments[name] for name in names), head + tail

    def _shards(self, args, n, in_axes):
        """Per device, the tuple of its arguments (static ones whole)."""
        static = {i % len(args) if args else i for i in self.static}
        dyn = [i for i in range(len(args)) if i not in static]
        axes = self._arg_axes(args, dyn, in_axes)
        names = _param_names(self.fun, len(args))
        for i in range(len(args)):
            _check_picklable(args[i], names[i], i, self.__name__)
        for i in dyn:
            for size, where in _sizes(args[i], axes[i]):
                if size != n:
                    raise ValueError(
                        f"{self.__name__}: the mapped axis ({where}axis {axes[i]} of argument "
                        f"{i}, {names[i]!r}) has size {size}, but pmap runs on {n} devices; "
                        f"as in JAX, the mapped axis size must equal the device count "
                        f"(astjax.device_count() or len(devices=...))")
        if not any(axes[i] is not None for i in dyn):
            raise ValueError(f"{self.__name__}: pmap needs at least one argument with a mapped "
                             f"axis (in_axes is None for every argument)")
        return [tuple(_take(args[i], axes[i], j) if i in axes else args[i]
                      for i in range(len(args))) for j in range(n)]

    def _arg_axes(self, args, dyn, spec):
        if isinstance(spec, (tuple, list)):
            if len(spec) == len(args):
                return {i: spec[i] for i in dyn}
            if len(spec) == len(dyn):
                return dict(zip(dyn, spec))
            raise ValueError(f"{self.__name__}: in_axes has {len(spec)} entries for "
                             f"{len(args)} arguments ({len(dyn)} not static)")
        return {i: spec for i in dyn}

    def _run(self, client, devs, shards):
        staged = self.staged
        program = self._program_future(client)
        addrs = [d.address for d in devs]
        tag = uuid.uuid4().hex[:10]
        pin = dict(allow_other_workers=False, pure=False)
        inputs = []
        for j, shard in enumerate(shards):
            if _nbytes(shard) >= SCATTER_BYTES:
                shard = client.scatter([shard], workers=[addrs[j]], hash=False)[0]
            inputs.append(shard)
        last = len(staged.cuts)
        current = [client.submit(run_stage, program, 0, last, j, tag, None, inputs[j],
                                 key=f"{self.__name__}-{tag}-s0-{j}", workers=[addrs[j]], **pin)
                   for j in range(len(devs))]
        for k, kinds in enumerate(staged.cuts):
            values = _gather(client, current, addrs)
            reduced = tuple(reduce_shards(kind, [v[c] for v in values])
                            for c, kind in enumerate(kinds))
            if _nbytes(reduced) >= SCATTER_BYTES:
                reduced = client.scatter([reduced], broadcast=True, hash=False)[0]
            current = [client.submit(run_stage, program, k + 1, last, j, tag, reduced, None,
                                     key=f"{self.__name__}-{tag}-s{k + 1}-{j}",
                                     workers=[addrs[j]], **pin)
                       for j in range(len(devs))]
        outs = _gather(client, current, addrs)
        return _stack(outs, self.out_axes, self.__name__)

    def __repr__(self):
        return f"<astjax.pmap of {getattr(self.fun, '__qualname__', self.fun)!r}>"


# ---- on the worker ---------------------------------------------------------------------

_PROGRAMS = collections.OrderedDict()   # key -> Staged, per worker process (the last 16)
_CARRIED = collections.OrderedDict()    # (call, shard) -> locals carried to the next stage


def run_stage(program, k, last, index, call, reduced, args):
    """Stage ``k`` (of ``0..last``) of shard ``index`` of one call: its arguments for stage
    0, else the reduced collectives.  The locals a stage carries to the next stay in this
    worker process (``_CARRIED``); the task's result is only the collectives' operands (or
    the shard's result, at the last stage), so one task per shard and stage is all it takes.
    A worker that restarts loses them, and the client reruns the call (see _gather)."""
    key, blob = program
    staged = _PROGRAMS.get(key)
    if staged is None:
        import cloudpickle  # noqa: F401  (what pickled it)
        staged = pickle.loads(blob)
        _install_sources(staged.files)
        if staged.artifacts:
            from astjax.parallel import ship
            ship.install(staged.artifacts)
        _PROGRAMS[key] = staged
        while len(_PROGRAMS) > 16:
            _PROGRAMS.popitem(last=False)
    if k == 0:
        out = staged.stages[0](index, *args)
    else:
        out = staged.stages[k](index, _CARRIED.pop((call, index)), reduced)
    if k == last:
        return out
    carried, operands = out
    _CARRIED[(call, index)] = carried
    while len(_CARRIED) > 64:                # calls that failed half-way leave theirs
        _CARRIED.popitem(last=False)
    return operands


def _install_sources(files):
    """Make the user's source readable here (astjax transforms it: grad inside pmap)."""
    import linecache
    import os
    for filename, lines in files.items():
        if not os.path.exists(filename) and filename not in linecache.cache:
            linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)


# ---- on the client ---------------------------------------------------------------------

class _WorkerLost(Exception):
    def __init__(self, address):
        super().__init__(address)
        self.address = address


def _gather(client, futures, addrs):
    """The results of ``futures``; _WorkerLost when a pinned worker leaves meanwhile (its
    tasks could never run: they are pinned to its address).  The gather runs in a thread so
    that this one can watch the workers every half second without a second round trip."""
    from concurrent.futures import CancelledError
    from distributed.client import FutureCancelledError
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:                              # pragma: no cover
        KilledWorker = ()
    job = _pool().submit(client.gather, futures)
    while True:
        try:
            return job.result(timeout=0.5)
        except TimeoutError:
            alive = set(cluster.worker_info(client))
            gone = [a for a in addrs if a not in alive]
            if gone:
                for f in futures:
                    f.cancel()
                raise _WorkerLost(gone[0]) from None
        except (KilledWorker, FutureCancelledError, CancelledError) as exc:
            raise _WorkerLost(getattr(exc, "last_worker", None) or str(exc)) from None
        except Exception as exc:
            if type(exc).__name__ in ("CommClosedError", "StreamClosedError"):
                raise _WorkerLost(str(exc)) from None
            raise


_POOL = []


def _pool():
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor
        _POOL.append(ThreadPoolExecutor(max_workers=4, thread_name_prefix="astjax-pmap"))
    return _POOL[0]


def _wait_for(client, names, address):
    """Until every worker named ``names`` is back (a nanny restarts a killed worker under
    its name, at a new address)."""
    deadline = time.monotonic() + REJOIN_TIMEOUT
    while time.monotonic() < deadline:
        workers = cluster.worker_info(client)
        present = {str(info.get("name", addr)) for addr, info in workers.items()}
        if address not in workers and set(names) <= present:
            return
        time.sleep(0.2)
    raise AstjaxError(f"pmap: worker {address} left and the workers {sorted(names)} were "
                      f"not all back within {REJOIN_TIMEOUT:.0f} s")


def dumps(obj):
    """cloudpickle, except that code objects keep their file name (cloudpickle writes
    '<dynamic-code>'): a worker must find the source of the user's functions to transform
    them (``grad`` inside a pmapped function), in the file or in the lines shipped along."""
    import collections
    import io
    import types
    import cloudpickle
    from cloudpickle import cloudpickle as impl

    def code_reduce(code):
        ctor, args = impl._code_reduce(code)
        return ctor, tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)

    class Pickler(cloudpickle.Pickler):
        dispatch_table = collections.ChainMap({types.CodeType: code_reduce},
                                              cloudpickle.Pickler.dispatch_table)
    buffer = io.BytesIO()
    Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _by_value(fun):
    """Pickle the user's module by value: workers may not be able to import it (a test
    file, a script run from another folder, another machine)."""
    import sys
    import cloudpickle
    name = getattr(fun, "__module__", None)
    module = sys.modules.get(name) if name else None
    if module is None or name == "__main__" or name.split(".")[0] in ("astjax", "codegen"):
        return
    path = getattr(module, "__file__", "") or ""
    if "site-packages" in path or "dist-packages" in path:
        return
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:
        pass


def _check_axes(spec, what):
    if spec is None or isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        return
    if isinstance(spec, (tuple, list)) and all(
            s is None or isinstance(s, numbers.Integral) and not isinstance(s, bool)
            for s in spec):
        return
    raise TypeError(f"pmap {what} must be an int, None, or a tuple of those, got {spec!r}")


def _param_names(fun, n):
    import inspect
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


_PLAIN = (int, float, complex, bool, str, bytes, type(None), np.generic)


def _check_picklable(value, name, i, label):
    """A clear error naming the argument, before Dask fails to serialize it."""
    import cloudpickle
    for leaf, where in _leaves(value):
        if isinstance(leaf, _PLAIN) or isinstance(leaf, np.ndarray) and leaf.dtype != object:
            continue
        try:
            cloudpickle.dumps(leaf)
        except Exception as exc:
            item = f" item {where}" if where else ""
            raise AstjaxError(
                f"{label}: argument {i} ({name!r}{item}, a {type(leaf).__name__}) cannot be "
                f"sent to the workers: it does not pickle ({type(exc).__name__}: {exc})") \
                from None


def _leaves(value, where=""):
    if isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{where}[{k!r}]")
    else:
        yield value, where


def _sizes(value, axis):
    if axis is None:
        return
    for leaf, where in _leaves(value):
        shape = np.shape(leaf)
        if not -len(shape) <= axis < len(shape):
            raise ValueError(f"pmap in_axes {axis} is out of range for an argument{where and ' ' + where} "
                             f"of shape {shape}")
        yield shape[axis], (f"item {where} " if where else "")


def _take(value, axis, j):
    if axis is None:
        return value
    if isinstance(value, (tuple, list)):
        out = [_take(v, axis, j) for v in value]
        return out if isinstance(value, list) else tuple(out)
    if isinstance(value, dict):
        return {k: _take(v, axis, j) for k, v in value.items()}
    return np.ascontiguousarray(np.take(np.asarray(value), j, axis=axis))


def _stack(outs, out_axes, label, where="result"):
    first = outs[0]
    if isinstance(out_axes, (tuple, list)):
        if not isinstance(first, (tuple, list)) or len(first) != len(out_axes):
            raise ValueError(f"{label}: out_axes {out_axes!r} does not match the results")
        return tuple(_stack([o[i] for o in outs], ax, label, f"{where}[{i}]")
                     for i, ax in enumerate(out_axes))
    if isinstance(first, (tuple, list)):
        out = [_stack([o[i] for o in outs], out_axes, label, f"{where}[{i}]")
               for i in range(len(first))]
        return out if isinstance(first, list) else tuple(out)
    if isinstance(first, dict):
        return {k: _stack([o[k] for o in outs], out_axes, label, f"{where}[{k!r}]")
                for k in first}
    if out_axes is None:
        for j, o in enumerate(outs[1:], 1):
            a, b = np.asarray(first), np.asarray(o)
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
                raise AstjaxError(
                    f"{label}: out_axes=None for {where}, but device {j} returned a value "
                    f"different from device 0's ({_describe(b)} vs {_describe(a)}); an "
                    f"unmapped result must be the same on every device (reduce it with "
                    f"lax.pmean/psum first, or map it with out_axes=0)")
        return first
    return np.stack([np.asarray(o) for o in outs], axis=out_axes)


def _describe(a):
    return f"shape {a.shape}" if a.size > 4 else repr(a.tolist())


def _nbytes(value):
    return sum(getattr(leaf, "nbytes", 0) for leaf, _ in _leaves(value))
