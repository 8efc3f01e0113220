"""Simplify: the classic clean-up passes over a generated function, before it is rendered.

Derivative code repeats itself: the reverse sweep of ``y = x * x`` computes ``g * x`` twice,
a second derivative recomputes primal values the first already holds, an adjoint starts as
``0.0`` and is accumulated once.  Left alone, each order of ``grad`` multiplies the size of
the next.  Before (part of ``grad(grad(tanh))``) and after:

    mul1 = tanh1 * tanh1                         mul1 = tanh1 * tanh1
    sub2 = 1.0 - mul1                            sub2 = 1.0 - mul1
    ...                                          ...
    mul4 = d_mul1 * tanh1                        mul4 = d_mul1 * tanh1
    d_tanh12 = _ax.unbroadcast(mul4, tanh1)      d_tanh12 = _ax.unbroadcast(mul4, tanh1)
    mul5 = d_mul1 * tanh1                        d_tanh12 = d_tanh12 + d_tanh12
    unbroadcast6 = _ax.unbroadcast(mul5, tanh1)  d_x2 = d_tanh12 * sub2
    d_tanh12 = d_tanh12 + unbroadcast6
    mul7 = tanh1 * tanh1
    sub8 = 1.0 - mul7
    d_x2 = d_tanh12 * sub8

Three passes, each conservative and each on a straight run of statements (an ``if``, ``for``
or ``while`` ends the run; their bodies are runs of their own):

- **common subexpressions**: a pure expression (an operator, or a call of a pure NumPy or
  astjax primitive) over the same unchanged names as an earlier one reads the name that holds
  it instead.  Allocations (``np.zeros``...) and random draws are never merged, nor is any
  expression over a name that is written in place anywhere in the function;
- **copy propagation**: after ``a = b`` (or ``a = 0.0``) later reads of ``a`` read ``b``
  until either is rebound (the same object, so in-place writes see the same thing);
- **dead code**: an assignment nobody reads is dropped when dropping it cannot change what
  the program does: its value is a name, a constant or a pure astjax runtime helper.  The
  user's own statements (operators and NumPy calls) are kept even when dead, so what raises
  in the user's function still raises in its derivative.
"""
import copy

from astjax.core.form import prim_key
from astjax.frontend.syntax import gast
from astjax.rules import registry as primitives

# Primitives whose results must stay distinct objects, or that draw fresh values.
FRESH = {"np.zeros", "np.ones", "np.empty", "np.full", "np.zeros_like", "np.ones_like",
         "np.empty_like", "np.full_like", "np.array", "np.copy", "np.eye", "np.identity",
         "np.arange", "np.linspace", "list", "dict", "tuple", "copy", "_ax.draw", "_ax.as_list",
         "_ax.draw_from"}
# astjax runtime helpers that write into their first argument.
MUTATES_FIRST = {"_ax.add_at", "_ax.take_adjoint", "_ax.seq_add", "_ax.add_to",
                 "_ax.take_slot", "_ax.add_to_lanes", "_ax.take_slot_lanes"}
COMPOUND = (gast.If, gast.For, gast.While, gast.With, gast.Try)


def simplify(fdef):
    """A cleaned-up copy of ``fdef`` (a generated gast FunctionDef).  The transforms share
    statement nodes between the functions they generate, so the passes work on a copy."""
    fdef = copy.deepcopy(fdef)
    unsafe = written_in_place(fdef)
    _run(fdef.body, unsafe)
    fdef.body = _dead_code(fdef.body, unsafe, live_after=set())
    return fdef


# ---- what may change under a name without an assignment to it -----------------------------

