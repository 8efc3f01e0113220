"""vmap of ``if``: a test every lane shares keeps its ``if`` (the facts of both paths are
joined); a per-lane test runs both branches, each writing *renamed* copies of what the other
branch or later code reads, and ``np.where`` merges them (if-conversion).

Before (core form, ``x`` batched, ``w`` shared)::

    sum1 = np.sum(x)
    gt2 = sum1 > 0
    if gt2:
        y = 2.0 * x
    else:
        y = w

After::

    sum1 = np.sum(x, axis=(1,))
    gt2 = sum1 > 0                      # a per-lane test ...
    y_1 = 2.0 * x                       # ... so both branches run, renamed,
    y_2 = w
    gt23 = gt2[:, None]                 # the mask, lifted to the rank of y
    y = np.where(gt23, y_1, y_2)        # and a select keeps each lane's own y

An ``if`` whose branches pop a tape runs its ``else`` first (the mirror of the forward
sweep's order).  ``BranchBatcher`` is a mixin of ``FunctionBatcher`` (batching_control.py).
"""
from astjax.frontend.syntax import assign, call, gast, name
from astjax.batching.flow import _assigned, _at, _item_written, _reads
from astjax.batching.values import (NONE, SCALAR, Arg, CannotBatch, Lst, Region, Tup, Val, as_batched,
                              build_node, is_batched, is_none, item_node, join)


