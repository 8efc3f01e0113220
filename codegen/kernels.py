"""Fusion: consecutive elementwise operations and reductions become one C loop.

Before (core form, x a float32 array, alpha a Python float)::

    gt1 = x > 0
    exp2 = np.exp(x)
    mul3 = alpha * exp2
    sub4 = mul3 - alpha
    where5 = np.where(gt1, x, sub4)
    mul6 = lmbda * where5

After (Cython; only mul6 is used later, so it is the only array written)::

    _n1 = x.size
    _x_f = x.reshape(-1)
    _mul6_out = np.empty(x.shape, dtype=np.float32)
    _mul6_f = _mul6_out.reshape(-1)
    with cython.boundscheck(False), cython.wraparound(False):
        for _i1 in prange(_n1, nogil=True, schedule="static", num_threads=_astjax_threads_for(<double>(_n1 * 3))):
            gt1_v = (_x_f[_i1] > (<float>0))
            exp2_v = expf(_x_f[_i1])
            ...
            _mul6_f[_i1] = mul6_v
    mul6 = _mul6_out

A run is a maximal sequence of statements in one block that are each elementwise (a rule
template in `cython=`) or a full reduction (`np.sum(v)`, `cython={"reduce": ...}`) with results
of one ndim; the arrays they read may have fewer dimensions or any strides. At run time:

- all arrays of one shape, C-contiguous (or 1-d): one flat loop, as above;
- arrays that broadcast (`x @ w + b`, `x * col[:, None]`): a loop nest over the broadcast
  shape, each array read through `np.broadcast_to` (stride 0 where it repeats); when every
  array is contiguous along the last axis the inner loop walks row pointers and vectorizes;
- shapes NumPy refuses: the same statements as NumPy (which raises NumPy's error).

An intermediate is written to an array only when something outside the run reads it.
Rematerialization (`rematerialize`): when a later run of the block reads temporaries of an
earlier one (a gradient's backward loop reading exp(-x), 1 + exp(-x), ... after the `np.sum`
that ended the forward loop) and nothing else does, the later loop recomputes them from the
earlier run's inputs (at most REMAT_MAX_OPS statements, reading no more arrays than before)
and the earlier loop stores nothing; the .pyx says so in a comment and explain() on the line.
Same C expressions, same inputs: the same values, except that libmvec's vector exp/log/...
and the scalar ones of a loop's remainder may differ by a few ulp (as between two runs of
one loop on different thread counts); with arithmetic only, bit for bit.
`x -= 0.1 * x` (an Assign marked `augmented` by normalize) on an array writes x's own buffer,
as NumPy does, so the caller's array and every alias see the update; when the target is
read-only or overlaps another operand at other positions, NumPy does the update instead.
Sums and products run on all threads (OpenMP reductions) once the arrays are large enough;
max/min loops run on one thread, vectorized.

`emit_axis_reduction` lowers `np.sum(x, axis=k, keepdims=...)` (mean, max, min, prod too)
of a C-contiguous array: rows of the last axis in parallel, or whole rows accumulated into
the output for a leading/middle axis (NumPy's own order), split into column blocks when there
are fewer rows than threads.
"""
from dataclasses import dataclass, field

import numpy as np

from astjax.frontend.syntax import gast, parse_expr
from astjax.core.normalize import bind, operands, prim_key

from . import cexpr
from .cexpr import NotLowered, c_type, is_c_array, is_c_scalar
from .threads import threads_for
from .types import Const

PARALLEL_MIN = 32768       # (unused by the loops now: threads.PARALLEL_WORK decides)


@dataclass
class Run:
    ndim: int
    stmts: list = field(default_factory=list)
    reductions: set = field(default_factory=set)     # targets that are reduction results
    remat: list = field(default_factory=list)     # statements of an earlier run recomputed here
    recomputed_by: dict = field(default_factory=dict)   # var -> ids of later readers recomputing it

    @property
    def own(self):
        """The run's own statements (without those recomputed from an earlier run)."""
        return [s for s in self.stmts if not any(s is r for r in self.remat)]


def _flat_ok(t):
    return is_c_array(t) and t.ndim >= 1 and (t.layout == "C" or t.ndim == 1)


def reduction_rule(op, typing):
    """(prim, rule, input atom) when op is a full reduction with a C rule, else None."""
    if not isinstance(op, gast.Call):
        return None
    key = prim_key(op, typing.fn.helpers)
    prim, rule = cexpr.rule_of(key)
    if not (isinstance(rule, dict) and "reduce" in rule):
        return None
    bound = bind(prim, op)
    for param, atom in bound.items():
        if param != "x" and not cexpr._is_default(prim, param, atom):
            return None
    return prim, rule, bound["x"]


