"""Batching rules of indexing: ``x[index]`` and ``x[index] = v`` with a batched array,
batched index arrays, or both.

    x[i]          ->  x[:, i]                      a leading slice for the batch axis
    x[:, j]       ->  x[:, :, j]
    w[i]          ->  w[i]                         i per lane: its batch axis leads the result
    x[i]          ->  x[np.arange(B), i]           both per lane: each lane reads its own row
    x[i] = v      ->  x[:, i] = v  /  x[np.arange(B), i] = v

NumPy puts the axes of advanced (array) indices first when they are not adjacent; the rules
check where they land and move the batch axis back to the front when needed.  Inside a
masked region (a branch some lanes do not take) indices are clipped into range, as JAX's
gathers are, so a lane that will be discarded cannot raise.
"""
from astjax.frontend.syntax import call, const, gast, name
from astjax.batching.rules import _bat, _is_int, _un, value_of
from astjax.batching.values import DYN, SCALAR, Lst, Tup, Val, is_batched, tape_item

class _Part:
    """One part of an index: 'slice', 'none', 'ellipsis', 'int' or 'array' (an Arg)."""

    def __init__(self, kind, node, arg=None):
        self.kind, self.node, self.arg = kind, node, arg

    @property
    def batched(self):
        return self.arg is not None and self.arg.batched


def _parts(b, index):
    from astjax.batching.values import Arg
    elts = index.elts if isinstance(index, gast.Tuple) else [index]
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
    from astjax.batching.values import Arg
    x = b.arg(op.value)
    if isinstance(x.info, Tup):
        return _tuple_item(b, x, op)
    if isinstance(x.info, Lst):
        index = Arg(op.slice, b.info(op.slice)) if not isinstance(op.slice, gast.Slice) else None
        if index is not None and index.batched:
            b.cannot("a per-lane index into a list")
        if index is None:
            # lst[a:b] is a new list of the same items (its bounds shared by every lane)
            bounds = [e for e in (op.slice.lower, op.slice.upper, op.slice.step)
                      if isinstance(e, gast.Name)]
            if any(is_batched(b.info(e)) for e in bounds):
                b.cannot_whole("a per-lane slice of a list")
            return op, b.new_list(x.info.elem)
        return op, x.info.elem if x.info.elem is not None else Val(False, None)
    parts = _parts(b, op.slice)
    rank = _index_rank(x.rank, parts)
    batched_index = any(p.batched for p in parts)
    if not x.batched and not batched_index:
        return op, _un(rank)
    if b.regions:
        _clip_in_region(b, x, parts)
    if x.info.dyn and not batched_index:
        fact = DYN
        if x.info.tups and isinstance(op.slice, gast.Constant) and type(op.slice.value) is int:
            fact = tape_item(x.info, op.slice.value) or DYN
        return b.t("_ax.dyn_getitem(x, i)", x=x, i=_value_index(parts)), fact
    if not batched_index:
        if not any(p.kind == "array" for p in parts) or _adv_contiguous(parts):
            item = gast.Subscript(value=x.node, slice=_index_node(parts, [_COLON]),
                                  ctx=gast.Load())
            if rank in (0, None) and all(p.kind == "int" for p in parts):
                # per example an item is a copy (a NumPy scalar), across the batch a view:
                # a later write into x must not change it
                helper = "np.copy(x)" if rank == 0 else "_ax.copy_lane_scalar(x)"
                item = b.t(helper, x=b.atom(item, "item"))
            return item, _bat(rank, x.lanes)
        if any(p.kind == "ellipsis" for p in parts):
            b.cannot("an index mixing '...' with separated array indices")
        moved = b.atom(b.t("np.moveaxis(x, 0, -1)", x=x), "moved")
        item = b.atom(gast.Subscript(value=moved, slice=_index_node(parts), ctx=gast.Load()))
        return b.t("np.moveaxis(x, -1, 0)", x=item), _bat(rank)
    return _gather(b, x, parts, rank)


def _clip_in_region(b, x, parts):
    """Lanes a mask will discard still compute: keep their indices in range (as JAX's
    gathers clamp), so a guarded ``x[i]`` cannot raise for a lane that never reads it."""
    for k, p in enumerate(parts):
        if p.kind == "ellipsis":
            return
        if p.kind in ("int", "array") and not isinstance(p.node, gast.Constant):
            axis = k + 1 if x.batched else k
            p.node = b.atom(b.t("_ax.clip_index(i, x, a)", i=p.node, x=x, a=axis), "index")


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
    if x.info.keys is not None:
        if v in x.info.keys:
            return op, items[x.info.keys.index(v)]
        b.cannot("a dict read with a key that is not a constant")
    if _is_int(v) and -len(items) <= v < len(items):
        return op, items[v]
    if isinstance(op.slice, gast.Slice):
        return op, Val(False, None) if not x.batched else DYN
    idx = b.info(op.slice)
    if is_batched(idx):
        b.cannot("a per-lane index into a tuple")
    from astjax.batching.values import join
    elem = None
    for item in items:
        elem = join(elem, item)
    if is_batched(elem) and not all(is_batched(i) for i in items):
        from astjax.batching.values import Arg
        node = b.materialize(Arg(x.node, x.info), force=True)
        return gast.Subscript(value=node, slice=op.slice, ctx=gast.Load()), elem
    return op, elem


def _gather(b, x, parts, rank):
    """Indexing with per-lane index arrays (a gather)."""
    from astjax.batching.values import Arg
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
            node = b.lanes(Arg(p.node, p.arg.info)) if not p.arg.lanes and not x.batched \
                else p.node
            if r_adv is not None and p.arg.rank < r_adv:
                node = b.lift(Arg(node, Val(True, p.arg.rank, p.arg.lanes)), r_adv)
            p.node = node
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
    from astjax.batching.values import Arg
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
