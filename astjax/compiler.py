"""`jit`: compile a NumPy function to C through Cython, once per call signature.

    @jit
    def selu(x, alpha=1.67, lmbda=1.05):
        return lmbda * np.where(x > 0, x, alpha * np.exp(x) - alpha)

    selu(x)                          # first call for float32[::1]: lower, build or load, run
    explain(selu)                    # which lines became C, which stayed NumPy, and why
    source(selu, stage="cython")     # the generated .pyx of the last signature

A signature is, per argument, an array's dtype, ndim and C-contiguity, a Python scalar's
kind (bool, int, float), a NumPy scalar's dtype, or the value itself for `static_argnums`.
For each, the function is normalized (astjax.core.normalize), typed with NumPy 2's rules
(codegen.types), lowered (codegen.cython) and built (codegen.cache: Cython + the C compiler,
cached on disk). Whatever cannot be compiled runs as NumPy: single statements inside the
compiled module, or the whole function when normalizing or building fails (no compiler, for
one). `explain` lists those fallbacks; `strict=True` raises FallbackError instead.
`background=True` runs the NumPy function while the extension builds in a thread.

Augmented assignments keep NumPy's meaning: `x -= 0.1 * x` on an array updates x's buffer
in place (the caller's array too, when x is an argument, and every alias of it).
"""
import functools
import inspect
import os
import textwrap
import threading
import types as pytypes
import warnings

import numpy as np

from codegen import cache, guard
from codegen.background import build_in_background
from codegen.build import BuildFlags
from codegen.cython import lower
from codegen.errors import BuildError, BuildReentered, FallbackError
from codegen.types import Const, of_value, signature

from astjax.aot import prebuilt
from astjax.core.emit import render
from astjax.frontend.syntax import gast
from astjax.errors import AstjaxError, AstjaxWarning
from astjax.core.normalize import normalize
from astjax.aot.signatures import declared_signatures

__all__ = ["jit", "explain", "JitFunction"]


def jit(fn=None, *, static_argnums=(), strict=False, boundscheck=True, background=False,
        signatures=None):
    """Compile `fn` per call signature (usable as `@jit` or `@jit(static_argnums=...)`).

    `signatures` (e.g. ["float32[:, ::1]"]; else string annotations) declares what
    `astjax build` compiles ahead of time (astjax.aot.signatures, astjax.aot.build)."""
    if fn is None:
        return lambda f: JitFunction(f, static_argnums, strict, boundscheck, background,
                                     signatures)
    return JitFunction(fn, static_argnums, strict, boundscheck, background, signatures)


class Specialization:
    """One compiled (or fallen back) version of the function, for one signature."""

    def __init__(self, signature_text, entry):
        self.signature = signature_text
        self.entry = entry              # what calls run now
        self.status = "numpy"           # "compiled" | "building" | "numpy"
        self.reason = ""                # why it runs as NumPy
        self.lowered = None             # codegen.cython.Lowered
        self.module = None
        self.refresh = None             # reads the user's globals into the module: each call
        self.future = None
        self.snapshot = ()              # parameters whose contents are saved before a call
        self.captured_names = ()        # and the captured globals, to undo writes on a rerun

    def poll(self):
        """Switch to the extension once its background build is done."""
        if self.future is not None and self.future.done():
            future, self.future = self.future, None
            try:
                self.activate(future.result())
            except AstjaxError as exc:
                self.status, self.reason = "numpy", f"the build failed: {exc}"

    def activate(self, module):
        if self.lowered.env:
            _bind_env(module, self.lowered.bind_values())
        self.refresh = getattr(module, "_astjax_refresh", None) if self.lowered.live else None
        self.module = module
        self.entry = getattr(module, self.lowered.entry)
        self.status, self.reason = "compiled", ""
        self.lowered.module_file = module.__name__.rsplit(".", 1)[-1] + ".pyx"
        params, captured = self.lowered.written
        if guard.needs_snapshot(self.lowered) and self.lowered.checked_ints and (
                params or captured):       # the arguments and globals it may write into
            self.snapshot = params
            self.captured_names = captured

    def captured_now(self):
        """The captured values the call may write into, as they are now (a global read at
        each call may have been rebound since this specialization)."""
        out = []
        for name in self.captured_names:
            capture = self.lowered.live.get(name)
            out.append(self.lowered.env[name] if capture is None else capture.read())
        return out


