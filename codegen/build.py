"""Turn a generated Cython source into an imported extension module, fast.

    module = build_module(pyx_source, "selu")          # Cython -> C -> .so -> import

Cython runs in this process (`Cython.Compiler.Main.compile_single`; ~0.7 s the first time
in a process, ~0.05 s after) and the C compiler runs once per module, compiling and linking
in one call (~0.3 s for a small module at -O3). No setuptools: its startup alone costs more
than the whole build.

Most of a Cython module's C is the memoryview machinery (~25k of its ~30k lines). With
Cython >= 3.1 that machinery goes into one *shared utility module* (`build_shared_utility`),
compiled once per cache directory and imported before any generated module, which then
compiles in a fraction of the time. `codegen.cache` owns that module; `build_module` works
without it too (a self-contained module, ~5 s).

Compiler flags (`BuildFlags`) are -O3 -fwrapv (NumPy's wrapping integers) -fopenmp, plus:
- `vector_math`: -fno-math-errno -fno-trapping-math and ASTJAX_VECTOR_MATH, which makes
  include/astjax_math.h declare glibc's libmvec SIMD functions, so loops over expf/logf/...
  vectorize. Never -ffinite-math-only: NaN and Inf behave as in NumPy.
- `march`: "native" by default (the cache key then names the CPU).
- `fp_contract`: off by default, so a*b+c rounds twice as in NumPy; "fast" allows FMA.
The compiler is `$CC`, else the one Python was built with (sysconfig).
"""
import dataclasses
import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from .errors import BuildError, CompilerUnavailable

INCLUDE_DIR = Path(__file__).resolve().parent / "include"
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
COMPILE_TIMEOUT_S = 600

_cython_lock = threading.Lock()   # the Cython compiler keeps global state: one at a time


@dataclasses.dataclass(frozen=True)
class BuildFlags:
    """What changes the generated binary besides its source (all part of the cache key)."""
    boundscheck: bool = True        # out-of-bounds index -> IndexError, never a crash
    wraparound: bool = True         # negative indices count from the end, as in NumPy
    openmp: bool = True             # -fopenmp: prange loops run on several threads
    vector_math: bool = True        # libmvec SIMD math, keeping NaN/Inf (see module doc)
    march: str = "native"           # -march=...; "" for the compiler's default target
    fp_contract: str = "off"        # "off": no FMA contraction (NumPy's rounding); "fast"
    opt: str = "-O3"
    extra_cflags: tuple = ()

    def directives(self):
        """Cython compiler directives for these flags."""
        return {"boundscheck": self.boundscheck, "wraparound": self.wraparound}

    def cflags(self):
        """C compiler flags for these flags (without includes)."""
        out = [self.opt, "-fPIC", "-fwrapv", "-DNDEBUG", f"-ffp-contract={self.fp_contract}"]
        if self.march:
            out.append(f"-march={self.march}")
        if self.openmp:
            out.append("-fopenmp")
        if self.vector_math:
            out += ["-fno-math-errno", "-fno-trapping-math", "-DASTJAX_VECTOR_MATH=1"]
        return out + list(self.extra_cflags)


def supports_shared_utility():
    """Whether this Cython can put its utility code in a shared module (Cython >= 3.1)."""
    from Cython.Compiler.Options import default_options
    return "shared_utility_qualified_name" in default_options


# ----------------------------------------------------------------------------- toolchain

def compiler_command():
    """The C compiler as an argv prefix: `$CC`, else the compiler Python was built with."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def _link_flags():
    """Linker flags for an extension module, from Python's own LDSHARED (minus the compiler)."""
    ldshared = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")[1:]
    return ldshared + ["-lm"]


@functools.lru_cache(maxsize=None)
def include_dirs():
    import numpy
    paths = sysconfig.get_paths()
    dirs = [paths["include"], paths["platinclude"], numpy.get_include(), str(INCLUDE_DIR)]
    return tuple(dict.fromkeys(dirs))


