"""Batching rules: how one primitive runs on a whole batch, written as the NumPy it emits.

rules.py names a rule per primitive (``batch="reduce"``); a primitive without one is
elementwise.  A rule receives the primitive's operands, each an ``Arg`` (its atom in the
generated code and its fact: batched?, per-example rank), and returns the batched operation
(a gast expression, normalized into core statements by the caller) and its result's fact.
Batched values carry the batch axis first, so most rules only shift an axis::

    np.sum(x, axis=0)         ->  np.sum(x, axis=1)
    np.sum(x)                 ->  np.sum(x, axis=(1, 2))          (x: (B, n, m))
    np.dot(mat, v)            ->  np.dot(v, np.transpose(mat))    (v: (B, n), one GEMM)
    x + b                     ->  x + b                           (trailing axes line up)
    s * v                     ->  s[:, None] * v                  (s: (B,), v: (B, n))
    x[i]                      ->  x[:, i]
    x[i]  (i per lane)        ->  x[np.arange(B), i]

Rules are called only when some operand is batched; with ``b`` (the FunctionBatcher) they
emit helper statements: ``b.t(template, **atoms)`` builds an expression, ``b.atom`` emits one
and returns its name, ``b.recall(param=node)`` is the original call with operands replaced,
``b.lift(arg, rank)`` adds singleton axes after the batch axis, ``b.inline(template)`` batches
a per-example formula with these same rules, and ``b.cannot(reason)`` gives up (the caller
then loops over the batch for that one operation, with a warning).  Where a rank is unknown
(``None``), rules fall back on rank-polymorphic ``_ax`` helpers (runtime.py).
"""
import copy
import string

from ._syntax import call, const, gast, name, parse_expr
from .batching_values import DYN, SCALAR, Lst, Tup, Val, is_batched, is_none

RULES = {}
_NOCONST = object()


def rule(*names):
    def register(fn):
        for n in names:
            RULES[n] = fn
        return fn
    return register


# Until the rule table carries them: primitive -> rule name.
PENDING = {
    "not_": "logical_not",
    "np.argmax": "argreduce", "np.argmin": "argreduce",
    "np.any": "reduce", "np.all": "reduce", "np.sum": "reduce", "np.mean": "reduce",
    "np.prod": "reduce", "np.max": "reduce", "np.min": "reduce", "np.var": "reduce",
    "np.std": "reduce", "np.cumsum": "cumsum",
    "np.shape": "shape", "np.ndim": "ndim", "np.size": "size", "np.result_type": "meta",
    "len": "len", "int": "convert", "bool": "convert", "float": "convert",
    "range": "unbatched", "np.arange": "unbatched", "np.zeros": "unbatched",
    "np.ones": "unbatched", "np.empty": "unbatched", "np.eye": "unbatched",
    "np.linspace": "unbatched", "np.full": "full",
    "matmul": "matmul", "np.dot": "dot", "np.outer": "outer", "np.einsum": "einsum",
    "np.linalg.solve": "solve",
    "np.transpose": "transpose", "np.swapaxes": "axes", "np.moveaxis": "axes",
    "np.flip": "axes", "np.reshape": "reshape", "np.ravel": "ravel", "np.squeeze": "squeeze",
    "np.expand_dims": "expand_dims", "np.broadcast_to": "broadcast_to",
    "np.concatenate": "join", "np.stack": "join",
    "_ax.unbroadcast": "unbroadcast", "_ax.broadcast_like": "broadcast_like",
    "_ax.expand_reduced": "expand_reduced", "_ax.reshape_like": "reshape_like",
    "_ax.cast_like": "first", "_ax.reduced_count": "reduced_count",
    "_ax.transpose_axes": "unbatched", "_ax.copy_value": "first",
    "_ax.max_vjp": "reduce_vjp", "_ax.cumsum_vjp": "cumsum_vjp",
    "_ax.matmul_vjp_a": "matmul_vjp", "_ax.matmul_vjp_b": "matmul_vjp",
    "_ax.seed": "seed", "_ax.finalize": "finalize", "_ax.add_to": "add_to",
    "_ax.take_slot": "take_slot",
    "_ax.seq_pop": "containers", "_ax.seq_push": "containers", "_ax.seq_acc": "containers",
    "_ax.seq_item": "containers", "_ax.seq_add": "containers",
}


def rule_for(prim):
    spec = prim.batch if prim.batch is not None else PENDING.get(prim.key)
    if spec is None:
        spec = "loop" if prim.key.startswith("_ax.") else "elementwise"
    if callable(spec):
        return spec
    return RULES[spec]


def result_fact(b, prim, args):
    """The fact of the primitive's result when no operand is batched (ranks only)."""
    return rule_for(prim)(b, prim, args)[1]


# ---- template plumbing -------------------------------------------------------------------------

_TEMPLATES = {}


