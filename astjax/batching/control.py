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
  variables the other branch or later code reads, then merges them with ``np.where``
  (batching_control_branches.py);
* loops (batching_loops.py) stay loops when every lane shares the trip count, and otherwise
  run until every lane is done, merging the body's renamed copies under a ``live`` mask;
* what cannot be batched becomes a loop over the batch with a warning: one operation
  (``lane_loop``, batching_control_fallback.py) or, for control flow, the whole function
  (``CannotBatch`` to batching.py).

Lists (batching_control_lists.py) are Python lists of per-lane values; their element fact is
a fixpoint over the whole program (batching.py reruns the pass until no list changes).
Tapes (``_tape``, written by reverse.py) are pushed and popped in mirror order, so they may
be used under masks; an ``if`` whose branches pop runs its ``else`` first, mirroring the
forward sweep's order.
"""
import copy

from astjax.rules import registry as primitives
from astjax.frontend.syntax import assign, call, const, gast, name
from astjax.batching.values import (_NOVALUE, NONE, SCALAR, Arg, BatchingWarning, CannotBatch, Lst, Tup, Val,
                              build_node, is_batched, is_none, item_node, of_value)
from astjax.batching.branches import BranchBatcher
from astjax.batching.fallback import LaneLoopBatcher
from astjax.batching.lists import TAPE_PREFIX, ListBatcher
from astjax.batching.flow import _at, _drop_dead, _is_break, _item_written, _liveness
from astjax.batching.loops import LoopBatcher
from astjax.core.form import Namer as _Namer, bind, dotted_path, is_effect_stmt, prim_key
from astjax.core.normalize import ExprNormalizer
from astjax.core.form import flat as _flat

# what other modules import from here (batching.py, batching_index.py, batching_rules.py)
__all__ = ["Arg", "BatchingWarning", "CannotBatch", "FunctionBatcher", "TAPE_PREFIX", "_NOVALUE"]



# runtime helpers that read an operand as NumPy does (a list as one array: its shape)
_READ_AS_ARRAY = {"_ax.expand_reduced", "_ax.reduced_count", "_ax.unbroadcast",
                  "_ax.broadcast_like", "_ax.reshape_like", "_ax.max_vjp", "_ax.cumsum_vjp"}


class FunctionBatcher(BranchBatcher, ListBatcher, LaneLoopBatcher, LoopBatcher):
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
        self.masked_loops = 0              # depth of loops run under a live mask of lanes
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
        from astjax.batching.rules import instantiate
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
        from astjax.batching.rules import recall
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
            if is_effect_stmt(s):
                return self.effect(s)
            return []
        if isinstance(s, (gast.Assert, gast.Raise)):
            return self.effect(s)
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

    # -- effects ----------------------------------------------------------------------------
    def effect(self, s):
        """A ``print(...)`` or ``assert`` the user wrote: run once for the whole batch.  A print
        of a batched value prints the stacked lanes (a Python loop over the batch would print
        each lane on its own line); an assert on a batched condition asserts every lane.  Inside
        a masked branch or loop only some lanes run the statement: vmap loops over the batch."""
        self.current = s
        if self.regions:
            raise CannotBatch(f"a {'print' if isinstance(s, gast.Expr) else 'assert'} under a "
                              "batched condition", s, whole_function=True)
        if getattr(s, "unknown_effect", False) and any(
                isinstance(n, gast.Name) and n.id in self.env and is_batched(self.env[n.id])
                for n in gast.walk(s.value)):
            raise CannotBatch(f"{dotted_path(s.value.func)}(...) has an effect astjax knows "
                              f"nothing of", s, whole_function=True)
        node = self.rename(s)
        if isinstance(node, gast.Assert) and is_batched(self.info(node.test)):
            node.test = call("np.all", [node.test])
        return [_at(node, s)]

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
        from astjax.batching import index as batching_index
        from astjax.batching import rules as batching_rules
        if key == "getitem":
            self.current_op, self.current_prim = op, primitives.lookup("getitem")
            return batching_index.getitem(self, op)
        prim = primitives.lookup(key)
        if prim is None:
            operands = list(op.args) + [k.value for k in op.keywords] + \
                [n for n in gast.walk(op.func) if isinstance(n, gast.Name)
                 and self.alias.get(n.id, n.id) in self.env] \
                if isinstance(op, gast.Call) else []      # a builtin's name has no fact
            if isinstance(op, gast.Call) and not any(
                    is_batched(self.info(a)) for a in operands if isinstance(a, gast.Name)):
                return op, Val(False, None)      # no operand per lane: one call, as Python
            raise CannotBatch(f"{key} has no batching rule")
        try:
            bound = bind(prim, op)
        except TypeError as exc:
            raise CannotBatch(str(exc)) from None
        args = {p: ([self.arg(a) for a in v] if isinstance(v, list) else self.arg(v))
                for p, v in bound.items()}
        self.current_op, self.current_prim = op, prim
        if not any(a.batched for a in _flat(args.values())) and not prim.extra.get("collective"):
            return op, batching_rules.result_fact(self, prim, args)
        if prim.key.startswith("np.") and prim.batch in (None, "reduce", "argreduce", "cumsum") \
                or prim.key in _READ_AS_ARRAY:
            # a NumPy function reads a list or tuple operand as one array: so does its batch
            stacked = {p: batching_rules.as_array(self, a) for p, a in args.items()
                       if not isinstance(a, list) and isinstance(a.info, (Tup, Lst))
                       and a.batched}
            if stacked:
                args.update(stacked)
                self.current_op = batching_rules.recall(op, prim, {p: a.node for p, a in
                                                                  stacked.items()})
        return batching_rules.rule_for(prim)(self, prim, args)

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
    from astjax.core.form import index_atoms, is_atom
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





def _maybe_none(info, old):
    if isinstance(info, Val) and old is not None:
        return Val(info.batched, info.rank, info.lanes, True, info.view)
    return info


def _hint(a):
    return a.node.id if isinstance(a.node, gast.Name) else "t"

