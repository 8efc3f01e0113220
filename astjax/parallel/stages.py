"""Cutting a pmapped function at its collectives into stages, source to source.

Every shard runs stage 0 on its worker; the client gathers the operands of the first
collectives, reduces them (``astjax.lax.reduce_shards``) and passes the result to stage 1 on
every worker, and so on.  Locals that live across a cut stay on the worker (stage k returns
them, the worker keeps them for stage k+1: driver.run_stage); ``axis_index`` is the shard's
index, passed to every stage.

Before (``pmap(step, axis_name="i")``)::

    def step(w, x):
        g = grad(loss)(w, x)
        g = lax.pmean(g, "i")
        return w - 0.1 * g

After (one cut, carrying ``w``)::

    def step__stage0(__astjax_index, w, x):
        g = grad(loss)(w, x)
        __astjax_o0 = g
        __astjax_l = locals()
        return ({n: __astjax_l[n] for n in ('w',) if n in __astjax_l}, (__astjax_o0,))

    def step__stage1(__astjax_index, __astjax_env, __astjax_in):
        if 'w' in __astjax_env:
            w = __astjax_env['w']
        __astjax_r0 = __astjax_in[0]
        g = __astjax_r0
        return w - 0.1 * g

Collectives may appear in the top-level statements of the mapped function, nested in
expressions (``lax.psum(x - lax.pmean(x, "i"), "i")`` makes two cuts), not inside its
``if``/``for``/``while``/``with``/``try`` blocks, lambdas, comprehensions, conditional
expressions or ``and``/``or``, and not before a ``return`` that is not the last one: those are
an ``AstjaxError`` naming file:line (``axis_index``, which needs no communication, may be
anywhere in the function).  Collectives in functions the mapped function calls are not
seen here and raise when they run.
"""
import ast
import builtins
import inspect
import linecache
import textwrap

from astjax.errors import AstjaxError

INDEX, ENV, INPUTS, LOCALS = "__astjax_index", "__astjax_env", "__astjax_in", "__astjax_l"
_COMPOUND = {ast.If: "an 'if' block", ast.For: "a 'for' loop", ast.While: "a 'while' loop",
             ast.With: "a 'with' block", ast.Try: "a 'try' block",
             ast.FunctionDef: "a nested function", ast.ClassDef: "a class",
             ast.AsyncFunctionDef: "a nested function", ast.AsyncFor: "a 'for' loop",
             ast.AsyncWith: "a 'with' block"}
_NESTED_EXPR = {ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
                ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
                ast.GeneratorExp: "a comprehension", ast.IfExp: "a conditional expression",
                ast.BoolOp: "'and'/'or'"}
if hasattr(ast, "TryStar"):
    _COMPOUND[ast.TryStar] = "a 'try' block"
if hasattr(ast, "Match"):
    _COMPOUND[ast.Match] = "a 'match' block"


class Staged:
    """The stages of one mapped function: ``stages[0](index, *args)`` returns
    ``(carried, operands)`` (or the result when there is one stage), ``stages[k](index,
    carried, reduced)`` likewise; ``cuts[k]`` lists the collective kinds whose operands stage
    k returns."""

    def __init__(self, name, stages, cuts, source, files):
        self.name = name
        self.stages = stages
        self.cuts = cuts
        self.source = source
        self.files = files           # filename -> lines, shipped to workers for linecache
        self.artifacts = {}          # jit cache entries shipped to workers (ship.py)


def whole(fn):
    """One stage that calls ``fn`` (no source to cut: a jit function, a builtin...)."""
    def stage0(index, *args):
        return fn(*args)
    name = getattr(fn, "__name__", "f")
    inner = getattr(fn, "__astjax_function__", fn)
    files = _files(inner, _namespace(inner)) if inspect.isfunction(inner) else {}
    return Staged(name, [stage0], [], f"# {name}: called whole on each worker\n", files)


def cut(fn, axis_name):
    """The Staged form of ``fn`` for ``pmap(fn, axis_name=axis_name)``."""
    try:
        lines, start = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
    except (OSError, TypeError):
        return whole(fn)
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:                            # a lambda inside a larger expression
        return whole(fn)
    fdef = tree.body[0] if tree.body else None
    if not isinstance(fdef, ast.FunctionDef):
        fdef = _lambda_def(tree, fn)
        if fdef is None:
            return whole(fn)
        tree.body = [fdef]
    ast.increment_lineno(tree, start - 1)
    fdef.decorator_list = []
    env = _namespace(fn)
    finder = _Collectives(env, axis_name, filename)
    stages, cuts = [[]], []
    for stmt in fdef.body:
        if _staleness_guard(stmt):
            continue            # grad(f) made by astjax: the shipped stages are what runs
        found = finder.statement(stmt)
        if not found:
            stages[-1].append(stmt)
            continue
        for level in range(1, max(c.level for c in found) + 1):
            here = [c for c in found if c.level == level]
            for c in here:
                stages[-1].append(_at(ast.Assign(targets=[_store(f"__astjax_o{c.k}")],
                                                 value=c.operand), stmt))
            cuts.append([c.kind for c in here])
            stages.append([])
            for i, c in enumerate(here):
                stages[-1].append(_at(ast.Assign(
                    targets=[_store(f"__astjax_r{c.k}")],
                    value=ast.Subscript(value=_load(INPUTS), slice=ast.Constant(i),
                                        ctx=ast.Load())), stmt))
        stages[-1].append(stmt)
    for body in stages[:-1]:
        for stmt in body:
            for node in _walk_own(stmt):
                if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
                    raise AstjaxError(
                        f"{filename}:{node.lineno}: pmap: a '{type(node).__name__.lower()}' "
                        f"before the last collective of {fdef.name} (a pmapped function "
                        f"returns after its last collective)")
    module = ast.Module(body=_stage_defs(fdef, stages, cuts), type_ignores=[])
    ast.fix_missing_locations(module)
    code = compile(module, filename, "exec")
    exec(code, env)
    funcs = [env[f"{fdef.name}__stage{k}"] for k in range(len(stages))]
    files = _files(fn, env)
    return Staged(fdef.name, funcs, cuts, ast.unparse(module), files)