def fusible(s, typing):
    """The ndim of the loop statement s can be part of, or None."""
    if not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)):
        return None
    op = s.value
    if not isinstance(op, (gast.BinOp, gast.UnaryOp, gast.Compare, gast.Call)):
        return None
    target_t = typing.vars.get(s.targets[0].id)
    op_t = typing.op_type(op)
    red = reduction_rule(op, typing)
    if red is not None:
        x_t = typing.type_of(red[2])
        if is_c_scalar(op_t) and is_c_scalar(target_t) and is_c_array(x_t) and x_t.ndim >= 1:
            return x_t.ndim
        return None
    if not (is_c_array(op_t) and is_c_array(target_t) and op_t.dtype == target_t.dtype
            and op_t.ndim >= 1):
        return None
    _, rule = cexpr.rule_of(prim_key(op, typing.fn.helpers))
    like = isinstance(rule, dict) and "like" in rule       # v shaped like x: equal shapes only
    for t in (typing.type_of(a) for a in operands(op)):
        if is_c_scalar(t) or isinstance(t, Const):
            continue
        if not (is_c_array(t) and 1 <= t.ndim <= op_t.ndim) or like and not (
                _flat_ok(t) and t.ndim == op_t.ndim):
            return None
    try:
        cexpr.elementwise(op, typing, lambda atom: "v", cexpr.Declarations())
    except NotLowered:
        return None
    return op_t.ndim


def plan(stmts, typing):
    """Split a block into Runs and single statements, in order."""
    items, run = [], None
    for s in stmts:
        ndim = fusible(s, typing)
        reads = {a.id for a in operands(s.value) if isinstance(a, gast.Name)} \
            if ndim is not None else set()
        if ndim is not None and run is not None and run.ndim == ndim \
                and not (reads & run.reductions):
            run.stmts.append(s)
        elif ndim is not None:
            run = Run(ndim, [s])
            items.append(run)
        else:
            run = None
            items.append(s)
        if ndim is not None and reduction_rule(s.value, typing) is not None:
            run.reductions.add(s.targets[0].id)
    return items


# ----------------------------------------------------------------------------- rematerialization

REMAT_MAX_OPS = 6     # the most statements one loop recomputes instead of reading stored arrays


def _assigned(s):
    return s.targets[0].id if isinstance(s, gast.Assign) and isinstance(
        s.targets[0], gast.Name) else None


def _array_reads(s, typing, fe):
    return {v for v in fe.reads_of(s) if isinstance(_name_type(typing, v), cexpr.Array)}


def _quiet_between(s, typing, fe, names):
    """A statement between two runs that cannot change what a recomputation reads: it assigns
    a name (none of `names`), reads no array and calls nothing but the astjax runtime."""
    target = _assigned(s)
    if target is None or target in names or getattr(s, "augmented", False):
        return False
    if _array_reads(s, typing, fe):
        return False
    op = s.value
    if isinstance(op, gast.Call):
        func = op.func
        return isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
            and func.value.id == "_ax"
    return isinstance(op, (gast.Name, gast.Constant, gast.BinOp, gast.UnaryOp, gast.Compare))


def rematerialize(items, fe):
    """Let a later run recompute the temporaries it reads from an earlier run of the block
    instead of the earlier run storing them to arrays (`exp2 = np.exp(-x)` read after an
    `np.sum` that split the loop): the later loop evaluates the same C expressions on the same
    inputs, so its values are bit-identical. Done only when the temporaries are read nowhere
    else, the recomputed chain has at most REMAT_MAX_OPS statements, and the later loop then
    reads no more arrays than before."""
    for j, later in enumerate(items):
        if not isinstance(later, Run):
            continue
        for k in range(j - 1, -1, -1):
            earlier = items[k]
            if isinstance(earlier, Run):
                if earlier.ndim == later.ndim:
                    _remat_pair(earlier, later, items[k + 1:j], fe)
                break
            if _assigned(earlier) is None:
                break


def _remat_pair(earlier, later, between, fe):
    typing = fe.typing
    if later.remat or any(getattr(s, "augmented", False) for s in earlier.stmts + later.stmts):
        return
    if any(_like_of_array(s, typing) for s in earlier.stmts):
        return
    defs = {}
    for s in earlier.stmts:
        target = s.targets[0].id
        if target in defs:
            defs[target] = None                      # assigned twice in the run: leave it
        elif target not in earlier.reductions:
            defs[target] = s
    later_ids = {id(s) for s in later.stmts}
    old_ext = []
    assigned = set()
    for s in later.stmts:
        for v in sorted(_array_reads(s, typing, fe)):
            if v not in assigned and v not in old_ext:
                old_ext.append(v)
        assigned.add(s.targets[0].id)
    wanted = [v for v in old_ext if defs.get(v) is not None and v not in fe.fn.env
              and not fe.read_outside(v, {id(s) for s in earlier.stmts} | later_ids)]
    if not wanted:
        return
    chain, seen = [], set()

    def need(v):
        s = defs.get(v)
        if s is None or v in seen:
            return
        seen.add(v)
        for a in operands(s.value):
            if isinstance(a, gast.Name):
                need(a.id)
        chain.append(s)
    for v in wanted:
        need(v)
    chain.sort(key=lambda s: next(i for i, t in enumerate(earlier.stmts) if t is s))
    if len(chain) > REMAT_MAX_OPS or any(defs.get(t.targets[0].id) is None for t in chain):
        return
    made = {s.targets[0].id for s in chain}
    inputs = {a.id for s in chain for a in operands(s.value)
              if isinstance(a, gast.Name) and a.id not in made}
    if inputs & earlier.reductions or inputs & set(defs):
        return                                     # only from what the earlier run read
    new_ext = [v for v in old_ext if v not in wanted]
    new_ext += sorted(v for v in inputs if isinstance(_name_type(typing, v), cexpr.Array)
                      and v not in new_ext)
    if len(new_ext) > len(old_ext) or any(v in fe.fn.env for v in new_ext if v not in old_ext):
        return
    types = [_name_type(typing, v) for v in new_ext]
    if not all(_flat_ok(t) and t.ndim == later.ndim for t in types) and all(
            _flat_ok(_name_type(typing, v)) and _name_type(typing, v).ndim == later.ndim
            for v in old_ext):
        return                                     # the later loop would lose its flat form
    if any(_like_of_array(s, typing) for s in later.stmts) and len(new_ext) > 1:
        return                                     # equal shapes no longer guaranteed
    names = made | inputs
    chain_ids = {id(s) for s in chain}
    if any(_assigned(s) in names for s in earlier.stmts if id(s) not in chain_ids):
        return
    if any(_assigned(s) in names for s in later.stmts):
        return
    if not all(_quiet_between(s, typing, fe, names) for s in between):
        return
    later.remat = chain
    later.stmts = chain + later.stmts
    for v in made:
        earlier.recomputed_by[v] = later_ids


