"""The pieces under the astjax command, in process: signature strings, the static scan for
jit-decorated functions, importing by path, the highlighter, the annotate page."""
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

import astjax
from astjax.aot import annotate
from astjax.aot import cli
from astjax.frontend import discover
from astjax.aot import highlight
from astjax.aot import prebuilt
from astjax.aot.signatures import (SignatureError, declared_signatures, parse_signature,
                               signature_of_args, to_types)


# ----------------------------------------------------------------------------- signatures

@pytest.mark.parametrize("text, canonical", [
    ("float32[:, :]", "(float32[:, :])"),
    ("float64[:]", "(float64[:])"),
    ("float64[::1]", "(float64[::1])"),
    ("int64", "(int64)"),
    ("float", "(float)"),
    ("(float64[:], float64)", "(float64[:], float64)"),
    ("(float64[:],)", "(float64[:])"),
    ("( float32[ :, ::1 ] , int , bool )", "(float32[:, ::1], int, bool)"),
    ("()", "()"),
    ("complex64[:, :, ::1]", "(complex64[:, :, ::1])"),
])
def test_signature_strings(text, canonical):
    sig = parse_signature(text)
    assert sig.text == canonical
    assert parse_signature(sig.text) == sig          # the canonical spelling parses back


@pytest.mark.parametrize("text, says", [
    ("float33[:]", "unknown dtype 'float33' (did you mean 'float32' or 'float64'?)"),
    ("float64[1:]", "array dimension '1:'"),
    ("float64[::1, :]", "'::1' may mark only the last axis"),
    ("float[:]", "arrays need a NumPy dtype"),
    ("(float64[:],, int)", "an empty type between commas"),
    ("(float64[:]", "cannot read '(float64[:]' as a type"),
    ("float64[:,", "cannot read"),
    ("", "cannot read"),
])
def test_bad_signature_names_the_string(text, says):
    with pytest.raises(SignatureError) as info:
        parse_signature(text)
    assert f"bad signature {text!r}" in str(info.value)
    assert says in str(info.value)


def test_signature_is_a_value_error_too():
    with pytest.raises(ValueError):
        parse_signature(42)


def test_signature_of_arguments_matches_jit_types():
    from codegen.types import of_value, signature
    args = (np.zeros((3, 2), np.float32), 2.0, np.int64(3), np.zeros(6)[::2], True, 1j, 7)
    ours = signature_of_args(args)
    assert ours.text == signature([of_value(a) for a in args])
    assert ours.text == "(float32[:, ::1], float, int64, float64[:], bool, complex, int)"
    assert signature(to_types(ours)) == ours.text
    assert signature_of_args(("text",)) is None


def test_accepts_follows_numpy_2_scalar_rules():
    sig = parse_signature("(float32[:], float)")
    assert sig.accepts((np.zeros(4, np.float32)[::2], 1.5))
    assert sig.accepts((np.zeros(4, np.float32), 1.5))          # C-contiguous is fine for [:]
    assert not sig.accepts((np.zeros(4, np.float32), np.float64(1.5)))  # strong, not weak
    assert not sig.accepts((np.zeros(4), 1.5))                  # float64 array
    assert not parse_signature("float32[::1]").accepts((np.zeros(4, np.float32)[::2],))
    assert all(t.accepts(v) for t, v in zip(sig.args, sig.examples()))


def annotated(x: "float32[:, ::1]", alpha: "float" = 1.0, n=3):
    return x * alpha


def untyped(x, y):
    return x + y


def typing_annotations(x: np.ndarray, y: "np.ndarray"):
    return x + y


def half_annotated(x: "float64[:]", y):
    return x + y


def test_declared_signatures_from_decorator_and_annotations():
    assert [s.text for s in declared_signatures(annotated)] == ["(float32[:, ::1], float)"]
    assert [s.text for s in declared_signatures(untyped, ["(float64[:], float64[:])",
                                                          "(int64[:], int64[:])"])] == \
        ["(float64[:], float64[:])", "(int64[:], int64[:])"]
    assert [s.text for s in declared_signatures(annotated, "float64[:, :]")] == \
        ["(float64[:, :])"]                                     # the decorator wins
    assert declared_signatures(untyped) == []
    assert declared_signatures(typing_annotations) == []        # not signatures: ignored


