"""The astjax command as a user drives it: ``python -m astjax ...`` in temporary directories.

One package is built once for the module (three extensions, ~5 s cold, a copy from the
session cache after that); the other tests copy it, edit it, and import it in fresh
processes whose PATH holds no C compiler.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

KERNELS = '''\
"""Kernels of the demo package."""
import numpy as np
from astjax import jit as compiled

ALPHA = 1.67


@compiled(signatures=["float32[::1]", "float64[:]"])
def selu(x, lmbda=1.05):
    return lmbda * np.where(x > 0, x, ALPHA * np.exp(x) - ALPHA)


@compiled
def total(x: "float64[::1]", n: "int"):
    s = 0.0
    for i in range(n):
        s += x[i] * x[i]
    return s


@compiled
def not_declared(x):
    return x + 1.0


def plain(x):
    return x * 2.0
'''

RUN_DEMO = '''\
import json, shutil, sys, warnings
import numpy as np
from astjax.aot import prebuilt
from astjax import explain
import demo_pkg

x32 = np.linspace(-1, 1, 7).astype(np.float32)
x64 = np.linspace(-1, 1, 7)
ref = lambda x: 1.05 * np.where(x > 0, x, 1.67 * np.exp(x) - 1.67)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    r32 = demo_pkg.selu(x32)
    r64 = demo_pkg.selu(x64[::2])               # any strides: the float64[:] artifact
    rc = demo_pkg.selu(x64)                     # C-contiguous also fits float64[:]
    t = demo_pkg.total(np.arange(5.0), 4)
assert r32.dtype == np.float32 and np.allclose(r32, ref(x32), rtol=1e-6)
assert np.allclose(r64, ref(x64[::2])) and np.allclose(rc, ref(x64)) and t == 14.0
print(json.dumps({
    "compiler": [shutil.which("gcc"), shutil.which("cc")],
    "loaded": sorted(p.signature for p in prebuilt.loaded()),
    "warnings": [str(w.message) for w in caught],
    "explain": str(explain(demo_pkg.selu)),
}))
'''


def run(*args, cwd, env=None, check=None):
    """``python -m astjax ARGS``, optionally checking its exit status."""
    cmd = [sys.executable, "-m", "astjax", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env or os.environ.copy(), capture_output=True,
                          text=True, timeout=300)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def no_compiler_env(tmp_path):
    """An environment whose PATH holds no C compiler, with $CC unset, and an empty jit cache.

    The interpreter runs as `sys.executable` by its absolute path (see `NO_CC_PYTHON`): a
    symlink to a venv's python placed outside the venv would start the base interpreter,
    without the venv's packages. PATH holds only a directory of harmless tools.
    """
    bin_dir = tmp_path / "bin-no-cc"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sh", "ls", "cat"):            # harmless; never a compiler
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "PATH", "PYTHONPATH")}
    env.update(PATH=str(bin_dir), PYTHONPATH=str(ROOT),
               ASTJAX_CACHE_DIR=str(tmp_path / "empty-jit-cache"))
    return env


NO_CC_PYTHON = sys.executable      # the real interpreter (a venv's too), by absolute path


def run_demo(where, tmp_path, env=None):
    proc = subprocess.run([NO_CC_PYTHON, "-c",
                           RUN_DEMO], cwd=where, env=env or no_compiler_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_package(where):
    pkg = where / "demo_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .kernels import selu, total\n")
    (pkg / "kernels.py").write_text(KERNELS)
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "nothing.py").write_text("import astjax\n\nX = 1\n")
    return pkg


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A project directory holding demo_pkg, built with `astjax build demo_pkg -j 2`."""
    where = tmp_path_factory.mktemp("project")
    write_package(where)
    proc = run("build", "demo_pkg", "-j", "2", cwd=where, check=0)
    return where, proc


# ----------------------------------------------------------------------------- build + import