# ----------------------------------------------------------------------------- emission

# Run-time helpers every generated module defines (codegen.cython puts them in the header).
PYX_PRELUDE = '''\
def _astjax_bshape(*arrays):
    """The broadcast shape of these arrays, or None when NumPy would refuse them."""
    try:
        return np.broadcast_shapes(*[a.shape for a in arrays])
    except ValueError:
        return None


def _astjax_unit_inner(*arrays):
    """Whether every array steps one item at a time along its last axis (or has length 1
    there): the loop nest then reads contiguous rows, which the C compiler vectorizes."""
    for a in arrays:
        if a.shape[-1] > 1 and a.strides[-1] != a.itemsize:
            return False
    return True


def _astjax_axis(axis, ndim):
    """NumPy's meaning of an axis number (AxisError when out of range)."""
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _astjax_overlaps(a, b):
    """Whether a loop writing `a` in place could read an item of `b` it already wrote."""
    if a is b or not np.may_share_memory(a, b):
        return False
    return not (a.shape == b.shape and a.strides == b.strides and
                a.__array_interface__["data"][0] == b.__array_interface__["data"][0])
'''


@dataclass
class _RunPlan:
    """What one Run reads, writes and where: shared by its flat and broadcast loops."""
    externals: list          # arrays read before the run assigns them, in order
    inplace: set             # ids of augmented statements that write an external's buffer
    inplace_vars: list
    materialize: list        # targets written to fresh arrays
    deps: dict               # id(stmt) -> the externals its value depends on
    accs: dict = field(default_factory=dict)   # reduction target -> (acc, acc dtype, rule)
    serial: bool = False


def _name_type(typing, var):
    return typing.type_of(gast.Name(id=var, ctx=None, annotation=None, type_comment=None))


def _analyze(run, fe):
    typing = fe.typing
    in_run = {id(s) for s in run.stmts}
    externals, assigned = [], set()
    for s in run.stmts:
        for atom in operands(s.value):
            if isinstance(atom, gast.Name) and isinstance(typing.type_of(atom), cexpr.Array) \
                    and atom.id not in assigned and atom.id not in externals:
                externals.append(atom.id)
        assigned.add(s.targets[0].id)
    # `x -= 0.1 * x` on an array NumPy updates in place: the loop writes x's own buffer
    inplace, inplace_vars, holds_external = set(), [], set(externals)
    for s in run.stmts:
        target = s.targets[0].id
        if getattr(s, "augmented", False) and target in holds_external \
                and target not in run.reductions and target not in fe.fn.env:
            inplace.add(id(s))
            if target not in inplace_vars:
                inplace_vars.append(target)
        else:
            holds_external.discard(target)
    materialize = []
    for position, s in enumerate(run.stmts):
        target = s.targets[0].id
        if target in run.reductions or target in materialize or id(s) in inplace \
                or any(s is r for r in run.remat):
            continue
        if any(t.targets[0].id == target for t in run.stmts[position + 1:]):
            continue                          # reassigned in the run: the last one counts
        read_before = any(target in fe.reads_of(t) for t in run.stmts[:position + 1])
        if read_before or fe.read_outside(target, in_run | run.recomputed_by.get(target, set())):
            materialize.append(target)
    deps, current = {}, {e: {e} for e in externals}
    for s in run.stmts:
        d = set()
        for a in operands(s.value):
            if isinstance(a, gast.Name) and a.id in current:
                d |= current[a.id]
        deps[id(s)] = d
        current[s.targets[0].id] = set() if s.targets[0].id in run.reductions else d
    plan_ = _RunPlan(externals, inplace, inplace_vars, materialize, deps)
    for s in run.stmts:
        red = reduction_rule(s.value, typing)
        if red is None:
            continue
        _, rule, _ = red
        target = s.targets[0].id
        result = typing.vars[target].dtype
        acc_dtype = np.dtype(np.float64) if result.kind == "f" else result
        plan_.accs[target] = (fe.fresh(f"_{target}_acc", c_type(acc_dtype)), acc_dtype, rule)
        if rule["init"] in ("lowest", "highest") or rule["reduce"] not in ("acc + x", "acc * x"):
            plan_.serial = True
    return plan_


