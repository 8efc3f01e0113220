"""Oracles for the program fuzzer: run one generated program (tests/programs.py) under one
transform and say whether astjax kept its meaning.

    outcome = check(program, "grad", seed=3, folder=tmp)
    outcome.category   # "ok" | "refused" | "wrong" | "internal" | "discard"
    outcome.detail     # why, e.g. "grad: value differs ... max abs err 0.33"

Oracles: central finite differences (two step sizes that must agree, else the point is not
smooth and the program is discarded) for grad, jvp and hessian; a Python loop over the batch for
vmap; the plain function for jit (values and dtypes, NumPy 2 rules); for jit∘grad and vmap∘grad
the gradient itself (jit) and a loop of gradients (vmap).  Every transformed call must also leave
its arguments as they were.  `refused` is an AstjaxError (or jit running the function as NumPy,
its documented fallback); `internal` is any other exception; `discard` a program whose plain run
raises or is not finite, or whose derivative finite differences cannot pin down.
"""
import contextlib
import dataclasses
import io
import os
import re
import signal
import time
import traceback
import warnings

import numpy as np

import astjax
from programs import load, make_inputs

TRANSFORMS = ["grad", "jvp", "hessian", "vmap", "jit", "jit_grad", "vmap_grad"]
RETURNS = {"grad": "scalar", "hessian": "scalar", "jit_grad": "scalar", "vmap_grad": "scalar",
           "jvp": "array", "vmap": "array", "jit": "array"}
BATCH = 3
LIMIT = 1e4                   # discard programs whose values get larger than this
PLAIN_SECONDS = 2.0           # a plain run longer than this is discarded (an endless loop)


@dataclasses.dataclass
class Outcome:
    category: str
    detail: str = ""
    signature: str = ""       # what distinguishes one bug from another (for de-duplication)


class _Discard(Exception):
    pass


