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
        for _i1 in prange(_n1, nogil=True, schedule="static", num_threads=...):
            gt1_v = (_x_f[_i1] > (<float>0))
            exp2_v = expf(_x_f[_i1])
            ...
            _mul6_f[_i1] = mul6_v
    mul6 = _mul6_out

A run is a maximal sequence of statements in one block that are each elementwise (a rule
template in `cython=`) or a full reduction (`np.sum(v)`, `cython={"reduce": ...}`) over
arrays of one ndim, C-contiguous or 1-D. When a run reads several arrays, their shapes are
compared at run time and a mismatch (broadcasting) runs the same statements as NumPy.
An intermediate is written to an array only when something outside the run reads it.
Sums and products run on all threads (OpenMP reductions) once the arrays are large enough;
max/min loops run on one thread, vectorized.
"""
from dataclasses import dataclass, field

import numpy as np

from astjax._syntax import gast, parse_expr
from astjax.normalize import bind, operands, prim_key

from . import cexpr
from .cexpr import NotLowered, c_type, is_c_array, is_c_scalar
from .types import Const

PARALLEL_MIN = 32768       # elements: below this one thread is faster than waking the others


@dataclass
class Run:
    ndim: int
    stmts: list = field(default_factory=list)
    reductions: set = field(default_factory=set)     # targets that are reduction results


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
        if is_c_scalar(op_t) and is_c_scalar(target_t) and _flat_ok(x_t):
            return x_t.ndim
        return None
    if not (is_c_array(op_t) and is_c_array(target_t) and op_t.dtype == target_t.dtype
            and op_t.ndim >= 1):
        return None
    for t in (typing.type_of(a) for a in operands(op)):
        if not (is_c_scalar(t) or isinstance(t, Const) or (_flat_ok(t) and t.ndim == op_t.ndim)):
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


# ----------------------------------------------------------------------------- emission

def emit_run(run, fe, out, pad):
    """Append the Cython of one Run to `out` (list of lines) at indentation `pad`."""
    typing = fe.typing
    in_run = {id(s) for s in run.stmts}
    externals, assigned = [], set()
    for s in run.stmts:
        for atom in operands(s.value):
            if isinstance(atom, gast.Name) and isinstance(typing.type_of(atom), cexpr.Array) \
                    and atom.id not in assigned and atom.id not in externals:
                externals.append(atom.id)
        assigned.add(s.targets[0].id)
    materialize = []
    for position, s in enumerate(run.stmts):
        target = s.targets[0].id
        if target in run.reductions or target in materialize:
            continue
        later = [t for t in run.stmts[position + 1:] if t.targets[0].id == target]
        if later:
            continue                          # reassigned in the run: the last one counts
        read_before = any(target in fe.reads_of(t) for t in run.stmts[:position + 1])
        if read_before or fe.read_outside(target, in_run):
            materialize.append(target)
    for s in run.stmts:
        fe.note(s, "fused", "fused loop")

    ref = fe.py_name(externals[0])
    n, i = fe.fresh("_n", "Py_ssize_t"), fe.fresh("_i", "Py_ssize_t")
    lines = []
    checks = [f"{fe.py_name(e)}.shape == {ref}.shape" for e in externals[1:]]
    body_pad = pad + ("    " if checks else "")
    if checks:
        out.append(f"{pad}if {' and '.join(checks)}:")
    lines.append(f"{n} = {ref}.size")
    views = {}
    for e in externals:
        views[e] = fe.flat_view(e, typing.type_of(gast.Name(id=e, ctx=None, annotation=None,
                                                             type_comment=None)), lines)
    outs = {}
    for t in materialize:
        t_type = typing.vars[t]
        outs[t] = fe.fresh(f"_{t}_out")
        lines.append(f"{outs[t]} = np.empty({ref}.shape, dtype=np.{t_type.dtype.name})")
        views[("out", t)] = fe.flat_view(outs[t], t_type, lines, writable=True, declare_as=t)
    serial = False
    accs = {}
    for s in run.stmts:
        red = reduction_rule(s.value, typing)
        if red is None:
            continue
        _, rule, x = red
        target = s.targets[0].id
        result = typing.vars[target].dtype
        acc_dtype = np.dtype(np.float64) if result.kind == "f" else result
        acc = fe.fresh(f"_{target}_acc", c_type(acc_dtype))
        accs[target] = (acc, acc_dtype, rule)
        init = rule["init"]
        if init in ("lowest", "highest"):
            serial = True
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
        if rule["reduce"] not in ("acc + x", "acc * x"):
            serial = True

    current = {}

    def element(atom):
        if isinstance(atom, gast.Name):
            if atom.id in current:
                return current[atom.id]
            if atom.id in views:
                return f"{views[atom.id]}[{i}]"
        return fe.c_atom(atom)

    loop_body = []
    for s in run.stmts:
        target = s.targets[0].id
        if target in accs:
            acc, acc_dtype, rule = accs[target]
            x = reduction_rule(s.value, typing)[2]
            x_t = typing.type_of(x)
            value = cexpr._cast(element(x), x_t.dtype, acc_dtype)
            if rule["reduce"] == "acc + x":
                loop_body.append(f"{acc} += {value}")
            elif rule["reduce"] == "acc * x":
                loop_body.append(f"{acc} *= {value}")
            else:
                expr = cexpr._render(parse_expr(rule["reduce"]), {"acc": acc, "x": value},
                                     acc_dtype, fe.module.decls)
                loop_body.append(f"{acc} = {expr}")
            continue
        t_type = typing.vars[target]
        temp = fe.fresh(f"{target}_v", c_type(t_type.dtype))
        code = cexpr.elementwise(s.value, typing, element, fe.module.decls)
        loop_body.append(f"{temp} = {code}")
        current[target] = temp
        if target in outs and s is _last_assignment(run, target):
            loop_body.append(f"{views[('out', target)]}[{i}] = {temp}")

    chunked = not serial and any(
        rule["reduce"] == "acc + x" and acc_dtype.kind == "f"
        for acc, acc_dtype, rule in accs.values())
    lines.append("with cython.boundscheck(False), cython.wraparound(False):")
    if chunked:
        lines += _chunked_loop(fe, n, i, loop_body, accs)
    elif serial:
        lines.append("    with nogil:")
        lines.append(f"        for {i} in range({n}):")
        lines += [f"            {line}" for line in loop_body]
    else:
        threads = f"(_astjax_num_threads if {n} >= {PARALLEL_MIN} else 1)"
        lines.append(f"    for {i} in prange({n}, nogil=True, schedule='static', "
                     f"num_threads={threads}):")
        lines += [f"        {line}" for line in loop_body]
    for target, (acc, acc_dtype, rule) in accs.items():
        result = typing.vars[target].dtype
        value = acc
        if "finish" in rule:
            value = cexpr._render(parse_expr(rule["finish"]),
                                  {"acc": acc, "n": f"<double>{n}"}, np.dtype(np.float64),
                                  fe.module.decls)
        lines.append(f"{fe.c_name(target)} = <{c_type(result)}>({value})")
    for t in materialize:
        lines.append(f"{fe.py_name(t)} = {outs[t]}")
    out += [body_pad + line for line in lines]
    for t in materialize:
        fe.rebind(t, out, body_pad)
    if checks:
        out.append(f"{pad}else:   # shapes differ: NumPy broadcasts")
        for s in run.stmts:
            fe.python_stmt(s, out, pad + "    ", record=False)


CHUNK = 1024


def _chunked_loop(fe, n, i, loop_body, accs):
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
    threads = f"(_astjax_num_threads if {n} >= {PARALLEL_MIN} else 1)"
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