_bound_env = {}      # module name -> the captured values its globals hold


def _bind_env(module, env):
    previous = _bound_env.get(module.__name__)
    if previous is not None and not all(previous.get(k) is v for k, v in env.items()):
        raise _EnvConflict()
    module._astjax_bind(env)
    _bound_env[module.__name__] = dict(env)


class _EnvConflict(Exception):
    """The same generated module already serves other captured values in this process."""


class JitFunction:
    """A function compiled per call signature; call it like the original."""

    def __init__(self, fn, static_argnums=(), strict=False, boundscheck=True, background=False,
                 signatures=None):
        functools.update_wrapper(self, fn)
        self.__astjax_function__ = fn
        self.fn = fn
        self.unreadable = _unreadable(fn)   # why jit cannot compile fn at all, or ""
        if self.unreadable:
            if strict:
                raise FallbackError(f"jit(strict=True): {_name(fn)} runs as NumPy: "
                                    f"{self.unreadable}")
            _warn_once(fn, f"jit: {_name(fn)} runs as NumPy, uncompiled: {self.unreadable}")
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) \
            else tuple(static_argnums)
        self.strict = strict
        self.background = background
        self.flags = BuildFlags(boundscheck=boundscheck)
        self.specializations = {}      # signature key -> Specialization
        self.reentered = {}            # signature -> why a call ran as NumPy mid-build
        self.last = None
        if self.unreadable:
            self._program, self.signatures = None, []
            return
        self._signature = inspect.signature(fn)
        self._nparams = len(self._signature.parameters)
        self._defaults = tuple(p.default for p in self._signature.parameters.values())
        self._min_args = sum(p.default is inspect.Parameter.empty
                             for p in self._signature.parameters.values())
        self._program = None
        self._reads = ()               # Captures of the values read from globals each call
        self._guards = None            # what the code specialized on (helpers, folded ints)
        self.signatures = declared_signatures(fn, signatures)   # for ahead-of-time builds
        self._options = (static_argnums, strict, boundscheck, background, signatures)

    def __reduce__(self):
        # pickled (to a pmap worker, say) as the function and its options: the receiving
        # process builds or loads its own specializations (extension modules do not pickle)
        return (JitFunction, (self.fn,) + self._options)

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if self.unreadable:
            return self.fn(*args, **kwargs)
        if kwargs or len(args) != self._nparams:
            if not kwargs and self._min_args <= len(args) < self._nparams:
                args = args + self._defaults[len(args):]      # the common case, fast
            else:
                bound = self._signature.bind(*args, **kwargs)
                bound.apply_defaults()
                args = bound.args
        key = self._key(args)
        if self._guards is not None and self._guards.stale():
            self._forget()             # a helper or a folded int/bool/str global was rebound
        if self._reads:                # globals read at each call: their types, as arguments'
            key = key + self._read_key()
        spec = self.specializations.get(key)
        if spec is None:
            spec = self._specialize(args, key)
        else:
            self.last = spec
            if spec.future is not None:
                spec.poll()
        if spec.refresh is not None:
            spec.refresh()
        saved = guard.Snapshot.of([args[k] for k in spec.snapshot] + spec.captured_now()) \
            if spec.snapshot or spec.captured_names else None
        try:
            return spec.entry(*args)
        except Exception as exc:
            if spec.entry is self.fn:
                raise
            if not guard.is_int_overflow(exc, args):
                guard.name_user_line(exc, spec.lowered, self.__name__)
                raise
            overflow = exc
        return self._rerun_as_python(spec, overflow, args, saved)

    def _rerun_as_python(self, spec, exc, args, saved):
        """Python ints left C int64: this call runs as Python (exact ints), unless the
        compiled run already did what a rerun would repeat."""
        lowered = spec.lowered
        params, captured = lowered.written
        unsafe = lowered.effects or ((params or captured) and saved is None)
        if saved is not None:
            saved.restore()
        if unsafe and guard.generated_frames(exc, lowered) and \
                not _raised_on_entry(exc, lowered):
            raise guard.overflow_refusal(exc, lowered, self.__name__) from exc
        return self.fn(*args)

    def _key(self, args):
        key = []
        for i, a in enumerate(args):
            t = type(a)
            if i in self.static_argnums:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(f"static argument {i} of {self.__name__} must be "
                                    f"hashable, got {t.__name__}") from None
                key.append(("static", t, a))
            elif t is np.ndarray:
                key.append((a.dtype, a.ndim, a.flags.c_contiguous))
            elif t in (float, int, bool):
                key.append(t)
            else:
                key.append(of_value(a))
        return tuple(key)

    # -- specializing ---------------------------------------------------------------------
    def program(self):
        """The core program jit compiles: the user's globals and cells it reads become locals
        set from module globals that ``_astjax_refresh`` reads at each call."""
        if self._program is None:
            program = normalize(self.fn, verb="compile")
            _read_at_entry(program)
            self._reads = [c for core in program.functions.values()
                           for c in core.env.live.values()]
            self._read_key = _compile_read_key(self._reads)
            guards = program.captures()
            self._guards = guards if guards else None
            self._program = program
        return self._program

    def _forget(self):
        self._program, self._reads, self._guards = None, (), None
        self.specializations.clear()

    def lower_for(self, types):
        """The Cython lowering of this function at codegen ``types`` (one per parameter), for
        the values its globals hold now."""
        program = self.program()
        for core in program.functions.values():
            for key, capture in core.env.live.items():
                core.env[key] = capture.read()
        return lower(program, types, label=_label(self.fn))

    def _specialize(self, args, key):
        types = [Const(a) if i in self.static_argnums else of_value(a)
                 for i, a in enumerate(args)]
        spec = Specialization(signature(types), self.fn)
        self.last = spec
        if self._program is None:
            try:
                self.program()
                if self._reads:        # the first call's key: now with the captures' types
                    key = key + self._read_key()
            except Exception:
                pass                   # lower_for reports it
        if self._reads:
            spec.signature += " with " + ", ".join(
                f"{c.key}: {signature([of_value(c.read())])[1:-1]}" for c in self._reads)
        self.specializations[key] = spec
        try:
            spec.lowered = self.lower_for(types)
        except AstjaxError as exc:
            return self._fallback(spec, str(exc))
        except Exception as exc:   # a lowering bug must never break the user's call
            return self._fallback(spec, f"internal error while lowering: "
                                        f"{type(exc).__name__}: {exc}")
        fallbacks = [n for n in spec.lowered.notes if n.status == "Python"]
        if self.strict and fallbacks:
            raise FallbackError(f"jit(strict=True): part of {self.__name__} would run as "
                                f"Python:\n" + _describe_notes(fallbacks))
        if prebuilt.use_prebuilt(self, spec):      # built by `astjax build`, beside the module
            return spec
        if self.background:
            spec.status = "building"
            spec.future = build_in_background(spec.lowered.source, self.__name__,
                                              spec.lowered.signature, flags=self.flags)
            spec.poll()
            return spec
        self._build(spec)
        return spec

    def _build(self, spec, salt=0):
        source = spec.lowered.source + (f"\n# instance {salt}\n" if salt else "")
        try:
            module = cache.load_or_build(source, self.__name__, spec.lowered.signature,
                                         flags=self.flags)
            spec.activate(module)
        except _EnvConflict:
            self._build(spec, salt + 1)
        except BuildReentered as exc:      # called from inside a build: NumPy this once
            self._fallback(spec, str(exc))
            for key, value in list(self.specializations.items()):
                if value is spec:          # a later call (after that build) compiles
                    del self.specializations[key]
                    self.reentered[spec.signature] = str(exc)
        except BuildError as exc:
            self._fallback(spec, f"the build failed: {exc}")

    def _fallback(self, spec, reason):
        if self.strict:
            raise FallbackError(f"jit(strict=True): {self.__name__} runs as NumPy: {reason}")
        spec.entry, spec.status, spec.reason = self.fn, "numpy", reason
        spec.refresh = None
        return spec

    # -- introspection --------------------------------------------------------------------
    def __astjax_stage__(self, stage):
        """Source of this jit function: 'python' (what it compiles from), 'core', or 'cython'
        (the .pyx of the latest signature)."""
        if stage in ("python", None):
            generated = getattr(self.fn, "__astjax_source__", None)
            return generated if generated is not None else \
                textwrap.dedent(inspect.getsource(getattr(self.fn, "__code__", None) or
                                                  inspect.unwrap(self.fn)))
        if stage == "core":
            program = self.program()
            return "\n\n".join(render(c.node) for c in program.functions.values())
        if stage == "cython":
            if self.last is None or self.last.lowered is None:
                raise ValueError(f"{self.__name__} has no Cython source yet: call it first")
            return self.last.lowered.source
        raise ValueError(f"jit functions have stages 'python', 'core' and 'cython', not {stage!r}")

    def __repr__(self):
        return f"<jit {self.__name__}: {len(self.specializations)} signature(s)>"


