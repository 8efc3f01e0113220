"""Find the jit-decorated functions of modules and packages without running them, and import
a module from its path.

    find_jitted("pkg/kernels.py") -> [Decorated("selu", line 12, signatures=["float32[:]"])]
    python_files(["pkg", "tools/one.py"]) -> every .py file under them
    import_path("pkg/kernels.py") -> the module, imported as pkg.kernels

The scan reads the module's syntax tree only: it follows ``import astjax``, ``import astjax
as aj`` and ``from astjax import jit as J`` and recognizes ``@astjax.jit``, ``@aj.jit(...)``,
``@J`` and ``@J(...)`` on module-level functions, with the decorator's ``signatures=`` when
it is a literal.  A syntax error is an ``ImportProblem`` naming file:line.
"""
import ast
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from astjax.errors import AstjaxError

SKIP_DIRS = {"__pycache__", "__astjax__", "build", "dist", "node_modules"}


class ImportProblem(AstjaxError):
    """The user's module cannot be read or imported (syntax error, exception at import)."""


@dataclass
class Decorated:
    """A module-level function carrying a jit decorator, found by reading the source."""
    path: Path
    name: str
    lineno: int
    signatures: list = None          # the decorator's literal signatures=, if any
    options: dict = field(default_factory=dict)   # other literal keyword arguments

    @property
    def where(self):
        return f"{self.path}:{self.lineno}"


def python_files(paths):
    """The .py files named by ``paths`` (files, or directories searched recursively)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*.py")):
                rel = f.relative_to(p).parts[:-1]
                if not any(part in SKIP_DIRS or part.startswith(".") for part in rel):
                    out.append(f)
        else:
            out.append(p)
    return out


def parse_file(path):
    """The ast of a user file; ImportProblem with file:line on a syntax error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        return ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        caret = f"\n    {line}\n    {' ' * max((exc.offset or 1) - 1, 0)}^" if line else ""
        raise ImportProblem(f"{path}:{exc.lineno}: syntax error: {exc.msg}{caret}") from None


def find_jitted(path):
    """The jit-decorated module-level functions of one file, in source order."""
    tree = parse_file(path)
    modules, names = _jit_aliases(tree)
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = deco.func if call else deco
            if _is_jit(target, modules, names):
                found.append(_decorated(Path(path), node, call))
                break
    return found


def _jit_aliases(tree):
    """Names bound to the astjax module, and names bound to astjax.jit, anywhere in the file."""
    modules, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "astjax":
                    modules.add(alias.asname or "astjax")
                elif alias.name.startswith("astjax.") and alias.asname is None:
                    modules.add("astjax")            # `import astjax.x` binds astjax
        elif isinstance(node, ast.ImportFrom) and node.module in ("astjax", "astjax.compiler") \
                and node.level == 0:
            for alias in node.names:
                if alias.name == "jit":
                    names.add(alias.asname or "jit")
    return modules, names


def _is_jit(node, modules, names):
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute) and node.attr == "jit":
        return isinstance(node.value, ast.Name) and node.value.id in modules
    return False


def _decorated(path, fdef, call):
    signatures, options = None, {}
    for kw in (call.keywords if call else []):
        if kw.arg is None:
            continue
        try:
            value = ast.literal_eval(kw.value)
        except ValueError:
            value = ...                      # not a literal: read from the live object later
        if kw.arg == "signatures":
            signatures = [value] if isinstance(value, str) else value
        else:
            options[kw.arg] = value
    return Decorated(path, fdef.name, fdef.lineno, signatures, options)


# ----------------------------------------------------------------------------- importing

def module_identity(path):
    """(sys.path root, dotted module name) of a file: its package chain of __init__.py."""
    path = Path(path).resolve()
    parts = [path.stem] if path.name != "__init__.py" else []
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def import_path(path):
    """Import the module at ``path`` (as a package member when it is inside one, so relative
    imports work).  An exception while importing is an ImportProblem showing the traceback."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    parse_file(path)                          # syntax errors, with file:line, before running it
    root, dotted = module_identity(path)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        if "." in dotted or dotted in sys.modules:
            existing = sys.modules.get(dotted)
            if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() \
                    != path.resolve():
                return _import_file(path, dotted)
            return importlib.import_module(dotted)
        return _import_file(path, dotted)
    except ImportProblem:
        raise
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        user = [f for f in frames if _inside(f.filename, root)] or frames
        last = user[-1]                      # the user's line that raised, not ours
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise ImportProblem(f"{last.filename}:{last.lineno}: importing {path} failed: "
                            f"{detail}") from exc


def _inside(filename, root):
    """Whether ``filename`` is the user's: under ``root``, and not astjax's own source."""
    if filename.startswith("<"):
        return False
    f = Path(filename).resolve()
    return root in f.parents and Path(__file__).resolve().parent not in f.parents


def _import_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def resolve(module, qualname):
    """``module.<qualname>`` (dotted for class members), or None."""
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
