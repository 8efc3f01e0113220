"""``astjax build``: find the jit functions of modules and packages, compile every declared
signature, and write the extensions with a manifest to ``__astjax__/`` beside each module
(or to OUTDIR), where astjax/aot/prebuilt.py finds them at import time.

    report = build(["mypkg"], jobs=2)      # what `astjax build mypkg -j 2` runs

Steps: read each file's syntax tree for jit decorators (astjax/frontend/discover.py; a file without
any is never imported), import the modules that have some, lower each function for each of
its signatures (astjax/aot/prebuilt.py, exactly as jit will at call time), build the Cython in
parallel through jit's own cache (codegen.cache: a second build of the same code is a copy),
then copy the extensions and Cython's shared utility module beside the module and write the
manifest last, atomically.  Extensions a previous manifest listed and the new one does not
are deleted.
"""
import dataclasses
import inspect
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from astjax.errors import AstjaxError
from astjax.aot.lowering import jitted_signatures, lower
from astjax.aot.prebuilt import (FOLDER, MANIFEST_FORMAT, _sha256_file, environment,
                                 forget_manifests, manifest_name, module_identity, pyx_hash,
                                 source_hash)


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
    if backend != "cython":
        raise AstjaxError(f"unknown backend {backend!r} (available: cython)")
    say = progress or (lambda line: None)
    started = time.perf_counter()
    report = BuildReport(list(paths))
    found_by_file = _find(paths, report)
    if not report.functions:
        return report
    say(f"found {len(report.functions)} jit function(s) in {len(found_by_file)} module(s)")
    for path, found in found_by_file.items():
        _plan(path, found, march, report, say)
    todo = [j for j in report.jobs if not j.error]
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


def _find(paths, report):
    """{file: [Decorated]} for the files under ``paths`` that have jit functions (read, not
    imported: a file without 'astjax' in it is not even parsed)."""
    from astjax.frontend.discover import find_jitted, python_files
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
    return found_by_file


def _plan(path, found, march, report, say):
    """Import one module and lower each of its jit functions for each declared signature."""
    from astjax.frontend.discover import import_path, resolve
    module = import_path(path)
    for deco in found:
        obj = resolve(module, deco.name)
        sigs = _signatures_of(obj, deco)
        if obj is None or not sigs:
            why = ("is not defined once the module is imported" if obj is None else
                   "declares no signatures (add @astjax.jit(signatures=[\"float64[::1]\"]) "
                   "or annotations)")
            report.skipped.append(f"{deco.where}: {deco.name} {why}")
            say(f"skip   {deco.where}: {deco.name} {why}")
            continue
        for sig in sigs:
            job = Job(path, deco.name, sig, obj)
            try:
                lowered, job.hint, flags = lower(obj, sig)
                job.pyx, job.full_signature = lowered.source, lowered.signature
                job.flags = dataclasses.replace(flags, march=march)
            except AstjaxError as exc:
                job.error = f"{job.label}: cannot generate Cython: {exc}"
                say(f"FAILED {job.error}")
            report.jobs.append(job)


def _signatures_of(obj, deco):
    from astjax.aot.signatures import declared_signatures
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
    started = time.perf_counter()
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
            elapsed = time.perf_counter() - started
        state = "FAILED" if job.error else "cached" if before else "built"
        say(f"[{n}/{len(todo)}] {state:<6} {job.label} ({job.seconds:.1f} s; "
            f"{elapsed:.1f} s elapsed)")

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
    _remove_orphans(folder, previous)
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


def _manifests_in(folder):
    out = []
    for path in folder.glob("*.json"):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


def _remove_orphans(folder, previous):
    """Delete what this module's previous manifest listed and no manifest here lists now, and
    shared utility modules no manifest names (left by a build with another Cython)."""
    manifests = _manifests_in(folder)             # the new one included
    still_used = set()
    for m in manifests:
        still_used |= _files_of(m)
    for name in _files_of(previous) - still_used:
        (folder / name).unlink(missing_ok=True)
    shared = {(m.get("shared_utility") or {}).get("file") for m in manifests}
    for old in folder.glob("_aj_cyutil_*"):
        if old.name not in shared:
            old.unlink(missing_ok=True)