def _like_of_array(s, typing):
    """s is `_ax.unbroadcast(v, x)`-like with an array v: right only for equal shapes."""
    prim, rule = cexpr.rule_of(prim_key(s.value, typing.fn.helpers))
    if not (isinstance(rule, dict) and "like" in rule):
        return False
    return isinstance(typing.type_of(bind(prim, s.value)[rule["value"]]), cexpr.Array)


def emit_run(run, fe, out, pad):
    """Append the Cython of one Run to `out` (list of lines) at indentation `pad`.

    Arrays of one shape run as one flat loop; arrays that broadcast (different shapes or
    ndims) as a loop nest over the broadcast shape, each read through a view with zero
    strides along its broadcast dimensions; anything NumPy would refuse (or an in-place
    update whose operands overlap its target) runs the statements as NumPy."""
    typing = fe.typing
    rp = _analyze(run, fe)
    py = fe.py_name
    types = {e: _name_type(typing, e) for e in rp.externals}
    flat_ok = all(_flat_ok(t) and t.ndim == run.ndim for t in types.values())
    bcast_ok = not any(_like_of_array(s, typing) for s in run.stmts) and all(
        types[v].ndim == run.ndim for v in rp.inplace_vars)
    recomputed = ", ".join(r.targets[0].id for r in run.remat)
    if run.remat:
        sources = sorted({a.id for r in run.remat for a in operands(r.value)
                          if isinstance(a, gast.Name) and a.id in rp.externals})
        out.append(f"{pad}# recomputed in this loop, not stored: {recomputed} "
                   f"(from {', '.join(sources)})")
    if not (flat_ok or bcast_ok):
        for s in run.stmts:
            fe.python_stmt(s, out, pad, reason="shapes of a gradient rule that may broadcast")
        return
    for k, s in enumerate(run.own):
        detail = "fused loop" + (" (in place)" if id(s) in rp.inplace else "")
        if k == 0 and run.remat:
            detail += f"; recomputes {recomputed} (not stored)"
        fe.note(s, "fused", detail)
    alias = []
    for v in rp.inplace_vars:
        alias.append(f"{py(v)}.flags.writeable")
        alias += [f"not _astjax_overlaps({py(v)}, {py(e)})" for e in rp.externals if e != v]

    def numpy_statements(p):
        for s in run.stmts:
            fe.python_stmt(s, out, p, record=False)

    if flat_ok:
        ref = rp.externals[0]
        conds = [f"{py(e)}.shape == {py(ref)}.shape" for e in rp.externals[1:]] + alias
        if not conds:
            _flat_loop(run, fe, rp, out, pad)
            return
        out.append(f"{pad}if {' and '.join(conds)}:")
        _flat_loop(run, fe, rp, out, pad + "    ")
        out.append(f"{pad}else:   # shapes differ, or the update cannot be done in place")
        pad += "    "
    if not bcast_ok or flat_ok and len(rp.externals) == 1:     # one array: nothing broadcasts
        numpy_statements(pad)
        return
    shape = fe.fresh("_shape")
    out.append(f"{pad}{shape} = _astjax_bshape({', '.join(py(e) for e in rp.externals)})")
    conds = [f"{shape} is not None"] + [f"{py(v)}.shape == {shape}" for v in rp.inplace_vars]
    conds += alias
    everything = set(rp.externals)
    for s in run.stmts:       # an output or a sum over fewer arrays may have a smaller shape
        target = s.targets[0].id
        if (target in rp.materialize and s is _last_assignment(run, target)
                or target in run.reductions) and rp.deps[id(s)] != everything:
            subset = [py(e) for e in rp.externals if e in rp.deps[id(s)]]
            conds.append(f"_astjax_bshape({', '.join(subset)}) == {shape}")
    out.append(f"{pad}if {' and '.join(conds)}:")
    inner = pad + "    "
    sources = {}
    for e in rp.externals:
        sources[e] = fe.fresh(f"_{e}_bc")
        source = py(e) if e in rp.inplace_vars else f"np.broadcast_to({py(e)}, {shape})"
        out.append(f"{inner}{sources[e]} = {source}")
    out.append(f"{inner}if _astjax_unit_inner({', '.join(sources.values())}):")
    _nested_loop(run, fe, rp, shape, sources, True, out, inner + "    ")
    out.append(f"{inner}else:       # some array steps along its last axis by 0 or > 1 items")
    _nested_loop(run, fe, rp, shape, sources, False, out, inner + "    ")
    out.append(f"{pad}else:   # NumPy refuses these shapes, or the update overlaps its input")
    numpy_statements(pad + "    ")


