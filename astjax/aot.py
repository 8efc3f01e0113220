"""Ahead-of-time builds: ``astjax build`` puts compiled extensions in ``__astjax__/`` beside
each module, and jit loads them at import time with no compiler present.

    build(["mypkg"])                       # what `astjax build mypkg` runs
    lookup(selu, "(float32[::1])", lower)  # what jit asks before compiling: a Prebuilt or None

Layout, for ``mypkg/kernels.py``::

    mypkg/__astjax__/
        mypkg.kernels.json               the manifest: environment, and per function and
                                         signature its hashes and its extension
        _aj_selu_<key>.cpython-311-x86_64-linux-gnu.so
        _aj_selu_<key>.pyx               the generated source it was compiled from
        _aj_cyutil_<key>.cpython-....so  Cython's shared utility module, which they import

(With ``-o OUTDIR`` the same files go to OUTDIR, which ``ASTJAX_PREBUILT_PATH`` then names.)

An entry is used only when everything it was built from still holds, else it is ignored
with a ``PrebuiltWarning`` and jit goes its usual way (compile, or run NumPy):
- the function's source, as a syntax tree without decorators (comments, blank lines and
  moved lines do not matter), is the one it was built from;
- the generated Cython, when jit passes ``lower``, is the same (comments aside), which also
  catches a changed helper or global constant;
- Python (ABI tag), platform, astjax version and NumPy's major version match, and the CPU
  too for ``--march native`` builds;
- the .so's sha256 matches the manifest.
A call whose arguments are C-contiguous may use an entry declared for any strides (``[:]``).
"""
import ast
import dataclasses
import hashlib
import importlib
import inspect
import json
import os
import shutil
import sys
import sysconfig
import textwrap
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AstjaxError
from .signatures import SignatureError, parse_signature

FOLDER = "__astjax__"
MANIFEST_FORMAT = 1
PATH_VARIABLE = "ASTJAX_PREBUILT_PATH"


class PrebuiltWarning(UserWarning):
    """A prebuilt artifact exists but cannot be used (stale, other platform, corrupt)."""


# ----------------------------------------------------------------------------- fingerprints

def source_hash(fn):
    """sha256 of a function's syntax tree without its decorators: what it computes, not
    where it sits in its file or how it is commented."""
    plain = inspect.unwrap(fn)
    try:
        text = textwrap.dedent(inspect.getsource(plain))
        node = next(n for n in ast.walk(ast.parse(text))
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and n.name == plain.__name__)
    except (OSError, TypeError, SyntaxError, StopIteration):
        return None
    node.decorator_list = []
    return hashlib.sha256(ast.dump(node).encode()).hexdigest()


def pyx_hash(pyx_source):
    """sha256 of generated Cython without its comment lines (they carry user line numbers)."""
    lines = [ln.rstrip() for ln in pyx_source.splitlines() if not ln.lstrip().startswith("#")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def environment(march=""):
    """What a prebuilt extension needs of the machine that imports it."""
    import numpy

    import astjax
    from codegen import build
    env = {"astjax": astjax.__version__, "python": sys.implementation.cache_tag,
           "platform": sysconfig.get_platform(), "ext_suffix": build.EXT_SUFFIX,
           "numpy_major": numpy.__version__.split(".")[0]}
    if march == "native":
        env["cpu"] = build.cpu_fingerprint()
    return env


def _incompatibility(built_env):
    """None when extensions built in ``built_env`` load here, else why not."""
    here = environment("native" if "cpu" in built_env else "")
    for key, value in built_env.items():
        if here.get(key) != value:
            what = {"cpu": "another CPU (built with --march native)",
                    "numpy_major": "another NumPy major version"}.get(key, f"{key} {value}")
            return f"built for {what}, this is {key} {here.get(key)}"
    return None


# ----------------------------------------------------------------------------- lookup (import time)

@dataclass
class Prebuilt:
    """A prebuilt extension jit can call instead of compiling."""
    module: object
    signature: str               # the signature it was built for
    path: str                    # the .so
    entry: dict = field(repr=False, default_factory=dict)


_manifests = {}                  # module file -> [(folder, manifest)], read once
_loaded = []                     # Prebuilt artifacts this process imported
_warned = set()
_lock = threading.Lock()


def module_identity(filename):
    from .discover import module_identity as identity
    return identity(filename)[1]


def manifest_name(filename):
    return f"{module_identity(filename)}.json"


def _folders(filename):
    folders = [Path(filename).resolve().parent / FOLDER]
    folders += [Path(p) for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p]
    return folders


def manifests_for(filename):
    """The manifests that describe the module in ``filename``: [(folder, manifest)]."""
    with _lock:
        known = _manifests.get(filename)
        if known is not None:
            return known
        found = []
        if filename and not filename.startswith("<"):
            name = manifest_name(filename)
            for folder in _folders(filename):
                path = folder / name
                try:
                    manifest = json.loads(path.read_text())
                except FileNotFoundError:
                    continue
                except (OSError, ValueError) as exc:
                    _warn_once(path, f"unreadable prebuilt manifest {path} ignored: {exc}")
                    continue
                if manifest.get("format") == MANIFEST_FORMAT:
                    found.append((folder, manifest))
        _manifests[filename] = found
        return found


def forget_manifests():
    """Read manifests again on the next lookup (after a build in this process)."""
    with _lock:
        _manifests.clear()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, PrebuiltWarning, stacklevel=_user_stacklevel())


