"""vmap of one core function: facts flow forward, rules batch each operation, control flow
becomes masks.

Before (core form, ``x`` batched, ``w`` shared)::

    def f(x, w):
        y = np.dot(w, x)
        sum1 = np.sum(y)
        gt2 = sum1 > 0.0
        if gt2:
            y = 2.0 * y
        s = np.sum(y)
        return s

After (x of shape (B, 4), w of shape (3, 4))::

    def vmap_f(x, w):
        transpose1 = np.transpose(w)
        y = np.dot(x, transpose1)           # the batch rides along one matrix product
        sum1 = np.sum(y, axis=(1,))         # reductions skip the batch axis
        gt2 = sum1 > 0.0                    # a per-lane test ...
        y_2 = 2.0 * y                       # ... so the branch runs for every lane,
        gt23 = gt2[:, None]
        y = np.where(gt23, y_2, y)          # and a select keeps each lane's own y
        s = np.sum(y, axis=(1,))
        return s

The pieces:

* facts (batching_values.py) per variable, forward through the program; loops iterate to
  a fixpoint; joins materialize a shared value that becomes per-lane (``_ax.batch_broadcast``);
* rules (batching_rules.py, named in rules.py) batch each operation;
* an ``if`` on a batched test runs both branches, each writing *renamed* copies of the
  variables the other branch or later code reads, then merges them with ``np.where``;
* loops (batching_loops.py) stay loops when every lane shares the trip count, and otherwise
  run until every lane is done, merging the body's renamed copies under a ``live`` mask;
* what cannot be batched becomes a loop over the batch with a warning: one operation
  (``lane_loop``) or, for control flow, the whole function (``CannotBatch`` to batching.py).

Lists are Python lists of per-lane values; their element fact is a fixpoint over the whole
program (batching.py reruns the pass until no list changes).  Tapes (``_tape``, written by
reverse.py) are pushed and popped in mirror order, so they may be used under masks; an
``if`` whose branches pop runs its ``else`` first, mirroring the forward sweep's order.
"""
import copy
import warnings

from . import primitives
from ._syntax import assign, call, const, gast, name
from .batching_values import (DYN, NONE, SCALAR, Arg, BatchingWarning, CannotBatch, Lst,
                              Region, Tup, Val, as_batched, build_node, is_batched, is_none,
                              item_node, join, of_value, stacked)
from .batching_flow import (_assigned, _at, _drop_dead, _is_break, _item_written, _liveness,
                            _reads)
from .batching_loops import LoopBatcher
from .core import Namer as _Namer, bind, dotted_path, prim_key
from .normalize import ExprNormalizer
from .core import flat as _flat

TAPE_PREFIX = "_tape"
_NOVALUE = object()