def _reduction_inits(rp, n, lines):
    for target, (acc, acc_dtype, rule) in rp.accs.items():
        init = rule["init"]
        if init in ("lowest", "highest"):
            sign = "-" if init == "lowest" else ""
            value = f"{sign}np.inf" if acc_dtype.kind == "f" else repr(
                int(np.iinfo(acc_dtype).min if init == "lowest" else np.iinfo(acc_dtype).max))
            name = "maximum" if init == "lowest" else "minimum"
            lines.append(f"if {n} == 0:")
            lines.append(f"    raise ValueError('zero-size array to reduction operation {name} "
                         f"which has no identity')")
            lines.append(f"{acc} = {value}")
        else:
            lines.append(f"{acc} = {init}")


def _loop_body(run, fe, rp, views, outs, index):
    """The statements of one loop iteration. `index` is the C index of the current item in
    every view, or a function giving the C item of a view key (an array, ("out", target))."""
    item = index if callable(index) else (lambda key: f"{views[key]}[{index}]")
    typing = fe.typing
    current = {}

    def element(atom):
        if isinstance(atom, gast.Name):
            if atom.id in current:
                return current[atom.id]
            if atom.id in views:
                return item(atom.id)
        return fe.c_atom(atom)

    body = []
    for s in run.stmts:
        target = s.targets[0].id
        if target in rp.accs:
            acc, acc_dtype, rule = rp.accs[target]
            x = reduction_rule(s.value, typing)[2]
            value = cexpr._cast(element(x), typing.type_of(x).dtype, acc_dtype)
            if rule["reduce"] == "acc + x":
                body.append(f"{acc} += {value}")
            elif rule["reduce"] == "acc * x":
                body.append(f"{acc} *= {value}")
            else:
                expr = cexpr._render(parse_expr(rule["reduce"]), {"acc": acc, "x": value},
                                     acc_dtype, fe.module.decls)
                body.append(f"{acc} = {expr}")
            continue
        temp = fe.fresh(f"{target}_v", c_type(typing.vars[target].dtype))
        body.append(f"{temp} = {cexpr.elementwise(s.value, typing, element, fe.module.decls)}")
        if id(s) in rp.inplace:
            body.append(f"{item(target)} = {temp}")
        elif target in outs and s is _last_assignment(run, target):
            body.append(f"{item(('out', target))} = {temp}")
        current[target] = temp
    return body


def _finish(run, fe, rp, n, outs, lines, out, pad):
    typing = fe.typing
    for target, (acc, acc_dtype, rule) in rp.accs.items():
        value = acc
        if "finish" in rule:
            value = cexpr._render(parse_expr(rule["finish"]),
                                  {"acc": acc, "n": f"<double>{n}"}, np.dtype(np.float64),
                                  fe.module.decls)
        lines.append(f"{fe.c_name(target)} = <{c_type(typing.vars[target].dtype)}>({value})")
    for t in rp.materialize:
        lines.append(f"{fe.py_name(t)} = {outs[t]}")
    out += [pad + line for line in lines]
    for t in rp.materialize:
        fe.rebind(t, out, pad)


def _iteration_cost(run):
    """Element-operations of one iteration of a run's loop: 1 per statement, 8 per call
    (exp, sqrt, ...); with the trip count it decides how many threads the loop gets."""
    return sum(8 if isinstance(getattr(s, "value", None), gast.Call) else 1
               for s in run.stmts) or 1


def _flat_loop(run, fe, rp, out, pad):
    """All arrays of one shape, C-contiguous (or 1-d): one loop over the flat items."""
    typing = fe.typing
    ref = fe.py_name(rp.externals[0])
    n, i = fe.fresh("_n", "Py_ssize_t"), fe.fresh("_i", "Py_ssize_t")
    lines = [f"{n} = {ref}.size"]
    views = {}
    for e in rp.externals:
        t = _name_type(typing, e)
        views[e] = fe.flat_view(e, t, lines, writable=e in rp.inplace_vars)
    outs = {}
    for t in rp.materialize:
        t_type = typing.vars[t]
        outs[t] = fe.fresh(f"_{t}_out")
        lines.append(f"{outs[t]} = np.empty({ref}.shape, dtype=np.{t_type.dtype.name})")
        views[("out", t)] = fe.flat_view(outs[t], t_type, lines, writable="fresh",
                                         declare_as=t)
    _reduction_inits(rp, n, lines)
    body = _loop_body(run, fe, rp, views, outs, i)
    chunked = not rp.serial and any(
        rule["reduce"] == "acc + x" and acc_dtype.kind == "f"
        for acc, acc_dtype, rule in rp.accs.values())
    lines.append("with cython.boundscheck(False), cython.wraparound(False):")
    if chunked:
        lines += _chunked_loop(fe, n, i, body, rp.accs, _iteration_cost(run))
    elif rp.serial:
        lines.append("    with nogil:")
        lines.append(f"        for {i} in range({n}):")
        lines += [f"            {line}" for line in body]
    else:
        threads = threads_for(f"{n} * {_iteration_cost(run)}")
        lines.append(f"    for {i} in prange({n}, nogil=True, schedule='static', "
                     f"num_threads={threads}):")
        lines += [f"        {line}" for line in body]
    _finish(run, fe, rp, n, outs, lines, out, pad)


