"""What vmap knows about each value: batched or shared, its per-example rank, its structure.

    Val(batched=True, rank=1)         an array that differs per example, shape (B, n)
    Val(batched=False, rank=2)        an array shared by every example (a weight matrix)
    Tup((Val(True, 1), Val(False, 0)))  a tuple of such values (known length)
    Lst(site)                         a Python list: one mutable abstract object per creation
                                      site, whose ``elem`` joins everything ever stored in it
    NONE                              the constant None (how the core form pre-initializes)

Batched values carry the batch axis at position 0.  One relaxation keeps accumulators cheap
and dtypes exact: a batched value of per-example rank 0 may be a plain scalar that is the
same in every lane (``s = 0.0`` before ``s = s + x[i]`` makes it per-lane).  ``lanes`` says
whether a batched value certainly carries the batch axis.  ``rank`` is None when unknown;
rules then emit rank-polymorphic ``_ax.*`` helpers instead of plain NumPy.

Facts flow forward through the core program (see batching_control.py); at control-flow
joins they are combined with :func:`join`.  The end of this file holds what rules and the
control-flow code hand around: ``Arg`` (an atom and its fact), ``Region`` (code that runs
for all lanes but counts for some), ``CannotBatch`` (give up: loop over the batch).
"""
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Val:
    batched: bool = False
    rank: object = None          # per-example ndim, or None when unknown
    lanes: bool = True           # batched: certainly has the batch axis (False: may be 0-d)
    maybe_none: bool = False     # may still be None (a pre-initialized return value)
    view: bool = False           # a read-only broadcast view: copy before item writes
    dyn: bool = False            # popped from a list of mixed things: may even be a tuple
    tups: tuple = ()             # dyn off a tape: the facts of the tuples the tape holds

    def __repr__(self):
        if self.maybe_none and self.rank is None and not self.batched:
            return "NONE"
        tag = ("B" if self.lanes else "b") if self.batched else "U"
        rank = "?" if self.rank is None else self.rank
        extra = "".join(f for f, on in (("|None", self.maybe_none), ("|view", self.view),
                                        ("|dyn", self.dyn)) if on)
        return f"{tag}{rank}{extra}"


NONE = Val(False, None, True, maybe_none=True)
SCALAR = Val(False, 0)
DYN = Val(True, None, lanes=False, dyn=True)


@dataclass(frozen=True)
class Tup:
    items: tuple                 # infos of the items
    keys: tuple = None           # a dict's keys (its items in key order), None for a tuple

    @property
    def batched(self):
        return any(i.batched for i in self.items)

    def __repr__(self):
        return "(" + ", ".join(map(repr, self.items)) + ("," if len(self.items) == 1 else "") + ")"


@dataclass(eq=False)
class Lst:
    """A list object: ``elem`` is the join of every value stored in it (fixpoint over the
    whole program: an append late in the program can make an early literal batched)."""
    site: object
    elem: object = None          # None: nothing stored yet (bottom)
    tups: dict = None            # a tape: the join of the tuples pushed, by length
    sites: dict = None           # ... and by (function that pushed them, length)

    @property
    def batched(self):
        return self.elem is not None and is_batched(self.elem)

    def __repr__(self):
        return f"[{self.elem!r}...]"


def item_node(node, info, i):
    """The gast subscript reading item ``i`` of a tuple or dict ``node``."""
    from astjax.frontend.syntax import const, gast
    key = info.keys[i] if info.keys is not None else i
    return gast.Subscript(value=node, slice=const(key), ctx=gast.Load())


def build_node(info, nodes):
    """A tuple (or dict, for a dict's fact) display of ``nodes``."""
    from astjax.frontend.syntax import const, gast
    if info.keys is not None:
        return gast.Dict(keys=[const(k) for k in info.keys], values=list(nodes))
    return gast.Tuple(elts=list(nodes), ctx=gast.Load())


def is_batched(info):
    if isinstance(info, Val):
        return info.batched
    if isinstance(info, Tup):
        return info.batched
    if isinstance(info, Lst):
        return info.batched
    return False


def is_none(info):
    return info is NONE


def batched(rank, lanes=True):
    return Val(True, rank, lanes)


def unbatched(rank):
    return Val(False, rank)


def join(a, b):
    """The least fact true of both ``a`` and ``b`` (either may be None: no value yet)."""
    if a is None:
        return b
    if b is None or a == b or a is b:
        return a
    if isinstance(a, Lst) or isinstance(b, Lst):
        if a is b:
            return a
        if isinstance(a, Lst) and isinstance(b, Lst):
            merge_into(a, b.elem)
            return a
        return DYN
    if is_none(a):
        return _maybe_none(b)
    if is_none(b):
        return _maybe_none(a)
    if isinstance(a, Tup) and isinstance(b, Tup) and len(a.items) == len(b.items) and \
            a.keys == b.keys:
        return Tup(tuple(join(x, y) for x, y in zip(a.items, b.items)), a.keys)
    if isinstance(a, Val) and isinstance(b, Val):
        if a.dyn or b.dyn:
            return DYN
        rank = a.rank if a.rank == b.rank else None
        bat = a.batched or b.batched
        if not bat or (rank is not None and rank > 0):
            lanes = True         # only 0-d values may lack the batch axis
        else:
            lanes = a.batched and b.batched and a.lanes and b.lanes
        return Val(bat, rank, lanes, a.maybe_none or b.maybe_none, a.view or b.view)
    return DYN if is_batched(a) or is_batched(b) else Val(False, None, dyn=True)