def written_in_place(fdef):
    """Names whose object may be changed in place: item/attribute write targets, augmented
    targets, receivers of method calls, the first argument of a writing runtime helper, any
    argument of a call that is not a known primitive, and names declared global/nonlocal."""
    out = set()
    for node in gast.walk(fdef):
        if isinstance(node, (gast.Subscript, gast.Attribute)) and \
                isinstance(node.ctx, (gast.Store, gast.Del)):
            out |= _base_names(node.value)
        elif isinstance(node, gast.AugAssign):
            out |= _base_names(node.target)
        elif isinstance(node, gast.Assign) and getattr(node, "augmented", False):
            out |= set().union(*map(_base_names, node.targets))   # `x -= y`, kept in place
        elif isinstance(node, (gast.Global, gast.Nonlocal)):
            out |= set(node.names)
        elif isinstance(node, gast.Call):
            key = prim_key(node)
            if isinstance(node.func, gast.Attribute) and not _is_module(node.func.value):
                out |= _base_names(node.func.value)             # x.append(...), x.fill(...)
                if node.func.attr in ("append", "pop"):         # a tape: stores, not writes
                    continue
            if key in MUTATES_FIRST or _mutates(key):
                if node.args:
                    out |= _base_names(node.args[0])
            elif not _pure_call(node):
                for a in list(node.args) + [k.value for k in node.keywords]:
                    out |= _base_names(a)
    return out


def _base_names(node):
    while isinstance(node, (gast.Subscript, gast.Attribute, gast.Starred)):
        node = node.value
    if isinstance(node, gast.Name):
        return {node.id}
    if isinstance(node, (gast.Tuple, gast.List)):
        return set().union(*[_base_names(e) for e in node.elts]) if node.elts else set()
    return set()


def _is_module(node):
    return isinstance(node, gast.Name) and node.id in ("np", "math", "_ax")


def _mutates(key):
    prim = primitives.lookup(key) if key else None
    return bool(prim is not None and prim.extra.get("mutates"))


def _pure_call(call):
    """A call of a known primitive that neither writes its arguments nor allocates a buffer
    someone may write (nor draws random numbers)."""
    key = prim_key(call)
    if key in (None, "helper", "list.pop") or key in FRESH or key in MUTATES_FIRST:
        return False
    if key.startswith("np.random") or _mutates(key):
        return False
    return primitives.lookup(key) is not None


# ---- common subexpressions and copy propagation, per straight run -------------------------

def _run(stmts, unsafe):
    available = {}        # expression key -> name holding it
    copies = {}           # name -> the Name or Constant node it stands for
    made_by = {}          # name -> the pure expression it holds (this run)
    for s in stmts:
        if isinstance(s, COMPOUND):
            _substitute(s, copies, heads_only=True)
            for block in _blocks(s):
                _run(block, unsafe)
            available.clear()
            copies.clear()
            made_by.clear()
            continue
        _substitute(s, copies)
        targets = _targets(s)
        for name in targets:
            _forget(name, available, copies)
            made_by.pop(name, None)
        if not (isinstance(s, gast.Assign) and len(s.targets) == 1 and
                isinstance(s.targets[0], gast.Name)) or getattr(s, "augmented", False):
            continue
        target, value = s.targets[0].id, s.value
        if target in unsafe:
            continue
        if isinstance(value, gast.Name) and value.id != target and value.id not in unsafe:
            copies[target] = value
            continue
        if isinstance(value, gast.Constant) and isinstance(value.value, (int, float)) \
                and not isinstance(value.value, bool):
            copies[target] = value
            continue
        fresh = _first_accumulation(value, made_by)
        if fresh is not None and fresh.id not in unsafe:
            s.value = value = _copy_of(fresh)           # `d = _ax.seq_acc(0.0, c)` is `d = c`
            copies[target] = fresh
            continue
        key = _expression_key(value, unsafe)
        if key is None or target in _names(value):
            continue
        if key in available:
            s.value = gast.Name(id=available[key], ctx=gast.Load(), annotation=None,
                                type_comment=None)
            copies[target] = s.value
        else:
            available[key] = target
            made_by[target] = value


# Helpers whose result is a fresh float cotangent (not a list, tuple or dict): adding it to
# the zero 0.0 gives an equal value of the same dtype, so the first accumulation of an
# adjoint, `d = _ax.seq_acc(0.0, c)`, can read c itself.
FLOAT_COTANGENTS = {"_ax.unbroadcast", "_ax.finalize_vjp", "_ax.broadcast_like"}