def _user_stacklevel():
    """The stacklevel of the first caller outside astjax (the user's call of the function)."""
    here = Path(__file__).resolve().parent
    frame, level = sys._getframe(1), 1
    while frame is not None and Path(frame.f_code.co_filename).resolve().parent == here:
        frame, level = frame.f_back, level + 1
    return level


def _parse_or_none(text):
    try:
        return parse_signature(text)
    except SignatureError:
        return None


def _fits(built_sig, call_sig):
    """Whether an extension built for ``built_sig`` accepts a call typed ``call_sig``."""
    if built_sig is None or len(built_sig.args) != len(call_sig.args):
        return False
    for b, c in zip(built_sig.args, call_sig.args):
        if (b.dtype, b.ndim, b.python) != (c.dtype, c.ndim, c.python):
            return False
        if b.layout != c.layout and b.layout != "A":
            return False
    return True


def candidates(fn, signature):
    """Manifest entries for ``fn`` that accept calls typed ``signature``, best first."""
    plain = inspect.unwrap(fn)
    code = getattr(plain, "__code__", None)
    if code is None:
        return []
    text = signature if isinstance(signature, str) else signature.text
    try:
        call_sig = parse_signature(text)
    except SignatureError:             # e.g. a static argument's value: exact matches only
        call_sig = None
    out = []
    for folder, manifest in manifests_for(code.co_filename):
        for entry in manifest.get("functions", {}).get(plain.__qualname__, []):
            if entry["signature"] == text:
                out.append((False, folder, manifest, entry))
            elif call_sig is not None and _fits(_parse_or_none(entry["signature"]), call_sig):
                out.append((True, folder, manifest, entry))
    out.sort(key=lambda c: c[0])
    return [(folder, manifest, entry) for _, folder, manifest, entry in out]


def lookup(fn, signature, lower=None):
    """The prebuilt extension of ``fn`` for calls typed ``signature``, or None.

    ``lower(signature_text)``, when given, returns the Cython jit would generate for that
    signature now; an entry built from other Cython is stale.  Problems are warnings, never
    errors: jit then compiles or runs NumPy as it would without the artifact.
    """
    for folder, manifest, entry in candidates(fn, signature):
        where = f"{folder}/{entry['file']}"
        label = f"{inspect.unwrap(fn).__qualname__}{entry['signature']}"
        problem = _incompatibility(manifest.get("environment", {}))
        if problem is None and entry.get("source_sha256") != source_hash(fn):
            problem = ("stale: the function's source changed since `astjax build`; run "
                       "`astjax build` again")
        if problem is None and lower is not None:
            pyx = lower(entry["signature"])
            if pyx is not None and pyx_hash(pyx) != entry.get("pyx_sha256"):
                problem = ("stale: jit now generates other code for it (a helper, a global "
                           "constant or astjax changed); run `astjax build` again")
        if problem is None:
            try:
                module = _import_entry(folder, manifest, entry)
            except (OSError, ImportError, ValueError) as exc:
                problem = f"cannot be loaded: {exc}"
        if problem is not None:
            _warn_once((where, problem), f"prebuilt {label} in {folder} ignored, {problem}")
            continue
        found = Prebuilt(module, entry["signature"], str(folder / entry["file"]), entry)
        with _lock:
            if all(p.path != found.path for p in _loaded):
                _loaded.append(found)
        return found
    return None


