"""vmap: automatic batching as generated NumPy source, Python control flow included.

    batched = astjax.vmap(f, in_axes=(None, 0), out_axes=0)
    batched(w, xs)                 # == np.stack([f(w, x) for x in xs])
    print(astjax.source(batched))  # the batched function, one NumPy operation per line

Before (``apply_matrix(v) = np.dot(mat, v)``, mat a global 150x100)::

    def apply_matrix(v):
        dot1 = np.dot(mat, v)
        return dot1

After (specialized for v of shape (B, 100))::

    def vmap_apply_matrix(v):
        transpose1 = np.transpose(mat2)     # mat2: the captured global mat
        dot1 = np.dot(v, transpose1)        # one matrix product for the whole batch
        return dot1

How: the function is normalized (normalize.py); the batch axis of every batched argument is
moved to the front; facts (batched?, per-example rank) flow through the core program and
each operation is rewritten by its rule (batching_rules.py, named in rules.py), control flow
on per-lane values becomes masks (batching_control.py).  Like JAX's tracing, the source is
specialized to the *ranks* of the arguments (not their sizes) and cached per signature; a
version for unknown ranks (rank-polymorphic ``_ax`` helpers) is what other transformations
see, so ``grad(vmap(f))`` and ``vmap(vmap(f))`` transform generated source again.
What cannot be batched runs as a loop over the batch, with a warning and a comment.
"""
import inspect
import numbers
import re
import warnings

import numpy as np

from astjax.frontend.syntax import assign, call, gast, name
from astjax.batching.control import Arg, BatchingWarning, CannotBatch, FunctionBatcher, TAPE_PREFIX
from astjax.batching.values import (Lst, Tup, Val, build_node, is_batched, item_node, merge_into,
                              merge_tuple_into, of_value, signature_key)
from astjax.core.emit import compile_functions
from astjax.frontend.captures import stale
from astjax.core.normalize import normalize

__all__ = ["vmap", "BatchingWarning"]

_VMAPPED = {}


def vmap(fun, in_axes=0, out_axes=0, axis_name=None):
    """Vectorize ``fun`` over a batch axis, as ``jax.vmap``: ``in_axes`` is an int, None
    (the argument is shared by every example) or a tuple/pytree of those, one per argument;
    ``out_axes`` an int; ``axis_name`` names the batch axis for the collectives of
    ``astjax.lax`` (``lax.psum(x, axis_name)`` sums over the batch).  Returns a function whose
    generated source (``astjax.source``) pushes the batch axis into every NumPy operation."""
    if not callable(fun):
        raise TypeError(f"vmap expects a function, got {type(fun).__name__}")
    if not (out_axes is None or isinstance(out_axes, numbers.Integral)):
        raise TypeError(f"out_axes must be an int, got {out_axes!r}")
    _check_axes(in_axes)
    key = (fun, _freeze(in_axes), out_axes, axis_name)
    hit = _VMAPPED.get(key)
    if hit is None:
        hit = _VMAPPED[key] = Vmapped(fun, in_axes, out_axes, axis_name)
    return hit


vmap.__astjax_transform__ = True       # astjax.vmap(f)(x) may appear inside transformed code


def _check_axes(spec):
    if spec is None or isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        return
    if isinstance(spec, (tuple, list, dict)):
        for s in (spec.values() if isinstance(spec, dict) else spec):
            _check_axes(s)
        return
    raise TypeError(f"in_axes must be an int, None, or a tuple/list of those, got {spec!r}")


def _freeze(spec):
    if isinstance(spec, dict):
        return ("dict",) + tuple((k, _freeze(v)) for k, v in spec.items())
    if isinstance(spec, (tuple, list)):
        return (type(spec).__name__,) + tuple(_freeze(s) for s in spec)
    return spec


