"""The core form: what normalize.py produces and every transform consumes, and the small
queries and builders over it that the transforms share.

See normalize.py's docstring for the grammar.  Here: the program containers
(``CoreFunction``, ``Program``), the rule-table key of an op (``prim_key``), its operands and
bound parameters (``operands``, ``bind``), statement walks (``walk_stmts``, ``assigned``),
rule-template instantiation (``instantiate``), fresh names (``Namer``) and origins
(``with_origin``, ``where_of``, ``text_of``).
"""
import copy
from dataclasses import dataclass, field

from astjax.rules import registry as primitives
from astjax.frontend.syntax import call, const, gast, parse_expr

BINOPS = {gast.Add: "add", gast.Sub: "sub", gast.Mult: "mul", gast.Div: "truediv",
          gast.FloorDiv: "floordiv", gast.Mod: "mod", gast.Pow: "pow", gast.MatMult: "matmul",
          gast.BitAnd: "and_", gast.BitOr: "or_", gast.BitXor: "xor"}


UNARYOPS = {gast.USub: "neg", gast.UAdd: "pos", gast.Not: "not_", gast.Invert: "invert"}


CMPOPS = {gast.Lt: "lt", gast.LtE: "le", gast.Gt: "gt", gast.GtE: "ge", gast.Eq: "eq",
          gast.NotEq: "ne"}