def test_build_writes_artifacts_beside_the_module(built):
    where, proc = built
    out = proc.stdout
    assert "found 3 jit function(s) in 1 module(s)" in out
    assert "not_declared declares no signatures" in out
    assert re.search(r"\[\d/3\] (built|cached) +demo_pkg/kernels.py:selu\(float32\[::1\]\) "
                     r"\(\d+\.\d s; \d+\.\d s elapsed\)", out)
    assert "built 3 of 3 extension(s)" in out
    folder = where / "demo_pkg" / "__astjax__"
    manifest = json.loads((folder / "demo_pkg.kernels.json").read_text())
    sigs = {name: [e["signature"] for e in entries]
            for name, entries in manifest["functions"].items()}
    assert sigs == {"selu": ["(float32[::1], float)", "(float64[:], float)"],
                    "total": ["(float64[::1], int)"]}
    for entries in manifest["functions"].values():
        for e in entries:
            assert (folder / e["file"]).exists() and (folder / e["pyx_file"]).exists()
    assert (folder / manifest["shared_utility"]["file"]).exists()
    assert not (where / "demo_pkg" / "sub" / "__astjax__").exists()


def test_prebuilt_package_runs_where_there_is_no_compiler(built, tmp_path):
    where, _ = built
    result = run_demo(where, tmp_path)
    assert result["compiler"] == [None, None]
    assert set(result["loaded"]) == {"(float32[::1], float)", "(float64[:], float)",
                                     "(float64[::1], int)"}
    assert result["warnings"] == []
    assert result["explain"].count("compiled to C") == 3          # no NumPy fallback


def copy_project(built, tmp_path):
    where, _ = built
    target = tmp_path / "copy"
    shutil.copytree(where / "demo_pkg", target / "demo_pkg")
    return target


def test_stale_artifact_is_ignored_with_a_warning(built, tmp_path):
    where = copy_project(built, tmp_path)
    kernels = where / "demo_pkg" / "kernels.py"
    kernels.write_text(KERNELS.replace("return lmbda * np.where", "return lmbda * 1.0 * np.where"))
    result = run_demo(where, tmp_path)
    assert result["loaded"] == ["(float64[::1], int)"]            # total is unchanged
    stale = [w for w in result["warnings"] if "selu" in w]
    assert stale and all("stale" in w and "astjax build" in w for w in stale)
    assert "runs as NumPy" in result["explain"]                   # right answers, no C


def test_comments_and_moved_lines_keep_artifacts_valid(built, tmp_path):
    where = copy_project(built, tmp_path)
    kernels = where / "demo_pkg" / "kernels.py"
    kernels.write_text("# a new first line\n\n" + KERNELS.replace(
        "    s = 0.0\n", "    # start from zero\n    s = 0.0\n"))
    result = run_demo(where, tmp_path)
    assert len(result["loaded"]) == 3 and result["warnings"] == []