def _raised_on_entry(exc, lowered):
    """Whether exc came from converting the arguments (nothing of the body ran yet)."""
    frames = guard.generated_frames(exc, lowered)
    return len(frames) == 1 and lowered._source_lines()[frames[0] - 1].startswith("def ")


_warned = set()          # functions jit already warned about (once per function)


def _unreadable(fn):
    """Why astjax cannot read fn's source (so jit runs it as it is), or ""."""
    target = inspect.unwrap(fn)
    if isinstance(target, pytypes.MethodType):
        target = target.__func__
    if not isinstance(target, pytypes.FunctionType):
        kind = "a NumPy ufunc" if isinstance(target, np.ufunc) else \
            f"a {type(target).__name__}, not a Python function"
        return f"it is {kind}: there is no Python source to compile (it already runs as C)"
    if getattr(fn, "__astjax_source__", None) is not None:
        return ""
    try:
        inspect.getsource(target)
    except (OSError, TypeError) as exc:
        return (f"its source cannot be read ({exc}): it was defined by exec/eval or at an "
                f"interactive prompt; define it in a file to compile it")
    return ""


def _name(fn):
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _warn_once(fn, message):
    key = getattr(inspect.unwrap(fn), "__code__", None) or fn
    try:
        if key in _warned:
            return
        _warned.add(key)
    except TypeError:      # unhashable callable: warn every time
        pass
    warnings.warn(message, AstjaxWarning, stacklevel=_user_stacklevel())