@functools.lru_cache(maxsize=None)
def cpu_fingerprint():
    """A short id of this CPU model and its features, for keys of -march=native builds."""
    text = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    text += line
                if line.strip() == "":
                    break          # the first processor is enough
    except OSError:
        import platform
        text = platform.processor()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_compiler_exists(cc, log_path):
    if shutil.which(cc[0]) is None:
        source = "$CC" if os.environ.get("CC") else "Python's build configuration (sysconfig CC)"
        message = (f"no C compiler: {cc[0]!r} (from {source}) was not found on PATH. "
                   "astjax jit needs a C compiler to build extensions; install gcc "
                   "(e.g. `apt-get install gcc`) or point $CC at one.")
        _write_log(log_path, f"{message}\nPATH={os.environ.get('PATH', '')}\n")
        raise CompilerUnavailable(message, log_path)
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not header.exists():
        message = (f"Python headers are missing ({header} does not exist); install the "
                   "Python development package (e.g. `apt-get install python3-dev`).")
        _write_log(log_path, message + "\n")
        raise CompilerUnavailable(message, log_path)


@functools.lru_cache(maxsize=32)
def _probe(cc, cflags):
    """Can this compiler build a trivial extension with these flags? (None, or its output.)"""
    with tempfile.TemporaryDirectory(prefix="astjax-probe-") as tmp:
        src = Path(tmp, "probe.c")
        src.write_text("#include <Python.h>\n#include <math.h>\n"
                       "double astjax_probe(double x) { return exp(x); }\n")
        cmd = [*cc, *cflags, *(f"-I{d}" for d in include_dirs()), str(src),
               "-o", str(Path(tmp, "probe" + EXT_SUFFIX)), *_link_flags()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"$ {shlex.join(cmd)}\n{exc}\n"
        if proc.returncode != 0:
            return f"$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
    return None


# ----------------------------------------------------------------------------- steps

def _write_log(log_path, text, mode="w"):
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, mode) as f:
            f.write(text)


def _cython_options(c_path, **extra):
    from Cython.Compiler.Main import CompilationOptions, default_options
    return CompilationOptions(default_options, language_level=3, output_file=str(c_path),
                              use_listing_file=1, errors_to_stderr=0, **extra)


def cythonize(pyx_path, c_path, modname, flags, *, shared_utility=None, log_path=None):
    """Cython step: .pyx -> .c, in this process. Errors go to `log_path`."""
    from Cython.Compiler.Main import compile_single
    extra = {}
    if shared_utility:
        extra["shared_utility_qualified_name"] = shared_utility
    options = _cython_options(c_path, compiler_directives=flags.directives(), **extra)
    started = time.perf_counter()
    with _cython_lock:
        try:
            result = compile_single(str(pyx_path), options, full_module_name=modname)
            failed = result.num_errors > 0
            problem = ""
        except Exception as exc:  # Cython raises its own CompileError/InternalError kinds
            failed, problem = True, f"{type(exc).__name__}: {exc}\n"
    listing = Path(pyx_path).with_suffix(".lis")
    messages = listing.read_text() if listing.exists() else ""
    listing.unlink(missing_ok=True)
    _write_log(log_path, f"== cython {pyx_path} ({time.perf_counter() - started:.2f} s)\n"
                         f"{messages}{problem}", mode="a")
    if failed:
        first = (messages + problem).strip().splitlines()[:12]
        raise BuildError(f"Cython rejected the generated module {modname}:\n  "
                         + "\n  ".join(first), log_path)


def compile_c(c_path, so_path, cflags, *, log_path=None):
    """C step: compile and link one .c file into an extension module."""
    cc = compiler_command()
    _check_compiler_exists(cc, log_path)
    cmd = [*cc, *cflags, *(f"-I{d}" for d in include_dirs()), str(c_path),
           "-o", str(so_path), *_link_flags()]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        output, code = f"timed out after {COMPILE_TIMEOUT_S} s\n", -1
    except OSError as exc:
        output, code = f"{exc}\n", -1
    _write_log(log_path, f"== $ {shlex.join(cmd)}\n({time.perf_counter() - started:.2f} s, "
                         f"exit {code})\n{output}", mode="a")
    if code == 0:
        return
    probe_output = _probe(tuple(cc), tuple(cflags))
    if probe_output is not None:
        _write_log(log_path, f"== probe: a trivial extension fails too\n{probe_output}", "a")
        raise CompilerUnavailable(
            f"the C compiler {shlex.join(cc)!r} cannot build a trivial extension with the "
            f"flags {' '.join(cflags)!r}: {_first_error(probe_output)}", log_path)
    raise BuildError(f"the C compiler failed on {Path(c_path).name}: {_first_error(output)}",
                     log_path)