class FunctionBatcher(LoopBatcher):
    """Batches one core function for one signature (the facts of its arguments)."""

    def __init__(self, prog, core, arg_infos, gen_name, entry=None):
        self.prog = prog
        self.core = core
        self.fdef = core.node
        self.arg_infos = list(arg_infos)
        self.gen_name = gen_name
        self.entry = entry                 # EntrySpec for the top-level function, else None
        taken = {n.id for n in gast.walk(self.fdef) if isinstance(n, gast.Name)}
        taken |= set(core.env) | set(core.helpers) | {"np", "math", "_ax"}
        self.fresh = _Namer(taken)
        self.B_name = self.fresh.exact("B")
        self.B_used = False
        self.env = {}                      # core variable -> fact
        self.names = {}                    # core variable -> its name in the output now
        self.alias = {}                    # output name -> core variable
        self.regions = []
        self.outs = []                     # stack of statement lists being filled
        self.result_info = None
        self.masked = False                # uses masks (the dispatcher silences warnings)
        self.fallbacks = []                # reasons of per-lane loops
        self.current = None                # the statement being batched
        self.consts = {}                   # core variable -> its constant Python value
        self._captured = {}
        self.live_after, self.live_head = _liveness(self.fdef.body)
        self.item_written = _item_written(self.fdef.body)

    # ---- entry ----------------------------------------------------------------------------
    def run(self):
        params = self.core.params
        for p, info in zip(params, self.arg_infos):
            self.env[p] = info
        self.outs.append([])
        body = []
        if self.entry is not None:
            body += self.entry.prologue(self)
        body += self.block(self.fdef.body)
        self.outs.pop()
        args = copy.deepcopy(self.fdef.args)
        args.defaults = []
        if self.B_used:
            if self.entry is not None:
                body = self.entry.batch_size(self) + body
            else:
                args.args.append(name(self.B_name, gast.Param()))
        body, _ = _drop_dead(body, set())
        fdef = gast.FunctionDef(name=self.gen_name, args=args, body=body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.origin = getattr(self.fdef, "origin", None)
        return fdef

    # ---- facts ------------------------------------------------------------------------------
    def info(self, node):
        """The fact of an atom of the output (a renamed variable, a constant, a capture)."""
        if isinstance(node, gast.Name):
            var = self.alias.get(node.id, node.id)
            if var in self.env:
                return self.env[var]
            if node.id in self.core.env:
                if node.id not in self._captured:
                    self._captured[node.id] = of_value(self.core.env[node.id])
                return self._captured[node.id]
            if node.id == self.B_name:
                return SCALAR
            raise CannotBatch(f"'{node.id}' is used before it is assigned", whole_function=True)
        if isinstance(node, gast.Constant):
            return NONE if node.value is None else SCALAR
        if isinstance(node, gast.Tuple):
            return Tup(tuple(self.info(e) for e in node.elts))
        if isinstance(node, gast.Dict):
            return Tup(tuple(self.info(v) for v in node.values), tuple(k.value for k in node.keys))
        if isinstance(node, gast.Attribute):
            return SCALAR if not _is_newaxis(node) else NONE
        if isinstance(node, gast.UnaryOp):
            return self.info(node.operand)
        return SCALAR

    def arg(self, node):
        return Arg(node, self.info(node))

    # ---- emitting -------------------------------------------------------------------------
    @property
    def out(self):
        return self.outs[-1]

    def put(self, stmt):
        stmt.origin = getattr(self.current, "origin", None)
        self.out.append(stmt)

    def B(self):
        self.B_used = True
        return name(self.B_name)

    def t(self, template, **subs):
        """A gast expression from NumPy source; names in ``subs`` are replaced by atoms
        (Args, gast nodes or Python constants)."""
        from .batching_rules import instantiate
        return instantiate(template, subs)

    def atom(self, expr, hint="t", info=None):
        """Emit ``expr`` (normalized to core statements); the Name holding its value."""
        if isinstance(expr, Arg):
            expr = expr.node
        if isinstance(expr, (gast.Name, gast.Constant)):
            return expr
        norm = ExprNormalizer(self.fresh, getattr(self.current, "origin", None), verb="batch")
        pending = []
        op = norm.op(expr, pending)
        for s in pending:
            self.put(s)
        if isinstance(op, (gast.Name, gast.Constant)):
            return op
        target = self.fresh(hint)
        if info is not None:
            self.env[target] = info
        self.put(assign(target, op))
        return name(target)

    def core_op(self, expr):
        """Normalize ``expr`` into one core op (sub-operations are emitted)."""
        if isinstance(expr, Arg):
            return expr.node
        if _is_core(expr):
            return expr
        norm = ExprNormalizer(self.fresh, getattr(self.current, "origin", None), verb="batch")
        pending = []
        op = norm.op(expr, pending)
        for s in pending:
            self.put(s)
        return op

    def inline(self, template, **subs):
        """Batch the *per-example* NumPy expression ``template`` with the ordinary rules (a
        rule written as what one example computes).  Returns an Arg."""
        expr = self.t(template, **subs)
        norm = ExprNormalizer(self.fresh, getattr(self.current, "origin", None), verb="batch")
        pending = []
        op = norm.op(expr, pending)
        target = self.fresh("t")
        pending.append(assign(target, op))
        saved = self.current
        for s in pending:
            s.origin = getattr(saved, "origin", None)
            for emitted in self.assign(s.targets[0].id, s.value, s, fresh_temp=True):
                self.out.append(emitted)
        self.current = saved
        return Arg(name(target), self.env[target])

    def recall(self, **repl):
        """The operation being batched, with some operands replaced (by parameter name)."""
        from .batching_rules import recall
        return recall(self.current_op, self.current_prim, repl)

    def cannot(self, reason):
        raise CannotBatch(reason)

    def cannot_whole(self, reason):
        raise CannotBatch(reason, self.current, whole_function=True)

    def new_list(self, elem):
        """A list made by this statement (``lst * n``, ``a + b``) holding ``elem``."""
        lst = self.prog.list_at((self.gen_name, id(self.current), "made"))
        if elem is not None:
            self.prog.merge(lst, elem)
        return lst

    @property
    def prog_env(self):
        return self.core.env

    # -- per-lane values --------------------------------------------------------------------
    def lanes(self, a):
        """A node for ``a`` that surely carries the batch axis (0-d values are broadcast)."""
        if not a.batched:
            return self.materialize(a, force=True)
        if a.lanes:
            return a.node
        if a.rank == 0:
            return self.atom(self.t("np.broadcast_to(x, s)", x=a, s=gast.Tuple(
                elts=[self.B()], ctx=gast.Load())), "lanes")
        return self.atom(self.t("np.broadcast_to(x, _ax.lanes_shape(x, n))", x=a, n=self.B()),
                         "lanes")

    def materialize(self, a, force=False):
        """A batched node for an unbatched ``a`` (a read-only broadcast view: free).  Shared
        scalars stay scalars (they broadcast as they are) unless ``force``."""
        if a.batched:
            return self.lanes(a) if force else a.node
        info = a.info
        if isinstance(info, Tup):
            items = []
            for i, item in enumerate(info.items):
                node = self.atom(item_node(a.node, info, i), "item")
                items.append(self.materialize(Arg(node, item), force))
            return self.atom(build_node(info, items), "items")
        if isinstance(info, Lst) or is_none(info):
            return a.node
        lanes = gast.Tuple(elts=[self.B()], ctx=gast.Load())
        if info.rank == 0:
            if not force:
                return a.node
            return self.atom(self.t("np.broadcast_to(x, s)", x=a, s=lanes), f"{_hint(a)}_b")
        node = self.atom(self.t("_ax.batch_broadcast(x, n)", x=a, n=self.B()), f"{_hint(a)}_b")
        if info.rank is None and force:
            return self.atom(self.t("np.broadcast_to(x, _ax.lanes_shape(x, n))", x=node,
                                    n=self.B()), "lanes")
        return node

    def lift(self, a, rank):
        """``a`` (batched) with singleton axes after the batch axis up to lane rank ``rank``."""
        if not a.batched or rank == 0:
            return a.node
        if a.rank is not None and isinstance(rank, int):
            k = rank - a.rank
            if k <= 0:
                return a.node
            if a.lanes:
                index = gast.Tuple(elts=[gast.Slice(lower=None, upper=None, step=None)] +
                                   [const(None)] * k, ctx=gast.Load())
                return self.atom(gast.Subscript(value=a.node, slice=index, ctx=gast.Load()),
                                 _hint(a))
        r = const(rank) if isinstance(rank, int) else rank
        return self.atom(self.t("_ax.align(x, r)", x=a, r=r), _hint(a))

    def lane_rank(self, a):
        """A node holding the per-example rank of ``a`` (a constant when known)."""
        if a.rank is not None:
            return const(a.rank)
        if a.batched:
            return self.atom(self.t("_ax.lane_ndim(x)", x=a), "nd")
        return self.atom(self.t("np.ndim(x)", x=a), "nd")

    # ---- statements ---------------------------------------------------------------------
    def block(self, stmts):
        out = []
        for s in stmts:
            out += self.stmt(s)
        return out

    def stmt(self, s):
        self.current = s
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                return self.assign(target.id, s.value, s)
            if isinstance(target, gast.Subscript):
                return self.setitem(target, s.value, s)
            raise CannotBatch("a tuple assignment", s, whole_function=True)
        if isinstance(s, gast.Expr):
            if _is_append(s):
                return self.append(s)
            return []
        if isinstance(s, gast.If):
            if _is_break(s):     # a plain loop's exit (masked loops handle theirs)
                return [_at(gast.If(test=self.rename(s.test), body=[gast.Break()], orelse=[]),
                            s)]
            return self.if_(s)
        if isinstance(s, gast.For):
            return self.for_(s)
        if isinstance(s, gast.While):
            return self.while_(s)
        if isinstance(s, gast.Return):
            return self.return_(s)
        if isinstance(s, gast.Pass):
            return []
        raise CannotBatch(f"a {type(s).__name__} statement", s, whole_function=True)

    # -- assignments ------------------------------------------------------------------------
    def assign(self, var, op, s, fresh_temp=False):
        self.current = s
        self.outs.append([])
        op = self.rename(op)
        try:
            expr, info = self.batch_op(op, s)
            final = self.core_op(expr)
        except CannotBatch as exc:
            if exc.whole_function:
                raise
            self.outs[-1] = []
            final, info = self.lane_loop(op, exc, s)
        emitted = self.outs.pop()
        target = var if fresh_temp else self.target(var)
        emitted.append(_at(assign(target, final), s))
        self.env[var] = info
        value = self.constant(final)
        if value is _NOVALUE:
            self.consts.pop(var, None)
        else:
            self.consts[var] = value
        return emitted

    def constant(self, op):
        """The Python value of a constant op (``-1``, ``(2, 3)``), else _NOVALUE."""
        if isinstance(op, gast.Constant):
            return op.value
        if isinstance(op, gast.Name):
            return self.consts.get(self.alias.get(op.id, op.id), _NOVALUE)
        if isinstance(op, gast.UnaryOp) and isinstance(op.op, (gast.USub, gast.UAdd)):
            v = self.constant(op.operand)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v if isinstance(op.op, gast.USub) else v
        if isinstance(op, gast.Tuple):
            vals = [self.constant(e) for e in op.elts]
            if all(isinstance(v, (int, float, type(None))) and not isinstance(v, bool)
                   for v in vals):
                return tuple(vals)
        return _NOVALUE

    def rename(self, node):
        node = copy.deepcopy(node)
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in self.names:
                n.id = self.names[n.id]
        return node

    def target(self, var):
        """The name an assignment to ``var`` writes (a fresh copy inside a region when the
        old value must survive for other lanes or the other branch)."""
        if not self.regions:
            self.names.pop(var, None)
            return var
        region = self.regions[-1]
        current = self.names.get(var, var)
        if current in region.own or not any(var in r.protect for r in self.regions):
            return current
        new = self.fresh(f"{var}_")
        region.own.add(new)
        self.names[var] = new
        self.alias[new] = var
        return new

    def batch_op(self, op, s):
        """(expr, fact) of the batched version of one core op (operands already renamed)."""
        key = prim_key(op, self.core.helpers)
        if key == "const":
            return op, self.info(op) if not isinstance(op, gast.Attribute) else SCALAR
        if key == "copy":
            return op, self.info(op)
        if key == "tuple":
            return op, Tup(tuple(self.info(e) for e in op.elts))
        if key == "dict":
            return op, Tup(tuple(self.info(v) for v in op.values),
                           tuple(k.value for k in op.keys))
        if key == "list":
            return self.list_literal(op, s)
        if key == "list.pop":
            return self.list_pop(op, s)
        if key == "helper":
            return self.helper_call(op, s)
        if key == "is":
            if any(is_batched(self.info(a)) for a in (op.left, op.comparators[0])):
                raise CannotBatch("'is' on a batched value")
            return op, SCALAR
        from . import batching_index, batching_rules
        if key == "getitem":
            self.current_op, self.current_prim = op, primitives.lookup("getitem")
            return batching_index.getitem(self, op)
        prim = primitives.lookup(key)
        if prim is None:
            raise CannotBatch(f"{key} has no batching rule")
        try:
            bound = bind(prim, op)
        except TypeError as exc:
            raise CannotBatch(str(exc)) from None
        args = {p: ([self.arg(a) for a in v] if isinstance(v, list) else self.arg(v))
                for p, v in bound.items()}
        self.current_op, self.current_prim = op, prim
        if not any(a.batched for a in _flat(args.values())):
            return op, batching_rules.result_fact(self, prim, args)
        return batching_rules.rule_for(prim)(self, prim, args)

    # -- a loop over the batch for one operation -------------------------------------------
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
        if isinstance(per_lane, Val):
            return call("np.stack", [name(items)]), stacked(per_lane)
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
            from .batching_rules import result_fact
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

    # -- containers -------------------------------------------------------------------------
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

    def store_value(self, a):
        """The node to store into a batched list: per-lane, with the batch axis."""
        info = a.info
        if isinstance(info, Tup):
            items = []
            for i, item in enumerate(info.items):
                node = self.atom(item_node(a.node, info, i), "item")
                items.append(self.store_value(Arg(node, item)))
            return self.atom(build_node(info, items), "items")
        if isinstance(info, Lst) or is_none(info) or info.dyn:
            return a.node
        if info.batched:
            return a.node
        return self.materialize(a)

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
            return op, info.elem if info.elem is not None else Val(False, None)
        return op, DYN if is_batched(info) else Val(False, None)

    def append(self, s):
        self.current = s
        lst_node = self.rename(s.value.func.value)
        item = self.rename(s.value.args[0])
        self.check_list_use(lst_node, "appending to", s)
        info = self.info(lst_node)
        self.outs.append([])
        if isinstance(info, Lst):
            self.prog.merge(info, self.info(item))
            if info.batched:
                item = self.store_value(self.arg(item))
        emitted = self.outs.pop()
        emitted.append(_at(gast.Expr(value=call(gast.Attribute(value=lst_node, attr="append",
                                                               ctx=gast.Load()), [item])), s))
        return emitted

    # -- helpers (the user's functions called from this one) -------------------------------
    def helper_call(self, op, s):
        callee = dotted_path(op.func)
        infos = [self.info(a) for a in op.args]
        if self.regions:
            for a, info in zip(op.args, infos):
                if isinstance(info, Lst) and self.prog.mutates_lists(callee):
                    self.check_list_use(a, "changing", s)
        gen, result, needs_b = self.prog.specialize(callee, infos)
        args = list(op.args) + ([self.B()] if needs_b else [])
        return call(gen, args), result

    # -- item writes ------------------------------------------------------------------------
    def setitem(self, target, value, s):
        from . import batching_index
        self.current = s
        var = target.value.id
        self.outs.append([])
        base_info = self.env.get(var)
        if isinstance(base_info, Lst):
            self.check_list_use(name(self.names.get(var, var)), "writing into", s)
        # a region must not overwrite an array other lanes still read: own a copy
        current = self.names.get(var, var)
        if self.regions and current not in self.regions[-1].own and \
                any(var in r.protect for r in self.regions):
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

    # ---- control flow ------------------------------------------------------------------
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
        if not is_batched(self.env.get(var, SCALAR)):
            return self.plain_if(s)
        return self.select_if(s, var, negated)

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
        key = (mask.id if isinstance(mask, gast.Name) else id(mask), rank)
        if key not in masks:
            if rank is None:
                # the lane rank of either side (both sides have it when it is known)
                side = a if a.batched else b
                ndim = "_ax.lane_ndim(a)" if side.batched else "np.ndim(a)"
                masks[key] = self.atom(self.t(f"_ax.align(m, {ndim})", m=mask, a=side), "mask")
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

    # -- return -------------------------------------------------------------------------------
    def return_(self, s):
        self.current = s
        value = self.rename(s.value)
        info = self.info(value)
        self.result_info = info
        if self.entry is not None:
            self.outs.append([])
            value = self.entry.epilogue(self, Arg(value, info))
            emitted = self.outs.pop()
            return emitted + [_at(gast.Return(value=value), s)]
        return [_at(gast.Return(value=value), s)]


def _is_append(s):
    v = s.value
    return isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute) and \
        v.func.attr == "append" and isinstance(v.func.value, gast.Name) and len(v.args) == 1