def instantiate(template, subs):
    if template not in _TEMPLATES:
        _TEMPLATES[template] = parse_expr(template)
    expr = copy.deepcopy(_TEMPLATES[template])
    nodes = {k: _as_node(v) for k, v in subs.items()}

    class Sub(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in nodes and isinstance(node.ctx, gast.Load):
                return copy.deepcopy(nodes[node.id])
            return node
    return Sub().visit(expr)


def _as_node(v):
    from .batching_control import Arg
    if isinstance(v, Arg):
        return v.node
    if isinstance(v, gast.AST):
        return v
    if isinstance(v, tuple) and all(isinstance(e, (int, float, type(None))) for e in v):
        return const(v) if v else gast.Tuple(elts=[], ctx=gast.Load())
    return const(v)


def recall(op, prim, repl):
    """``op`` (a core operator or call of ``prim``) with operands replaced by name."""
    op = copy.deepcopy(op)
    repl = {k: _as_node(v) if not isinstance(v, list) else [_as_node(x) for x in v]
            for k, v in repl.items()}
    params = list(prim.params)
    if isinstance(op, gast.BinOp):
        op.left = repl.get(params[0], op.left)
        op.right = repl.get(params[1], op.right)
        return op
    if isinstance(op, gast.UnaryOp):
        op.operand = repl.get(params[0], op.operand)
        return op
    if isinstance(op, gast.Compare):
        op.left = repl.get(params[0], op.left)
        op.comparators = [repl.get(params[1], op.comparators[0])]
        return op
    if not isinstance(op, gast.Call):
        raise TypeError(f"cannot re-call {op!r}")
    if prim.varargs:
        head = [op.args[0]] if prim.key == "np.einsum" else []
        if prim.key == "np.einsum" and "subscripts" in repl:
            head = [repl["subscripts"]]
        items = repl.get(params[0], op.args[len(head):])
        op.args = head + list(items)
        return op
    kws = {k.arg: k for k in op.keywords}
    for i, p in enumerate(params):
        if p not in repl:
            continue
        if i < len(op.args):
            op.args[i] = repl[p]
        elif p in kws:
            kws[p].value = repl[p]
        else:
            op.keywords.append(gast.keyword(arg=p, value=repl[p]))
    return op


def value_of(b, a):
    """The Python value of a constant operand (literal or captured), else _NOCONST."""
    node = a.node if hasattr(a, "node") else a
    if isinstance(node, gast.Constant):
        return node.value
    if isinstance(node, gast.Tuple):
        vals = [value_of(b, e) for e in node.elts]
        return _NOCONST if any(v is _NOCONST for v in vals) else tuple(vals)
    if isinstance(node, gast.Attribute):
        from .normalize import dotted_path
        if dotted_path(node) == "np.newaxis":
            return None
        return _NOCONST
    if isinstance(node, gast.Name) and getattr(b, "consts", None) is not None:
        v = b.constant(node)
        if v is not _CONTROL_NOVALUE():
            return v
    if isinstance(node, gast.Name) and node.id in b.core.env and node.id not in b.env:
        v = b.core.env[node.id]
        if isinstance(v, (int, float, bool, str, type(None))) or (
                isinstance(v, tuple) and all(isinstance(e, int) for e in v)):
            return v
    return _NOCONST


def _CONTROL_NOVALUE():
    from .batching_control import _NOVALUE
    return _NOVALUE


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _shift(axis):
    """A per-example axis (or tuple of axes) on the batched array."""
    if isinstance(axis, tuple):
        return tuple(_shift(a) for a in axis)
    return axis + 1 if axis >= 0 else axis


def _tuple_node(elts):
    return gast.Tuple(elts=list(elts), ctx=gast.Load())


def batch_axis(b, x, axis_arg):
    """The node for a reduction/flip axis on the batched ``x`` (None: every lane axis)."""
    ax = value_of(b, axis_arg) if axis_arg is not None else None
    if ax is None:
        if x.rank is not None:
            return const(tuple(range(1, x.rank + 1)))
        return b.atom(b.t("_ax.lane_axes(x)", x=x), "axes")
    if _is_int(ax) or (isinstance(ax, tuple) and all(_is_int(a) for a in ax)):
        return const(_shift(ax))
    if is_batched(axis_arg.info):
        b.cannot("a per-lane axis")
    return b.atom(b.t("_ax.batch_axis(a, x)", a=axis_arg, x=x), "axes")


def batch_shape(b, shape_arg):
    """(B,) + shape as a node."""
    v = value_of(b, shape_arg)
    if _is_int(v):
        return _tuple_node([b.B(), const(v)])
    if isinstance(v, tuple):
        return _tuple_node([b.B()] + [const(e) for e in v])
    if is_batched(shape_arg.info):
        b.cannot("a per-lane shape")
    return b.atom(b.t("_ax.batch_shape(n, s)", n=b.B(), s=shape_arg), "shape")


def shape_len(b, shape_arg):
    """The length of a shape operand (an int counts as 1), or None."""
    v = value_of(b, shape_arg)
    if _is_int(v):
        return 1
    if isinstance(v, tuple):
        return len(v)
    info = shape_arg.info
    if isinstance(info, Tup):
        return len(info.items)
    if isinstance(info, Val) and info.rank == 0:
        return 1
    return None


def lane_shape(b, x):
    """The node of x's per-example shape."""
    if x.batched:
        return b.atom(b.t("np.shape(x)[1:]", x=x), "shape")
    return b.atom(b.t("np.shape(x)", x=x), "shape")


def _bat(rank, lanes=True):
    return Val(True, rank, True if rank else lanes)


def _un(rank):
    return Val(False, rank)


# ---- elementwise (the shared default) -------------------------------------------------------

@rule("elementwise")
def elementwise(b, prim, args):
    """f(x, y, ...) with NumPy broadcasting: trailing axes line up, so a batched operand
    needs singleton axes after its batch axis only when another operand has more."""
    ops = [(p, a) for p, a in args.items() if not isinstance(a, list)]
    lists = [a for _, a in ops if isinstance(a.info, Lst)]
    if lists:
        if any(a.batched for _, a in ops if not isinstance(a.info, Lst)):
            b.cannot("a list combined with a per-lane value")
        return b.recall(), b.new_list(lists[0].info.elem)
    if any(isinstance(a.info, Tup) for _, a in ops):
        if any(a.batched for _, a in ops):
            b.cannot("a per-lane tuple in arithmetic")
        return b.recall(), Val(False, 1)
    arrays = [(p, a) for p, a in ops if not is_none(a.info)]
    ranks = [a.rank for _, a in arrays]
    rank = None if any(r is None for r in ranks) else max(ranks, default=0)
    if not any(a.batched for _, a in arrays):
        return b.recall(), _un(rank)
    repl = {}
    for p, a in arrays:
        if not a.batched:
            continue
        if rank is not None:
            if a.rank < rank:
                repl[p] = b.lift(a, rank)
            continue
        node = a.node
        for q, o in arrays:
            if o is a or (o.rank is not None and a.rank is not None and o.rank <= a.rank) \
                    or (o.rank == 0):
                continue
            node = b.lift(type(a)(node, a.info), b.lane_rank(o))
        if node is not a.node:
            repl[p] = node
    lanes = any(a.lanes for _, a in arrays)
    return b.recall(**repl), _bat(rank, lanes)


@rule("logical_not")
def logical_not(b, prim, args):
    """``not x`` -> ``np.logical_not(x)`` (Python's ``not`` has no per-lane meaning)."""
    x = args["x"]
    if not x.batched:
        return b.recall(), _un(x.rank)
    return b.t("np.logical_not(x)", x=x), _bat(x.rank, x.lanes)


@rule("first")
def first(b, prim, args):
    """A helper whose result is its first operand, changed only in dtype or identity."""
    a = next(iter(args.values()))
    return b.recall(), a.info


@rule("loop")
def loop(b, prim, args):
    """No vectorized rule: one call per lane (a warning says so)."""
    if not any(a.batched for a in _flat(args.values())):
        return b.recall(), Val(False, None)
    b.cannot(f"{prim.key} has no batching rule")


@rule("unbatched")
def unbatched_only(b, prim, args):
    """Array creation from shapes and bounds: per-lane shapes would differ."""
    key = prim.key
    rank = None
    if key in ("np.zeros", "np.ones", "np.empty"):
        rank = shape_len(b, args["shape"])
    elif key in ("np.arange", "range", "np.linspace"):
        rank = 1
    elif key == "np.eye":
        rank = 2
    if any(a.batched for a in _flat(args.values())):
        b.cannot(f"{key} with per-lane arguments")
    return b.recall(), _un(rank)


@rule("full")
def full(b, prim, args):
    """np.full(shape, v): a per-lane fill value broadcast into (B,) + shape."""
    shape, fill = args["shape"], args["fill_value"]
    n = shape_len(b, shape)
    if shape.batched or args["dtype"].batched:
        b.cannot("np.full with a per-lane shape")
    if not fill.batched:
        return b.recall(), _un(n)
    return b.recall(shape=batch_shape(b, shape), fill_value=b.lift(fill, n) if n is not None
                    else b.lift(fill, b.atom(b.t("len(s)", s=shape)))), _bat(n)


@rule("convert")
def convert(b, prim, args):
    """float(x), int(x), bool(x) of a batched array: an array of that type."""
    x = args["x"]
    if not x.batched:
        return b.recall(), _un(x.rank)
    dtype = {"float": "np.float64", "int": "np.int64", "bool": "np.bool_"}[prim.key]
    if prim.key == "int":
        return b.t(f"np.asarray(np.trunc(x), {dtype})", x=x), _bat(x.rank, x.lanes)
    return b.t(f"np.asarray(x, {dtype})", x=x), _bat(x.rank, x.lanes)


# ---- shapes as values --------------------------------------------------------------------------

@rule("shape")
def shape(b, prim, args):
    """np.shape of a batched array is its shape without the batch axis."""
    x = args["x"]
    info = Tup((SCALAR,) * x.rank) if x.rank is not None else Val(False, 1)
    if not x.batched:
        return b.recall(), info
    return b.t("np.shape(x)[1:]", x=x), info


@rule("ndim")
def ndim(b, prim, args):
    x = args["x"]
    if not x.batched:
        return b.recall(), SCALAR
    if x.rank is not None:
        return const(x.rank), SCALAR
    return b.t("_ax.lane_ndim(x)", x=x), SCALAR


@rule("size")
def size(b, prim, args):
    x = args["x"]
    if not x.batched:
        return b.recall(), SCALAR
    if x.lanes:
        return b.t("np.size(x) // n", x=x, n=b.B()), SCALAR
    return b.t("_ax.lane_size(x)", x=x), SCALAR


@rule("len")
def length(b, prim, args):
    x = args["x"]
    if not x.batched or isinstance(x.info, (Tup, Lst)):
        return b.recall(), SCALAR
    if x.info.dyn:
        return b.t("_ax.lane_len(x)", x=x), SCALAR
    return b.t("np.shape(x)[1]", x=x), SCALAR


@rule("meta")
def meta(b, prim, args):
    """Facts the batch does not change (a dtype)."""
    return b.recall(), SCALAR


# ---- reductions ----------------------------------------------------------------------------

def _reduced_rank(b, x, axis_arg, keepdims_arg):
    keep = value_of(b, keepdims_arg) if keepdims_arg is not None else False
    ax = value_of(b, axis_arg) if axis_arg is not None else None
    if x.rank is None or keep is _NOCONST:
        return None
    if keep:
        return x.rank
    if ax is None:
        return 0
    if _is_int(ax):
        return x.rank - 1
    if isinstance(ax, tuple):
        return x.rank - len(ax)
    return None


@rule("reduce")
def reduce(b, prim, args):
    """Reductions shift their axis past the batch axis; axis=None means every lane axis."""
    x = args["x"]
    rank = _reduced_rank(b, x, args.get("axis"), args.get("keepdims"))
    others = [a for p, a in args.items() if p != "x"]
    if any(a.batched for a in others):
        b.cannot(f"{prim.key} with a per-lane axis or option")
    if not x.batched:
        return b.recall(), _un(rank)
    axis = batch_axis(b, x, args.get("axis"))
    return b.recall(axis=axis), _bat(rank, x.lanes)


@rule("argreduce")
def argreduce(b, prim, args):
    """np.argmax(x): over the flattened lane; otherwise a shifted axis."""
    x, axis = args["x"], args["axis"]
    ax = value_of(b, axis)
    rank = 0 if ax is None else (x.rank - 1 if x.rank is not None else None)
    if axis.batched:
        b.cannot("a per-lane axis")
    if not x.batched:
        return b.recall(), _un(rank)
    if ax is None:
        flat = b.atom(b.t("np.reshape(x, (n, -1))", x=b.lanes(x), n=b.B()), "flat")
        return b.recall(x=flat, axis=const(1)), _bat(0)
    return b.recall(axis=batch_axis(b, x, axis)), _bat(rank)


@rule("cumsum")
def cumsum(b, prim, args):
    x, axis = args["x"], args["axis"]
    ax = value_of(b, axis)
    rank = 1 if ax is None else x.rank
    if axis.batched:
        b.cannot("a per-lane axis")
    if not x.batched:
        return b.recall(), _un(rank)
    if ax is None:
        flat = b.atom(b.t("np.reshape(x, (n, -1))", x=b.lanes(x), n=b.B()), "flat")
        return b.recall(x=flat, axis=const(1)), _bat(1)
    return b.recall(axis=batch_axis(b, x, axis)), _bat(rank)


# ---- products ------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxy"


def _dot_spec(kind, rx, ry, bx, by):
    """einsum subscripts of a batched np.dot / np.matmul for per-example ranks rx, ry."""
    xs = _LETTERS[:rx]
    if kind == "dot":
        if ry == 1:
            ys, out = xs[-1], xs[:-1]
        else:
            ys = _LETTERS[rx:rx + ry - 2] + xs[-1] + _LETTERS[rx + ry - 2]
            out = xs[:-1] + ys[:-2] + ys[-1]
    else:
        if rx == 1 and ry == 1:
            ys, out = xs, ""
        elif rx == 1:
            ys = "..." + xs + "k"
            out = "...k"
        elif ry == 1:
            xs = "..." + xs[-2:]
            ys = xs[-1]
            out = xs[:-1]
        else:
            xs = "..." + "ij"
            ys = "..." + "jk"
            out = "...ik"
    zx = "z" if bx else ""
    zy = "z" if by else ""
    return f"{zx}{xs},{zy}{ys}->z{out}"


@rule("dot")
def dot(b, prim, args):
    """np.dot: the batch rides along one matrix product where it can."""
    x, y = args["x"], args["y"]
    rx, ry = x.rank, y.rank
    if rx is not None and ry is not None:
        if rx == 0 or ry == 0:
            return elementwise(b, prim, args)[0] if False else _scale(b, x, y)
        rank = rx + ry - 2
    else:
        rank = None
    if not x.batched and not y.batched:
        return b.recall(), _un(rank)
    if rank is None:
        spec = b.atom(b.t("_ax.dot_spec(x, y, bx, by, 'dot')", x=x, y=y, bx=int(x.batched),
                          by=int(y.batched)), "spec")
        return b.t("np.einsum(s, x, y)", s=spec, x=x, y=y), _bat(None)
    if x.batched and not y.batched:
        return b.recall(), _bat(rank)                 # (B, ..., n) . (n, ...) contracts right
    if y.batched and not x.batched:
        if ry == 1 and rx == 1:
            return b.t("np.dot(y, x)", x=x, y=y), _bat(rank)
        if ry == 1 and rx == 2:
            return b.t("np.dot(y, np.transpose(x))", x=x, y=y), _bat(rank)
        if ry >= 2 and rx == 1:
            return b.recall(), _bat(rank)
        if ry >= 2:
            return b.t("np.moveaxis(np.dot(x, y), k, 0)", x=x, y=y, k=rx - 1), _bat(rank)
    return b.t("np.einsum(s, x, y)", s=_dot_spec("dot", rx, ry, x.batched, y.batched),
               x=x, y=y), _bat(rank)


def _scale(b, x, y):
    """np.dot with a 0-d operand is a product."""
    rank = max(x.rank, y.rank)
    if not x.batched and not y.batched:
        return b.t("np.multiply(x, y)", x=x, y=y), _un(rank)
    xn = b.lift(x, rank) if x.batched else x.node
    yn = b.lift(y, rank) if y.batched else y.node
    return b.t("np.multiply(x, y)", x=xn, y=yn), _bat(rank)


@rule("matmul")
def matmul(b, prim, args):
    """x @ y: stacks of matrices broadcast, so batches mostly ride along."""
    x, y = args["x"], args["y"]
    rx, ry = x.rank, y.rank
    rank = None
    if rx is not None and ry is not None:
        if rx == 0 or ry == 0:
            b.cannot("matmul of a 0-d operand")
        rank = 0 if rx == ry == 1 else ry - 1 if rx == 1 else rx - 1 if ry == 1 else max(rx, ry)
    if not x.batched and not y.batched:
        return b.recall(), _un(rank)
    if rank is None:
        spec = b.atom(b.t("_ax.dot_spec(x, y, bx, by, 'matmul')", x=x, y=y, bx=int(x.batched),
                          by=int(y.batched)), "spec")
        return b.t("np.einsum(s, x, y)", s=spec, x=x, y=y), _bat(None)
    if rx >= 2 and ry >= 2:
        top = max(rx, ry)
        xn = b.lift(x, top) if x.batched else x.node
        yn = b.lift(y, top) if y.batched else y.node
        return b.recall(x=xn, y=yn), _bat(rank)
    if x.batched and not y.batched and ry <= 2:
        return b.recall(), _bat(rank)                  # rows of a matrix, or a stack
    if y.batched and not x.batched:
        if ry == 1 and rx == 1:
            return b.t("np.matmul(y, x)", x=x, y=y), _bat(rank)
        if ry == 1 and rx == 2:
            return b.t("np.matmul(y, np.transpose(x))", x=x, y=y), _bat(rank)
        if rx == 1:
            return b.recall(), _bat(rank)
    return b.t("np.einsum(s, x, y)", s=_dot_spec("matmul", rx, ry, x.batched, y.batched),
               x=x, y=y), _bat(rank)


@rule("outer")
def outer(b, prim, args):
    x, y = args["x"], args["y"]
    if not x.batched and not y.batched:
        return b.recall(), _un(2)
    xn = b.t("np.reshape(x, (n, -1, 1))", x=b.lanes(x), n=b.B()) if x.batched else \
        b.t("np.reshape(x, (-1, 1))", x=x)
    yn = b.t("np.reshape(y, (n, 1, -1))", y=b.lanes(y), n=b.B()) if y.batched else \
        b.t("np.ravel(y)", y=y)
    return b.t("x * y", x=b.atom(xn, "col"), y=b.atom(yn, "row")), _bat(2)


def einsum_parts(spec, ranks=None):
    """(input terms, output term) of an einsum spec, the output made explicit."""
    spec = spec.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if not arrow:
        letters = [c for c in inputs if c.isalpha()]
        output = ("..." if "..." in inputs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    return terms, output


@rule("einsum")
def einsum(b, prim, args):
    """np.einsum: a fresh letter for the batch, on every batched operand and the output."""
    subs, ops = args["subscripts"], args["operands"]
    spec = value_of(b, subs)
    if not isinstance(spec, str):
        b.cannot("einsum with subscripts that are not a constant string")
    terms, output = einsum_parts(spec)
    rank = None
    if "..." not in spec:
        rank = len(output)
    if not any(a.batched for a in ops):
        return b.recall(), _un(rank)
    z = next(c for c in string.ascii_letters if c not in spec)
    terms = [z + t if a.batched else t for t, a in zip(terms, ops)]
    new = ",".join(terms) + "->" + z + output
    nodes = [b.lanes(a) if a.batched else a.node for a in ops]
    return b.recall(subscripts=const(new), operands=nodes), _bat(rank)


@rule("solve")
def solve(b, prim, args):
    """np.linalg.solve(a, b): a batch of right-hand sides shares one factorization."""
    a, y = args["a"], args["b"]
    ra, rb = a.rank, y.rank
    rank = rb if rb is not None and rb != 1 else (1 if rb == 1 else None)
    if rb is not None and ra is not None and rb >= 2:
        rank = max(ra, rb)
    if not a.batched and not y.batched:
        return b.recall(), _un(rank)
    if ra is None or rb is None:
        b.cannot("np.linalg.solve with operands of unknown rank")
    if rb == 1:
        if not a.batched and ra == 2:
            return b.t("np.transpose(np.linalg.solve(a, np.transpose(y)))", a=a, y=y), _bat(1)
        yn = b.t("y[..., None]", y=b.lanes(y) if y.batched else y)
        an = b.lift(a, 2) if a.batched else a.node
        return b.t("np.linalg.solve(a, y)[..., 0]", a=b.atom(an), y=b.atom(yn)), _bat(1)
    top = max(ra, rb)
    an = b.lift(a, top) if a.batched else a.node
    yn = b.lift(y, top) if y.batched else y.node
    return b.recall(a=an, b=yn), _bat(rank)


# ---- shapes --------------------------------------------------------------------------------

@rule("transpose")
def transpose(b, prim, args):
    x, axes = args["x"], args["axes"]
    if axes.batched:
        b.cannot("per-lane transpose axes")
    if not x.batched:
        return b.recall(), _un(x.rank)
    v = value_of(b, axes)
    if x.rank == 0:
        return x.node, x.info
    if v is None and x.rank is not None:
        perm = (0,) + tuple(range(x.rank, 0, -1))
    elif isinstance(v, tuple) and x.rank is not None:
        perm = (0,) + tuple(a % x.rank + 1 for a in v)
    else:
        return b.recall(axes=b.atom(b.t("_ax.lane_transpose_axes(x, a)", x=x, a=axes),
                                    "axes")), _bat(x.rank)
    return b.recall(axes=const(perm)), _bat(x.rank)


@rule("axes")
def axes_shift(b, prim, args):
    """Operations with axis arguments and no change of rank: swapaxes, moveaxis, flip."""
    x = args["x"]
    others = {p: a for p, a in args.items() if p != "x"}
    if any(a.batched for a in others.values()):
        b.cannot(f"{prim.key} with a per-lane axis")
    if not x.batched:
        return b.recall(), _un(x.rank)
    repl = {p: batch_axis(b, x, a) for p, a in others.items()}
    return b.recall(**repl), _bat(x.rank, x.lanes)


@rule("expand_dims")
def expand_dims(b, prim, args):
    x, axis = args["x"], args["axis"]
    v = value_of(b, axis)
    n = 1 if _is_int(v) else len(v) if isinstance(v, tuple) else None
    rank = x.rank + n if x.rank is not None and n is not None else None
    if axis.batched:
        b.cannot("a per-lane axis")
    if not x.batched:
        return b.recall(), _un(rank)
    xn = b.lanes(x) if not x.lanes else x.node
    if v is _NOCONST:
        return b.recall(x=xn, axis=b.atom(b.t("_ax.batch_axis(a, x)", a=axis, x=x))), \
            _bat(rank)
    return b.recall(x=xn, axis=const(_shift(v))), _bat(rank)


@rule("squeeze")
def squeeze(b, prim, args):
    x, axis = args["x"], args["axis"]
    v = value_of(b, axis)
    rank = None
    if x.rank is not None and v is not _NOCONST and v is not None:
        rank = x.rank - (1 if _is_int(v) else len(v))
    if axis.batched:
        b.cannot("a per-lane axis")
    if not x.batched:
        return b.recall(), _un(rank)
    if v is None:
        return b.recall(axis=b.atom(b.t("_ax.lane_singletons(x)", x=x), "axes")), _bat(rank)
    return b.recall(axis=batch_axis(b, x, axis)), _bat(rank)


@rule("reshape")
def reshape(b, prim, args):
    x, shape_ = args["x"], args["shape"]
    rank = shape_len(b, shape_)
    if shape_.batched:
        b.cannot("a per-lane shape")
    if not x.batched:
        return b.recall(), _un(rank)
    return b.recall(x=b.lanes(x), shape=batch_shape(b, shape_)), _bat(rank)


@rule("ravel")
def ravel(b, prim, args):
    x = args["x"]
    if not x.batched:
        return b.recall(), _un(1)
    return b.t("np.reshape(x, (n, -1))", x=b.lanes(x), n=b.B()), _bat(1)


@rule("broadcast_to")
def broadcast_to(b, prim, args):
    x, shape_ = args["x"], args["shape"]
    rank = shape_len(b, shape_)
    if shape_.batched:
        b.cannot("a per-lane shape")
    if not x.batched:
        return b.recall(), _un(rank)
    xn = b.lift(x, rank) if rank is not None else \
        b.lift(x, b.atom(b.t("len(s)", s=shape_), "nd"))
    return b.recall(x=xn, shape=batch_shape(b, shape_)), _bat(rank)


def _items(b, arrays, force):
    """Batched nodes of the items of a tuple/list operand (None when it is a list already
    holding per-lane values)."""
    info = arrays.info
    if isinstance(info, Lst):
        return None, info.elem
    if isinstance(info, Tup):
        nodes = []
        for i, item in enumerate(info.items):
            node = b.atom(gast.Subscript(value=arrays.node, slice=const(i), ctx=gast.Load()),
                          "item")
            from .batching_control import Arg
            a = Arg(node, item)
            nodes.append(b.lanes(a) if (a.batched and force) else b.materialize(a, force)
                         if not a.batched else node)
        elem = None
        from .batching_values import join
        for item in info.items:
            elem = join(elem, item)
        return b.atom(gast.Tuple(elts=nodes, ctx=gast.Load()), "items"), elem
    b.cannot("joining values that are not a tuple or list")


@rule("join")
def join_arrays(b, prim, args):
    """np.concatenate / np.stack: every item made per-lane, the axis shifted."""
    arrays, axis = args["arrays"], args["axis"]
    stack = prim.key == "np.stack"
    if axis.batched:
        b.cannot("a per-lane axis")
    elem = arrays.info.elem if isinstance(arrays.info, Lst) else None
    if isinstance(arrays.info, Tup):
        from .batching_values import join
        for item in arrays.info.items:
            elem = join(elem, item)
    r = elem.rank if isinstance(elem, Val) else None
    rank = (r + 1 if stack else r) if r is not None else None
    if not arrays.batched:
        return b.recall(), _un(rank)
    node, _ = _items(b, arrays, force=True)
    repl = {"axis": batch_axis(b, type_arg(arrays, r), axis)}
    if node is not None:
        repl["arrays"] = node
    return b.recall(**repl), _bat(rank)


def type_arg(arrays, rank):
    from .batching_control import Arg
    return Arg(arrays.node, Val(True, rank))


# ---- astjax's runtime helpers (so vmap(grad(f)) works) ------------------------------------------

def _lane_values(b, *args):
    """Nodes of ``args``, each made per-lane (materialized) when any of them is batched."""
    return [b.lanes(a) if a.batched else b.materialize(a, force=True) for a in args]


@rule("unbroadcast")
def unbroadcast(b, prim, args):
    """_ax.unbroadcast(v, x): sum v down to x's per-example shape, keeping the batch axis."""
    v, x = args["v"], args["x"]
    if not v.batched and not x.batched:
        return b.recall(), _un(x.rank)
    nb = 1 if v.batched else 0
    vn = b.lanes(v) if v.batched else v.node
    return b.t("_ax.unbroadcast_lanes(v, s, nb)", v=vn, s=lane_shape(b, x), nb=nb), \
        Val(v.batched, x.rank)


@rule("broadcast_like")
def broadcast_like(b, prim, args):
    v, x = args["v"], args["x"]
    if not v.batched and not x.batched:
        return b.recall(), _un(x.rank)
    nb = 1 if v.batched else 0
    vn = b.lanes(v) if v.batched else v.node
    return b.t("_ax.broadcast_lanes(v, s, nb)", v=vn, s=lane_shape(b, x), nb=nb), \
        Val(v.batched, x.rank)


@rule("reshape_like")
def reshape_like(b, prim, args):
    v, x = args["v"], args["x"]
    if not v.batched and not x.batched:
        return b.recall(), _un(x.rank)
    if not v.batched:
        return b.t("np.reshape(v, s)", v=v, s=lane_shape(b, x)), _un(x.rank)
    shape_ = b.atom(b.t("_ax.batch_shape(n, s)", n=b.B(), s=lane_shape(b, x)), "shape")
    return b.t("np.reshape(v, s)", v=b.lanes(v), s=shape_), _bat(x.rank)


@rule("expand_reduced")
def expand_reduced(b, prim, args):
    """_ax.expand_reduced(v, x, axis, keepdims) on per-lane arrays with the axis shifted."""
    v, x, axis, keep = args["v"], args["x"], args["axis"], args["keepdims"]
    if not v.batched and not x.batched:
        return b.recall(), _un(x.rank)
    if axis.batched or keep.batched:
        b.cannot("a per-lane axis")
    vn, xn = _lane_values(b, v, x)
    xa = type(x)(xn, Val(True, x.rank))
    return b.recall(v=vn, x=xn, axis=batch_axis(b, xa, axis)), _bat(x.rank)


@rule("reduce_vjp")
def reduce_vjp(b, prim, args):
    """Adjoints of reductions (max_vjp): per-lane operands, the axis shifted."""
    x = args["x"]
    arrays = [p for p in ("g", "ans", "x") if p in args]
    if not any(args[p].batched for p in arrays):
        return b.recall(), _un(x.rank)
    if args["axis"].batched:
        b.cannot("a per-lane axis")
    nodes = dict(zip(arrays, _lane_values(b, *[args[p] for p in arrays])))
    xa = type(x)(nodes["x"], Val(True, x.rank))
    return b.recall(axis=batch_axis(b, xa, args["axis"]), **nodes), _bat(x.rank)


@rule("reduced_count")
def reduced_count(b, prim, args):
    x, axis = args["x"], args["axis"]
    if not x.batched:
        return b.recall(), SCALAR
    return b.recall(axis=batch_axis(b, x, axis)), SCALAR


@rule("cumsum_vjp")
def cumsum_vjp(b, prim, args):
    g, axis, x = args["g"], args["axis"], args["x"]
    if not g.batched and not x.batched:
        return b.recall(), _un(x.rank)
    if value_of(b, axis) is None or axis.batched:
        b.cannot("the adjoint of a flattened cumsum")
    gn, xn = _lane_values(b, g, x)
    xa = type(x)(xn, Val(True, x.rank))
    return b.recall(g=gn, x=xn, axis=batch_axis(b, xa, axis)), _bat(x.rank)


_MATMUL_VJP = {
    # (which, rank of a, rank of b) -> the per-example formula (runtime.matmul_vjp_a/_b)
    ("a", 1, 1): "g * y",
    ("a", 2, 1): "np.expand_dims(g, -1) * y",
    ("a", 1, 2): "np.matmul(y, g)",
    ("a", 2, 2): "np.matmul(g, np.swapaxes(y, -1, -2))",
    ("b", 1, 1): "g * x",
    ("b", 1, 2): "np.outer(x, g)",
    ("b", 2, 1): "np.sum(np.swapaxes(x, -1, -2) * np.expand_dims(g, -2), axis=-1)",
    ("b", 2, 2): "np.matmul(np.swapaxes(x, -1, -2), g)",
}


@rule("matmul_vjp")
def matmul_vjp(b, prim, args):
    """_ax.matmul_vjp_a/_b: for known ranks, the per-example formula, batched by the rules."""
    g, x, y = args["g"], args["a"], args["b"]
    which = prim.key[-1]
    rank = x.rank if which == "a" else y.rank
    if not any(a.batched for a in (g, x, y)):
        return b.recall(), _un(rank)
    formula = _MATMUL_VJP.get((which, x.rank, y.rank))
    if formula is None:
        b.cannot("the adjoint of a matmul of stacked operands")
    out = b.inline(formula, g=g, x=x, y=y)
    return out.node, out.info


@rule("seed")
def seed(b, prim, args):
    """The cotangent 1 of a scalar result: the same in every lane."""
    ans = args["ans"]
    if not ans.batched:
        return b.recall(), SCALAR
    return b.t("_ax.seed_lanes(x)", x=ans), SCALAR


@rule("finalize")
def finalize(b, prim, args):
    d, x = args["d"], args["x"]
    if not d.batched and not x.batched:
        return b.recall(), _un(x.rank)
    dn = b.lanes(d) if d.batched else d.node
    return b.t("_ax.finalize_lanes(d, x, n, db, xb)", d=dn, x=x, n=b.B(), db=int(d.batched),
               xb=int(x.batched)), _bat(x.rank)


@rule("add_to")
def add_to(b, prim, args):
    """_ax.add_to(d, x, index, g): scatter-add into a per-lane adjoint."""
    d, x, index, g = args["d"], args["x"], args["index"], args["g"]
    if not any(a.batched for a in (d, x, index, g)):
        return b.recall(), Val(False, x.rank)
    if index.batched:
        b.cannot("a scatter with per-lane indices")
    if isinstance(x.info, (Lst, Tup)):
        return b.recall(), DYN
    gn = b.lanes(g) if g.batched else g.node
    return b.t("_ax.add_to_lanes(d, x, i, g, n, xb, gb)", d=d, x=x, i=index, g=gn, n=b.B(),
               xb=int(x.batched), gb=int(g.batched)), _bat(x.rank)


@rule("take_slot")
def take_slot(b, prim, args):
    d, index = args["d"], args["index"]
    if not d.batched:
        return b.recall(), Tup((Val(False, None), d.info))
    if index.batched:
        b.cannot("per-lane indices")
    return b.t("_ax.take_slot_lanes(d, i)", d=d, i=index), Tup((DYN, d.info))


@rule("containers")
def containers(b, prim, args):
    """Helpers on Python lists of per-lane values (adjoints of lists and tuples): the list
    structure is the same in every lane, so the call is unchanged."""
    if not any(a.batched for a in _flat(args.values())):
        return b.recall(), Val(False, None)
    return b.recall(), DYN


# ---- indexing ----------------------------------------------------------------------------------

class _Part:
    """One part of an index: 'slice', 'none', 'ellipsis', 'int' or 'array' (an Arg)."""

    def __init__(self, kind, node, arg=None):
        self.kind, self.node, self.arg = kind, node, arg

    @property
    def batched(self):
        return self.arg is not None and self.arg.batched


def _parts(b, index):
    from .batching_control import Arg
    elts = index.elts if isinstance(index, gast.Tuple) and not _const_tuple(index) else [index]
    parts = []
    for e in elts:
        if isinstance(e, gast.Slice):
            for p in (e.lower, e.upper, e.step):
                if p is not None and is_batched(b.info(p)):
                    b.cannot("a slice with per-lane bounds (lanes would get different shapes)")
            parts.append(_Part("slice", e))
        elif isinstance(e, gast.Constant) and e.value is None or \
                isinstance(e, gast.Attribute) and value_of(b, e) is None:
            parts.append(_Part("none", e))
        elif isinstance(e, gast.Constant) and e.value is Ellipsis:
            parts.append(_Part("ellipsis", e))
        elif isinstance(e, gast.Constant) and _is_int(e.value):
            parts.append(_Part("int", e, Arg(e, SCALAR)))
        else:
            a = Arg(e, b.info(e))
            if isinstance(a.info, Tup):
                b.cannot("a tuple-valued index")
            parts.append(_Part("int" if a.rank == 0 else "array", e, a))
    return parts


def _const_tuple(node):
    return False


def _index_rank(rank, parts):
    """Rank of x[parts] for x of (per-example) rank ``rank``."""
    if rank is None or any(p.kind == "array" and p.arg.rank is None for p in parts):
        return None
    adv = [p for p in parts if p.kind == "array"]
    consumed = sum(1 for p in parts if p.kind in ("slice", "int", "array"))
    produced = sum(1 for p in parts if p.kind in ("slice", "none"))
    if adv:
        produced += max(max(p.arg.rank for p in adv), 0)
    if any(p.kind == "ellipsis" for p in parts):
        produced += rank - consumed
        consumed = rank
    return rank - consumed + produced


def _adv_contiguous(parts):
    idx = [i for i, p in enumerate(parts) if p.kind in ("int", "array")]
    return not idx or idx == list(range(idx[0], idx[-1] + 1))


def _index_node(parts, lead=()):
    elts = list(lead) + [p.node for p in parts]
    if len(elts) == 1:
        return elts[0]
    return gast.Tuple(elts=elts, ctx=gast.Load())


_COLON = gast.Slice(lower=None, upper=None, step=None)


def getitem(b, op):
    """x[index] for a batched x and/or batched index parts."""
    from .batching_control import Arg
    x = b.arg(op.value)
    if isinstance(x.info, Tup):
        return _tuple_item(b, x, op)
    if isinstance(x.info, Lst):
        index = Arg(op.slice, b.info(op.slice)) if not isinstance(op.slice, gast.Slice) else None
        if index is not None and index.batched:
            b.cannot("a per-lane index into a list")
        return op, x.info.elem if x.info.elem is not None else Val(False, None)
    parts = _parts(b, op.slice)
    rank = _index_rank(x.rank, parts)
    batched_index = any(p.batched for p in parts)
    if not x.batched and not batched_index:
        return op, _un(rank)
    if x.info.dyn and not batched_index:
        return b.t("_ax.dyn_getitem(x, i)", x=x, i=_value_index(parts)), DYN
    if not batched_index:
        if not any(p.kind == "array" for p in parts) or _adv_contiguous(parts):
            return gast.Subscript(value=x.node, slice=_index_node(parts, [_COLON]),
                                  ctx=gast.Load()), _bat(rank, x.lanes)
        if any(p.kind == "ellipsis" for p in parts):
            b.cannot("an index mixing '...' with separated array indices")
        moved = b.atom(b.t("np.moveaxis(x, 0, -1)", x=x), "moved")
        item = b.atom(gast.Subscript(value=moved, slice=_index_node(parts), ctx=gast.Load()))
        return b.t("np.moveaxis(x, -1, 0)", x=item), _bat(rank)
    return _gather(b, x, parts, rank)


def _value_index(parts):
    """The index as a runtime value (slices become slice(...) calls)."""
    elts = []
    for p in parts:
        if p.kind == "slice":
            s = p.node
            elts.append(call("slice", [q if q is not None else const(None)
                                       for q in (s.lower, s.upper, s.step)]))
        elif p.kind == "ellipsis":
            elts.append(const(Ellipsis))
        else:
            elts.append(p.node)
    if len(elts) == 1:
        return elts[0]
    return gast.Tuple(elts=elts, ctx=gast.Load())


def _tuple_item(b, x, op):
    v = value_of(b, type("A", (), {"node": op.slice})())
    items = x.info.items
    if _is_int(v) and -len(items) <= v < len(items):
        return op, items[v]
    if isinstance(op.slice, gast.Slice):
        return op, Val(False, None) if not x.batched else DYN
    idx = b.info(op.slice)
    if is_batched(idx):
        b.cannot("a per-lane index into a tuple")
    from .batching_values import join
    elem = None
    for item in items:
        elem = join(elem, item)
    if is_batched(elem) and not all(is_batched(i) and (not isinstance(i, Val) or i.lanes)
                                    for i in items):
        from .batching_control import Arg
        node = b.materialize(Arg(x.node, x.info), force=True) if False else None
        del node
        b.cannot("an item of a tuple holding both per-lane and shared values")
    return op, elem


def _gather(b, x, parts, rank):
    """Indexing with per-lane index arrays (a gather)."""
    from .batching_control import Arg
    adv = [p for p in parts if p.kind in ("int", "array")]
    ranks = [p.arg.rank for p in adv]
    if any(r is None for r in ranks):
        if sum(1 for p in adv if p.batched) > 1 or x.batched and any(
                not p.batched and p.arg.rank is None for p in adv):
            b.cannot("per-lane indices of unknown rank")
        r_adv = None
    else:
        r_adv = max(ranks)
    # per-lane index arrays carry the batch axis; line them up with each other
    for p in adv:
        if p.batched:
            node = b.lanes(p.arg) if not p.arg.lanes else p.node
            if r_adv is not None and p.arg.rank < r_adv:
                node = b.lift(Arg(node, Val(True, p.arg.rank)), r_adv)
            p.node = node
    ellipsis_before = False
    first = next(i for i, p in enumerate(parts) if p.kind in ("int", "array"))
    ellipsis_before = any(p.kind == "ellipsis" for p in parts[:first])
    contiguous = _adv_contiguous(parts)
    if not x.batched:
        item = gast.Subscript(value=x.node, slice=_index_node(parts), ctx=gast.Load())
        before = sum(1 for p in parts[:first] if p.kind in ("slice", "none"))
        if not contiguous or before == 0:
            return item, _bat(rank)
        if ellipsis_before:
            b.cannot("a per-lane index after '...'")
        return b.t("np.moveaxis(x, k, 0)", x=b.atom(item), k=before), _bat(rank)
    # x per-lane too: index lane b's own row with np.arange(B)
    batched_part = next(p for p in adv if p.batched)
    if r_adv is not None:
        lanes = b.atom(b.t("np.arange(n)", n=b.B()), "lanes") if r_adv == 0 else \
            b.atom(b.t("np.reshape(np.arange(n), s)", n=b.B(),
                       s=const((-1,) + (1,) * r_adv)), "lanes")
    else:
        lanes = b.atom(b.t("_ax.lane_ids(n, i)", n=b.B(), i=batched_part.node), "lanes")
    before = sum(1 for p in parts[:first] if p.kind in ("slice", "none"))
    consumed_before = sum(1 for p in parts[:first] if p.kind == "slice")
    if not contiguous or before == 0:
        if first > 0 and contiguous:
            pass
        if first == 0 or not contiguous:
            return gast.Subscript(value=x.node, slice=_index_node(parts, [lanes]),
                                  ctx=gast.Load()), _bat(rank)
    if ellipsis_before:
        b.cannot("a per-lane index after '...'")
    # move the batch axis next to the index arrays, gather, move it back to the front
    moved = b.atom(b.t("np.moveaxis(x, 0, k)", x=x, k=consumed_before), "moved")
    index = parts[:first] + [_Part("array", lanes)] + parts[first:]
    item = b.atom(gast.Subscript(value=moved, slice=_index_node(index), ctx=gast.Load()))
    return b.t("np.moveaxis(x, k, 0)", x=item, k=before), _bat(rank)


def setitem(b, var, target, value):
    """x[index] = v with a batched x, index or v (x owned by this function)."""
    from .batching_control import Arg
    x = b.arg(target.value)
    v = b.arg(value)
    if isinstance(x.info, Lst):
        index = b.info(target.slice) if not isinstance(target.slice, gast.Slice) else SCALAR
        if is_batched(index):
            b.cannot_whole("a per-lane index into a list")
        b.prog.merge(x.info, v.info)
        node = b.store_value(v) if x.info.batched else v.node
        b.put(gast.Assign(targets=[gast.Subscript(value=x.node, slice=target.slice,
                                                  ctx=gast.Store())], value=node,
                          type_comment=None))
        return
    if isinstance(x.info, Tup):
        b.cannot_whole("item assignment into a tuple")
    parts = _parts(b, target.slice)
    batched_index = any(p.batched for p in parts)
    if not x.batched and not v.batched and not batched_index:
        b.put(gast.Assign(targets=[gast.Subscript(value=x.node, slice=target.slice,
                                                  ctx=gast.Store())], value=v.node,
                          type_comment=None))
        return
    current = x.node.id
    if not x.batched or x.info.view:
        node = b.materialize(x) if not x.batched else x.node
        b.put(gast.Assign(targets=[name(current, gast.Store())],
                          value=call("np.copy", [node]), type_comment=None))
        x = Arg(name(current), Val(True, x.rank, True))
        b.env[var] = x.info
    slot_rank = _index_rank(x.rank, parts)
    vn = v.node
    if v.batched:
        vn = b.lift(v, slot_rank) if slot_rank is not None else \
            b.lift(v, b.atom(b.t("_ax.lane_ndim(x[i])", x=x, i=_value_index(
                [_Part("slice", _COLON)] + parts)), "nd"))
    if not batched_index:
        if any(p.kind == "array" for p in parts) and not _adv_contiguous(parts):
            b.cannot_whole("an item write with separated array indices")
        index = _index_node(parts, [_COLON])
    else:
        adv = [p for p in parts if p.kind in ("int", "array")]
        if any(p.arg.rank is None for p in adv):
            b.cannot_whole("an item write with per-lane indices of unknown rank")
        r_adv = max(p.arg.rank for p in adv)
        for p in adv:
            if p.batched:
                node = b.lanes(p.arg) if not p.arg.lanes else p.node
                if p.arg.rank < r_adv:
                    node = b.lift(Arg(node, Val(True, p.arg.rank)), r_adv)
                p.node = node
        first = next(i for i, p in enumerate(parts) if p.kind in ("int", "array"))
        if first != 0 and _adv_contiguous(parts):
            b.cannot_whole("an item write with per-lane indices after a slice")
        lanes = b.atom(b.t("np.reshape(np.arange(n), s)", n=b.B(),
                           s=const((-1,) + (1,) * r_adv)), "lanes") if r_adv else \
            b.atom(b.t("np.arange(n)", n=b.B()), "lanes")
        index = _index_node(parts, [lanes])
    b.put(gast.Assign(targets=[gast.Subscript(value=x.node, slice=index, ctx=gast.Store())],
                      value=vn, type_comment=None))


def _flat(values):
    for v in values:
        if isinstance(v, list):
            yield from v
        else:
            yield v


name  # noqa: B018  (re-exported for rules written elsewhere)