def _staleness_guard(stmt):
    """``if _captures.stale(): return _captures.rederive(...)``, which opens a function astjax
    generated (``pmap(grad(f))``): a return before the collectives, not a stage."""
    test = getattr(stmt, "test", None) if isinstance(stmt, ast.If) else None
    return (isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute)
            and test.func.attr == "stale" and isinstance(test.func.value, ast.Name)
            and test.func.value.id == "_captures")


def _lambda_def(tree, fn):
    """``lambda v: e`` (the one lambda on its lines with fn's parameters) as a def."""
    code = getattr(fn, "__code__", None)
    if code is None or fn.__name__ != "<lambda>":
        return None
    want = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
             and [a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs] == want]
    if len(found) != 1:
        return None
    lam = found[0]
    return ast.copy_location(ast.FunctionDef(
        name="lambda_", args=lam.args, body=[ast.copy_location(ast.Return(value=lam.body), lam)],
        decorator_list=[], returns=None, type_comment=None), lam)


# ---- finding collectives -----------------------------------------------------------------

class _Found:
    def __init__(self, k, kind, operand, level):
        self.k, self.kind, self.operand, self.level = k, kind, operand, level


class _Collectives:
    """Rewrites the collectives of one top-level statement into ``__astjax_r<k>`` names."""

    def __init__(self, env, axis_name, filename):
        self.env = env
        self.axis_name = axis_name
        self.filename = filename
        self.count = 0

    def kind_of(self, call):
        value = _static(call.func, self.env)
        return getattr(value, "__astjax_collective__", None)

    def fail(self, node, text):
        line = linecache.getline(self.filename, node.lineno).strip()
        raise AstjaxError(f"{self.filename}:{node.lineno}: pmap: {text}\n    {line}")

    def statement(self, stmt):
        """The collectives of one top-level statement, each replaced by the name of its
        result; ``axis_index`` (this shard's index, no communication) may be anywhere."""
        for t, what in _COMPOUND.items():
            if isinstance(stmt, t):
                for node in ast.walk(stmt):
                    kind = self.kind_of(node) if isinstance(node, ast.Call) else None
                    if kind not in (None, "axis_index"):
                        self.fail(node, f"lax.{kind} inside {what}: collectives may appear "
                                        f"only in the top-level statements of the pmapped "
                                        f"function")
        found = []
        self.check_nested(stmt)
        rewriter = self

        class Rewrite(ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                kind = rewriter.kind_of(node)
                if kind is None:
                    return node
                return rewriter.replace(node, kind, found)
        Rewrite().visit(stmt)
        return found

    def check_nested(self, stmt):
        def visit(node, inside):
            if isinstance(node, ast.Call) and inside and \
                    self.kind_of(node) not in (None, "axis_index"):
                self.fail(node, f"lax.{self.kind_of(node)} inside {inside}: collectives may "
                                f"appear only in the top-level statements of the pmapped "
                                f"function, outside lambdas, comprehensions, conditional "
                                f"expressions and 'and'/'or'")
            here = next((w for t, w in _NESTED_EXPR.items() if isinstance(node, t)), inside)
            for child in ast.iter_child_nodes(node):
                visit(child, here)
        visit(stmt, None)

    def replace(self, node, kind, found):
        params = ("axis_name",) if kind == "axis_index" else ("x", "axis_name")
        bound = dict(zip(params, node.args))
        for kw in node.keywords:
            bound[kw.arg] = kw.value
        if len(node.args) > len(params) or set(bound) != set(params):
            self.fail(node, f"lax.{kind} takes ({', '.join(params)})")
        name_node = bound["axis_name"]
        axis_name = name_node.value if isinstance(name_node, ast.Constant) else \
            _static(name_node, self.env)
        if axis_name != self.axis_name:
            self.fail(node, f"lax.{kind}: axis name {axis_name!r} is not bound by this pmap "
                            f"(axis_name={self.axis_name!r})")
        if kind == "axis_index":
            return ast.copy_location(_load(INDEX), node)
        levels = [f.level for f in found if _mentions(bound["x"], f"__astjax_r{f.k}")]
        k = self.count
        self.count += 1
        found.append(_Found(k, kind, bound["x"], 1 + max(levels, default=0)))
        return ast.copy_location(_load(f"__astjax_r{k}"), node)


def _static(node, env):
    """The value of a global name or attribute chain (``lax.psum``), else None."""
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        return getattr(builtins, node.id, None)
    if isinstance(node, ast.Attribute):
        base = _static(node.value, env)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def _mentions(node, name):
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _walk_own(node):
    """ast.walk without entering nested functions, lambdas and classes."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                  ast.ClassDef)):
                todo.append(c)


# ---- writing the stages ------------------------------------------------------------------

def _stage_defs(fdef, stages, cuts):
    params = _param_names(fdef.args)
    bound = set(params)
    defs = []
    carried_in = ()
    for k, body in enumerate(stages):
        bound |= _stores(body)
        later = set().union(*(_loads(b) for b in stages[k + 1:])) if k + 1 < len(stages) \
            else set()
        carried = tuple(sorted(n for n in bound & later if not n.startswith("__astjax_l")))
        head = []
        for n in carried_in:
            head.append(ast.If(test=ast.Compare(left=ast.Constant(n), ops=[ast.In()],
                                                comparators=[_load(ENV)]),
                               body=[ast.Assign(targets=[_store(n)], value=ast.Subscript(
                                   value=_load(ENV), slice=ast.Constant(n), ctx=ast.Load()))],
                               orelse=[]))
        tail = []
        if k + 1 < len(stages):
            picked = ast.parse(
                f"{LOCALS} = locals()\n"
                f"return ({{n: {LOCALS}[n] for n in {carried!r} if n in {LOCALS}}}, "
                f"({''.join(f'__astjax_o{_operand_no(s)}, ' for s in _operands(body))}))"
            ).body
            tail = picked
        if k == 0:
            args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=INDEX)], kwonlyargs=[],
                                 kw_defaults=[], defaults=[])
            orig = fdef.args
            args.posonlyargs = list(orig.posonlyargs)
            args.args = [ast.arg(arg=INDEX)] + list(orig.args) if not orig.posonlyargs else \
                list(orig.args)
            if orig.posonlyargs:
                args.posonlyargs = [ast.arg(arg=INDEX)] + list(orig.posonlyargs)
            args.vararg, args.kwonlyargs = orig.vararg, list(orig.kwonlyargs)
            args.kw_defaults, args.kwarg = list(orig.kw_defaults), orig.kwarg
            args.defaults = list(orig.defaults)
        else:
            args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=INDEX), ast.arg(arg=ENV),
                                                       ast.arg(arg=INPUTS)],
                                 kwonlyargs=[], kw_defaults=[], defaults=[])
        body_out = head + list(body) + tail
        first = body[0] if body else fdef
        for s in head + tail:
            ast.copy_location(s, first)
            for n in ast.walk(s):
                ast.copy_location(n, first)
        defs.append(ast.copy_location(ast.FunctionDef(
            name=f"{fdef.name}__stage{k}", args=args, body=body_out or [ast.Pass()],
            decorator_list=[], returns=None, type_comment=None), fdef))
        carried_in = carried
    return defs


def _operands(body):
    return [s for s in body if isinstance(s, ast.Assign) and len(s.targets) == 1
            and isinstance(s.targets[0], ast.Name) and s.targets[0].id.startswith("__astjax_o")]


def _operand_no(stmt):
    return int(stmt.targets[0].id[len("__astjax_o"):])


def _param_names(args):
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


def _stores(body):
    out = set()
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                out.add(n.id)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                out |= {(a.asname or a.name).split(".")[0] for a in n.names}
            elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                out.add(n.name)
    return out


def _loads(body):
    return {n.id for stmt in body for n in ast.walk(stmt)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _namespace(fn):
    """The globals the stages run in: the function's globals and closure cells."""
    env = dict(getattr(fn, "__globals__", {}))
    try:
        env.update(inspect.getclosurevars(fn).nonlocals)
    except (TypeError, ValueError):
        pass
    return env


def _files(fn, env, depth=2):
    """Source lines of the files of ``fn`` and of the functions it refers to, so that a
    worker on another machine can transform them (grad inside pmap reads their source)."""
    files, seen = {}, set()

    def visit(f, d):
        code = getattr(f, "__code__", None)
        if code is None or id(f) in seen:
            return
        seen.add(id(f))
        name = code.co_filename
        if name not in files and not name.startswith("<"):
            lines = linecache.getlines(name)
            if lines:
                files[name] = lines
        if d:
            for v in getattr(f, "__globals__", {}).values() if f is not fn else env.values():
                if inspect.isfunction(v) and v.__module__ == getattr(fn, "__module__", None):
                    visit(v, d - 1)
    visit(fn, depth)
    return files


def _at(stmt, where):
    return ast.copy_location(stmt, where)


def _store(n):
    return ast.Name(id=n, ctx=ast.Store())


def _load(n):
    return ast.Name(id=n, ctx=ast.Load())