def _first_accumulation(value, made_by):
    """The Name ``c`` of ``_ax.seq_acc(0.0, c)`` when ``c`` holds a float cotangent."""
    if not (isinstance(value, gast.Call) and prim_key(value) == "_ax.seq_acc"
            and len(value.args) == 2 and not value.keywords):
        return None
    zero, c = value.args
    if not (isinstance(zero, gast.Constant) and zero.value == 0.0 and
            isinstance(c, gast.Name) and c.id in made_by):
        return None
    maker = made_by[c.id]
    if isinstance(maker, gast.Call) and prim_key(maker) in FLOAT_COTANGENTS:
        return c
    return None


def _blocks(s):
    if isinstance(s, gast.Try):
        return [s.body, s.orelse, s.finalbody] + [h.body for h in s.handlers]
    return [s.body] + ([s.orelse] if getattr(s, "orelse", None) else [])


def _targets(s):
    out = set()
    for node in gast.walk(s):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
            out.add(node.id)
    return out


def _forget(name, available, copies):
    for key, holder in list(available.items()):
        if holder == name or name in key[1]:
            del available[key]
    for a, b in list(copies.items()):
        if a == name or (isinstance(b, gast.Name) and b.id == name):
            del copies[a]


def _expression_key(value, unsafe):
    """A hashable key for a pure expression over names and constants, or None."""
    if isinstance(value, gast.Call):
        if not _pure_call(value):
            return None
        atoms = list(value.args) + [k.value for k in value.keywords]
    elif isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        atoms = [c for c in gast.iter_child_nodes(value) if isinstance(c, gast.expr)]
    elif isinstance(value, gast.Attribute) and isinstance(value.value, gast.Name) and \
            value.attr in ("T", "shape", "ndim", "size", "dtype", "real", "imag"):
        atoms = [value.value]
    else:
        return None
    names = set()
    for a in atoms:
        if isinstance(a, gast.Name):
            names.add(a.id)
        elif not (isinstance(a, gast.Constant) or _is_constant_tuple(a)):
            return None
    if names & unsafe:
        return None
    return (gast.dump(value), frozenset(names))


def _is_constant_tuple(node):
    return isinstance(node, gast.Tuple) and all(
        isinstance(e, gast.Constant) or _is_constant_tuple(e) for e in node.elts)


def _names(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _substitute(s, copies, heads_only=False):
    """Replace reads of copied names in ``s`` (in a compound statement: its test/iterator)."""
    if not copies:
        return
    parts = []
    if heads_only:
        if isinstance(s, (gast.If, gast.While)):
            parts = [s.test]
        elif isinstance(s, gast.For):
            parts = [s.iter]
    else:
        parts = [s]
    for part in parts:
        for node in gast.walk(part):
            for field, value in gast.iter_fields(node):
                if isinstance(value, gast.Name) and isinstance(value.ctx, gast.Load) and \
                        value.id in copies:
                    setattr(node, field, _copy_of(copies[value.id]))
                elif isinstance(value, list):
                    for i, item in enumerate(value):
                        if isinstance(item, gast.Name) and isinstance(item.ctx, gast.Load) \
                                and item.id in copies:
                            value[i] = _copy_of(copies[item.id])


def _copy_of(node):
    if isinstance(node, gast.Name):
        return gast.Name(id=node.id, ctx=gast.Load(), annotation=None, type_comment=None)
    return gast.Constant(value=node.value, kind=None)


# ---- dead code ----------------------------------------------------------------------------

def _dead_code(stmts, unsafe, live_after):
    """``stmts`` without the assignments nobody reads that are safe to drop."""
    live = set(live_after)
    kept = []
    for s in reversed(stmts):
        if isinstance(s, COMPOUND):
            live |= _names(s)                 # conservatively, all it mentions is read
            kept.append(s)
            continue
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and \
                isinstance(s.targets[0], gast.Name):
            target = s.targets[0].id
            if target not in live and target not in unsafe and _droppable(s.value):
                continue
            live.discard(target)
        live |= {n.id for n in gast.walk(s) if isinstance(n, gast.Name)
                 and isinstance(n.ctx, gast.Load)}
        kept.append(s)
    kept.reverse()
    return kept


def _droppable(value):
    if isinstance(value, (gast.Name, gast.Constant)):
        return True
    if isinstance(value, gast.Call):
        key = prim_key(value)
        return bool(key) and key.startswith("_ax.") and _pure_call(value) and \
            key not in ("_ax.seed", "_ax.check_differentiable")
    return False