@pytest.mark.parametrize("fn, sigs, says", [
    (half_annotated, None, "parameter 'y' has no type annotation while others do"),
    (untyped, ["float64[:]"], "does not cover y of untyped"),
    (untyped, ["(float64, float64, float64)"], "has 3 types but untyped takes 2"),
    (untyped, ["(float64, flaot64)"], "bad signature '(float64, flaot64)'"),
])
def test_declared_signature_errors(fn, sigs, says):
    with pytest.raises(SignatureError, match=".*") as info:
        declared_signatures(fn, sigs)
    assert says in str(info.value)


def test_bad_annotation_names_function_and_parameter():
    ns = {}
    exec("def f(x: 'float64[:]', y: 'flot32[:]'):\n    return x", ns)
    with pytest.raises(SignatureError) as info:
        declared_signatures(ns["f"])
    assert "f(y: 'flot32[:]')" in str(info.value)


# ----------------------------------------------------------------------------- prebuilt checks

def test_prebuilt_fits_strided_entries_and_keeps_scalars_exact():
    fits = lambda built, call: prebuilt._fits(parse_signature(built), parse_signature(call))
    assert fits("(float64[:], float)", "(float64[::1], float)")       # [:] takes contiguous
    assert not fits("(float64[::1], float)", "(float64[:], float)")   # not the other way
    assert not fits("(float64[:], float)", "(float64[:], float64)")   # weak != strong
    assert not fits("(float64[:])", "(float32[:])") and not fits("(float64[:])", "(float64[:, :])")
    assert not prebuilt._fits(None, parse_signature("(float64[:])"))


def test_prebuilt_environment_checks():
    here = prebuilt.environment()
    assert prebuilt._incompatibility(here) is None
    assert "another NumPy major version" in prebuilt._incompatibility(
        {**here, "numpy_major": "1"})
    native = prebuilt.environment("native")
    assert prebuilt._incompatibility(native) is None
    assert "another CPU (built with --march native)" in prebuilt._incompatibility(
        {**native, "cpu": "0123456789abcdef"})


def test_source_and_pyx_hashes_ignore_comments_and_lines(tmp_path):
    def function_in(name, text):
        (tmp_path / f"{name}.py").write_text(text)
        return discover.import_path(tmp_path / f"{name}.py").hashed

    base = function_in("h1", "def hashed(x, y=2.0):\n    return x * y\n")
    moved = function_in("h2", "\n\n# hi\ndef hashed(x, y=2.0):\n    # a comment\n"
                              "    return x * y  # and another\n")
    changed = function_in("h3", "def hashed(x, y=3.0):\n    return x * y\n")
    assert prebuilt.source_hash(base) == prebuilt.source_hash(moved) is not None
    assert prebuilt.source_hash(base) != prebuilt.source_hash(changed)
    assert prebuilt.pyx_hash("# a.py:3: x\ny = 1\n") == prebuilt.pyx_hash("# a.py:9: x\ny = 1")
    assert prebuilt.pyx_hash("y = 1") != prebuilt.pyx_hash("y = 2")


# ----------------------------------------------------------------------------- static scan

SCANNED = '''
import numpy as np
import astjax as aj
from astjax import jit as J
import astjax


@aj.jit(signatures=["float64[:]"], boundscheck=False)
def a(x):
    return x


@J
def b(x):
    return x


@astjax.jit
def c(x):
    return x


@astjax.grad
def not_jit(x):
    return x


SIGS = ["float64[:]"]


@J(signatures=SIGS)
def d(x):
    return x


def plain(x):
    return x


class K:
    @astjax.jit
    def method(self, x):
        return x
'''


def test_scan_finds_every_alias_without_running(tmp_path):
    path = tmp_path / "scanned.py"
    path.write_text(SCANNED + "\nraise RuntimeError('the scan must not run the module')\n")
    found = discover.find_jitted(path)
    assert [(f.name, f.lineno) for f in found] == [("a", 9), ("b", 14), ("c", 19), ("d", 32)]
    assert found[0].signatures == ["float64[:]"] and found[0].options == {"boundscheck": False}
    assert found[1].signatures is None
    assert found[3].signatures is ...            # not a literal: read from the live object


def test_scan_ignores_other_modules_named_jit(tmp_path):
    path = tmp_path / "other.py"
    path.write_text("from numba import jit\nimport numba as astjax_like\n\n@jit\ndef f(x):\n"
                    "    return x\n\n@astjax_like.jit\ndef g(x):\n    return x\n")
    assert discover.find_jitted(path) == []


