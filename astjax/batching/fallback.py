"""vmap's fallback for one operation: what has no batching rule (or whose rule gives up)
runs once per lane in a Python loop, with a ``BatchingWarning`` saying where.

Before (core form, ``x`` batched)::

    det1 = np.linalg.det(x)

After::

    items1 = []
    # astjax: np.linalg.det has no batching rule: vmap loops over the batch here
    for b2 in range(B):
        lane3 = x[b2]
        r4 = np.linalg.det(lane3)
        items1.append(r4)
    det1 = np.stack(items1)

``LaneLoopBatcher`` is a mixin of ``FunctionBatcher`` (batching_control.py).
"""
import copy
import warnings

from astjax.rules import registry as primitives
from astjax.frontend.syntax import assign, call, gast, name
from astjax.batching.values import (DYN, Arg, BatchingWarning, Tup, Val, build_node, is_batched, item_node,
                              stacked)
from astjax.core.form import bind, dotted_path, prim_key


class LaneLoopBatcher:
    """The per-lane loop half of FunctionBatcher (batching_control.py)."""

    # -- a loop over the batch for one operation ----------------------------------------------
    def lane_loop(self, op, exc, s, callee=None):
        reason = exc.reason
        if callee is None:
            self.note_fallback(f"{reason}: this operation loops over the batch", s)
        per_lane = self.per_example_fact(op, callee)
        items = self.fresh("items")
        lane = self.fresh("b")
        self.put(assign(items, gast.List(elts=[], ctx=gast.Load())))
        body = []
        self.outs.append(body)
        lane_op = copy.deepcopy(op)
        in_func = {id(m) for c in gast.walk(lane_op) if isinstance(c, gast.Call)
                   for m in gast.walk(c.func)}
        for n in list(gast.walk(lane_op)):
            if id(n) in in_func:
                continue
            for field_name, value in gast.iter_fields(n):
                if field_name == "func":
                    continue
                if isinstance(value, gast.Name) and isinstance(value.ctx, gast.Load):
                    a = self.arg(value)
                    if a.batched:
                        setattr(n, field_name, self.lane_of(a, name(lane)))
                elif isinstance(value, list):
                    for i, v in enumerate(value):
                        if isinstance(v, gast.Name) and isinstance(v.ctx, gast.Load):
                            a = self.arg(v)
                            if a.batched:
                                value[i] = self.lane_of(a, name(lane))
        if callee is None and prim_key(op, self.core.helpers) == "helper":
            callee = dotted_path(op.func)
        if callee is not None:
            lane_op.func = name(self.prog.original(callee))
        r = self.fresh("r")
        self.put(assign(r, lane_op))
        self.put(gast.Expr(value=call(gast.Attribute(value=name(items), attr="append",
                                                     ctx=gast.Load()), [name(r)])))
        self.outs.pop()
        loop = gast.For(target=name(lane, gast.Store()), iter=call("range", [self.B()]),
                        body=body, orelse=[], type_comment=None)
        loop.note = f"astjax: {reason}: vmap loops over the batch here"
        self.put(loop)
        if isinstance(per_lane, Val) and per_lane.rank is not None and not per_lane.dyn:
            return call("np.stack", [name(items)]), stacked(per_lane)
        if isinstance(per_lane, Val):        # of unknown kind: may be a tuple of results
            return call("_ax.stack_lanes", [name(items)]), DYN
        return call("_ax.stack_lanes", [name(items)]), stacked(per_lane)

    def lane_of(self, a, lane):
        info = a.info
        if isinstance(info, Tup):
            items = []
            for i, item in enumerate(info.items):
                node = self.atom(item_node(a.node, info, i), "item")
                items.append(self.lane_of(Arg(node, item), lane) if is_batched(item) else node)
            return self.atom(build_node(info, items), "lane")
        if isinstance(info, Val) and info.lanes and not info.dyn:
            return self.atom(gast.Subscript(value=a.node, slice=lane, ctx=gast.Load()), "lane")
        return self.atom(call("_ax.lane", [a.node, lane]), "lane")

    def per_example_fact(self, op, callee=None):
        """The fact one example's result would have (ranks only)."""
        key = "helper" if callee is not None else prim_key(op, self.core.helpers)
        try:
            if key == "helper":
                infos = [_unbatch(self.info(a)) for a in op.args]
                return self.prog.specialize(callee or dotted_path(op.func), infos)[1]
            prim = primitives.lookup(key)
            if prim is None:
                return Val(False, None)
            from astjax.batching.rules import result_fact
            bound = bind(prim, op)
            args = {p: ([Arg(a, _unbatch(self.info(a))) for a in v] if isinstance(v, list)
                        else Arg(v, _unbatch(self.info(v)))) for p, v in bound.items()}
            return result_fact(self, prim, args)
        except Exception:
            return Val(False, None)

    def note_fallback(self, reason, s):
        origin = getattr(s, "origin", None)
        where = f"{origin.short}: " if origin is not None else ""
        self.fallbacks.append(f"{where}{reason}")
        warnings.warn(f"vmap: {where}{reason}", BatchingWarning, stacklevel=2)


def _unbatch(info):
    if isinstance(info, Val):
        return Val(False, info.rank)
    if isinstance(info, Tup):
        return Tup(tuple(_unbatch(i) for i in info.items))
    return info

