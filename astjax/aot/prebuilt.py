"""Prebuilt extensions: what ``astjax build`` left in ``__astjax__/``, found and checked when
a jit function is first called, so that it runs compiled with no compiler present.

    use_prebuilt(jitted, spec)             # jit's hook before it builds a specialization
    lookup(selu, "(float32[::1], float)", lower)   # -> Prebuilt, or None
    loaded()                               # what this process imported

Layout, for ``mypkg/kernels.py`` (written by astjax/aot/build.py)::

    mypkg/__astjax__/
        mypkg.kernels.json               the manifest: environment, and per function and
                                         signature its hashes and its extension
        _aj_selu_<key>.cpython-311-x86_64-linux-gnu.so
        _aj_selu_<key>.pyx               the generated source it was compiled from
        _aj_cyutil_<key>.cpython-....so  Cython's shared utility module, which they import

Folders named by ``ASTJAX_PREBUILT_PATH`` (``astjax build -o OUTDIR``) are searched too.

An entry is used only when everything it was built from still holds, else it is ignored
with a ``PrebuiltWarning`` and jit goes its usual way (compile, or run NumPy):
- the function's source, as a syntax tree without decorators (comments, blank lines and
  moved lines do not matter), is the one it was built from;
- the Cython jit generates now is the same (comments aside), which also catches a changed
  helper or global constant;
- Python (ABI tag), platform, astjax version and NumPy's major version match, and the CPU
  too for ``--march native`` builds;
- the .so's sha256 matches the manifest.
A call whose arguments are C-contiguous may use an entry built for any strides (``[:]``).
"""
import ast
import hashlib
import inspect
import json
import os
import sys
import sysconfig
import textwrap
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from astjax.errors import AstjaxError
from astjax.aot.signatures import SignatureError, parse_signature, to_types

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

    from astjax.version import __version__
    from codegen import build
    env = {"astjax": __version__, "python": sys.implementation.cache_tag,
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


# ----------------------------------------------------------------------------- lookup (first call)

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
    from astjax.frontend.discover import module_identity as identity
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


def use_prebuilt(jitted, spec):
    """jit's hook, called before building ``spec``: activate a valid prebuilt extension for
    its signature and return True, else False (nothing changed)."""
    lowerings = {spec.lowered.signature: spec.lowered}

    def lower_at(text):
        if text not in lowerings:
            lowerings[text] = jitted.lower_for(list(to_types(text)))
        return lowerings[text].source

    try:
        found = lookup(jitted.fn, spec.lowered.signature, lower=lower_at)
        if found is None:
            return False
        lower_at(found.signature)
        lowered = lowerings[found.signature]
    except Exception:              # noqa: BLE001  as in jit: a bug here never breaks a call
        return False
    previous, spec.lowered = spec.lowered, lowered
    try:
        spec.activate(found.module)
    except Exception:              # noqa: BLE001  e.g. the module serves other values here
        spec.lowered = previous
        return False
    spec.prebuilt = found.path
    return True