class _Wrong(Exception):
    def __init__(self, detail, signature):
        super().__init__(detail)
        self.signature = signature


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise _Timeout in the main thread after `seconds` (a loop that never ends)."""
    if seconds is None or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise _Timeout(f"ran longer than {seconds} s")

    outer = signal.getitimer(signal.ITIMER_REAL)[0]        # a limit around this one
    start = time.monotonic()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer) if outer else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    return [tree]


def _plain(f, args):
    """f(*args), or _Discard when it raises, is not numeric or not finite / too large."""
    copies = _copies(args)
    try:
        with _time_limit(PLAIN_SECONDS):
            out = f(*args)
    except Exception as exc:
        raise _Discard(f"plain run raised {type(exc).__name__}: {exc}")
    for a, c in zip(args, copies):
        if isinstance(a, np.ndarray) and not np.array_equal(a, c):
            raise _Discard("the plain function writes into its argument")
    for leaf in _leaves(out):
        a = np.asarray(leaf)
        if a.dtype.kind not in "fiub" or not np.all(np.isfinite(a)) or np.any(np.abs(a) > LIMIT):
            raise _Discard("plain result not finite or too large")
    return out


def _compare(name, got, want, rtol, atol, dtype=True):
    g, w = _leaves(got), _leaves(want)
    if len(g) != len(w):
        raise _Wrong(f"{name}: {len(g)} results, want {len(w)}", f"{name}: structure")
    for gi, wi in zip(g, w):
        ga, wa = np.asarray(gi), np.asarray(wi)
        if ga.shape != wa.shape:
            raise _Wrong(f"{name}: shape {ga.shape}, want {wa.shape}", f"{name}: shape")
        if dtype and ga.dtype != wa.dtype:
            raise _Wrong(f"{name}: dtype {ga.dtype}, want {wa.dtype}", f"{name}: dtype")
        if ga.dtype.kind not in "fiub":
            raise _Wrong(f"{name}: result of dtype {ga.dtype}", f"{name}: dtype")
        ga, wa = ga.astype(np.float64), wa.astype(np.float64)
        if not np.allclose(ga, wa, rtol=rtol, atol=atol, equal_nan=False):
            err = np.max(np.abs(ga - wa)) if ga.size else 0.0
            raise _Wrong(f"{name}: value differs, max abs err {err:.3g}\n got  {ga!r}\n want {wa!r}",
                         f"{name}: value")


def _scale(*trees):
    return max([1.0] + [float(np.max(np.abs(np.asarray(leaf, dtype=np.float64)), initial=0.0))
                        for t in trees for leaf in _leaves(t)])


def _unchanged(name, args, copies):
    for a, c in zip(args, copies):
        if isinstance(a, np.ndarray) and not np.array_equal(a, c):
            raise _Wrong(f"{name}: the transformed function changed its argument", f"{name}: mutated argument")


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


# ------------------------------------------------------------------ finite differences
def _shift(args, i, idx, h):
    out = list(args)
    a = args[i]
    if np.ndim(a) == 0:
        out[i] = type(a)(a + h) if isinstance(a, np.generic) else a + h
    else:
        b = a.copy()
        b[idx] += h
        out[i] = b
    return out


def _fd_grad(f, args, argnums, h):
    grads = []
    for i in argnums:
        g = np.zeros(np.shape(args[i]))
        for idx in np.ndindex(np.shape(args[i])):
            g[idx] = (float(f(*_shift(args, i, idx, h))) - float(f(*_shift(args, i, idx, -h)))) / (2 * h)
        grads.append(g)
    return grads


def _fd_jvp(f, args, tangents, h):
    plus = [a + h * t for a, t in zip(args, tangents)]
    minus = [a - h * t for a, t in zip(args, tangents)]
    return (np.asarray(f(*plus), dtype=np.float64) - np.asarray(f(*minus), dtype=np.float64)) / (2 * h)


def _fd_hessian(f, args, h):
    shape = np.shape(args[0])
    idxs = list(np.ndindex(shape))
    H = np.zeros(shape + shape)
    for i in idxs:
        for j in idxs:
            def at(si, sj):
                return float(f(*_shift(_shift(args, 0, i, si), 0, j, sj)))
            H[i + j] = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h)
    return H


def _agreeing(fd, small, large, tol):
    """The finite differences at two steps, or _Discard where they disagree (not smooth)."""
    a, b = fd(small), fd(large)
    for x, y in zip(_leaves(a), _leaves(b)):
        if not np.allclose(x, y, rtol=tol, atol=tol * _scale(a)):
            raise _Discard("finite differences disagree: not smooth here")
    return a


# ------------------------------------------------------------------------- transforms
def _argnums(nargs):
    return 0 if nargs == 1 else tuple(range(nargs))


def _grad(f, program, rng):
    args = make_inputs(program.shapes, rng, np.float64, rng.choice(["python", "numpy"]))
    _plain(f, args)
    argnums = _argnums(program.nargs)
    fd = _agreeing(lambda h: _fd_grad(f, args, range(program.nargs), h), 1e-6, 1e-4, 1e-4)
    copies = _copies(args)
    got = astjax.grad(f, argnums=argnums)(*args)
    _unchanged("grad", args, copies)
    want = fd[0] if program.nargs == 1 else tuple(fd)
    got_leaves = [np.asarray(g, dtype=np.float64) for g in _leaves(got)]
    _compare("grad", got_leaves, _leaves(want), 1e-4, 1e-5 * _scale(fd), dtype=False)
    for g, a in zip(_leaves(got), args):
        if np.shape(g) != np.shape(a) or np.asarray(g).dtype != np.float64:
            raise _Wrong(f"grad: result {np.shape(g)} {np.asarray(g).dtype} for an argument "
                         f"{np.shape(a)} float64", "grad: dtype/shape")


def _jvp(f, program, rng):
    args = make_inputs(program.shapes, rng, np.float64, "numpy")
    tangents = make_inputs(program.shapes, rng, np.float64, "numpy")
    want_y = _plain(f, args)
    fd = _agreeing(lambda h: _fd_jvp(f, args, tangents, h), 1e-6, 1e-4, 1e-4)
    copies = _copies(args)
    y, ydot = astjax.jvp(f, args, tangents)
    _unchanged("jvp", args, copies)
    _compare("jvp primal", y, want_y, 1e-9, 1e-12 * _scale(want_y))
    _compare("jvp tangent", np.asarray(ydot, dtype=np.float64), fd, 1e-4, 1e-5 * _scale(fd),
             dtype=False)


def _hessian(f, program, rng):
    args = make_inputs(program.shapes, rng, np.float64, "numpy")
    _plain(f, args)
    fd = _agreeing(lambda h: _fd_hessian(f, args, h), 1e-3, 2e-3, 2e-3)
    copies = _copies(args)
    got = astjax.hessian(f)(*args)
    _unchanged("hessian", args, copies)
    _compare("hessian", np.asarray(got, dtype=np.float64), fd, 2e-3, 2e-4 * _scale(fd), dtype=False)


def _batch(program, rng, dtype):
    """Batched inputs and in_axes: the first argument always batched, a second one maybe."""
    nargs = program.nargs
    axes = [0] + [rng.choice([0, None]) for _ in range(nargs - 1)]
    args = []
    for shape, ax in zip(program.shapes, axes):
        full = (BATCH,) + shape if ax == 0 else shape
        a = rng.uniform(-1.0, 1.0, full).astype(dtype)
        args.append(a if full else float(a))
    in_axes = 0 if nargs == 1 else tuple(None if a is None else int(a) for a in axes)
    return args, axes, in_axes


def _examples(fn, args, axes):
    outs = []
    for b in range(BATCH):
        outs.append(fn(*[a[b] if ax == 0 else a for a, ax in zip(args, axes)]))
    return outs


def _stack(outs):
    leaves = [_leaves(o) for o in outs]
    return [np.stack([np.asarray(l[k]) for l in leaves]) for k in range(len(leaves[0]))]


def _tol(dtype):
    return (1e-6, 1e-9) if dtype == np.float64 else (2e-4, 2e-5)


def _vmap(f, program, rng):
    dtype = rng.choice([np.float64, np.float32])
    args, axes, in_axes = _batch(program, rng, dtype)
    for b in range(BATCH):
        _plain(f, [a[b] if ax == 0 else a for a, ax in zip(args, axes)])
    want = _stack(_examples(f, args, axes))
    copies = _copies(args)
    got = astjax.vmap(f, in_axes=in_axes)(*args)
    _unchanged("vmap", args, copies)
    rtol, atol = _tol(dtype)
    _compare("vmap", got, want, rtol, atol * _scale(want))


def _jit(f, program, rng):
    dtype = rng.choice([np.float64, np.float32])
    args = make_inputs(program.shapes, rng, dtype, rng.choice(["python", "numpy"]))
    copies = _copies(args)
    want = _plain(f, args)
    jf = astjax.jit(f)
    got = jf(*args)
    _unchanged("jit", args, copies)
    rtol, atol = (1e-9, 1e-12) if dtype == np.float64 else (1e-4, 1e-5)
    _compare("jit", got, want, rtol, atol * _scale(want))
    return _jit_status(jf)


def _jit_status(jf):
    spec = getattr(jf, "last", None)
    if spec is not None and getattr(spec, "status", None) == "numpy":
        return Outcome("refused", f"jit ran NumPy: {spec.reason}", "jit fallback")
    return None


def _jit_grad(f, program, rng):
    args = make_inputs(program.shapes, rng, np.float64, rng.choice(["python", "numpy"]))
    _plain(f, args)
    g = astjax.grad(f, argnums=_argnums(program.nargs))
    want = g(*args)
    copies = _copies(args)
    jg = astjax.jit(g)
    got = jg(*args)
    _unchanged("jit_grad", args, copies)
    _compare("jit_grad", got, want, 1e-9, 1e-12 * _scale(want))
    return _jit_status(jg)


def _vmap_grad(f, program, rng):
    dtype = rng.choice([np.float64, np.float32])
    args, axes, in_axes = _batch(program, rng, dtype)
    for b in range(BATCH):
        _plain(f, [a[b] if ax == 0 else a for a, ax in zip(args, axes)])
    g = astjax.grad(f)
    want = _stack(_examples(g, args, axes))
    copies = _copies(args)
    got = astjax.vmap(g, in_axes=in_axes)(*args)
    _unchanged("vmap_grad", args, copies)
    rtol, atol = _tol(dtype)
    _compare("vmap_grad", got, want, rtol, atol * _scale(want))


_RUN = {"grad": _grad, "jvp": _jvp, "hessian": _hessian, "vmap": _vmap, "jit": _jit,
        "jit_grad": _jit_grad, "vmap_grad": _vmap_grad}


def _where(exc):
    """The innermost frame of an exception: file:function (no line numbers, so that one bug
    in generated code groups together)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return re.sub(r"\d+", "#", f"{os.path.basename(last.filename)}:{last.name}")


def _message_key(exc):
    text = str(exc).splitlines()[0] if str(exc) else ""
    return re.sub(r"\d+", "#", text)[:80]


def check(program, transform, seed, folder, seconds=120):
    """The Outcome of running `program` under `transform` with inputs drawn from `seed`;
    one that runs longer than `seconds` (a loop astjax made endless) is internal."""
    rng = np.random.default_rng(seed)
    try:
        f = load(program, folder)
    except Exception as exc:
        return Outcome("discard", f"the program does not import: {exc}")
    try:
        with _quiet(), _time_limit(seconds):
            result = _RUN[transform](f, program, rng)
    except _Discard as exc:
        return Outcome("discard", str(exc))
    except _Timeout as exc:
        return Outcome("internal", f"{transform}: {exc}", f"{transform}: timeout")
    except _Wrong as exc:
        return Outcome("wrong", str(exc), exc.signature)
    except astjax.AstjaxError as exc:
        return Outcome("refused", f"{type(exc).__name__}: {exc}", type(exc).__name__)
    except Exception as exc:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        return Outcome("internal", f"{type(exc).__name__}: {exc}\n{tb}",
                       f"{transform}: {type(exc).__name__}: {_message_key(exc)} at {_where(exc)}")
    return result or Outcome("ok")
