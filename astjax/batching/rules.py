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

from astjax.core.form import flat as _flat
from astjax.frontend.syntax import const, gast, parse_expr
from astjax.batching.values import SCALAR, Lst, Tup, Val, is_batched, is_none

RULES = {}
_NOCONST = object()


def rule(*names):
    def register(fn):
        for n in names:
            RULES[n] = fn
        return fn
    return register


def rule_for(prim):
    """The batching rule of a primitive: its entry's ``batch=`` (a rule name or a function),
    elementwise when it has none (vmap's loop over the batch for runtime helpers)."""
    spec = prim.batch
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
    from astjax.batching.values import Arg
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
        from astjax.core.form import dotted_path
        if dotted_path(node) == "np.newaxis":
            return None
        return _NOCONST
    if isinstance(node, gast.Name) and getattr(b, "consts", None) is not None:
        from astjax.batching.values import _NOVALUE
        v = b.constant(node)
        if v is not _NOVALUE:
            return v
    if isinstance(node, gast.Name) and node.id in b.core.env and node.id not in b.env \
            and node.id not in getattr(b.core.env, "live", ()):     # read at each call
        v = b.core.env[node.id]
        if isinstance(v, (int, float, bool, str, type(None))) or (
                isinstance(v, tuple) and all(isinstance(e, int) for e in v)):
            return v
    return _NOCONST


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
    if not any(a.lanes for _, a in arrays) and \
            any(not a.batched and a.rank != 0 for _, a in arrays):
        # every per-lane operand may be a 0-d value the lanes share: give one its batch axis,
        # or an array operand would make a result without one, taken for per-lane
        i, (p, a) = next((i, pa) for i, pa in enumerate(arrays) if pa[1].batched)
        lanes_arg = type(a)(b.lanes(a), Val(True, a.rank, True))
        arrays[i] = (p, lanes_arg)
        repl[p] = lanes_arg.node
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


@rule("control")
def control(b, prim, args):
    """Containers, copies and indexing are batched by batching_control.py itself."""
    raise AssertionError(f"{prim.key} is batched in batching_control.py")


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


@rule("random")
def random_draw(b, prim, args):
    """A random draw: in a Python loop over the batch each lane draws its own numbers, one
    after the other, which only a loop reproduces."""
    b.cannot("a random draw differs per lane (as in a Python loop over the batch)")


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
        b.cannot_whole(f"{key} with per-lane arguments (lanes may get different shapes)")
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


@rule("array")
def array(b, prim, args):
    """np.array(x) / np.asarray(x): of a list or tuple of per-lane values, their stack."""
    x = args["x"]
    if not isinstance(x.info, (Tup, Lst)):
        return elementwise(b, prim, args)
    elem = x.info.elem if isinstance(x.info, Lst) else None
    if isinstance(x.info, Tup):
        from astjax.batching.values import join
        for item in x.info.items:
            elem = join(elem, item)
    rank = elem.rank + 1 if isinstance(elem, Val) and elem.rank is not None else None
    if not x.batched:
        return b.recall(), _un(rank)
    if args["dtype"].batched:
        b.cannot("a per-lane dtype")
    stacked = _stack_lanes_last(b, x)
    return b.recall(x=stacked), _bat(rank)


def _depth(info):
    """How many list/tuple levels a value has before its array items."""
    if isinstance(info, Lst):
        return 1 + _depth(info.elem)
    if isinstance(info, Tup):
        return 1 + max((_depth(i) for i in info.items), default=0)
    return 0


def _stack_lanes_last(b, x):
    """A batched (nested) list/tuple of per-lane items as one array, batch axis first: NumPy
    puts the item axes first (n, m, B, ...), so the batch axis moves to the front."""
    node, _ = _items(b, x, force=True)
    depth = _depth(x.info)
    a = node if node is not None else x
    if depth == 1:
        return b.atom(b.t("np.stack(a, axis=1)", a=a), "stack")
    return b.atom(b.t("np.moveaxis(np.array(a), d, 0)", a=a, d=const(depth)), "stack")


def as_array(b, x):
    """A batched list or tuple operand as the (B, n, ...) array NumPy makes of it per lane;
    any other operand as it is."""
    from astjax.batching.values import Arg
    if not (isinstance(x.info, (Tup, Lst)) and x.batched):
        return x
    elem = x.info
    while isinstance(elem, (Lst, Tup)):
        elem = elem.elem if isinstance(elem, Lst) else (elem.items[0] if elem.items else None)
    depth = _depth(x.info)
    rank = elem.rank + depth if isinstance(elem, Val) and elem.rank is not None else None
    return Arg(_stack_lanes_last(b, x), _bat(rank))


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
            return _scale(b, x, y)
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
            from astjax.batching.values import Arg
            a = Arg(node, item)
            nodes.append(b.lanes(a) if (a.batched and force) else b.materialize(a, force)
                         if not a.batched else node)
        elem = None
        from astjax.batching.values import join
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
        from astjax.batching.values import join
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
    from astjax.batching.values import Arg
    return Arg(arrays.node, Val(True, rank))