class Vmapped:
    """The batched function: dispatches on the ranks of its arguments to generated source."""

    def __init__(self, fun, in_axes, out_axes, axis_name=None):
        self.fun = fun
        self.axis_name = axis_name
        self.in_axes = in_axes
        self.out_axes = out_axes
        base = getattr(fun, "__name__", "f").replace("<lambda>", "lambda_")
        self.__name__ = self.__qualname__ = f"vmap_{base}"
        self.__doc__ = f"vmap of {base} (in_axes={in_axes!r}, out_axes={out_axes!r})."
        self.__module__ = getattr(fun, "__module__", None)
        self._cache = {}             # signature -> generated function
        self._int_axis = isinstance(in_axes, numbers.Integral)
        self._generic = None
        self._last = None
        self._defaults = _positional_defaults(fun)

    def _with_defaults(self, args):
        """``args`` and the defaults of the parameters they leave out, which (as in JAX,
        where defaults are constants of the trace) no in_axes entry maps; and the spec."""
        spec = self.in_axes
        missing = self._defaults[len(args):]
        if not missing:
            return args, spec
        if any(d is inspect.Parameter.empty for d in missing):
            return args, spec                      # the call raises Python's TypeError
        if not isinstance(spec, (tuple, list)):
            spec = (spec,) * len(args)
        return args + tuple(missing), tuple(spec) + (None,) * len(missing)

    # ---- calling ------------------------------------------------------------------------------
    def __call__(self, *args):
        spec = self.in_axes
        if len(args) < len(self._defaults):
            args, spec = self._with_defaults(args)
        if self._int_axis and spec is self.in_axes:   # the common case, kept cheap
            try:
                fn = self._cache.get(tuple([a.ndim for a in args]))
            except AttributeError:
                fn = None
            if fn is not None:
                n = args[0].shape[spec]
                for a in args:
                    if a.shape[spec] != n:
                        _sizes_error(args, [spec] * len(args))
                return fn(*args)
        axes = _per_arg_axes(spec, args)
        facts, sizes = [], []
        for a, ax in zip(args, axes):
            facts.append(_arg_fact(a, ax, sizes))
        if not sizes:
            raise ValueError("vmap needs at least one argument with a batch axis (in_axes "
                             "is None for every argument)")
        if len(set(sizes)) > 1:
            _sizes_error(args, axes)
        key = tuple(signature_key(f) for f in facts)
        fn = self._cache.get(key)
        if fn is None:
            fn = self._cache[key] = self._build(facts, axes, key)
            if self._int_axis and all(type(a) is np.ndarray for a in args):
                self._cache[tuple(a.ndim for a in args)] = fn
        self._last = fn
        return fn(*args)

    def _build(self, facts, axes, key):
        """Generate the batched source for arguments with these facts (per-example ranks)."""
        label = f"vmap({getattr(self.fun, '__name__', 'f')})"
        fn, info = build(self.fun, facts, axes, self.out_axes, label, self.axis_name,
                         rederive=lambda: self._rebuilt(facts, axes, key))
        self._last = fn
        return fn

    def _rebuilt(self, facts, axes, key):
        """Code derived for globals that changed since (a helper rebound, a captured array's
        rank): every cached version is dropped and this one derived again."""
        self._cache.clear()
        self._generic = None
        fn = self._build(facts, axes, key)
        if key == ("generic",):
            self._generic = fn
        else:
            self._cache[key] = fn
        return fn

    def function_for(self, facts):
        """The generated function for arguments with these (unbatched, whole-array) facts:
        how an enclosing vmap reads this one with known ranks."""
        axes = _per_arg_axes(self.in_axes, [None] * len(facts), facts)
        batched = [_apply_axes(f, ax) for f, ax in zip(facts, axes)]
        key = ("facts",) + tuple(signature_key(f) for f in batched)
        fn = self._cache.get(key)
        if fn is None or stale(fn):
            fn = self._cache[key] = self._build(batched, axes, key)
        return fn

    # ---- what other transformations and astjax.source see -------------------------------------
    @property
    def generic(self):
        """The version for arguments of unknown rank (rank-polymorphic ``_ax`` helpers)."""
        if self._generic is None or stale(self._generic):
            import inspect
            try:
                nparams = len(inspect.signature(self.fun).parameters)
            except (TypeError, ValueError):
                nparams = 1
            axes = _per_arg_axes(self.in_axes, [None] * nparams)
            facts = [_unknown_fact(ax) for ax in axes]
            self._generic = self._build(facts, axes, ("generic",))
        return self._generic

    @property
    def __wrapped__(self):
        return self.generic

    @property
    def __astjax_function__(self):
        return self.generic

    @property
    def __astjax_source__(self):
        fn = self._last if self._last is not None else self.generic
        return fn.__astjax_source__

    def __repr__(self):
        return f"<astjax.vmap of {getattr(self.fun, '__qualname__', self.fun)!r}>"