def _is_core(op):
    """Is ``op`` already one core operation over atoms (nothing to normalize)?"""
    from .core import index_atoms, is_atom
    if is_atom(op):
        return True
    if isinstance(op, gast.Call):
        return (isinstance(op.func, gast.Name) or dotted_path(op.func) is not None) and \
            all(is_atom(a) for a in op.args) and all(is_atom(k.value) for k in op.keywords)
    if isinstance(op, gast.BinOp):
        return is_atom(op.left) and is_atom(op.right)
    if isinstance(op, gast.UnaryOp):
        return is_atom(op.operand)
    if isinstance(op, gast.Compare):
        return is_atom(op.left) and all(is_atom(c) for c in op.comparators)
    if isinstance(op, (gast.Tuple, gast.List)):
        return all(is_atom(e) for e in op.elts)
    if isinstance(op, gast.Dict):
        return all(is_atom(v) for v in op.values)
    if isinstance(op, gast.Subscript):
        return is_atom(op.value) and all(is_atom(a) or isinstance(a, gast.Constant)
                                         for a in index_atoms(op.slice))
    return False


def _is_newaxis(node):
    return dotted_path(node) in ("np.newaxis",)




def _unbatch(info):
    if isinstance(info, Val):
        return Val(False, info.rank)
    if isinstance(info, Tup):
        return Tup(tuple(_unbatch(i) for i in info.items))
    return info


def _maybe_none(info, old):
    if isinstance(info, Val) and old is not None:
        return Val(info.batched, info.rank, info.lanes, True, info.view)
    return info


def _hint(a):
    return a.node.id if isinstance(a.node, gast.Name) else "t"