def _import_so(path, modname, sha256):
    from codegen import build
    if modname in sys.modules:
        return sys.modules[modname]
    if _sha256_file(path) != sha256:
        raise ValueError(f"sha256 mismatch for {path.name} (truncated or corrupt)")
    return build.import_extension(path, modname)


def _import_entry(folder, manifest, entry):
    from codegen import threads
    shared = manifest.get("shared_utility")
    if entry.get("shared_utility") and shared:
        _import_so(folder / shared["file"], shared["module"], shared["sha256"])
    module = _import_so(folder / entry["file"], entry["module"], entry["sha256"])
    if hasattr(module, "_astjax_set_num_threads") and module not in threads._attached:
        threads.attach(module)
    return module


def loaded():
    """The prebuilt artifacts this process has imported (for explain, and tests)."""
    with _lock:
        return list(_loaded)


# ----------------------------------------------------------------------------- jit hooks

def _jit_module():
    try:        # by name: the package attribute `astjax.jit` is the function, not the module
        jit_module = importlib.import_module("astjax.jit")
    except ImportError:
        raise AstjaxError("astjax.jit is not available in this version of astjax") from None
    return jit_module


def as_jitted(obj):
    """``obj`` as a JitFunction (a plain function is wrapped with default options)."""
    jit_module = _jit_module()
    return obj if isinstance(obj, jit_module.JitFunction) else jit_module.jit(inspect.unwrap(obj))


def jitted_signatures(obj):
    """The Signatures declared for a jit function (decorator or annotations)."""
    from .signatures import declared_signatures
    declared = getattr(obj, "signatures", None)
    if isinstance(declared, (list, tuple)):
        return [parse_signature(s) for s in declared]
    return declared_signatures(inspect.unwrap(obj))


def full_types(jitted, signature):
    """codegen types of every parameter: the signature's, then the defaults' (as a call
    with only the declared arguments binds them)."""
    from codegen.types import of_value
    from .signatures import to_types
    types = list(to_types(signature))
    if jitted.static_argnums:
        raise AstjaxError(f"{jitted.__name__} has static_argnums: ahead-of-time builds need "
                          f"every argument typed, not valued")
    defaults = jitted._defaults[len(types):]
    if any(d is inspect.Parameter.empty for d in defaults):
        raise AstjaxError(f"signature {parse_signature(signature).text} does not cover every "
                          f"parameter of {jitted.__name__} without a default")
    return types + [of_value(d) for d in defaults]


def _lowered(jitted, types):
    from codegen.cython import lower as lower_program
    from .normalize import normalize
    jit_module = _jit_module()
    if jitted._program is None:
        jitted._program = normalize(jitted.fn, verb="compile")
    return lower_program(jitted._program, types, label=jit_module._label(jitted.fn))


def lower(obj, signature):
    """``(lowered, name_hint, BuildFlags)`` jit generates for ``obj`` at ``signature``
    (defaults bound); ``lowered.source`` is the .pyx, ``lowered.signature`` its key."""
    jitted = as_jitted(obj)
    return _lowered(jitted, full_types(jitted, signature)), jitted.__name__, jitted.flags


def use_prebuilt(jitted, spec):
    """jit's hook, called before building ``spec``: activate a valid prebuilt extension for
    its signature and return True, else False (nothing changed)."""
    types_text = spec.lowered.signature

    def lower_at(text):
        if text == types_text:
            return spec.lowered.source
        return _lowered(jitted, list(_types_of_text(text))).source

    try:
        found = lookup(jitted.fn, types_text, lower=lower_at)
    except AstjaxError:
        return False
    if found is None:
        return False
    lowered = spec.lowered
    if found.signature != types_text:
        lowered = _lowered(jitted, list(_types_of_text(found.signature)))
    previous = spec.lowered
    spec.lowered = lowered
    try:
        spec.activate(found.module)
    except Exception:              # noqa: BLE001  e.g. the module serves other values here
        spec.lowered = previous
        return False
    spec.prebuilt = found.path
    return True


