"""vmap of loops.  A loop whose trip count every lane shares stays a loop (its facts
iterate to a fixpoint; what becomes per-lane inside is materialized on entry).  A loop that
lanes leave at different times -- a batched ``while`` test, a batched ``break`` or early
``return`` flag, a per-lane ``range`` bound -- runs until every lane is done, under a
``live`` mask::

    while i < n:                          live = cond
        i = i + 1               ->        any1 = np.any(live)
                                          while any1:
                                              i_1 = i + 1
                                              cond_2 = i_1 < n
                                              i = np.where(live, i_1, i)
                                              cond = np.where(live, cond_2, cond)
                                              live = cond
                                              any1 = np.any(live)

The body writes renamed copies of what is read later; they are merged back for live lanes
only.  A ``for _ in range(n)`` with per-lane ``n`` whose variable is unused runs its lanes
*right-aligned* (lane b is live in the last n[b] trips), which is what replays a reverse
sweep's tape in the mirror order of the forward sweep that pushed it.
"""
import copy

from astjax.frontend.syntax import assign, call, const, gast, name
from astjax.batching.flow import (_assigned, _at, _break_flags, _insert_before_breaks, _is_break,
                            _item_written, _reads)
from astjax.batching.values import NONE, SCALAR, Arg, CannotBatch, Region, Val, is_batched, is_none, join