def test_scan_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import astjax\n\n@astjax.jit\ndef f(x):\n    return x +\n")
    with pytest.raises(discover.ImportProblem) as info:
        discover.find_jitted(path)
    assert f"{path}:5: syntax error" in str(info.value)


def test_python_files_skip_generated_and_hidden_dirs(tmp_path):
    for rel in ["pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "pkg/__astjax__/x.py",
                "pkg/.hidden/y.py", "pkg/__pycache__/z.py", "top.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    files = discover.python_files([tmp_path / "pkg", tmp_path / "top.py"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == \
        ["pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "top.py"]


def test_import_path_imports_package_members_with_relative_imports(tmp_path):
    pkg = tmp_path / "clipkg_rel"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "consts.py").write_text("SCALE = 3.0\n")
    (pkg / "mod.py").write_text("from .consts import SCALE\n\ndef f(x):\n    return SCALE * x\n")
    module = discover.import_path(pkg / "mod.py")
    assert module.__name__ == "clipkg_rel.mod" and module.f(2.0) == 6.0
    assert discover.module_identity(pkg / "mod.py") == (tmp_path.resolve(), "clipkg_rel.mod")


def test_import_path_error_names_user_line(tmp_path):
    path = tmp_path / "raises_at_import.py"
    path.write_text("import numpy as np\n\nVALUE = 1 / 0\n")
    with pytest.raises(discover.ImportProblem) as info:
        discover.import_path(path)
    assert f"{path}:3: importing {path} failed: ZeroDivisionError" in str(info.value)


# ----------------------------------------------------------------------------- show helpers

def test_missing_transform_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(astjax, "vmap", raising=False)
    with pytest.raises(cli.CliError) as info:
        cli.transformed(untyped, "vmap")
    assert "the 'vmap' transformation is not available" in str(info.value)
    assert "grad" in str(info.value)                    # lists what is available


def test_highlighter_colours_tokens_and_never_fails():
    text = 'def f(x):\n    # note\n    cdef double y = 1.5\n    return "s"\n'
    coloured = highlight.ansi(text)
    assert "\033[" in coloured
    assert _strip_ansi(coloured) == text
    page = highlight.html("a < b  # <b>\n")
    assert "&lt;" in page and '<span class="c"># &lt;b&gt;</span>' in page
    broken = 'x = "unterminated\n'
    assert _strip_ansi(highlight.ansi(broken)) == broken


def _strip_ansi(text):
    import re
    return re.sub(r"\033\[[0-9;]*m", "", text)


# ----------------------------------------------------------------------------- annotate

def test_annotate_ties_user_lines_to_generated_blocks(tmp_path):
    user = tmp_path / "ann_user.py"
    user.write_text(textwrap.dedent("""\
        import numpy as np

        def f(x):
            y = x * 2.0
            return y
        """))
    module = discover.import_path(user)
    pyx = textwrap.dedent("""\
        import numpy as np

        def f(double[::1] x):
            # ann_user.py:4: y = x * 2.0
            cdef Py_ssize_t i
            out = np.empty(x.shape[0])
            cdef double[::1] o = out
            for i in range(x.shape[0]):
                o[i] = x[i] * 2.0
            # ann_user.py:5: return y
            return out
        """)
    from astjax.frontend.source import Origin
    notes = [SimpleNamespace(origin=Origin(str(user), 4, "y = x * 2.0"), status="fused",
                             detail=""),
             SimpleNamespace(origin=Origin(str(user), 5, "return y"), status="Python",
                             detail="a reason given by jit")]
    page = annotate.page(module.f, pyx, notes=notes,
                         directives={"boundscheck": False, "wraparound": False})
    lines = {b.user_line: [t.strip() for _, t, _ in b.lines] for b in page.blocks}
    assert lines[4][-1] == "o[i] = x[i] * 2.0" and lines[5] == ["return out"]
    assert page.scores, "Cython scored the lines"
    assert page.scores[9] == 0                        # the typed loop body is pure C
    assert page.scores[6] > 0                         # np.empty goes through Python
    assert page.statuses == {4: ("fused", []), 5: ("Python", ["a reason given by jit"])}
    assert page.summary == ("2 line(s): 1 in C (1 fused loops), 0 NumPy calls, "
                            "1 Python fallbacks")
    assert "Python (fallback): a reason given by jit" in _text_of(page.html)
    text = _text_of(page.html)
    assert "y = x * 2.0" in text and "o[i] = x[i] * 2.0" in text


def _text_of(page_html):
    import html
    import re
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))
