"""Batching rules of astjax's runtime helpers, so ``vmap(grad(f))`` batches generated
gradient code, and of vmap's own helpers, so ``vmap(vmap(f))`` batches batched code.

Most shape helpers get a version that keeps the batch axis (``_ax.unbroadcast_lanes``);
adjoints whose form depends on ranks (``matmul_vjp_a``) are re-written for the known ranks
as the per-example NumPy formula and batched by the ordinary rules (``b.inline``).  Helpers
on Python lists of adjoints are unchanged: the list structure is the same in every lane.
"""
from astjax.frontend.syntax import const
from astjax.batching.rules import (_NOCONST, _bat, _flat, _is_int, _shift, _un, batch_axis, lane_shape, rule,
                             value_of)
from astjax.batching.values import DYN, SCALAR, Lst, Tup, Val

def _lane_values(b, *args):
    """Nodes of ``args``, each made per-lane (materialized) when any of them is batched."""
    return [b.lanes(a) if a.batched else b.materialize(a, force=True) for a in args]


def _pos(args, n):
    """The first ``n`` operands in call order (helpers' parameter names may change)."""
    return list(args.values())[:n]


def _to_lane_shape(helper):
    """A rule for ``_ax.<f>(v, x)`` that brings v to x's per-example shape: the batched
    form calls ``_ax.<helper>(v, per-example shape of x, v batched?)``."""
    def batch_rule(b, prim, args):
        v, x = _pos(args, 2)
        if not v.batched and not x.batched:
            return b.recall(), _un(x.rank)
        nb = 1 if v.batched else 0
        vn = b.lanes(v) if v.batched else v.node
        return b.t(f"_ax.{helper}(v, s, nb)", v=vn, s=lane_shape(b, x), nb=nb), \
            Val(v.batched, x.rank)
    return batch_rule


# _ax.unbroadcast(v, x) sums v down to x's per-example shape; broadcast_like is its adjoint
unbroadcast = rule("unbroadcast")(_to_lane_shape("unbroadcast_lanes"))
broadcast_like = rule("broadcast_like")(_to_lane_shape("broadcast_lanes"))


@rule("reshape_like")
def reshape_like(b, prim, args):
    v, x = _pos(args, 2)
    if not v.batched and not x.batched:
        return b.recall(), _un(x.rank)
    if not v.batched:
        if v.rank == 0 and x.rank != 0:      # the cotangent 0.0 of an unread result
            return b.t("np.full(s, v)", v=v, s=lane_shape(b, x)), _un(x.rank)
        return b.t("np.reshape(v, s)", v=v, s=lane_shape(b, x)), _un(x.rank)
    shape_ = b.atom(b.t("_ax.batch_shape(n, s)", n=b.B(), s=lane_shape(b, x)), "shape")
    return b.t("np.reshape(v, s)", v=b.lanes(v), s=shape_), _bat(x.rank)


@rule("expand_reduced")
def expand_reduced(b, prim, args):
    """_ax.expand_reduced(v, x, axis, keepdims) on per-lane arrays with the axis shifted."""
    (pv, v), (px, x), (pa, axis), (_, keep) = list(args.items())[:4]
    if not v.batched and not x.batched:
        return b.recall(), _un(x.rank)
    if axis.batched or keep.batched:
        b.cannot("a per-lane axis")
    vn, xn = _lane_values(b, v, x)
    xa = type(x)(xn, Val(True, x.rank))
    return b.recall(**{pv: vn, px: xn, pa: batch_axis(b, xa, axis)}), _bat(x.rank)


@rule("reduce_vjp")
def reduce_vjp(b, prim, args):
    """Adjoints of reductions (max_vjp): per-lane operands, the axis shifted."""
    (pg, g), (pm, m), (px, x), (pa, axis) = list(args.items())[:4]
    if not any(a.batched for a in (g, m, x)):
        return b.recall(), _un(x.rank)
    if axis.batched:
        b.cannot("a per-lane axis")
    nodes = dict(zip((pg, pm, px), _lane_values(b, g, m, x)))
    xa = type(x)(nodes[px], Val(True, x.rank))
    return b.recall(**{pa: batch_axis(b, xa, axis)}, **nodes), _bat(x.rank)


@rule("reduced_count")
def reduced_count(b, prim, args):
    (px, x), (pa, axis) = list(args.items())[:2]
    if not x.batched:
        return b.recall(), SCALAR
    return b.recall(**{pa: batch_axis(b, x, axis)}), SCALAR


