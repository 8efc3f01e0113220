"""The package layout: one folder per pipeline stage, and no import circles between modules.

Every `import` in astjax/ and codegen/ (at module level or inside a function) is an edge from
the importing module to the project module it names; a circle among them fails the test with
the modules on it.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("astjax", "codegen")


def project_modules():
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _absolute(module, node, is_package):
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph():
    modules = project_modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, node, path.name == "__init__.py")
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                         for alias in node.names]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                name = node.args[0].value      # importlib.import_module("astjax.compiler")
                names = [module + name if name.startswith(".") else name]
            else:
                continue
            targets.update(name for name in names if name in modules and name != module)
        graph[module] = targets
    return graph


def circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_circle_detection_finds_a_planted_circle():
    graph = import_graph()
    graph["astjax.frontend.syntax"] = graph["astjax.frontend.syntax"] | {"astjax.compiler"}
    assert any("astjax.compiler" in c and "astjax.frontend.syntax" in c for c in circles(graph))


def test_one_folder_per_stage():
    stages = {"frontend", "core", "rules", "autodiff", "batching", "aot", "parallel"}
    assert stages <= {p.name for p in (ROOT / "astjax").iterdir() if (p / "__init__.py").exists()}
    top = {p.stem for p in (ROOT / "astjax").glob("*.py")}
    # lax: the collectives' public namespace, as jax.lax
    assert top == {"__init__", "__main__", "api", "compiler", "errors", "lax", "version"}
    for stage in stages:
        doc = ast.get_docstring(ast.parse((ROOT / "astjax" / stage / "__init__.py").read_text()))
        assert doc and "Before" in doc and "After" in doc, f"astjax/{stage}/__init__.py docstring"