def _nested_loop(run, fe, rp, shape, sources, unit_inner, out, pad):
    """Arrays that broadcast: a loop nest over the broadcast shape `shape` (run time), each
    array read through `sources[array]`, a view of it broadcast to that shape (zero strides
    where it repeats); the outermost loop runs on the threads. `unit_inner`: every view is
    contiguous along the last axis (declared `[:, ::1]`, so the inner loop vectorizes)."""
    typing = fe.typing
    ndim = run.ndim
    dims = [fe.fresh(f"_d{k}_", "Py_ssize_t") for k in range(ndim)]
    idx = [fe.fresh(f"_i{k}_", "Py_ssize_t") for k in range(ndim)]
    n = fe.fresh("_n", "Py_ssize_t")
    lines = [f"{d} = {shape}[{k}]" for k, d in enumerate(dims)]
    lines.append(f"{n} = {' * '.join(dims)}")
    views = {}
    for e in rp.externals:
        t = _name_type(typing, e)
        view = fe.fresh(f"_{e}_b")
        vt = cexpr.VIEW_TYPES[t.dtype.name]
        source = sources[e]
        const = "" if e in rp.inplace_vars else "const "
        fe.decls[view] = f"{const}{vt}[{', '.join([':'] * ndim)}]"
        if t.dtype == np.bool_:
            source += ".view(np.uint8)"
        lines.append(f"{view} = {source}")
        views[e] = view
    outs = {}
    for t in rp.materialize:
        t_type = typing.vars[t]
        outs[t] = fe.fresh(f"_{t}_out")
        view = fe.fresh(f"_{t}_o")
        axes = ", ".join([":"] * (ndim - 1) + ["::1"])
        fe.decls[view] = f"{cexpr.VIEW_TYPES[t_type.dtype.name]}[{axes}]"
        lines.append(f"{outs[t]} = np.empty({shape}, dtype=np.{t_type.dtype.name})")
        lines.append(f"{view} = {outs[t]}" + (".view(np.uint8)" if t_type.dtype == np.bool_
                                               else ""))
        views[("out", t)] = view
    _reduction_inits(rp, n, lines)
    rows = {}            # view key -> pointer to the current row (unit_inner only)
    if unit_inner:
        for key, view in views.items():
            const = "" if key in rp.inplace_vars or isinstance(key, tuple) else "const "
            rows[key] = fe.fresh(f"{view}_row", f"{const}{fe.decls[view].split('[')[0]} *"
                                 .replace("const const ", "const "))
        body = _loop_body(run, fe, rp, views, outs, lambda key: f"{rows[key]}[{idx[-1]}]")
    else:
        body = _loop_body(run, fe, rp, views, outs, ", ".join(idx))
    row_starts = [f"{rows[key]} = &{view}[{', '.join(idx[:-1] + ['0'])}]"
                  for key, view in views.items() if key in rows]
    lines.append("with cython.boundscheck(False), cython.wraparound(False):")
    if ndim == 1:
        lines += ["    " + line for line in row_starts]
    if rp.serial:
        lines.append("    with nogil:")
        lines.append(f"        for {idx[0]} in range({dims[0]}):")
        depth = "        "
    else:
        threads = threads_for(f"{n} * {_iteration_cost(run)}")
        lines.append(f"    for {idx[0]} in prange({dims[0]}, nogil=True, schedule='static', "
                     f"num_threads={threads}):")
        depth = "    "
    for k in range(1, ndim):
        depth += "    "
        if k == ndim - 1:
            lines += [depth + line for line in row_starts]
        lines.append(f"{depth}for {idx[k]} in range({dims[k]}):")
    depth += "    "
    lines += [depth + line for line in body]
    _finish(run, fe, rp, n, outs, lines, out, pad)


CHUNK = 1024