def _user_stacklevel():
    """The stacklevel of the first frame outside astjax (the user's jit(...) line)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe().f_back, 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1
    return level


def _capture_key(value):
    """What a compiled specialization assumes of a value it reads from a global or a cell."""
    t = type(value)
    if t is np.ndarray:
        return (value.dtype, value.ndim, value.flags.c_contiguous)
    if t is np.dtype:
        return value                   # typed as the constant itself
    return t


def _compile_read_key(reads):
    """One function returning ``_capture_key`` of every captured value, read now."""
    if not reads:
        return tuple
    names = {"key": _capture_key, "M": None}
    items = []
    for i, c in enumerate(reads):
        names[f"h{i}"] = c.holder
        items.append(f"key({c.text(f'h{i}', checked=True)})")
    text = f"def read_key():\n    return ({', '.join(items)},)\n"
    exec(compile(text, "<astjax jit reads>", "exec"), names)
    return names["read_key"]


def _read_at_entry(program):
    """``W`` captured from the user's globals becomes a local set on entry from a module
    global (``W = W_now``) that ``_astjax_refresh`` reads at each call: the code then types
    it like an argument (a C double, a typed memoryview)."""
    from astjax.frontend.syntax import assign, name
    for core in program.functions.values():
        live = core.env.live
        if not live:
            continue
        taken = {n.id for n in gast.walk(core.node) if isinstance(n, gast.Name)} | set(core.env)
        reads = []
        for key in list(live):
            now, k = f"{key}_now", 1
            while now in taken:
                k += 1
                now = f"{key}_now{k}"
            taken.add(now)
            core.env[now] = core.env.pop(key)
            live[now] = live.pop(key)
            stmt = assign(key, name(now))
            stmt.origin = getattr(core.node, "origin", None)
            capture = live[now]
            where = "global" if capture.kind == "global" else "closure variable"
            stmt.capture_read = f"reads the {where} '{capture.key}' at each call"
            reads.append(stmt)
        core.node.body = reads + core.node.body


def _label(fn):
    code = getattr(fn, "__code__", None) or getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return getattr(fn, "__name__", type(fn).__name__)
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno} {fn.__name__}"


# ----------------------------------------------------------------------------- explain

STATUS_WORDS = {"fused": "C loop (fused)", "C": "C", "NumPy": "NumPy call",
                "Python": "Python (fallback)"}
_RANK = {"C": 0, "fused": 1, "NumPy": 2, "Python": 3}


class Explanation(str):
    """The text of `explain`; prints as itself in a REPL."""

    def __repr__(self):
        return str(self)


def explain(f):
    """What `jit` made of f, per signature: lines in C, lines in NumPy, fallbacks and why."""
    if not isinstance(f, JitFunction):
        raise TypeError(f"explain() takes a jit function, got {type(f).__name__}")
    if f.unreadable:
        return Explanation(f"{_name(f.fn)}: runs as NumPy, uncompiled: {f.unreadable}")
    lines = [f"{f.__name__} ({_label(f.fn)}): {len(f.specializations)} signature(s)"]
    compiled = {spec.signature for spec in f.specializations.values()}
    for signature_text, reason in f.reentered.items():
        if signature_text not in compiled:
            lines.append(f"  {signature_text}: ran as NumPy: {reason}")
    for spec in f.specializations.values():
        where = spec.module.__name__ if spec.module is not None else ""
        state = {"compiled": f"compiled to C ({where})", "building": "building in the "
                 "background; NumPy meanwhile", "numpy": f"runs as NumPy: {spec.reason}"}
        lines.append(f"  {spec.signature}: {state[spec.status]}")
        if spec.lowered is not None:
            lines.append(_describe_notes(spec.lowered.notes, indent="    "))
    return Explanation("\n".join(lines))


def _describe_notes(notes, indent="  "):
    by_line = {}
    for note in notes:
        origin = note.origin
        key = (origin.filename, origin.lineno) if origin else ("?", 0)
        entry = by_line.setdefault(key, {"origin": origin, "status": "C", "details": []})
        if _RANK[note.status] >= _RANK[entry["status"]]:
            entry["status"] = note.status
        if note.status == "Python" and not any(note.detail in d or d in note.detail
                                                for d in entry["details"]):
            entry["details"].append(note.detail)    # "add of <why>" says no more than <why>
        if note.status == "fused" and "recomputes" in note.detail:
            entry["details"].append(note.detail.split("; ", 1)[1])
        if note.status == "NumPy" and note.detail not in entry["details"] \
                and entry["status"] != "Python":
            entry["details"].append(note.detail)
    out = []
    for (_, lineno), entry in sorted(by_line.items(), key=lambda kv: kv[0][1]):
        origin = entry["origin"]
        where = origin.short if origin else "?"
        text = origin.text.strip() if origin and origin.text else ""
        status = STATUS_WORDS[entry["status"]]
        detail = f" [{'; '.join(entry['details'])}]" if entry["details"] else ""
        out.append(f"{indent}{where:<14} {status:<18} {text}{detail}")
    return "\n".join(out)