def test_changed_global_float_is_read_by_the_artifact(built, tmp_path):
    # jit reads a global float when the function runs (README: globals, closures and
    # decorators), so the prebuilt extension stays valid and computes with the new value
    where = copy_project(built, tmp_path)
    kernels = where / "demo_pkg" / "kernels.py"
    kernels.write_text(KERNELS.replace("ALPHA = 1.67", "ALPHA = 1.5"))
    env = no_compiler_env(tmp_path)
    proc = subprocess.run([NO_CC_PYTHON, "-c",
                           "import numpy as np, demo_pkg\n"
                           "print(demo_pkg.selu(np.array([-1.0]))[0])"],
                          cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == pytest.approx(1.05 * (1.5 * np.exp(-1.0) - 1.5))
    assert "PrebuiltWarning" not in proc.stderr, proc.stderr


def test_corrupt_artifact_is_ignored_with_a_warning(built, tmp_path):
    where = copy_project(built, tmp_path)
    folder = where / "demo_pkg" / "__astjax__"
    manifest = json.loads((folder / "demo_pkg.kernels.json").read_text())
    so = folder / manifest["functions"]["total"][0]["file"]
    so.write_bytes(so.read_bytes()[: so.stat().st_size // 2])      # truncated
    env = no_compiler_env(tmp_path)
    proc = subprocess.run([NO_CC_PYTHON, "-W", "always", "-c",
                           "import numpy as np, demo_pkg\n"
                           "print(demo_pkg.total(np.arange(5.0), 4))"],
                          cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "14.0", proc.stderr
    assert "sha256 mismatch" in proc.stderr and "ignored" in proc.stderr


def test_outdir_and_prebuilt_path(built, tmp_path):
    where = copy_project(built, tmp_path)
    shutil.rmtree(where / "demo_pkg" / "__astjax__")
    out = tmp_path / "artifacts"
    proc = run("build", "demo_pkg", "-o", str(out), "-q", cwd=where, check=0)
    assert proc.stdout == ""
    assert (out / "demo_pkg.kernels.json").exists()
    assert not (where / "demo_pkg" / "__astjax__").exists()
    env = no_compiler_env(tmp_path)
    env["ASTJAX_PREBUILT_PATH"] = str(out)
    assert len(run_demo(where, tmp_path, env)["loaded"]) == 3


def test_rebuild_replaces_old_artifacts(built, tmp_path):
    where = copy_project(built, tmp_path)
    kernels = where / "demo_pkg" / "kernels.py"
    kernels.write_text(KERNELS.replace('signatures=["float32[::1]", "float64[:]"]',
                                       'signatures=["float32[::1]"]'))
    run("build", "demo_pkg", "-q", cwd=where, check=0)
    folder = where / "demo_pkg" / "__astjax__"
    manifest = json.loads((folder / "demo_pkg.kernels.json").read_text())
    assert [e["signature"] for e in manifest["functions"]["selu"]] == ["(float32[::1], float)"]
    assert len(list(folder.glob("_aj_selu_*.so"))) == 1            # the float64 one is gone


# ----------------------------------------------------------------------------- build errors

def test_build_missing_path(tmp_path):
    proc = run("build", "no_such_dir", cwd=tmp_path, check=2)
    assert "astjax: error: no_such_dir: no such file or directory" in proc.stderr


def test_build_without_decorated_functions(tmp_path):
    (tmp_path / "plain.py").write_text("import numpy as np\n\ndef f(x):\n    return x\n")
    proc = run("build", "plain.py", cwd=tmp_path, check=1)
    assert "no @astjax.jit functions found in plain.py (1 Python files read)" in proc.stderr


def test_build_with_nothing_declared(tmp_path):
    (tmp_path / "undeclared.py").write_text(
        "import astjax\n\n@astjax.jit\ndef f(x):\n    return x\n")
    proc = run("build", "undeclared.py", cwd=tmp_path, check=1)
    assert "nothing to build: no jit function declares signatures" in proc.stderr
    assert "undeclared.py:4: f declares no signatures" in proc.stderr


def test_build_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "broken.py").write_text("import astjax\n\n@astjax.jit\ndef f(x):\n"
                                        "    return x +\n")
    proc = run("build", ".", cwd=tmp_path, check=1)
    assert "broken.py:5: syntax error: invalid syntax" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_build_bad_signature_names_it(tmp_path):
    (tmp_path / "badsig.py").write_text(
        "from astjax import jit\n\n@jit(signatures=['float33[:]'])\ndef f(x):\n"
        "    return x\n")
    proc = run("build", "badsig.py", cwd=tmp_path, check=1)
    assert "badsig.py:3" in proc.stderr
    assert "bad signature 'float33[:]': unknown dtype 'float33'" in proc.stderr


def test_build_failure_names_the_compiler_log(tmp_path):
    (tmp_path / "one.py").write_text(
        "from astjax import jit\n\n@jit(signatures=['float64[::1]'])\ndef twice(x):\n"
        "    return 2.0 * x\n")
    env = os.environ.copy()
    env["CC"] = "false"                   # a compiler that fails on everything
    proc = run("build", "one.py", cwd=tmp_path, env=env, check=3)
    assert "built 0 of 1 extension(s)" in proc.stdout and "1 failed" in proc.stdout
    assert "one.py:twice(float64[::1]): build failed:" in proc.stderr
    log = re.search(r"full compiler log: (\S+)", proc.stderr).group(1)
    assert Path(log).exists()
    assert not (tmp_path / "__astjax__" / "one.json").exists()


# ----------------------------------------------------------------------------- show

def test_show_core_form_plain_and_coloured(built):
    where, _ = built
    proc = run("show", "demo_pkg/kernels.py:plain", cwd=where, check=0)
    assert proc.stdout.startswith("def plain(x):")
    assert "# kernels.py:27: return x * 2.0" in proc.stdout
    assert "\033[" not in proc.stdout                           # not a terminal: plain text
    coloured = run("show", "demo_pkg/kernels.py:plain", "--color", "always", cwd=where,
                   check=0).stdout
    assert "\033[" in coloured and re.sub(r"\033\[[0-9;]*m", "", coloured) == proc.stdout


def test_show_grad_with_argnums(tmp_path):
    (tmp_path / "loss.py").write_text(textwrap.dedent("""\
        import numpy as np

        def loss(w, x):
            return np.sum(np.tanh(x * w))
        """))
    proc = run("show", "loss.py:loss", "--transform", "grad", "--argnums", "1", cwd=tmp_path,
               check=0)
    assert "def grad_loss(w, x):" in proc.stdout and "w.r.t. x" in proc.stdout
    assert "# loss.py:4: return np.sum(np.tanh(x * w))" in proc.stdout
    both = run("show", "loss.py:loss", "-t", "grad", "--argnums", "0,1", cwd=tmp_path, check=0)
    assert "w.r.t. w, x" in both.stdout


def test_show_vmap_with_in_axes(tmp_path):
    (tmp_path / "v.py").write_text("import numpy as np\n\ndef f(x, w):\n"
                                   "    return np.dot(x, w)\n")
    proc = run("show", "v.py:f", "-t", "vmap", "--in-axes", "0,None", cwd=tmp_path, check=0)
    assert proc.stdout.startswith("def vmap_f(x, w):")
    assert "# v.py:4: return np.dot(x, w)" in proc.stdout
    bad = run("show", "v.py:f", "-t", "vmap", "--in-axes", "0,x", cwd=tmp_path, check=2)
    assert "expected integers or None" in bad.stderr


def test_show_vjp_needs_a_signature(tmp_path):
    (tmp_path / "f.py").write_text("import numpy as np\n\ndef f(x):\n    return np.sin(x)\n")
    proc = run("show", "f.py:f", "-t", "vjp", cwd=tmp_path, check=2)
    assert "--transform vjp needs example argument types" in proc.stderr
    proc = run("show", "f.py:f", "-t", "vjp", "-s", "float64[:]", cwd=tmp_path, check=0)
    assert "np.cos" in proc.stdout


def test_show_cython_stage(built):
    where, _ = built
    proc = run("show", "demo_pkg/kernels.py:total", "--stage", "cython", cwd=where, check=0)
    assert "def total(x, int64_t n):" in proc.stdout
    assert "# kernels.py:17: s += x[i] * x[i]" in proc.stdout
    other = run("show", "demo_pkg/kernels.py:selu", "-t", "jit", "-s", "float64[:, :]",
                cwd=where, check=0)
    assert "for (float64[:, :], float)" in other.stdout


def test_show_errors(built, tmp_path):
    where, _ = built
    cases = [
        (["show", "nowhere.py:f"], 2, "nowhere.py: no such file or directory"),
        (["show", "demo_pkg/kernels.py"], 2, "expected MODULE.py:FUNCTION"),
        (["show", "demo_pkg/kernels.py:nope"], 1,
         "no function 'nope' (functions defined there: not_declared, plain, selu, total)"),
        (["show", "demo_pkg/kernels.py:selu", "--stage", "cython", "-s", "float64[:"], 2,
         "bad signature 'float64[:'"),
        (["show", "demo_pkg/kernels.py:not_declared", "--stage", "cython"], 2,
         "pass --signature"),
        (["show", "demo_pkg/kernels.py:plain", "--transform", "nope"], 2, "invalid choice"),
        # a signature is checked even where it would not be used, and refused there
        (["show", "demo_pkg/kernels.py:plain", "-s", "float33[::1]"], 2,
         "unknown dtype 'float33' (did you mean 'float32' or 'float64'?)"),
        (["show", "demo_pkg/kernels.py:plain", "-t", "grad", "-s", "float64[::1]"], 2,
         "--signature picks the types jit compiles for"),
        (["annotate", "demo_pkg/kernels.py:selu", "-s",
          "(float64[::1], float, float, float)"], 2,
         "has 4 types but selu takes 2 parameters (x, lmbda)"),
    ]
    for args, status, says in cases:
        proc = run(*args, cwd=where, check=status)
        assert says in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_show_user_module_errors(tmp_path):
    (tmp_path / "syntax.py").write_text("def f(x):\n    return (x\n")
    proc = run("show", "syntax.py:f", cwd=tmp_path, check=1)
    assert re.search(r"syntax\.py:2: syntax error", proc.stderr)
    (tmp_path / "raises.py").write_text("import numpy as np\nBAD = np.zeros(2) @ np.zeros(3)\n"
                                        "def f(x):\n    return x\n")
    proc = run("show", "raises.py:f", cwd=tmp_path, check=1)
    assert "raises.py:2: importing raises.py failed: ValueError" in proc.stderr
    (tmp_path / "unsupported.py").write_text("def f(x):\n    yield x\n")
    proc = run("show", "unsupported.py:f", "-t", "grad", cwd=tmp_path, check=1)
    assert "unsupported.py:2" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- annotate

def test_annotate_writes_a_page(built, tmp_path):
    where, _ = built
    out = tmp_path / "total.html"
    proc = run("annotate", "demo_pkg/kernels.py:total", "-o", str(out), cwd=where, check=0)
    assert f"wrote {out}" in proc.stdout
    assert "(3 line(s): 3 in C (0 fused loops), 0 NumPy calls, 0 Python fallbacks)" \
        in proc.stdout
    page = out.read_text()
    text = re.sub(r"<[^>]+>", "", page).replace("&quot;", '"')
    assert 's += x[i] * x[i]' in text                     # the user's line
    assert "mul3 = item1 * item2" in text                  # beside its generated code
    assert page.count('<tr class="c">') == 3               # rows classified by jit's notes
    default = run("annotate", "demo_pkg/kernels.py:selu", cwd=where, check=0)
    assert (where / "kernels.selu.html").exists() and "kernels.selu.html" in default.stdout


def test_annotate_refuses_grad_of_an_array_function_once(built, tmp_path):
    where, _ = built
    out = tmp_path / "never.html"
    proc = run("annotate", "demo_pkg/kernels.py:plain", "-t", "grad", "-s", "float64[::1]",
               "-o", str(out), cwd=where, check=1)
    assert proc.stderr.count("grad requires a scalar output") == 1, proc.stderr
    assert proc.stderr.startswith("astjax: error: grad(plain) at (float64[::1]): ")
    assert not out.exists() and "Traceback" not in proc.stderr
    # the same function at a scalar signature has a scalar result: a page, exit 0
    run("annotate", "demo_pkg/kernels.py:plain", "-t", "grad", "-s", "float64",
        "-o", str(out), cwd=where, check=0)
    assert out.exists()


def test_annotate_missing_file(tmp_path):
    proc = run("annotate", "gone.py:f", cwd=tmp_path, check=2)
    assert "gone.py: no such file or directory" in proc.stderr


# ----------------------------------------------------------------------------- cache, help

def test_cache_info_list_clear(tmp_path):
    env = os.environ.copy()
    env["ASTJAX_CACHE_DIR"] = str(tmp_path / "cache")
    entry = tmp_path / "cache" / "_aj_fake_0123"
    entry.mkdir(parents=True)
    (entry / "meta.json").write_text(json.dumps({
        "kind": "function", "name_hint": "fake", "signature": "(float64[::1])",
        "built_at": 1.7e9, "build_seconds": 0.5}))
    (entry / "x.so").write_bytes(b"\0" * 2048)
    info = run("cache", "info", cwd=tmp_path, env=env, check=0).stdout
    assert f"path:        {tmp_path / 'cache'}" in info and "entries:     1 (2.1 KiB)" in info
    listing = run("cache", "list", cwd=tmp_path, env=env, check=0).stdout
    assert "fake (float64[::1])" in listing and "ok" in listing
    as_json = json.loads(run("cache", "list", "--json", cwd=tmp_path, env=env, check=0).stdout)
    assert as_json[0]["module"] == "_aj_fake_0123"
    cleared = run("cache", "clear", cwd=tmp_path, env=env, check=0).stdout
    assert "removed 1 entries" in cleared and not entry.exists()
    assert "is empty" in run("cache", "list", cwd=tmp_path, env=env, check=0).stdout


def test_cache_help_states_the_lookup_order(tmp_path):
    text = " ".join(run("cache", "--help", cwd=tmp_path, check=0).stdout.split())
    order = [text.find(s) for s in ("$ASTJAX_CACHE_DIR", "$XDG_CACHE_HOME/astjax",
                                    "~/.cache/astjax")]
    assert -1 not in order and order == sorted(order), text


def test_cache_list_into_a_closed_pipe_exits_quietly(tmp_path):
    env = os.environ.copy()
    env["ASTJAX_CACHE_DIR"] = str(tmp_path / "cache")
    for i in range(400):                       # far more than a pipe buffer of JSON
        entry = tmp_path / "cache" / f"_aj_fake_{i:04d}"
        entry.mkdir(parents=True)
        (entry / "meta.json").write_text(json.dumps({
            "kind": "function", "name_hint": f"fake{i}", "signature": "(float64[::1])" * 8,
            "built_at": 1.7e9 + i, "build_seconds": 0.5}))
    command = f"{shlex.quote(sys.executable)} -m astjax cache list --json | head -1"
    proc = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout == "[\n"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_help_on_every_command(tmp_path):
    top = run("--help", cwd=tmp_path, check=0).stdout
    for command in ("show", "build", "annotate", "cache"):
        assert command in top
        sub = run(command, "--help", cwd=tmp_path, check=0).stdout
        assert sub.startswith(f"usage: astjax {command}")
    assert run("--version", cwd=tmp_path, check=0).stdout.startswith("astjax ")
    assert "invalid choice: 'bogus'" in run("bogus", cwd=tmp_path, check=2).stderr
    assert "required" in run(cwd=tmp_path, check=2).stderr


def test_console_script_resolves_to_the_cli():
    # The `astjax` command pip installs is setup.py's entry point: it must import and be
    # the same main that `python -m astjax` runs (the layout move once left it dangling).
    import importlib
    import re

    setup = (ROOT / "setup.py").read_text()
    (target,) = re.findall(r'"astjax=([\w.]+:\w+)"', setup)
    module_name, func_name = target.split(":")
    entry = getattr(importlib.import_module(module_name), func_name)
    from astjax.aot.cli import main
    assert entry is main