def _types_of_text(text):
    from .signatures import to_types
    return to_types(text)


# ----------------------------------------------------------------------------- build (CLI)

@dataclass
class Job:
    path: Path                  # the module file
    qualname: str
    signature: object           # Signature
    obj: object = None
    full_signature: str = ""     # every parameter's type, defaults bound: the lookup key
    pyx: str = ""
    hint: str = ""
    flags: object = None
    result: dict = None
    error: str = ""
    log_path: str = None
    seconds: float = 0.0

    @property
    def label(self):
        return f"{self.path}:{self.qualname}{self.signature.text}"


@dataclass
class BuildReport:
    paths: list
    files_scanned: int = 0
    functions: list = field(default_factory=list)      # Decorated
    skipped: list = field(default_factory=list)        # messages
    jobs: list = field(default_factory=list)
    manifests: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self):
        """One message per failed job, naming the compiler log when there is one."""
        return [j.error + (f"\n  full compiler log: {j.log_path}" if j.log_path else "")
                for j in self.jobs if j.error]

    def nothing_found_message(self):
        where = ", ".join(map(str, self.paths))
        return (f"no @astjax.jit functions found in {where} ({self.files_scanned} Python files "
                f"read); decorate functions with @astjax.jit (any import alias works)")


def build(paths, outdir=None, jobs=1, backend="cython", march="", progress=print):
    """Find, lower and build every declared signature of every jit function under ``paths``."""
    from .discover import find_jitted, import_path, python_files, resolve
    if backend != "cython":
        raise AstjaxError(f"unknown backend {backend!r} (available: cython)")
    say = progress or (lambda line: None)
    started = time.perf_counter()
    report = BuildReport(list(paths))
    found_by_file = {}
    for path in python_files(paths):
        report.files_scanned += 1
        try:
            if "astjax" not in path.read_text(encoding="utf-8", errors="replace"):
                continue
        except OSError:
            continue
        found = find_jitted(path)
        if found:
            found_by_file[path] = found
            report.functions += found
    if not report.functions:
        return report
    say(f"found {len(report.functions)} jit function(s) in {len(found_by_file)} module(s)")

    for path, found in found_by_file.items():
        module = import_path(path)
        for deco in found:
            obj = resolve(module, deco.name)
            sigs = _signatures_of(obj, deco)
            if not sigs:
                message = (f"{deco.where}: {deco.name} declares no signatures, skipped "
                           f"(add @astjax.jit(signatures=[\"float64[::1]\"]) or annotations)")
                report.skipped.append(message)
                say(f"skip  {message}")
                continue
            for sig in sigs:
                job = Job(path, deco.name, sig, obj)
                try:
                    lowered, job.hint, flags = lower(obj, sig)
                    job.pyx, job.full_signature = lowered.source, lowered.signature
                    job.flags = dataclasses.replace(flags, march=march)
                except AstjaxError as exc:
                    job.error = f"{job.label}: cannot generate Cython: {exc}"
                report.jobs.append(job)
    todo = [j for j in report.jobs if not j.error]
    for j in report.jobs:
        if j.error:
            say(f"FAILED {j.error}")
    if todo:
        _build_jobs(todo, jobs, say)
    for path in found_by_file:
        built = [j for j in report.jobs if j.path == path and j.result]
        if built:
            report.manifests.append(_write_manifest(path, built, outdir, march))
    forget_manifests()
    report.seconds = time.perf_counter() - started
    ok = sum(1 for j in report.jobs if j.result)
    say(f"built {ok} of {len(report.jobs)} extension(s) in {report.seconds:.1f} s"
        + (f"; {len(report.failures)} failed" if report.failures else ""))
    return report


def _signatures_of(obj, deco):
    from .signatures import declared_signatures
    if obj is None:
        return []
    declared = jitted_signatures(obj)
    if declared:
        return declared
    literal = deco.signatures if deco.signatures is not ... else None
    return declared_signatures(inspect.unwrap(obj), literal) if literal else []