def _first_error(output):
    lines = [ln for ln in output.splitlines() if re.search(r"error|not found", ln, re.I)]
    return (lines or output.strip().splitlines()[-1:] or ["(no output)"])[0].strip()


def build_extension(pyx_source, modname, out_dir, flags=None, *, shared_utility=None,
                    log_path=None, pyx_path=None):
    """Build `pyx_source` as extension `modname` into `out_dir`; return the .so's path.

    The .pyx is written to `pyx_path` (default: `out_dir`); tracebacks point there.
    """
    flags = flags or BuildFlags()
    out_dir = Path(out_dir)
    log_path = log_path or out_dir / "build.log"
    _check_compiler_exists(compiler_command(), log_path)   # fail before Cython's 0.7 s
    pyx_path = Path(pyx_path) if pyx_path else out_dir / f"{modname}.pyx"
    pyx_path.write_text(pyx_source)
    c_path = out_dir / f"{modname}.c"
    so_path = out_dir / f"{modname}{EXT_SUFFIX}"
    cythonize(pyx_path, c_path, modname, flags, shared_utility=shared_utility,
              log_path=log_path)
    compile_c(c_path, so_path, flags.cflags(), log_path=log_path)
    return so_path


def build_shared_utility(modname, out_dir, *, log_path=None):
    """Build Cython's shared utility module (memoryviews etc.) as `modname`; return the .so."""
    from Cython.Build.SharedModule import generate_shared_module
    from Cython.Compiler import Errors
    out_dir = Path(out_dir)
    log_path = log_path or out_dir / "build.log"
    cc = compiler_command()
    _check_compiler_exists(cc, log_path)
    c_path = out_dir / f"{modname}.c"
    options = _cython_options(c_path, shared_c_file_path=str(c_path), module_name=modname)
    started = time.perf_counter()
    with _cython_lock:
        try:
            err, _ = generate_shared_module(options)
            problem = "" if not err else f"{err}\n"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}\n"
        finally:
            Errors.close_listing_file()
    _write_log(log_path, f"== cython shared utility ({time.perf_counter() - started:.2f} s)\n"
                         f"{problem}", mode="a")
    if problem or not c_path.exists():
        raise BuildError(f"Cython could not generate its shared utility module: {problem}",
                         log_path)
    # Buffer acquisition code: -O1 calls cost the same as -O2 (~2 us) and build in 1.5 s, not 2.5.
    so_path = out_dir / f"{modname}{EXT_SUFFIX}"
    compile_c(c_path, so_path, ["-O1", "-fPIC", "-fwrapv", "-DNDEBUG"], log_path=log_path)
    return so_path


def import_extension(so_path, modname):
    """Import the extension at `so_path` as module `modname` (registered in sys.modules)."""
    so_path = str(so_path)
    from . import threads
    threads.quiet_openmp()          # before libgomp loads: idle threads sleep, not spin
    loader = importlib.machinery.ExtensionFileLoader(modname, so_path)
    spec = importlib.util.spec_from_file_location(modname, so_path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[modname] = module
    return module


def module_name(name_hint, suffix):
    """A valid, unique extension name: `_aj_<hint>_<suffix>`."""
    hint = re.sub(r"\W", "_", name_hint)[:40] or "fn"
    return f"_aj_{hint}_{suffix}"


def build_module(pyx_source, name_hint, *, flags=None, shared_utility=None):
    """Build and import `pyx_source` now, uncached, under a fresh module name.

    `shared_utility` names an already imported shared utility module (see codegen.cache);
    without it the module carries its own copy of Cython's utility code (slower to build).
    Most callers want `codegen.cache.load_or_build`, which also caches the artifact.
    """
    modname = module_name(name_hint, secrets.token_hex(6))
    out_dir = Path(tempfile.mkdtemp(prefix=f"astjax-{modname}-"))
    so_path = build_extension(pyx_source, modname, out_dir, flags,
                              shared_utility=shared_utility)
    module = import_extension(so_path, modname)
    shutil.rmtree(out_dir, ignore_errors=True)   # kept only when the build fails (its log)
    from . import threads
    return threads.attach(module)
