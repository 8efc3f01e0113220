"""Front end: from a live Python function to its gast tree and the values of its free names.

    parse_function(fn) -> ParsedFunction

Reads the source of functions defined in modules, nested functions (closures), plain
functions of methods, lambdas alone on their line, and functions astjax generated itself
(their source is registered in ``linecache``).  Every node of the tree carries an ``origin``
(file, absolute line, that line's text) so later passes can write comments and errors that
point at the user's file.  Free names are resolved through the closure, the function's
globals and the builtins, in Python's own order.
"""
import builtins
import inspect
import linecache
import textwrap
import types
from dataclasses import dataclass, field

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

    @property
    def name(self):
        return self.node.name


_MISSING = object()


def parse_function(fn):
    """Parse ``fn`` and resolve its free names.  Raises SourceError when that is impossible."""
    fn = inspect.unwrap(fn)
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    if not isinstance(fn, types.FunctionType):
        raise UnsupportedError(f"astjax transforms Python functions, not {type(fn).__name__} "
                               f"objects like {fn!r}")
    code = fn.__code__
    filename = code.co_filename
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError) as exc:
        raise SourceError(f"cannot read the source of {fn.__qualname__} ({exc}); astjax needs "
                          f"functions defined in a file, not typed at an interactive prompt",
                          where=(filename, code.co_firstlineno)) from None
    source = textwrap.dedent("".join(lines))
    if fn.__name__ == "<lambda>":
        node = _lambda_node(source, fn, filename, start)
    else:
        module = _parse(source, filename, start)
        node = _find_def(module, fn.__name__)
        if node is None:
            raise SourceError(f"cannot find the definition of {fn.__name__} in its source",
                              where=(filename, start))
    node.decorator_list = []
    # Defaults are values, evaluated when the def ran (``axis=-1``, ``floor=-np.inf``, a loop
    # variable): the transforms take them from fn.__defaults__, so their expressions are not
    # names to resolve now.
    node.args.defaults = [gast.Constant(value=None, kind=None) for _ in node.args.defaults]
    _attach_origins(node, filename, start)
    env = {}
    closure = dict(zip(code.co_freevars, [_cell(c) for c in (fn.__closure__ or ())]))
    for name in free_names(node):
        value = closure.get(name, _MISSING)
        if value is _MISSING:
            value = fn.__globals__.get(name, _MISSING)
        if value is _MISSING:
            value = getattr(builtins, name, _MISSING)
        if value is _MISSING:
            use = next(n for n in gast.walk(node) if isinstance(n, gast.Name) and n.id == name)
            raise SourceError(f"name '{name}' is not defined", where=_where(use))
        env[name] = value
    return ParsedFunction(fn=fn, node=node, filename=filename, env=env)


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return _MISSING


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