def _build_jobs(todo, jobs, say):
    from codegen import cache
    from codegen.errors import BuildError
    say(f"building {len(todo)} extension(s), {max(1, jobs)} at a time")
    try:
        cache.shared_utility()             # once, before the parallel builds need it
    except BuildError as exc:
        for job in todo:
            job.error, job.log_path = _failure(job, exc)
        say(f"FAIL  Cython's shared utility module (needed by every extension)")
        return
    counter = iter(range(1, len(todo) + 1))
    counter_lock = threading.Lock()

    def run(job):
        t0 = time.perf_counter()
        before = _entry_exists(job)
        try:
            module = cache.load_or_build(job.pyx, job.hint, job.full_signature,
                                         flags=job.flags)
            job.result = {"module": module.__name__, "so": module.__file__}
        except BuildError as exc:
            job.error, job.log_path = _failure(job, exc)
        job.seconds = time.perf_counter() - t0
        with counter_lock:
            n = next(counter)
        state = "FAILED" if job.error else "cached" if before else "built"
        say(f"[{n}/{len(todo)}] {state:<6} {job.label} ({job.seconds:.1f} s)")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(run, todo))


def _failure(job, exc):
    """(one-line message, log path) of a failed build."""
    first = str(exc).split("\n  full compiler log:")[0].splitlines()[0]
    if len(first) > 240:
        first = first[:240] + " ..."
    return f"{job.label}: build failed: {first}", exc.log_path


def _entry_exists(job):
    from codegen import build, cache
    key = cache.cache_key(job.pyx, job.full_signature, job.flags)
    return (cache.cache_dir() / build.module_name(job.hint, key[:20]) / "meta.json").exists()


def _write_manifest(path, built, outdir, march):
    from codegen import cache
    folder = Path(outdir) if outdir else path.resolve().parent / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / manifest_name(path)
    try:
        previous = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        previous = {}
    shared = None
    name = cache.shared_utility()
    if name is not None:
        shared = _copy(Path(sys.modules[name].__file__), folder, name)
    functions = {}
    for job in built:
        so = Path(job.result["so"])
        record = _copy(so, folder, job.result["module"])
        pyx_file = f"{job.result['module']}.pyx"
        (folder / pyx_file).write_text(job.pyx)
        functions.setdefault(job.qualname, []).append({
            "signature": job.full_signature, "declared": job.signature.text,
            "module": record["module"],
            "file": record["file"], "sha256": record["sha256"], "pyx_file": pyx_file,
            "source_sha256": source_hash(job.obj), "pyx_sha256": pyx_hash(job.pyx),
            "shared_utility": name is not None, "build_seconds": round(job.seconds, 3)})
    manifest = {"format": MANIFEST_FORMAT, "module": module_identity(path),
                "source": os.path.relpath(path.resolve(), folder), "built_at": time.time(),
                "environment": environment(march), "march": march, "backend": "cython",
                "shared_utility": shared, "functions": functions}
    tmp = manifest_path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)
    _remove_orphans(folder, previous, manifest)
    return manifest_path


def _copy(so_path, folder, modname):
    target = folder / so_path.name
    if not target.exists() or _sha256_file(target) != _sha256_file(so_path):
        tmp = folder / f".{so_path.name}.tmp{os.getpid()}"
        shutil.copyfile(so_path, tmp)
        os.replace(tmp, target)
    return {"module": modname, "file": target.name, "sha256": _sha256_file(target)}


def _files_of(manifest):
    files = set()
    for entries in manifest.get("functions", {}).values():
        for e in entries:
            files.update((e.get("file"), e.get("pyx_file")))
    return files - {None}


def _remove_orphans(folder, previous, current):
    """Delete what the previous manifest of this module listed and the new one does not
    (the shared utility module may serve other manifests: it stays)."""
    still_used = set()
    for other in folder.glob("*.json"):
        try:
            still_used |= _files_of(json.loads(other.read_text()))
        except (OSError, ValueError):
            continue
    for name in _files_of(previous) - _files_of(current) - still_used:
        (folder / name).unlink(missing_ok=True)