def _sizes_error(args, axes):
    sizes = [f"axis {ax} of argument {i} has size {np.shape(a)[ax]}"
             for i, (a, ax) in enumerate(zip(args, axes))
             if isinstance(ax, int) and np.ndim(a) > 0]
    raise ValueError("vmap got inconsistent sizes for the batch axis: " + "; ".join(sizes))


def _positional_defaults(fun):
    """Per positional parameter of ``fun``, its default (inspect.Parameter.empty if none)."""
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.default for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                         p.POSITIONAL_OR_KEYWORD))


def _per_arg_axes(spec, args, facts=None):
    n = len(args)
    if isinstance(spec, (tuple, list)):
        if len(spec) != n:
            raise ValueError(f"vmap in_axes has {len(spec)} entries for {n} arguments")
        return list(spec)
    return [spec] * n


def _arg_fact(value, axis, sizes):
    """The fact of one argument under its in_axes entry (a pytree prefix)."""
    if isinstance(value, dict):
        if isinstance(axis, dict):
            items = tuple(_arg_fact(v, axis.get(k), sizes) for k, v in value.items())
        elif isinstance(axis, (tuple, list)):
            raise ValueError(f"in_axes {axis!r} does not match a dict argument")
        else:
            items = tuple(_arg_fact(v, axis, sizes) for v in value.values())
        return Tup(items, tuple(value))
    if isinstance(value, (tuple, list)):
        if isinstance(axis, (tuple, list)):
            if len(axis) != len(value):
                raise ValueError(f"in_axes {axis!r} does not match an argument with "
                                 f"{len(value)} items")
            items = tuple(_arg_fact(v, a, sizes) for v, a in zip(value, axis))
        else:
            items = tuple(_arg_fact(v, axis, sizes) for v in value)
        if isinstance(value, list):
            if any(is_batched(i) for i in items):
                raise ValueError("vmap: pass per-example lists as tuples (a list argument "
                                 "with a batch axis is not supported)")
            return of_value(value)
        return Tup(items)
    if isinstance(axis, (tuple, list)):
        raise ValueError(f"in_axes {axis!r} given for an argument that is not a tuple")
    if axis is None:
        return of_value(value)
    nd = np.ndim(value)
    if not -nd <= axis < nd:
        raise ValueError(f"vmap in_axes={axis} is out of range for an argument of rank {nd}")
    sizes.append(np.shape(value)[axis])
    return Val(True, nd - 1, True)


def _apply_axes(fact, axis):
    """Per-example-of-an-outer-vmap fact -> the fact inside this vmap."""
    if isinstance(fact, Tup):
        axes = axis if isinstance(axis, (tuple, list)) else [axis] * len(fact.items)
        return Tup(tuple(_apply_axes(f, a) for f, a in zip(fact.items, axes)), fact.keys)
    if axis is None or not isinstance(fact, Val):
        return fact
    rank = fact.rank - 1 if fact.rank is not None else None
    return Val(True, rank, True)


def _unknown_fact(axis):
    if isinstance(axis, (tuple, list)):
        return Tup(tuple(_unknown_fact(a) for a in axis))
    if axis is None:
        return Val(False, None, dyn=True)
    return Val(True, None, True, dyn=True)


# ---- building ---------------------------------------------------------------------------------