@rule("cumsum_vjp")
def cumsum_vjp(b, prim, args):
    (pg, g), (pa, axis), (px, x) = list(args.items())[:3]
    if not g.batched and not x.batched:
        return b.recall(), _un(x.rank)
    if value_of(b, axis) is None or axis.batched:
        b.cannot("the adjoint of a flattened cumsum")
    gn, xn = _lane_values(b, g, x)
    xa = type(x)(xn, Val(True, x.rank))
    return b.recall(**{pg: gn, px: xn, pa: batch_axis(b, xa, axis)}), _bat(x.rank)


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
    g, x, y = _pos(args, 3)
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
    ans, = _pos(args, 1)
    if not ans.batched:
        return b.recall(), SCALAR
    return b.t("_ax.seed_lanes(x)", x=ans), SCALAR


@rule("finalize")
def finalize(b, prim, args):
    d, x = _pos(args, 2)
    if not d.batched and not x.batched:
        return b.recall(), _un(x.rank)
    dn = b.lanes(d) if d.batched else d.node
    return b.t("_ax.finalize_lanes(d, x, n, db, xb)", d=dn, x=x, n=b.B(), db=int(d.batched),
               xb=int(x.batched)), _bat(x.rank)


@rule("add_to")
def add_to(b, prim, args):
    """_ax.add_to(d, x, index, g): scatter-add into a per-lane adjoint."""
    d, x, index, g = _pos(args, 4)
    if not any(a.batched for a in (d, x, index, g)):
        return b.recall(), Val(False, x.rank)
    if isinstance(x.info, (Lst, Tup)):
        if index.batched:
            b.cannot("a per-lane index into a list")
        return b.recall(), DYN
    gn = b.lanes(g) if g.batched else g.node
    # x of unknown kind (a helper's results) may be a tuple: then so is the adjoint
    fact = DYN if getattr(x.info, "dyn", False) else _bat(x.rank)
    return b.t("_ax.add_to_lanes(d, x, i, g, n, xb, gb, ib)", d=d, x=x, i=index, g=gn,
               n=b.B(), xb=int(x.batched), gb=int(g.batched), ib=int(index.batched)), fact


@rule("take_slot")
def take_slot(b, prim, args):
    d, index = _pos(args, 2)
    if not d.batched:
        return b.recall(), Tup((Val(False, None), d.info))
    return b.t("_ax.take_slot_lanes(d, i, ib)", d=d, i=index, ib=int(index.batched)), \
        Tup((DYN, d.info))


@rule("clip_index")
def clip_index(b, prim, args):
    i, x, axis = _pos(args, 3)
    if not i.batched and not x.batched:
        return b.recall(), _un(i.rank)
    a = value_of(b, axis)
    if not _is_int(a):
        b.cannot("a clip on a per-lane axis")
    return b.recall(axis=const(a + 1) if x.batched else axis), _bat(i.rank, i.lanes)


@rule("nb_data", "nb_shape")
def leading_axes(b, prim, args):
    """vmap's own helpers under an enclosing vmap: the batched operand gains a leading axis,
    so its count ``nb`` of batch axes goes up by one.  ``nb_shape`` helpers compute shapes
    and axes, the same in every lane of the enclosing batch."""
    items = list(args.items())
    nb_param = items[-1][0]
    operands = [a for p, a in items if p != nb_param]
    if args[nb_param].batched or value_of(b, args[nb_param]) is _NOCONST:
        b.cannot("a per-lane count of batch axes")
    data = next(a for a in operands if not isinstance(a.info, Val) or a.info.rank != 0
                or a.batched) if operands else None
    others = [a for a in operands if a is not data]
    if any(a.batched for a in others):
        b.cannot(f"{prim.key} with per-lane options")
    if data is None or not data.batched:
        return b.recall(), Val(False, None)
    nb = value_of(b, args[nb_param]) + 1
    repl = {nb_param: const(nb)}
    for p, a in items:
        if a is data:
            repl[p] = b.lanes(a)
    info = Val(False, None) if prim.batch == "nb_shape" else _bat(None)
    return b.recall(**repl), info


@rule("containers")
def containers(b, prim, args):
    """Helpers on Python lists of per-lane values (adjoints of lists and tuples): the list
    structure is the same in every lane, so the call is unchanged."""
    if not any(a.batched for a in _flat(args.values())):
        return b.recall(), Val(False, None)
    return b.recall(), DYN


@rule("array_vjp")
def array_vjp(b, prim, args):
    """``_ax.array_vjp(v, x)``: a list ``x``'s cotangent comes as its stacked array with the
    batch axis first; it is split into one batched cotangent per item."""
    v, x = _pos(args, 2)
    if not v.batched and not x.batched:
        return b.recall(), Val(False, None)
    lst = isinstance(x.info, (Lst, Tup)) or (isinstance(x.info, Val) and x.info.dyn)
    node = b.t("_ax.array_vjp_lanes(v, x, xb)", v=b.lanes(v), x=x.node, xb=int(x.batched))
    return node, (DYN if lst or x.rank is None else _bat(x.rank))


