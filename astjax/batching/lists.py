"""vmap of lists and item writes.  A list is a Python list of per-lane values; once any
element is batched, every element is stored with the batch axis.  Appending to, popping
from or writing into a list under a per-lane condition would need lists of different
lengths, so it batches the whole function per lane instead (tapes excepted: they are pushed
and popped in mirror order).

Before (core form, ``x`` batched, ``w`` shared)::

    ys = [x, w]
    mul1 = x * 3.0
    ys[1] = mul1

After::

    w_b1 = _ax.batch_broadcast(w, B)    # stored with the batch axis, like x
    ys = [x, w_b1]
    t1 = x * 3.0
    ys[1] = t1

``ListBatcher`` is a mixin of ``FunctionBatcher`` (batching_control.py).
"""
import re
from dataclasses import replace

from astjax.frontend.syntax import assign, call, const, gast, name
from astjax.batching.flow import _at
from astjax.batching.values import (DYN, Arg, CannotBatch, Lst, Tup, Val, as_batched, build_node,
                              is_batched, is_none, item_node)

TAPE_PREFIX = "_tape"
_BWD = re.compile(r"(.+)_bwd(_.+)?")        # a helper's reverse sweep (autodiff/reverse.py)


def _stored_on_tape(info):
    """The fact of what ``store_value(..., tape=True)`` stores for a value of fact ``info``:
    shared arrays get the batch axis, shared scalars stay as they are."""
    if isinstance(info, Tup):
        return Tup(tuple(_stored_on_tape(i) for i in info.items), info.keys)
    if isinstance(info, Lst) or is_none(info) or info.dyn or info.batched or info.rank == 0:
        return info
    return as_batched(info)


class ListBatcher:
    """The list and item-write half of FunctionBatcher (batching_control.py)."""

    # -- containers ---------------------------------------------------------------------------
    def list_literal(self, op, s):
        lst = self.prog.list_at((self.gen_name, id(s)))
        if self.regions:
            self.regions[-1].sites.add(lst.site)
        for e in op.elts:
            self.prog.merge(lst, self.info(e))
        if lst.batched:
            op = gast.List(elts=[self.store_value(self.arg(e)) for e in op.elts],
                           ctx=gast.Load())
        return op, lst

    def store_value(self, a, tape=False):
        """The node to store into a batched list: per-lane, with the batch axis.  On a tape
        (astjax's own record of a forward sweep) shared scalars stay shared: the reverse
        sweep branches on them (``if keepdims:``), and nothing reads a tape as an array."""
        info = a.info
        if isinstance(info, Tup) and tape and info.keys is None and \
                all(isinstance(i, Val) for i in info.items):
            # a forward sweep's record: the shared arrays in it get the batch axis; the
            # record may still be None (a variable's value saved before its first binding)
            shared = tuple(_stored_on_tape(i) is not i for i in info.items)
            if not any(shared):
                return a.node
            return self.atom(call("_ax.tape_record", [a.node, const(shared), self.B()]),
                             "record")
        if isinstance(info, Tup):
            items = []
            for i, item in enumerate(info.items):
                node = self.atom(item_node(a.node, info, i), "item")
                items.append(self.store_value(Arg(node, item), tape))
            return self.atom(build_node(info, items), "items")
        if isinstance(info, Lst) or is_none(info) or info.dyn:
            return a.node
        if info.batched:
            return a.node
        # every item of a batched list carries the batch axis, scalars too: NumPy then reads
        # the list as one (B, ...) array (np.array, np.sum of the list)
        return self.materialize(a, force=not tape)

    def check_list_use(self, lst_node, what, s):
        if not self.regions:
            return
        info = self.info(lst_node)
        var = self.alias.get(lst_node.id, lst_node.id)
        if isinstance(info, Lst) and any(info.site in r.sites for r in self.regions):
            return
        if var.startswith(TAPE_PREFIX):
            return
        raise CannotBatch(f"{what} a list under a per-lane condition (lanes would need lists "
                          f"of different lengths)", s, whole_function=True)

    def list_pop(self, op, s):
        lst_node = op.func.value
        self.check_list_use(lst_node, "popping from", s)
        info = self.info(lst_node)
        if isinstance(info, Lst):
            elem = info.elem if info.elem is not None else Val(False, None)
            if info.tups and isinstance(elem, Val) and elem.dyn:
                record = self.tape_record(info, s)
                if record is not None:
                    return op, record
                elem = replace(elem, tups=tuple(info.tups[n] for n in sorted(info.tups)))
            return op, elem
        return op, DYN if is_batched(info) else Val(False, None)

    def tape_record(self, tape, s):
        """The fact of the record ``t = _tape.pop()`` takes off a tape of mixed records: the
        reverse sweep unpacks it at once (``t[0]``, ``t[1]``, ...), so it is the tuple of that
        length its forward sweep pushed (or any pushed tuple of that length)."""
        if not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)):
            return None
        var = s.targets[0].id
        reads = [n.slice.value for n in gast.walk(self.core.node)
                 if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and
                 n.value.id == var and isinstance(n.slice, gast.Constant) and
                 type(n.slice.value) is int and n.slice.value >= 0]
        if not reads:
            return None
        n = max(reads) + 1
        sweep = _BWD.fullmatch(self.core.name)
        site = f"{sweep.group(1)}_fwd{sweep.group(2) or ''}" if sweep else None
        return (tape.sites or {}).get((site, n)) or tape.tups.get(n)

    def append(self, s):
        self.current = s
        lst_node = self.rename(s.value.func.value)
        item = self.rename(s.value.args[0])
        self.check_list_use(lst_node, "appending to", s)
        info = self.info(lst_node)
        self.outs.append([])
        if isinstance(info, Lst):
            tape = isinstance(lst_node, gast.Name) and lst_node.id.startswith(TAPE_PREFIX)
            self.prog.merge(info, self.info(item))
            if tape and isinstance(self.info(item), Tup):
                self.prog.merge_tuple(info, _stored_on_tape(self.info(item)), self.core.name)
            if info.batched:
                item = self.store_value(self.arg(item), tape)
        emitted = self.outs.pop()
        emitted.append(_at(gast.Expr(value=call(gast.Attribute(value=lst_node, attr="append",
                                                               ctx=gast.Load()), [item])), s))
        return emitted

    # -- item writes --------------------------------------------------------------------------
    def setitem(self, target, value, s):
        from astjax.batching import index as batching_index
        self.current = s
        var = target.value.id
        self.outs.append([])
        base_info = self.env.get(var)
        if isinstance(base_info, Lst):
            self.check_list_use(name(self.names.get(var, var)), "writing into", s)
        # a region must not overwrite an array other lanes still read: own a copy
        current = self.names.get(var, var)
        shared = [var] + list(getattr(s, "shared_with", ()))    # the same object (aliases.py)
        if self.regions and current not in self.regions[-1].own and \
                any(v in r.protect for r in self.regions for v in shared):
            new = self.fresh(f"{var}_")
            self.regions[-1].own.add(new)
            self.put(assign(new, call("np.copy", [name(current)])))
            self.names[var] = new
            self.alias[new] = var
            if isinstance(base_info, Val):
                self.env[var] = Val(base_info.batched, base_info.rank, base_info.lanes,
                                    base_info.maybe_none)
        target = self.rename(gast.Subscript(value=target.value, slice=target.slice,
                                            ctx=gast.Load()))
        value = self.rename(value)
        batching_index.setitem(self, var, target, value)
        emitted = self.outs.pop()
        return emitted