def _maybe_none(info):
    if isinstance(info, Val):
        return replace(info, maybe_none=True)
    return info


def merge_into(lst, info):
    """Join ``info`` into a list's element fact; True when that changed it."""
    new = join(lst.elem, info)
    if new != lst.elem or (lst.elem is None and new is not None):
        lst.elem = new
        return True
    return False


def merge_tuple_into(lst, info, site=None):
    """Record a tuple pushed onto a tape by function ``site`` (a reverse sweep unpacks it
    again); True when that is new."""
    if lst.tups is None:
        lst.tups, lst.sites = {}, {}
    changed = False
    for table, key in ((lst.tups, len(info.items)), (lst.sites, (site, len(info.items)))):
        new = join(table.get(key), info)
        if new != table.get(key):
            table[key] = new
            changed = True
    return changed


def tape_item(info, index):
    """The fact of ``t[index]`` for ``t`` popped off a tape holding values of mixed kinds:
    a reverse sweep unpacks only the tuples its forward sweep pushed, so the item is item
    ``index`` of one of them long enough to have it.  None when nothing is known."""
    items = [t.items[index] for t in info.tups
             if isinstance(t, Tup) and -len(t.items) <= index < len(t.items)]
    if not items:
        return None
    out = None
    for item in items:
        out = join(out, item)
    return out


def as_batched(info):
    """The fact of ``info`` once it has been made per-lane (materialized)."""
    if isinstance(info, Val):
        if info.batched:
            return info
        lanes = info.rank is not None and info.rank > 0
        return Val(True, info.rank, lanes, info.maybe_none, view=lanes)
    if isinstance(info, Tup):
        return Tup(tuple(as_batched(i) for i in info.items), info.keys)
    return info


def stacked(info):
    """The fact of a result stacked over lanes (np.stack of per-lane results)."""
    if isinstance(info, Val):
        return Val(True, info.rank, True)
    if isinstance(info, Tup):
        return Tup(tuple(stacked(i) for i in info.items), info.keys)
    return DYN


def of_value(value, batched_axis=None):
    """The fact of a concrete argument or captured constant."""
    if value is None:
        return NONE
    if isinstance(value, tuple):
        return Tup(tuple(of_value(v) for v in value))
    if isinstance(value, dict):
        return Tup(tuple(of_value(v) for v in value.values()), tuple(value))
    if isinstance(value, list):
        lst = Lst(site=("value", id(value)))
        for v in value:
            merge_into(lst, of_value(v))
        return lst
    try:
        rank = int(np.ndim(value))
    except Exception:           # dtypes, strings, functions: shared scalars as far as we care
        rank = 0
    if batched_axis is not None:
        return Val(True, rank - 1, True)
    return Val(False, rank)


def signature_key(info):
    """A hashable key for a fact (lists by identity)."""
    if isinstance(info, Tup):
        return ("T", info.keys) + tuple(signature_key(i) for i in info.items)
    if isinstance(info, Lst):
        return ("L", id(info))
    return info


# ---- what rules and control flow hand around ------------------------------------------------

class CannotBatch(Exception):
    """This construct cannot be batched: the caller falls back to a loop over the batch."""

    def __init__(self, reason, node=None, whole_function=False):
        super().__init__(reason)
        self.reason = reason
        self.node = node
        self.whole_function = whole_function


class BatchingWarning(UserWarning):
    """vmap fell back to a Python loop over the batch for part of a function."""


_NOVALUE = object()      # a name that holds no value on some path


class Arg:
    """An operand of a rule: its atom in the generated code and its fact."""
    __slots__ = ("node", "info")

    def __init__(self, node, info):
        self.node = node
        self.info = info

    @property
    def batched(self):
        return is_batched(self.info)

    @property
    def rank(self):
        return self.info.rank if isinstance(self.info, Val) else None

    @property
    def lanes(self):
        return isinstance(self.info, Val) and self.info.batched and self.info.lanes

    def __repr__(self):
        from astjax.frontend.syntax import to_source
        return f"Arg({to_source(self.node).strip()}: {self.info!r})"


class Region:
    """A stretch of code that runs for all lanes but counts only for some (a branch of a
    batched ``if``, the body of a masked loop)."""

    def __init__(self, protect):
        self.protect = set(protect)     # variables whose outer value must survive
        self.own = set()                # names created inside (safe to overwrite)
        self.sites = set()              # list creation sites inside
