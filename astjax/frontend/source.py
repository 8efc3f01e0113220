"""Front end: from a live Python function to its gast tree and the values of its free names.

    parse_function(fn) -> ParsedFunction

Reads the source of functions defined in modules, nested functions (closures), plain
functions of methods, lambdas alone on their line, and functions astjax generated itself
(their source is registered in ``linecache``).  Every node of the tree carries an ``origin``
(file, absolute line, that line's text) so later passes can write comments and errors that
point at the user's file.  Free names are resolved through the closure, the function's
globals and the builtins, in Python's own order, and each remembers where it came from (a
``Capture``: the module dict, the cell), so generated code can read it when it runs.

Decorators: the function read is the object passed, never what ``__wrapped__`` points at.  A
``functools.wraps`` wrapper is a function like any other: its own source is read (the
function it wraps is one of its closure cells, a helper the transformation then follows).
Only a cache (``functools.lru_cache``/``functools.cache``), transparent for the pure
functions astjax transforms, is looked through; any other object is refused, naming the
decorated definition's file:line.
"""
import functools
import builtins
import inspect
import linecache
import textwrap
import types
from dataclasses import dataclass, field

from astjax.frontend.captures import Capture, _MISSING
from astjax.frontend.syntax import free_names, gast, parse
from astjax.errors import SourceError, UnsupportedError


@dataclass(frozen=True)
class Origin:
    filename: str
    lineno: int
    text: str

    @property
    def short(self):
        return f"{self.filename.rsplit('/', 1)[-1]}:{self.lineno}"


@dataclass
class ParsedFunction:
    fn: object                 # the live function
    node: object               # gast.FunctionDef, decorators stripped
    filename: str
    env: dict = field(default_factory=dict)   # free name -> value (globals, closure, builtins)
    captures: dict = field(default_factory=dict)   # free name -> Capture (where it lives)
    inherited: list = field(default_factory=list)  # guards of generated code read again
    nested: dict = field(default_factory=dict)     # name -> lifted nested function (core/nested.py)

    @property
    def name(self):
        return self.node.name


def parse_function(fn):
    """Parse ``fn`` and resolve its free names.  Raises SourceError when that is impossible."""
    lifted = getattr(fn, "__astjax_parsed__", None)
    if lifted is not None:           # a nested function, lifted from the tree around it
        return lifted()
    # a bound method (self.layer): its function, with the receiver bound to the first
    # parameter as a captured value whose attributes are read when it runs
    receiver = fn.__self__ if isinstance(fn, types.MethodType) and \
        isinstance(fn.__func__, types.FunctionType) else _MISSING
    fn = transformable(fn)
    code = fn.__code__
    filename = code.co_filename
    try:
        # the code object, not fn: inspect would follow a wrapper's __wrapped__ to the
        # function it wraps, and the wrapper is what runs
        lines, start = inspect.getsourcelines(code)
    except (OSError, TypeError) as exc:
        raise SourceError(f"cannot read the source of {fn.__qualname__} ({exc}); astjax needs "
                          f"functions defined in a file, not typed at an interactive prompt",
                          where=(filename, code.co_firstlineno)) from None
    source = textwrap.dedent("".join(lines))
    if fn.__name__ == "<lambda>":
        node = _lambda_node(source, fn, filename, start)
    else:
        module = _parse(source, filename, start)
        node = _find_def(module, code.co_name)     # functools.wraps renames __name__
        if node is None:
            raise SourceError(f"cannot find the definition of {code.co_name} in its source",
                              where=(filename, start))
    node.decorator_list = []
    # Defaults are values, evaluated when the def ran (``axis=-1``, ``floor=-np.inf``, a loop
    # variable): the transforms take them from fn.__defaults__, so their expressions are not
    # names to resolve now.
    node.args.defaults = [gast.Constant(value=None, kind=None) for _ in node.args.defaults]
    _attach_origins(node, filename, start)
    live, inherited = _strip_prologue(fn, node)
    env, captures = {}, {}
    bound = {}
    if receiver is not _MISSING:
        if not node.args.args:
            raise SourceError(f"{fn.__qualname__} is a method without a parameter for its "
                              f"object", where=(filename, start))
        first = node.args.args.pop(0)
        bound[first.id] = Capture("bound", receiver, first.id)
    cells = dict(zip(code.co_freevars, fn.__closure__ or ()))
    for name in free_names(node):
        if name in bound:
            capture = bound[name]
        elif name in live:           # generated code: read from the user's globals or cell
            capture = live[name]
        elif name in cells:
            capture = Capture("cell", cells[name], name)
        elif name in fn.__globals__:
            capture = Capture("global", fn.__globals__, name)
        else:
            capture = Capture("builtin", None, name)
        value = capture.read() if capture.live or capture.kind == "bound" else \
            getattr(builtins, name, _MISSING)
        if value is _MISSING:
            use = next(n for n in gast.walk(node) if isinstance(n, gast.Name) and n.id == name)
            raise SourceError(f"name '{name}' is not defined", where=_where(use))
        env[name] = value
        captures[name] = capture
    return ParsedFunction(fn=fn, node=node, filename=filename, env=env, captures=captures,
                          inherited=inherited)