class LoopBatcher:
    """The loop half of FunctionBatcher (batching_control.py)."""

    # -- loops --------------------------------------------------------------------------------
    def for_(self, s):
        bounds = [self.info(self.rename(b)) for b in s.iter.args]
        if any(is_batched(b) for b in bounds):
            return self.loop(s, "bounds")
        out = self.loop(s, "plain")
        return out if out is not None else self.loop(s, "masked")

    def while_(self, s):
        out = self.loop(s, "plain")
        return out if out is not None else self.loop(s, "masked")

    def loop(self, s, mode):
        """Emit a loop.  ``plain``: the same loop (a trip count shared by all lanes; returns
        None when the fixpoint shows lanes leave at different times).  ``masked``: until
        every lane is done, under a ``live`` mask.  ``bounds``: over the widest range of a
        batched ``range``, masked to each lane's own."""
        env_in, names_in, alias_in = dict(self.env), dict(self.names), dict(self.alias)
        namer_in = (self.fresh.count, set(self.fresh.taken))
        self.current = s
        pre = self.protect_for(s)
        # a variable first set inside the loop may be merged with its value from an earlier
        # trip: give it a value (None) on entry, so the merge can tell "not yet set"
        carried = (self.live_head.get(id(s), set()) | self.live_after.get(id(s), set())) & \
            (_assigned(s.body) - set(self.env))
        if isinstance(s, gast.For):
            carried.discard(s.target.id)
        for v in sorted(carried):
            pre.append(_at(assign(self.names.get(v, v), const(None)), s))
            self.env[v] = NONE
        env_pre, names_pre, alias_pre = dict(self.env), dict(self.names), dict(self.alias)
        namer_pre = (self.fresh.count, set(self.fresh.taken))
        head = dict(env_pre)
        for _ in range(12):
            self.fresh.count, self.fresh.taken = namer_pre[0], set(namer_pre[1])
            self.env, self.names, self.alias = dict(head), dict(names_pre), dict(alias_pre)
            if mode == "plain":
                if isinstance(s, gast.For):
                    self.env[s.target.id] = SCALAR
                parts, body = [], self.block(s.body)
            else:
                parts, body = self.masked_loop(s, mode, head, names_pre, env_pre)
            new_head = {k: join(head.get(k), self.env.get(k))
                        for k in set(head) | set(self.env)}
            if new_head == head:
                break
            head = new_head
        else:
            raise CannotBatch("the facts of this loop do not settle", s, whole_function=True)
        if mode == "plain":
            tests = _break_flags(s.body) + ([s.test.id] if isinstance(s, gast.While) else [])
            if any(is_batched(head.get(f, SCALAR)) for f in tests):
                self.env, self.names, self.alias = env_in, names_in, alias_in
                self.fresh.count, self.fresh.taken = namer_in
                return None
        live = self.live_head.get(id(s), set()) | self.live_after.get(id(s), set())
        # materialize what is shared on entry but per-lane around the loop
        self.current = s
        before = []
        self.outs.append(before)
        for k in sorted(live & set(env_pre)):
            self.coerce(k, env_pre[k], head.get(k), names_pre.get(k, k))
        self.outs.pop()
        if mode != "plain":
            self.env = head
            return pre + before + parts + body
        end = []
        self.outs.append(end)
        for k in sorted(live & set(self.env)):
            self.coerce(k, self.env[k], head.get(k), self.names.get(k, k))
        self.outs.pop()
        node = copy.copy(s)
        if isinstance(s, gast.For):
            node.iter = self.rename(s.iter)
            node.target = name(self.names.get(s.target.id, s.target.id), gast.Store())
        else:
            node.test = name(self.names.get(s.test.id, s.test.id))
        node.body = _insert_before_breaks(body, end) or [gast.Pass()]
        self.env = head
        return pre + before + [_at(node, s)]

    def coerce(self, var, have, want, source):
        """Make ``var`` (now ``have``, read from ``source``) fit ``want`` (a join)."""
        if want is None or have is None or not is_batched(want) or is_batched(have):
            return
        node = self.materialize(Arg(name(source), have))
        if var in self.item_written and node.id != source:
            node = self.atom(call("np.copy", [node]), f"{var}_b")   # writable, per lane
        target = self.names.get(var, var)
        if not (isinstance(node, gast.Name) and node.id == target):
            self.put(assign(target, node))

    def masked_loop(self, s, mode, head, outer_names, env_pre):
        """(statements before, [the loop]) of a loop run under a ``live`` mask of lanes."""
        self.masked = True
        self.current = s
        live_after = self.live_after.get(id(s), set())
        live_head = self.live_head.get(id(s), set())
        flags = _break_flags(s.body)
        breaks = [i for i, b in enumerate(s.body) if _is_break(b)]
        last = breaks[-1] if breaks else len(s.body) - 1
        if isinstance(s, gast.While):
            body = [b for b in s.body[:last + 1] if not _is_break(b)] + s.body[last + 1:]
        else:
            body = [b for b in s.body if not _is_break(b)]
        assigned = _assigned(s.body) | _item_written(s.body)
        loop_var = s.target.id if isinstance(s, gast.For) else None
        protect = assigned & (live_after | live_head)
        protect.discard(loop_var)
        per_lane_var = loop_var is not None and loop_var in live_after
        before = []
        self.outs.append(before)
        for v in sorted((protect | ({loop_var} if per_lane_var else set())) - set(env_pre)):
            self.put(assign(outer_names.get(v, v), const(None)))
            self.env[v] = NONE
            head = dict(head, **{v: join(head.get(v), NONE)})
        live = self.fresh("live")
        any_ = self.fresh("any")
        self.env[live] = Val(True, 0, lanes=False)
        rng = copy.deepcopy(s.iter) if loop_var is not None else None
        lo = hi = step = None
        right_aligned = False
        if isinstance(s, gast.While):
            self.put(assign(live, name(outer_names.get(s.test.id, s.test.id))))
            self.put(assign(any_, call("np.any", [name(live)])))
        elif mode == "masked":
            self.put(assign(live, const(True)))
            rng = self.rename(s.iter)
        else:                                  # batched range bounds
            args = [self.rename(a) for a in s.iter.args]
            if len(args) == 1:
                lo, hi, step = const(0), args[0], const(1)
            else:
                lo, hi = args[0], args[1]
                step = args[2] if len(args) > 2 else const(1)
            if is_batched(self.info(step)) or not isinstance(step, gast.Constant) or \
                    not isinstance(step.value, int) or step.value <= 0:
                raise CannotBatch("a per-lane range with a step that is not a positive "
                                  "constant", s, whole_function=True)
            right_aligned = loop_var not in (_reads(s.body) | live_after) and step.value == 1
            if right_aligned:
                n = self.atom(self.t("hi - lo", hi=hi, lo=lo), "trips")
                self.env[n.id] = Val(True, 0, lanes=False)
                top = self.atom(self.t("np.max(n)", n=n), "top")
                rng = call("range", [top])
                lo, hi = n, top
            else:
                first = self.atom(self.t("np.min(lo)", lo=lo)) if is_batched(self.info(lo)) \
                    else lo
                last_ = self.atom(self.t("np.max(hi)", hi=hi)) if is_batched(self.info(hi)) \
                    else hi
                rng = call("range", [first, last_, step])
            if flags:
                self.put(assign(live, const(True)))
        self.outs.pop()
        # the body: a region under the mask
        loop_body = []
        self.outs.append(loop_body)
        iterated = None
        if loop_var is not None:
            iterated = self.fresh(f"{loop_var}_it") if (per_lane_var or right_aligned) \
                else outer_names.get(loop_var, loop_var)
            self.env[iterated] = SCALAR
        if mode == "bounds":
            if right_aligned:
                left = self.atom(self.t("top - j", top=hi, j=name(iterated)), "left")
                inside = self.t("left <= n", left=left, n=lo)
            else:
                inside = self.t("np.logical_and(j >= lo, j < hi)", j=name(iterated), lo=lo,
                                hi=hi)
                if step.value != 1:
                    inside = self.t("np.logical_and(c, (j - lo) % s == 0)", c=inside,
                                    j=name(iterated), lo=lo, s=step)
            mask = self.atom(inside, "inrange")
            self.env[mask.id] = Val(True, 0, lanes=False)
            if flags:
                mask = self.atom(call("np.logical_and", [name(live), mask]), "m")
                self.env[mask.id] = Val(True, 0, lanes=False)
            mask = mask.id
        else:
            mask = live
        region = Region(protect | ({loop_var} if per_lane_var else set()))
        self.regions.append(region)
        if loop_var is not None:
            if per_lane_var:
                self.put(assign(self.target(loop_var), name(iterated)))
            else:
                self.names.pop(loop_var, None)
                if iterated != loop_var:
                    self.names[loop_var] = iterated
                    self.alias[iterated] = loop_var
            self.env[loop_var] = SCALAR
        self.masked_loops += 1
        loop_body += self.block(body)
        self.masked_loops -= 1
        self.regions.pop()
        # merge what the region wrote back, for the lanes under the mask only
        self.current = s
        masks = {}
        mask_info = self.env[mask]
        for v in sorted(region.protect):
            own = self.names.get(v, v)
            outer = outer_names.get(v, v)
            self.names[v] = outer
            if own == outer:
                continue
            new, old = self.env.get(v), head.get(v)
            if old is None or is_none(old):
                self.put(assign(outer, name(own)))
                self.env[v] = new
                continue
            expr, info = self.where(name(mask), mask_info, Arg(name(own), new),
                                    Arg(name(outer), old), masks)
            self.put(assign(outer, self.core_op(expr)))
            self.env[v] = info
        for f in flags:
            notf = self.atom(call("np.logical_not", [name(self.names.get(f, f))]), "not")
            self.put(assign(live, call("np.logical_and", [name(live), notf])))
        if isinstance(s, gast.While):
            cond = name(self.names.get(s.test.id, s.test.id))
            self.put(assign(live, call("np.logical_and", [name(live), cond]) if flags else cond))
        if isinstance(s, gast.While) or flags:
            self.put(assign(any_, call("np.any", [name(live)])))
        if isinstance(s, gast.For) and flags:
            stop = self.atom(gast.UnaryOp(op=gast.Not(), operand=name(any_)), "stop")
            self.put(gast.If(test=stop, body=[gast.Break()], orelse=[]))
        self.outs.pop()
        if isinstance(s, gast.While):
            node = gast.While(test=name(any_), body=loop_body, orelse=[])
        else:
            node = gast.For(target=name(iterated, gast.Store()), iter=rng, body=loop_body,
                            orelse=[], type_comment=None)
        node.note = ("astjax: lanes leave this loop at different times: it runs until all "
                     "are done, updating live lanes only")
        return before, [_at(node, s)]