class Env(dict):
    """Captured name -> its value when the code was derived.  ``live`` names the captures
    generated code reads again at each call (name -> frontend.captures.Capture); the other
    values are bound into the generated namespace (defaults, attributes of objects)."""

    def __init__(self, *args, live=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.live = dict(live or {})

    def copy(self):
        return Env(self, live=self.live)


@dataclass
class CoreFunction:
    name: str                 # its name in generated code
    node: object              # gast.FunctionDef in core form
    fn: object                # the user's function
    filename: str
    env: dict = field(default_factory=Env)        # captured name -> value
    helpers: dict = field(default_factory=dict)   # called name -> CoreFunction name
    guards: list = field(default_factory=list)    # what the core form specialized on

    @property
    def params(self):
        return [a.id for a in self.node.args.args]


@dataclass
class Program:
    entry: str
    functions: dict           # name -> CoreFunction, entry first

    @property
    def main(self):
        return self.functions[self.entry]

    def captures(self, kinds=False, rederive=None):
        """The guards of every function of the program (frontend.captures.Captures).
        ``kinds``: also guard the type, dtype and rank of every value read at call time
        (for transforms whose code depends on them: vmap's ranks)."""
        from astjax.frontend.captures import Captures, Guard, kind_of
        out = Captures(rederive=rederive)
        for core in self.functions.values():
            for g in core.guards:
                out.add(g)
            if kinds:
                for key, capture in getattr(core.env, "live", {}).items():
                    out.add(Guard(capture, kind_of(core.env[key]), "kind"))
        return out


def prim_key(op, helpers=()):
    """The rule-table key of a core op ('np.exp', 'mul', 'getitem', 'helper', ...)."""
    if isinstance(op, gast.BinOp):
        return BINOPS[type(op.op)]
    if isinstance(op, gast.UnaryOp):
        return UNARYOPS[type(op.op)]
    if isinstance(op, gast.Compare):
        return CMPOPS.get(type(op.ops[0]), "is")
    if isinstance(op, gast.Subscript):
        return "getitem"
    if isinstance(op, gast.Tuple):
        return "tuple"
    if isinstance(op, gast.List):
        return "list"
    if isinstance(op, gast.Dict):
        return "dict"
    if isinstance(op, gast.Name):
        return "copy"
    if isinstance(op, (gast.Constant, gast.Attribute)):
        return "const"
    if isinstance(op, gast.Call):
        if isinstance(op.func, gast.Attribute) and op.func.attr == "pop" and not op.args \
                and isinstance(op.func.value, gast.Name) and op.func.value.id not in MODULE_NAMES:
            return "list.pop"
        path = dotted_path(op.func)
        if path in helpers:
            return "helper"
        return primitives.ALIASES.get(path, path)
    raise TypeError(f"not a core op: {op!r}")


def is_effect_call(op, helpers=()):
    """A bare call statement kept for its effect: anything but a known pure primitive
    (``print``, a logger, an unknown function); a pure NumPy call whose result nobody reads
    is dropped."""
    if not isinstance(op, gast.Call):
        return False
    key = prim_key(op, helpers)
    if key in ("list.pop", "helper"):
        return True
    return primitives.lookup(key) is None


def is_effect_stmt(s):
    """``print(...)``/``assert`` statements normalization kept for their effect (a bare call
    other than a list's append/pop)."""
    if isinstance(s, (gast.Assert, gast.Raise)):
        return True
    return isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and not (
        isinstance(s.value.func, gast.Attribute) and s.value.func.attr in ("append", "pop"))


def check_effect(s, touched, verb):
    """Refuse a kept bare call of unknown effect (``np.random.shuffle(x)``) that reads a
    value the transform follows (``touched(name)``): what it does to that value is unknown,
    so any derivative through it could be silently wrong."""
    if not getattr(s, "unknown_effect", False):
        return
    hit = sorted({n.id for n in gast.walk(s.value) if isinstance(n, gast.Name) and touched(n.id)})
    if hit:
        from astjax.errors import UnsupportedError
        path = dotted_path(s.value.func) or "this call"
        raise UnsupportedError(
            f"cannot {verb} through {path}(...): astjax has no rule for what it does to "
            f"'{hit[0]}' (a call kept only for its effect); if it writes into an array, give "
            f"it a rule with mutates= in the rule table, or compute a new array instead",
            where=where_of(s), construct=text_of(s))


def operands(op):
    """The atoms an op reads, in order (for calls: positional args, then keyword values)."""
    if isinstance(op, gast.BinOp):
        return [op.left, op.right]
    if isinstance(op, gast.UnaryOp):
        return [op.operand]
    if isinstance(op, gast.Compare):
        return [op.left, op.comparators[0]]
    if isinstance(op, gast.Subscript):
        return [op.value] + index_atoms(op.slice)
    if isinstance(op, (gast.Tuple, gast.List)):
        return list(op.elts)
    if isinstance(op, gast.Dict):
        return list(op.values)
    if isinstance(op, gast.Call):
        return list(op.args) + [k.value for k in op.keywords]
    return [op]


def index_atoms(index):
    if isinstance(index, gast.Tuple):
        return [a for e in index.elts for a in index_atoms(e)]
    if isinstance(index, gast.Slice):
        return [p for p in (index.lower, index.upper, index.step) if p is not None]
    return [index]


def bind(prim, op):
    """Map a primitive's parameter names to the atoms of a call (defaults as constants).
    A ``*param`` maps to the list of the remaining positional atoms."""
    if isinstance(op, gast.Call):
        args, kws = list(op.args), {k.arg: k.value for k in op.keywords}
    elif isinstance(op, gast.Subscript):
        args, kws = [op.value, op.slice], {}
    else:
        args, kws = operands(op), {}
    bound = {}
    params = list(prim.params)
    if prim.varargs:
        bound[params[0]] = args
        params, args = params[1:], []
        if prim.key in ("np.einsum",):
            bound["subscripts"] = op.args[0]
            bound[prim.params[0]] = list(op.args[1:])
            params = [p for p in params if p != "subscripts"]
    for p, a in zip(params, args):
        bound[p] = a
    for p in params[len(args):]:
        if p in kws:
            bound[p] = kws.pop(p)
        elif p in prim.defaults:
            bound[p] = const(prim.defaults[p])
        else:
            raise TypeError(f"missing argument '{p}' of {prim.key}")
    if len(args) > len(params) or kws:
        raise TypeError(f"unexpected arguments to {prim.key}")
    return bound


def dotted_path(node):
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute):
        head = dotted_path(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def is_atom(node):
    return isinstance(node, (gast.Name, gast.Constant)) or (
        isinstance(node, gast.Attribute) and dotted_path(node) is not None) or (
        isinstance(node, gast.Tuple) and all(isinstance(e, gast.Constant) for e in node.elts))


class Namer:
    """Fresh, readable temporary names that never clash with the user's."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.count = 0

    def __call__(self, hint):
        while True:
            self.count += 1
            candidate = f"{hint}{self.count}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate

    def exact(self, wanted):
        candidate, k = wanted, 1
        while candidate in self.taken:
            k += 1
            candidate = f"{wanted}{k}"
        self.taken.add(candidate)
        return candidate


MODULE_NAMES = ("np", "math", "_ax", "scipy")


def instantiate(template, subst):
    if template not in _TEMPLATES:
        _TEMPLATES[template] = parse_expr(template)
    expr = copy.deepcopy(_TEMPLATES[template])

    class Sub(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in subst and isinstance(node.ctx, gast.Load):
                return copy.deepcopy(subst[node.id])
            return node
    return Sub().visit(expr)


_TEMPLATES = {}


def as_expr(v):
    if isinstance(v, (gast.Slice, gast.Tuple)) and has_slice(v):
        return index_expr(v)
    return v


def has_slice(v):
    return any(isinstance(n, gast.Slice) for n in gast.walk(v))


def index_expr(index):
    """An index as a value: ``1:n`` -> ``slice(1, n, None)``, tuples element-wise."""
    if isinstance(index, gast.Slice):
        return call("slice", [copy.deepcopy(p) if p is not None else const(None)
                              for p in (index.lower, index.upper, index.step)])
    if isinstance(index, gast.Tuple):
        return gast.Tuple(elts=[index_expr(e) for e in index.elts], ctx=gast.Load())
    return copy.deepcopy(index)


def flat(values):
    for v in values:
        if isinstance(v, list):
            yield from v
        else:
            yield v


def names_read(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}


def assigned(s):
    if isinstance(s, gast.Assign):
        t = s.targets[0]
        if isinstance(t, gast.Name):
            return [t.id]
        if isinstance(t, gast.Tuple):
            return [e.id for e in t.elts if isinstance(e, gast.Name)]
    if isinstance(s, gast.For):
        return [s.target.id]
    return []


def walk_stmts(stmts):
    for s in stmts:
        yield s
        if isinstance(s, gast.If):
            yield from walk_stmts(s.body)
            yield from walk_stmts(s.orelse)
        elif isinstance(s, (gast.For, gast.While)):
            yield from walk_stmts(s.body)


def walk_exprs(s):
    """Expression nodes of one statement (not of nested statements)."""
    if isinstance(s, (gast.If, gast.While)):
        return gast.walk(s.test)
    if isinstance(s, gast.For):
        return gast.walk(s.iter)
    return gast.walk(s)


def is_append(s):
    v = s.value
    return isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute) and \
        v.func.attr == "append" and isinstance(v.func.value, gast.Name)


def with_origin(node, like):
    node.origin = getattr(like, "origin", None)
    return node


def where_of(node):
    origin = getattr(node, "origin", None)
    return (origin.filename, origin.lineno) if origin else None


def text_of(node):
    origin = getattr(node, "origin", None)
    return origin.text if origin else None