def _chunked_loop(fe, n, i, loop_body, accs, cost=1):
    """A float sum that vectorizes: each thread computes blocks of values, then sums them
    in independent lanes (astjax_sum_float64) — reassociating the sum, never the values."""
    decls = fe.module.decls
    summer = decls.raw("astjax_sum_float64",
                       "double astjax_sum_float64(const double *p, Py_ssize_t n)")
    chunks = fe.fresh("_chunks", "Py_ssize_t")
    c, start, stop = (fe.fresh(h, "Py_ssize_t") for h in ("_c", "_start", "_stop"))
    buffers = {}
    body = []
    for line in loop_body:
        acc = line.split(" ", 1)[0]
        match = [t for t, (a, dt, rule) in accs.items() if a == acc and rule["reduce"] ==
                 "acc + x" and dt.kind == "f"]
        if match and " += " in line:
            buf = buffers.setdefault(acc, fe.fresh(f"{acc}_block", "double *"))
            body.append(f"{buf}[{i} - {start}] = {line.split(' += ', 1)[1]}")
        else:
            body.append(line)
    threads = threads_for(f"{n} * {cost}")
    out = [f"    {chunks} = ({n} + {CHUNK - 1}) // {CHUNK}",
           f"    with nogil, parallel(num_threads={threads}):"]
    for buf in buffers.values():
        out += [f"        {buf} = <double *> malloc({CHUNK} * sizeof(double))",
                f"        if {buf} == NULL:",
                "            with gil:",
                "                raise MemoryError()"]
    out += [f"        for {c} in prange({chunks}, schedule='static'):",
            f"            {start} = {c} * {CHUNK}",
            f"            {stop} = min({start} + {CHUNK}, {n})",
            f"            for {i} in range({start}, {stop}):"]
    out += [f"                {line}" for line in body]
    for acc, buf in buffers.items():
        out.append(f"            {acc} += {summer}({buf}, {stop} - {start})")
    out += [f"        free({buf})" for buf in buffers.values()]
    return out


def _last_assignment(run, target):
    last = None
    for s in run.stmts:
        if s.targets[0].id == target:
            last = s
    return last


# ----------------------------------------------------------------------------- axis reductions

AXIS_BLOCK = 256      # fewest columns per task when a leading or middle axis is split


def axis_reduction(s, typing):
    """(rule, x, axis, keepdims) when `s` is `r = np.sum(x, axis=k)` (or mean, max, min, prod,
    keepdims allowed) over a C-contiguous array that C code can reduce; else None."""
    if not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
            and isinstance(s.value, gast.Call)):
        return None
    prim, rule = cexpr.rule_of(prim_key(s.value, typing.fn.helpers))
    if not (isinstance(rule, dict) and "reduce" in rule):
        return None
    bound = bind(prim, s.value)
    x_t = typing.type_of(bound["x"])
    axis, keepdims = bound.get("axis"), bound.get("keepdims")
    for param, atom in bound.items():
        if param not in ("x", "axis", "keepdims") and not cexpr._is_default(prim, param, atom):
            return None
    if not (is_c_array(x_t) and x_t.layout == "C" and x_t.ndim >= 1):
        return None
    axis_t = typing.type_of(axis) if axis is not None else None
    if not (isinstance(axis_t, cexpr.Scalar) and axis_t.dtype.kind in "iu"):
        return None
    if keepdims is not None and not (isinstance(keepdims, gast.Constant)
                                     and isinstance(keepdims.value, bool)):
        return None
    target_t, op_t = typing.vars.get(s.targets[0].id), typing.op_type(s.value)
    if not (is_c_array(op_t) and op_t == target_t and op_t.dtype.kind in "iuf"):
        return None
    return rule, bound["x"], axis, bool(keepdims and keepdims.value)