@rule("seq_item")
def seq_item(b, prim, args):
    """``_ax.seq_item(d, i)``: on a list of adjoints the call is unchanged; on an adjoint
    array (NumPy read the list as one) the item is along the axis after the batch axis."""
    d, i = args["d"], args["i"]
    if not d.batched:
        return b.recall(), Val(False, None)
    if isinstance(d.info, Val) and not d.info.dyn and d.rank is not None:
        return b.t("d[:, i]", d=d, i=i), _bat(d.rank - 1 if d.rank else None)
    return b.t("_ax.seq_item_lanes(d, i)", d=d, i=i), DYN


@rule("unstack")
def unstack(b, prim, args):
    """``_ax.unstack(g, n, axis)`` / ``_ax.split_like(g, arrays, axis)`` (np.stack's and
    np.concatenate's adjoints) on a batched cotangent: the same list of items, each with the
    batch axis first, taken along the axis shifted past it."""
    v, n, axis = _pos(args, 3)
    if not v.batched and not n.batched:
        return b.recall(), Val(False, None)
    if axis.batched:
        b.cannot("a per-lane axis")
    ax = value_of(b, axis)
    if not _is_int(ax) or n.batched and prim.key == "_ax.unstack":
        b.cannot("a stack of per-lane length")
    helper = "unstack_batched" if prim.key == "_ax.unstack" else "split_like_batched"
    return b.t(f"_ax.{helper}(v, n, a)", v=b.lanes(v), n=n, a=const(_shift(ax))), DYN


@rule("copyto_into")
def copyto_into(b, prim, args):
    """``_ax.copyto_into(dst, src, casting, where)`` on a batch: the destination with its
    batch axis, the values and the mask lined up after it (NumPy broadcasting does the rest)."""
    dst, src, where = args["dst"], args["src"], args["where"]
    if args["casting"].batched:
        b.cannot("a per-lane casting")
    rank = dst.rank
    if rank is None and (src.batched or where.batched):
        rank = b.atom(b.t("_ax.lane_ndim(x)" if dst.batched else "np.ndim(x)", x=dst), "nd")
    repl = {"dst": b.lanes(dst)}
    for p, a in (("src", src), ("where", where)):
        if a.batched:
            repl[p] = b.lift(a, rank)
    return b.recall(**repl), _bat(dst.rank)


@rule("prod_others")
def prod_others(b, prim, args):
    """``_ax.prod_others(x, axis)`` and its derivatives: per lane, so every array operand gets
    the batch axis and the axis moves past it."""
    from astjax.batching.values import Arg
    arrays = [p for p in ("x", "t", "s") if p in args]
    rank = next((args[p].rank for p in arrays if args[p].rank is not None), None)
    repl = {p: b.lanes(args[p]) for p in arrays}
    like = Arg(repl["x"], Val(True, rank))
    repl["axis"] = batch_axis(b, like, args["axis"])
    return b.recall(**repl), _bat(rank)


@rule("as_seq")
def as_seq(b, prim, args):
    """list(seq) / tuple(seq) of a list or tuple: the same items, per lane as they were; of a
    per-lane array (whose items are its rows), vmap loops over the batch."""
    seq, = _pos(args, 1)
    if not seq.batched:
        return b.recall(), _un(None) if not isinstance(seq.info, (Lst, Tup)) else \
            (b.new_list(seq.info.elem) if isinstance(seq.info, Lst) and prim.key.endswith("list")
             else seq.info if isinstance(seq.info, Tup) and prim.key.endswith("tuple") else DYN)
    if isinstance(seq.info, Lst) and prim.key.endswith("list"):
        return b.recall(), b.new_list(seq.info.elem)
    if isinstance(seq.info, Tup) and prim.key.endswith("tuple"):
        return b.recall(), seq.info
    if prim.key.endswith("list") and isinstance(seq.info, Val) and not seq.info.dyn and \
            seq.rank is not None and seq.rank >= 1:
        # the rows of a per-lane array: item i is x[:, i] for every lane
        rows = b.atom(b.t("np.swapaxes(x, 0, 1)", x=b.lanes(seq)), "rows")
        return b.recall(seq=rows), b.new_list(_bat(seq.rank - 1))
    b.cannot(f"{prim.key.split('_')[-1]}() of a per-lane value")