class BranchBatcher:
    """The ``if`` half of FunctionBatcher (batching_control.py)."""

    # -- control flow -------------------------------------------------------------------------
    def protect_for(self, s):
        """Before plain control flow inside a region: give the region its own copy of every
        protected variable the statement assigns, so all paths write the same name."""
        out = []
        if not self.regions:
            return out
        region = self.regions[-1]
        written = _assigned([s]) | _item_written([s])
        for var in sorted(written):
            if not any(var in r.protect for r in self.regions):
                continue
            current = self.names.get(var, var)
            if current in region.own:
                continue
            new = self.fresh(f"{var}_")
            region.own.add(new)
            if var in self.env and not is_none(self.env[var]):
                value = name(current)
                if var in _item_written([s]):
                    value = call("np.copy", [value])
                out.append(_at(assign(new, value), s))
            self.names[var] = new
            self.alias[new] = var
        return out

    def test_of(self, test):
        """(core variable, negated?) of an ``if`` test."""
        if isinstance(test, gast.UnaryOp):
            return test.operand.id, True
        return test.id, False

    def if_(self, s):
        var, negated = self.test_of(s.test)
        info = self.env.get(var, SCALAR)
        if is_batched(info) and not isinstance(info, (Lst, Tup)):
            # a list's truth is its length, which every lane shares (check_list_use)
            return self.select_if(s, var, negated)
        if not (self.masked_loops and self.prog.uses_tape(s)):
            return self.plain_if(s)
        # Under a loop's live mask, a shared test that guards tape pushes or pops runs both
        # branches too: the mirror sweep tests the value restored after the loop merged it
        # per lane, so it runs both of its branches, and each sweep must pop what the other
        # pushed.
        out = []
        self.current = s
        self.outs.append(out)
        mask = self.materialize(Arg(name(self.names.get(var, var)), info), force=True)
        self.outs.pop()
        self.names[var] = mask.id
        self.alias[mask.id] = var
        self.env[var] = Val(True, 0, lanes=False)
        return out + self.select_if(s, var, negated)

    def plain_if(self, s):
        out = self.protect_for(s)
        env0, names0 = dict(self.env), dict(self.names)
        then = self.block(s.body)
        env1, names1 = self.env, self.names
        self.env, self.names = dict(env0), dict(names0)
        orelse = self.block(s.orelse)
        env2 = self.env
        self.names = {**names1, **self.names}
        live = self.live_after.get(id(s), set())
        self.env = self.join_envs([(env1, then), (env2, orelse)], live, s)
        test = self.rename(s.test)
        node = gast.If(test=test, body=then or [gast.Pass()], orelse=orelse)
        return out + [_at(node, s)]

    def join_envs(self, paths, live, s):
        """The facts after paths meet; unbatched values that are batched on another path are
        materialized at the end of their path."""
        keys = set()
        for env, _ in paths:
            keys |= set(env)
        joined = {}
        for k in keys:
            info = None
            for env, _ in paths:
                if k in env:
                    info = join(info, env[k])
            joined[k] = info
        for env, out in paths:
            for k in sorted(keys & live):
                have, want = env.get(k), joined[k]
                if have is None or not is_batched(want) or is_batched(have):
                    continue
                saved = self.outs
                self.outs = [out]
                node = self.materialize(Arg(name(self.names.get(k, k)), have))
                self.outs = saved
                if isinstance(node, gast.Name) and node.id != self.names.get(k, k):
                    out.append(_at(assign(self.names.get(k, k), node), s))
                joined[k] = join(want, as_batched(have))
        return joined

    def select_if(self, s, var, negated):
        """if-conversion: both branches run, renamed; np.where merges what is read later."""
        self.masked = True
        mask = name(self.names.get(var, var))
        mask_info = self.env[var]
        out = []
        if negated:
            self.current = s
            self.outs.append(out)
            mask = self.atom(call("np.logical_not", [mask]), "not")
            self.outs.pop()
        live = self.live_after.get(id(s), set())
        assigned = {"then": _assigned(s.body) | _item_written(s.body),
                    "else": _assigned(s.orelse) | _item_written(s.orelse)}
        reads = {"then": _reads(s.body), "else": _reads(s.orelse)}
        env0, names0 = dict(self.env), dict(self.names)
        order = ["else", "then"] if self.prog.pops(s) else ["then", "else"]
        done = {}
        for branch in order:
            other = "else" if branch == "then" else "then"
            stmts = s.body if branch == "then" else s.orelse
            protect = assigned[branch] & (live | reads[other] | assigned[other])
            self.env, self.names = dict(env0), dict(names0)
            region = Region(protect)
            self.regions.append(region)
            out += self.block(stmts)
            self.regions.pop()
            done[branch] = (self.env, self.names)
        self.env, self.names = dict(env0), dict(names0)
        self.current = s
        self.outs.append(out)
        masks = {}
        for v in sorted((assigned["then"] | assigned["else"]) & live):
            sides = []
            for branch in ("then", "else"):
                env_b, names_b = done[branch]
                if v in assigned[branch]:
                    sides.append((name(names_b.get(v, v)), env_b.get(v)))
                elif v in env0:
                    sides.append((name(names0.get(v, v)), env0[v]))
                else:
                    sides.append((None, None))
            self.merge(v, mask, mask_info, sides, masks)
        self.outs.pop()
        return out

    def merge(self, v, mask, mask_info, sides, masks):
        """``v = np.where(mask, then_value, else_value)``, one-sided when a side is unset."""
        (tn, ti), (en, ei) = sides
        if ti is None or is_none(ti):
            tn = None
        if ei is None or is_none(ei):
            en = None
        if tn is None and en is None:
            if ti is not None or ei is not None:
                self.env[v] = NONE
            return
        if tn is None or en is None:
            node, info = (tn, ti) if tn is not None else (en, ei)
            target = self.target(v)
            if node.id != target:
                self.put(assign(target, node))
            self.env[v] = info if en is None or tn is None else join(ti, ei)
            return
        if isinstance(ti, Lst) or isinstance(ei, Lst) or isinstance(ti, Tup) or \
                isinstance(ei, Tup):
            expr, info = self.where_tree(mask, mask_info, Arg(tn, ti), Arg(en, ei), masks)
        else:
            expr, info = self.where(mask, mask_info, Arg(tn, ti), Arg(en, ei), masks)
        target = self.target(v)
        self.put(assign(target, self.core_op(expr)))
        self.env[v] = info

    def where(self, mask, mask_info, a, b, masks):
        """(expr, fact) of the per-lane select between ``a`` (mask true) and ``b``."""
        joined = join(a.info, b.info)
        rank = joined.rank if isinstance(joined, Val) else None
        info = Val(True, rank, True if rank else (mask_info.lanes or a.lanes or b.lanes),
                   joined.maybe_none if isinstance(joined, Val) else False)
        # an unknown rank is that of the sides (a constant, the zero 0.0, has none to add)
        sides = [x for x in (a, b) if not isinstance(x.node, gast.Constant)] or [a]
        key = (mask.id if isinstance(mask, gast.Name) else id(mask), rank,
               None if rank is not None else tuple(_node_key(x.node) for x in sides))
        if key not in masks:
            if rank is None:
                # the lane rank of the higher side: a mask aligned to it fits both
                ndims = [f"_ax.lane_ndim({v})" if x.batched else f"np.ndim({v})"
                         for x, v in zip(sides, "ab")]
                ndim = ndims[0] if len(ndims) == 1 else f"max({', '.join(ndims)})"
                masks[key] = self.atom(self.t(f"_ax.align(m, {ndim})", m=mask,
                                              **dict(zip("ab", sides))), "mask")
            else:
                masks[key] = self.lift(Arg(mask, mask_info), rank) if rank != 0 else mask
        m = masks[key]
        maybe = (isinstance(a.info, Val) and a.info.maybe_none) or \
            (isinstance(b.info, Val) and b.info.maybe_none)
        if maybe:
            return call("_ax.where_defined", [m, a.node, b.node]), info
        return call("np.where", [m, a.node, b.node]), info

    def where_tree(self, mask, mask_info, a, b, masks):
        if isinstance(a.info, Tup) and isinstance(b.info, Tup) and \
                len(a.info.items) == len(b.info.items) and a.info.keys == b.info.keys:
            items, infos = [], []
            for i, (x, y) in enumerate(zip(a.info.items, b.info.items)):
                xn = self.atom(item_node(a.node, a.info, i))
                yn = self.atom(item_node(b.node, b.info, i))
                if isinstance(x, Val) and isinstance(y, Val):
                    expr, info = self.where(mask, mask_info, Arg(xn, x), Arg(yn, y), masks)
                else:
                    expr, info = self.where_tree(mask, mask_info, Arg(xn, x), Arg(yn, y), masks)
                items.append(self.atom(expr, "sel"))
                infos.append(info)
            return build_node(a.info, items), Tup(tuple(infos), a.info.keys)
        raise CannotBatch("a list or tuple that differs between per-lane branches",
                          whole_function=True)


def _node_key(node):
    return node.id if isinstance(node, gast.Name) else id(node)