def emit_axis_reduction(s, fe, out, pad):
    """`r = np.sum(x, axis=k)` as C: x is viewed as (outer, reduced, inner). Rows of the last
    axis reduce into one C accumulator each (float64 sums in vectorized lanes); a leading or
    middle axis accumulates whole rows into the output, in blocks of columns — NumPy's own
    order. Tasks (rows, or blocks of columns) run on the threads. Returns False when s is
    not such a reduction."""
    found = axis_reduction(s, fe.typing)
    if found is None:
        return False
    rule, x, axis, keepdims = found
    typing = fe.typing
    target = s.targets[0].id
    x_t = typing.type_of(x)
    result = typing.vars[target].dtype
    xs = fe.py_atom(x)
    lead, red, inner = (fe.fresh(h, "Py_ssize_t") for h in ("_outer", "_red", "_inner"))
    k, j, c, t, nb, j0, j1 = (fe.fresh(h, "Py_ssize_t")
                              for h in ("_k", "_j", "_c", "_t", "_nb", "_j0", "_j1"))
    xv = fe.fresh(f"_{target}_in")
    fe.decls[xv] = f"const {cexpr.VIEW_TYPES[x_t.dtype.name]}[:, :, ::1]"
    ov = fe.fresh(f"_{target}_o")
    fe.decls[ov] = f"{cexpr.VIEW_TYPES[result.name]}[:, ::1]"
    res = fe.fresh(f"_{target}_out")
    a = fe.fresh("_axis", "Py_ssize_t")
    out_shape = f"{xs}.shape[:{a}] + {'(1,) + ' if keepdims else ''}{xs}.shape[{a} + 1:]"
    lines = [f"{a} = _astjax_axis({fe.c_or_py(axis)}, {x_t.ndim})",
             f"{lead} = math.prod({xs}.shape[:{a}])", f"{red} = {xs}.shape[{a}]",
             f"{inner} = math.prod({xs}.shape[{a} + 1:])",
             f"{res} = np.empty({out_shape}, dtype=np.{result.name})",
             f"{xv} = {xs}.reshape({lead}, {red}, {inner})" +
             (".view(np.uint8)" if x_t.dtype == np.bool_ else ""),
             f"{ov} = {res}.reshape({lead}, {inner})"]
    decls = fe.module.decls
    init = rule["init"]
    row_acc = np.dtype(np.float64) if result.kind == "f" and init not in (
        "lowest", "highest") else result
    inits = {}
    for dtype in {row_acc, result}:
        name = fe.fresh("_init", c_type(dtype))
        inits[dtype] = name
        if init in ("lowest", "highest"):
            sign = "-" if init == "lowest" else ""
            value = f"{sign}np.inf" if dtype.kind == "f" else repr(
                int(np.iinfo(dtype).min if init == "lowest" else np.iinfo(dtype).max))
            lines.append(f"{name} = {value}")
        else:
            lines.append(f"{name} = {init}")
    if init in ("lowest", "highest"):
        word = "maximum" if init == "lowest" else "minimum"
        lines.append(f"if {red} == 0 and {lead} * {inner} > 0:")
        lines.append(f"    raise ValueError('zero-size array to reduction operation {word} "
                     f"which has no identity')")

    def step(acc, item, dtype):
        value = cexpr._cast(item, x_t.dtype, dtype)
        return cexpr._render(parse_expr(rule["reduce"]), {"acc": acc, "x": value}, dtype, decls)

    def finish(acc, dtype):
        if "finish" not in rule:
            return acc
        return cexpr._render(parse_expr(rule["finish"]), {"acc": acc, "n": f"<{c_type(dtype)}>"
                                                          f"{red}"}, dtype, decls)

    acc = fe.fresh("_acc", c_type(row_acc))
    threads = threads_for(f"{lead} * {red} * {inner}")
    lines.append("with cython.boundscheck(False), cython.wraparound(False):")
    lines.append(f"    if {inner} == 1:        # the last axis: one accumulator per row")
    lines.append(f"        for {k} in prange({lead}, nogil=True, schedule='static', "
                 f"num_threads={threads}):")
    if rule["reduce"] == "acc + x" and x_t.dtype == np.float64 and row_acc == np.float64 \
            and init == "0":
        summer = decls.raw("astjax_sum_float64",
                           "double astjax_sum_float64(const double *p, Py_ssize_t n)")
        lines.append(f"            {acc} = {summer}(&{xv}[{k}, 0, 0], {red}) if {red} > 0 "
                     f"else 0")
    elif init in ("lowest", "highest") and x_t.dtype == result:
        family = "astjax_max_row" if init == "lowest" else "astjax_min_row"
        ctype = c_type(result)
        lanes = decls.raw(f"{family}_{result.name}", f"{ctype} {family}_{result.name}("
                          f"const {ctype} *p, Py_ssize_t n, {ctype} init)")
        lines.append(f"            {acc} = {lanes}(&{xv}[{k}, 0, 0], {red}, {inits[row_acc]})")
    else:
        lines.append(f"            {acc} = {inits[row_acc]}")
        lines.append(f"            for {j} in range({red}):")
        lines.append(f"                {acc} = {step(acc, f'{xv}[{k}, {j}, 0]', row_acc)}")
    lines.append(f"            {ov}[{k}, 0] = <{c_type(result)}>({finish(acc, row_acc)})")
    lines.append("    else:                  # a leading or middle axis: rows into the output")
    used, bs = fe.fresh("_threads", "int"), fe.fresh("_bs", "Py_ssize_t")
    lines.append(f"        {used} = {threads}")
    lines.append(f"        {bs} = {inner} if {lead} >= {used} else max({AXIS_BLOCK}, "
                 f"({inner} + {used} - 1) // {used})    # whole rows stream best")
    lines.append(f"        {nb} = ({inner} + {bs} - 1) // {bs}")
    lines.append(f"        for {t} in prange({lead} * {nb}, nogil=True, schedule='static', "
                 f"num_threads={used}):")
    lines.append(f"            {k} = {t} // {nb}")
    lines.append(f"            {j0} = ({t} % {nb}) * {bs}")
    lines.append(f"            {j1} = min({j0} + {bs}, {inner})")
    orow = fe.fresh("_orow", f"{c_type(result)} *")
    xrow = fe.fresh("_xrow", f"const {cexpr.VIEW_TYPES[x_t.dtype.name]} *")
    lines.append(f"            {orow} = &{ov}[{k}, 0]")
    lines.append(f"            for {c} in range({j0}, {j1}):")
    lines.append(f"                {orow}[{c}] = {inits[result]}")
    lines.append(f"            for {j} in range({red}):")
    lines.append(f"                {xrow} = &{xv}[{k}, {j}, 0]")
    lines.append(f"                for {c} in range({j0}, {j1}):")
    lines.append(f"                    {orow}[{c}] = "
                 f"{step(f'{orow}[{c}]', f'{xrow}[{c}]', result)}")
    if "finish" in rule:
        lines.append(f"            for {c} in range({j0}, {j1}):")
        lines.append(f"                {orow}[{c}] = {finish(f'{orow}[{c}]', result)}")
    lines.append(f"{fe.py_name(target)} = {res}")
    out += [pad + line for line in lines]
    fe.rebind(target, out, pad)
    fe.note(s, "C", "reduction over an axis")
    return True