def _strip_prologue(fn, node):
    """Generated functions begin with their reads of the user's globals and cells (and the
    entry with its guard); emit.py records them in ``__astjax_reads__``.  Transforming such a
    function again removes those statements: the names become captures of the user's
    globals again, and the guards carry over to the new code."""
    reads = getattr(fn, "__astjax_reads__", None)
    if reads is None:
        return {}, []
    count, live, captures = reads
    body = node.body
    doc = 1 if body and isinstance(body[0], gast.Expr) and isinstance(
        body[0].value, gast.Constant) and isinstance(body[0].value.value, str) else 0
    node.body = body[:doc] + body[doc + count:]
    return dict(live), list(captures.guards) if captures is not None else []


def transformable(fn):
    """The Python function behind ``fn`` that astjax reads: ``fn`` itself (a method's
    function; a cache's cached function), else an UnsupportedError naming the definition."""
    for _ in range(8):               # astjax's own objects (jit, vmap): what they transform
        inner = getattr(fn, "__astjax_function__", None)
        if inner is None or inner is fn:
            break
        fn = inner
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    while is_cache(fn):
        fn = fn.__wrapped__
    if isinstance(fn, types.FunctionType):
        return fn
    wrapped = getattr(fn, "__wrapped__", None)
    inner = wrapped
    while inner is not None and not isinstance(inner, types.FunctionType):
        inner = getattr(inner, "__wrapped__", None)
    if inner is not None:
        code = inner.__code__
        raise UnsupportedError(
            f"{inner.__qualname__} is decorated, and its decorator returned a "
            f"{type(fn).__name__} object, not a Python function: astjax transforms what the "
            f"decorator returned, whose source it cannot read; transform the undecorated "
            f"function, or make the decorator return a function (functools.wraps)",
            where=(code.co_filename, code.co_firstlineno))
    raise UnsupportedError(f"astjax transforms Python functions, not {type(fn).__name__} "
                           f"objects like {fn!r}")


def is_cache(fn):
    """functools.lru_cache / functools.cache wrappers: calling one means calling the function
    it caches (for the pure functions astjax transforms)."""
    return isinstance(fn, functools._lru_cache_wrapper) and \
        isinstance(getattr(fn, "__wrapped__", None), types.FunctionType)


def _parse(source, filename, start):
    try:
        return parse(source)
    except SyntaxError as exc:
        raise SourceError(f"syntax error: {exc.msg}",
                          where=(filename, start + (exc.lineno or 1) - 1)) from None


def _find_def(module, name):
    for node in gast.walk(module):
        if isinstance(node, gast.FunctionDef) and node.name == name:
            return node
    return None


def _lambda_node(source, fn, filename, start):
    text = source.strip()
    module = None
    # A lambda's source is its whole line; trim trailing text until it parses.
    for end in range(len(text), 0, -1):
        for candidate in (text[:end], "(" + text[:end] + ")", text[text.find("lambda"):end]):
            try:
                module = parse(candidate)
                break
            except SyntaxError:
                continue
        if module is not None:
            break
    if module is None:
        raise SourceError("cannot parse the source of this lambda", where=(filename, start))
    params = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    found = [n for n in gast.walk(module) if isinstance(n, gast.Lambda)
             and [a.id for a in n.args.args] == params]
    if len(found) != 1:
        raise UnsupportedError("cannot tell which lambda on this line to transform; give it "
                               "a line of its own or use def", where=(filename, start))
    lam = found[0]
    ret = gast.Return(value=lam.body)
    gast.copy_location(ret, lam.body)
    node = gast.FunctionDef(name="lambda_", args=lam.args, body=[ret], decorator_list=[],
                            returns=None, type_comment=None, type_params=[])
    gast.copy_location(node, lam)
    return node


def _attach_origins(node, filename, start):
    from astjax.core.emit import GENERATED_ORIGINS
    generated = GENERATED_ORIGINS.get(filename, {})    # astjax's own output: the user's line
    for sub in gast.walk(node):
        lineno = getattr(sub, "lineno", None)
        if lineno is not None:
            absolute = start + lineno - 1
            origin = generated.get(absolute)
            if origin is None:
                text = linecache.getline(filename, absolute).strip()
                origin = Origin(filename, absolute, text)
            sub.origin = origin


def _where(node):
    origin = getattr(node, "origin", None)
    return (origin.filename, origin.lineno) if origin else None