def build(fun, facts, axes, out_axes, label, axis_name=None, rederive=None):
    """Generate, compile and return (the batched entry function, its result fact)."""
    if isinstance(fun, Vmapped):
        fun = fun.function_for([_per_example(f) for f in facts])
    program = normalize(fun, verb="batch")
    prog = ProgramBatcher(program, axis_name)
    entry = EntrySpec(axes, out_axes)
    gen = f"vmap_{program.entry}"
    units, result = prog.run(facts, entry, gen)
    # batched code depends on the rank of each captured array: guarded with the helpers
    captures = program.captures(kinds=True, rederive=rederive)
    functions, source = compile_functions(units, label, gen, captures)
    fn = functions[gen]
    fn.__astjax_source__ = source
    fn.__astjax_fallbacks__ = list(prog.fallbacks)
    if prog.masked:
        fn = _quiet(fn, source)
    return fn, result


def _per_example(fact):
    """What one example of this vmap passes to an inner vmap: the same ranks, unbatched."""
    if isinstance(fact, Tup):
        return Tup(tuple(_per_example(f) for f in fact.items), fact.keys)
    if isinstance(fact, Val) and fact.batched:
        return Val(False, fact.rank, dyn=fact.dyn)
    return fact


def _quiet(fn, source):
    """Masked code computes every branch for every lane: silence the warnings of lanes
    whose results are thrown away (as JAX's select does)."""
    def run(*args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            return fn(*args)
    run.__name__ = fn.__name__
    run.__qualname__ = fn.__qualname__
    run.__wrapped__ = fn
    run.__astjax_function__ = fn          # what transforming this again reads
    run.__astjax_captures__ = getattr(fn, "__astjax_captures__", None)
    run.__astjax_source__ = source
    run.__astjax_fallbacks__ = fn.__astjax_fallbacks__
    return run


_BWD = re.compile(r"(.+)_bwd(_.+)?")        # a helper's reverse sweep (autodiff/reverse.py)


class ProgramBatcher:
    """Batches a core program: the entry function and, per signature, every helper it calls.
    Reruns until the element facts of every list settle."""

    def __init__(self, program, axis_name=None):
        self.program = program
        self.axis_name = axis_name         # what astjax.lax collectives reduce over
        self.lists = {}

    def run(self, facts, entry, gen):
        for _ in range(8):
            self.changed = False
            self.specs = {}
            self.units = []
            self.originals = set()
            self.fallbacks = []
            self.masked = False
            self.active = set()
            self.making = {}
            self.looped = set()            # functions run lane by lane (loop_function)
            _, result, _ = self.batch_function(self.program.entry, facts, gen, entry)
            if not self.changed:
                break
        units = list(self.units)
        done = {u[0].name for u in units}
        for fname in sorted(self.originals):
            core = self.program.functions[fname]
            if core.name not in done:
                units.append((core.node, core.env))
                done.add(core.name)
                for callee in core.helpers:
                    self.original(callee)
                    if callee not in done:
                        c = self.program.functions[callee]
                        units.append((c.node, c.env))
                        done.add(callee)
        return units, result

    def batch_function(self, fname, facts, gen, entry=None):
        core = self.program.functions[fname]
        sweep = _BWD.fullmatch(fname) if entry is None else None
        forward = f"{sweep.group(1)}_fwd{sweep.group(2) or ''}" if sweep else None
        if forward in self.looped:
            # its forward sweep ran lane by lane, pushing one record per lane: so does this
            fdef, result, needs_b = self.loop_function(
                core, facts, gen, entry, CannotBatch(f"the forward sweep of {sweep.group(1)} "
                                                     f"loops over the batch"))
            self.looped.add(fname)
            self.units.append((fdef, core.env))
            return fdef, result, needs_b
        fb = FunctionBatcher(self, core, facts, gen, entry)
        try:
            fdef = fb.run()
            result = fb.result_info
            needs_b = fb.B_used and entry is None
            self.masked |= fb.masked
            self.fallbacks += fb.fallbacks
        except CannotBatch as exc:
            if sweep and forward in self.program.functions:
                # its forward sweep pushed one record for all lanes: a reverse sweep lane by
                # lane would pop it once per lane; the caller loops instead
                raise CannotBatch(exc.reason, exc.node, whole_function=True) from exc
            fdef, result, needs_b = self.loop_function(core, facts, gen, entry, exc)
            self.looped.add(fname)
        self.units.append((fdef, core.env))
        return fdef, result, needs_b

    def loop_function(self, core, facts, gen, entry, exc):
        """The function as a loop over the batch, calling the original per lane."""
        origin = getattr(exc.node, "origin", None) or getattr(core.node, "origin", None)
        where = f"{origin.short}: " if origin is not None else ""
        reason = f"{where}{exc.reason}: vmap loops over the batch for {core.name}"
        warnings.warn(f"vmap: {reason}", BatchingWarning, stacklevel=4)
        self.fallbacks.append(reason)
        fb = FunctionBatcher(self, core, facts, gen, entry)
        fb.current = core.node
        for p, f in zip(core.params, facts):
            fb.env[p] = f
        fb.outs.append([])
        body = entry.prologue(fb) if entry is not None else []
        op = call(core.name, [name(p) for p in core.params])
        fb.outs.append([])
        expr, info = fb.lane_loop(op, CannotBatch(exc.reason), core.node, callee=core.name)
        r = fb.fresh("out")
        fb.put(assign(r, fb.core_op(expr)))
        fb.env[r] = info
        body += fb.outs.pop()
        fb.result_info = info
        if entry is not None:
            fb.outs.append([])
            value = entry.epilogue(fb, Arg(name(r), info))
            body += fb.outs.pop()
        else:
            value = name(r)
        ret = gast.Return(value=value)
        ret.origin = getattr(core.node, "origin", None)
        body.append(ret)
        args = gast.arguments(args=[name(p, gast.Param()) for p in core.params],
                              posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                              kwarg=None, defaults=[])
        if entry is not None:
            body = entry.batch_size(fb) + body
        else:
            args.args.append(name(fb.B_name, gast.Param()))
        fdef = gast.FunctionDef(name=gen, args=args, body=body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.origin = getattr(core.node, "origin", None)
        return fdef, info, entry is None

    def specialize(self, fname, facts):
        """(generated name, result fact, takes B) of helper ``fname`` for these facts."""
        key = (fname, tuple(signature_key(f) for f in facts))
        hit = self.specs.get(key)
        if hit is not None:
            return hit[:3]
        if key in self.active:
            raise CannotBatch(f"recursive call of {fname}", whole_function=True)
        shared = not any(_has_batched(f) for f in facts)
        # one name per specialization, those still being made (a recursion) included
        taken = {hit[0] for hit in self.specs.values()} | set(self.making.values())
        gen, count = (fname, 0) if shared else (f"{fname}_vmap", 1)
        while not shared and gen in taken:
            count += 1
            gen = f"{fname}_vmap{count}"
        self.active.add(key)
        self.making[key] = gen
        if shared:
            saved = self.units
            self.units = []
            _, result, _ = self.batch_function(fname, facts, gen)
            self.units = saved
            self.original(fname)
            hit = (fname, result, False, True)
        else:
            _, result, needs_b = self.batch_function(fname, facts, gen)
            hit = (gen, result, needs_b, False)
        self.active.discard(key)
        self.making.pop(key, None)
        self.specs[key] = hit
        return hit[:3]

    def original(self, fname):
        self.originals.add(fname)
        return fname

    def list_at(self, site):
        if site not in self.lists:
            self.lists[site] = Lst(site)
        return self.lists[site]

    def merge(self, lst, info):
        if merge_into(lst, info):
            self.changed = True

    def merge_tuple(self, lst, info, site=None):
        if merge_tuple_into(lst, info, site):
            self.changed = True

    def mutates_lists(self, fname):
        core = self.program.functions.get(fname)
        if core is None:
            return True
        for n in gast.walk(core.node):
            if isinstance(n, gast.Attribute) and n.attr in ("append", "pop"):
                return True
            if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store):
                return True
        return any(self.mutates_lists(h) for h in core.helpers if h != fname)

    def uses_tape(self, node):
        """Does ``node`` push to or pop from a tape, directly or through a helper it hands one?"""
        for n in gast.walk(node):
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and \
                    n.func.attr in ("append", "pop") and isinstance(n.func.value, gast.Name) and \
                    n.func.value.id.startswith(TAPE_PREFIX):
                return True
            if isinstance(n, gast.Call) and any(isinstance(a, gast.Name) and
                                                a.id.startswith(TAPE_PREFIX) for a in n.args):
                return True
        return False

    def pops(self, node, seen=None):
        """Does ``node`` pop from a tape, directly or through the helpers it calls?"""
        seen = set() if seen is None else seen
        for n in gast.walk(node):
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and \
                    n.func.attr == "pop" and isinstance(n.func.value, gast.Name) and \
                    n.func.value.id.startswith(TAPE_PREFIX):
                return True
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and \
                    n.func.id in self.program.functions and n.func.id not in seen:
                seen.add(n.func.id)
                if any(isinstance(a, gast.Name) and a.id.startswith(TAPE_PREFIX)
                       for a in n.args) and self.pops(self.program.functions[n.func.id].node,
                                                      seen):
                    return True
        return False


def _has_batched(fact):
    if isinstance(fact, Lst):
        return fact.batched
    return is_batched(fact)


class EntrySpec:
    """The top-level function's in_axes (moved to the front) and out_axes."""

    def __init__(self, axes, out_axes):
        self.axes = axes
        self.out_axes = out_axes

    def prologue(self, fb):
        out = []
        fb.outs.append(out)
        for p, ax in zip(fb.core.params, self.axes):
            info = fb.env[p]
            node = self._move_in(fb, name(p), info, ax)
            if node is not None:
                fb.put(assign(p, node))
        fb.outs.pop()
        return out

    def _move_in(self, fb, node, info, ax):
        if isinstance(info, Tup):
            if isinstance(ax, dict):
                axes = [ax.get(k) for k in info.keys]
            else:
                axes = ax if isinstance(ax, (tuple, list)) else [ax] * len(info.items)
            moved, changed = [], False
            for i, (item, a) in enumerate(zip(info.items, axes)):
                node_i = fb.atom(item_node(node, info, i), "item")
                new = self._move_in(fb, node_i, item, a)
                changed |= new is not None
                moved.append(new if new is not None else node_i)
            return fb.atom(build_node(info, moved), "args") if changed else None
        if not isinstance(info, Val) or not info.batched or ax in (None, 0):
            return None
        if info.dyn:
            return fb.atom(fb.t("_ax.move_batch_axis(x, a, 0)", x=node, a=ax), "moved")
        return fb.atom(fb.t("np.moveaxis(x, a, 0)", x=node, a=ax), "moved")

    def batch_size(self, fb):
        out = []
        fb.outs.append(out)
        for p in fb.core.params:
            path = _first_batched(fb.arg_infos[fb.core.params.index(p)])
            if path is None:
                continue
            node, info = name(p), fb.arg_infos[fb.core.params.index(p)]
            for i in path:
                node = item_node(node, info, i)
                info = info.items[i]
            expr = fb.t("_ax.leading_size(x)", x=node) if info.dyn else \
                fb.t("np.shape(x)[0]", x=node)
            fb.put(assign(fb.B_name, fb.core_op(expr)))
            break
        fb.outs.pop()
        for s in out:
            s.origin = getattr(fb.fdef, "origin", None)
        return out

    def epilogue(self, fb, arg):
        return self._out(fb, arg.node, arg.info)

    def _out(self, fb, node, info):
        ax = self.out_axes
        if isinstance(info, Tup):
            items = []
            for i, item in enumerate(info.items):
                node_i = fb.atom(item_node(node, info, i), "out")
                items.append(self._out(fb, node_i, item))
            return fb.atom(build_node(info, items), "outs")
        if isinstance(info, Val) and info.batched and info.lanes and not info.dyn:
            if ax == 0:
                return node
            return fb.atom(fb.t("np.moveaxis(x, 0, a)", x=node, a=ax), "out")
        batched = int(_has_batched(info)) if info is not None else 0
        return fb.atom(fb.t("_ax.batch_out(x, n, a, f)", x=node, n=fb.B(), a=ax, f=batched),
                       "out")


def _first_batched(info, path=()):
    if isinstance(info, Tup):
        for i, item in enumerate(info.items):
            p = _first_batched(item, path + (i,))
            if p is not None:
                return p
        return None
    if isinstance(info, Val) and info.batched:
        return path
    return None

