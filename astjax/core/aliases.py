"""Aliases: names that may share one array, so a write through one changes the others.

The core form gives every value its own name and every transform reads ``z[0] = v`` as a
change of ``z`` alone.  NumPy does not: after ``z = y`` (the same object) or ``v = y[1:]``
(a view) a write through ``z`` or ``v`` changes ``y`` too.  This pass, run on each function's
core statements, keeps Python's meaning:

* a plain rebinding ``z = y`` is *followed*: after an item write into one of them the other
  is bound again to the written object, which every transform reads as data flow;
* any other sharing (a view from slicing, ``.T``, ``np.reshape``, ``np.asarray``, ...; an
  array held in a list, tuple or dict, or iterated over; a helper's result, which may be an
  argument or a view of one; an augmented ``z += v`` on an alias, in place for arrays and
  lists only) is *checked*: before
  the write, ``_ax.check_no_alias`` raises an AstjaxError naming the user's line when the two
  really share memory at run time and the other name is read again later.

Before::                              After::

    z = y                                 z = y
    z[0] = 0.0                            z[0] = 0.0
    v = y[1:]                             y = z
    v[0] = 2.0                            v = y[1:]
    return np.sum(y * v)                  _ax.check_no_alias(v, y, 'f.py:4: v[0] = 2.0', 'y')
                                          v[0] = 2.0
                                          return np.sum(y * v)
"""
from astjax.frontend.syntax import call, const, gast, name
from astjax.core.form import dotted_path

# core ops whose result may share memory with their first operand
_VIEWS = {"np.transpose", "np.swapaxes", "np.moveaxis", "np.reshape", "np.ravel",
          "np.squeeze", "np.expand_dims", "np.broadcast_to", "np.flip", "np.asarray",
          "np.atleast_1d", "np.atleast_2d"}


def follow_aliases(body):
    """The core statements ``body`` with alias writes followed or checked (a new list)."""
    live_after = {}
    _live(body, set(), live_after)
    out, _ = _block(body, {}, lambda var, s: var in live_after[id(s)])
    return out


def _block(stmts, edges, read_later):
    """(new statements, edges after them); ``edges``: frozenset({a, b}) -> 'same' | 'view'."""
    out = []
    edges = dict(edges)
    for s in stmts:
        if isinstance(s, gast.If):
            body, e1 = _block(s.body, edges, read_later)
            orelse, e2 = _block(s.orelse, edges, read_later)
            s.body, s.orelse = body or [gast.Pass()], orelse
            edges = _merge(e1, e2)
        elif isinstance(s, (gast.For, gast.While)):
            entry = _merge(edges, _edges_after(s.body, edges))
            entry = _merge(entry, _edges_after(s.body, entry))      # what a loop settles on
            s.body, _ = _block(s.body, entry, read_later)
            edges = entry
        elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Subscript) and \
                isinstance(s.targets[0].value, gast.Name):
            w = s.targets[0].value.id
            group = _group(edges, w)
            # the names bound to this very object (vmap's masked writes copy it for them too)
            s.shared_with = sorted(o for o, kind in group.items() if kind == "same")
            out += [_check(w, o, s) for o, kind in group.items()
                    if kind == "view" and read_later(o, s)]
            out.append(s)
            out += [_at(gast.Assign(targets=[name(o, gast.Store())], value=name(w),
                                    type_comment=None), s)
                    for o, kind in group.items() if kind == "same" and read_later(o, s)]
            continue
        elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            t = s.targets[0].id
            if getattr(s, "augmented", False):        # t += v: in place for arrays and lists
                out += [_check(t, o, s) for o in _group(edges, t) if read_later(o, s)]
            edges = _bind(edges, t, s.value)
        edges = _held(edges, s)
        out.append(s)
    return out, edges


def _held(edges, s):
    """After ``lst.append(w)``, ``lst[i] = w`` or a loop ``for r in lst:``, the container and
    the value may share an object: a write through one shows through the other."""
    pairs = []
    if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
            isinstance(s.value.func, gast.Attribute) and s.value.func.attr in ("append", "insert") \
            and isinstance(s.value.func.value, gast.Name):
        pairs = [(s.value.func.value.id, a.id) for a in s.value.args if isinstance(a, gast.Name)]
    elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Subscript) and \
            isinstance(s.targets[0].value, gast.Name) and isinstance(s.value, gast.Name):
        pairs = [(s.targets[0].value.id, s.value.id)]
    elif isinstance(s, gast.For) and isinstance(s.target, gast.Name) and \
            isinstance(s.iter, gast.Name):
        pairs = [(s.target.id, s.iter.id)]
    if not pairs:
        return edges
    edges = dict(edges)
    for a, b in pairs:
        if a != b:
            edges.setdefault(frozenset((a, b)), "view")
    return edges


def _edges_after(stmts, edges):
    edges = dict(edges)
    for s in stmts:
        if isinstance(s, gast.If):
            edges = _merge(_edges_after(s.body, edges), _edges_after(s.orelse, edges))
        elif isinstance(s, (gast.For, gast.While)):
            edges = _merge(edges, _edges_after(s.body, edges))
        elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            edges = _bind(edges, s.targets[0].id, s.value)
        edges = _held(edges, s)
    return edges


def _bind(edges, t, op):
    """The edges after ``t = op``: t's old sharing ends, and op may start a new one."""
    edges = {k: v for k, v in edges.items() if t not in k}
    for base, kind in _bases(op):
        if base != t:
            edges[frozenset((t, base))] = kind
    return edges


def _bases(op):
    """(name, 'same' | 'view') for each name whose object ``op``'s result may share."""
    if isinstance(op, gast.Name):
        return [(op.id, "same")]
    if isinstance(op, gast.Subscript) and isinstance(op.value, gast.Name):
        return [(op.value.id, "view")]    # an int index of a 1-d array copies: checked at run time
    if isinstance(op, (gast.List, gast.Tuple)):        # a container holds the objects themselves
        return [(e.id, "view") for e in op.elts if isinstance(e, gast.Name)]
    if isinstance(op, gast.Dict):
        return [(e.id, "view") for e in op.values if isinstance(e, gast.Name)]
    if not isinstance(op, gast.Call):
        return []
    path = dotted_path(op.func) or ""
    if path in _VIEWS and op.args and isinstance(op.args[0], gast.Name):
        return [(op.args[0].id, "view")]
    if path.startswith(("np.", "math.", "_ax.")) or path in _FRESH:
        return []
    # a helper (or list(), min(), a method) may hand back an argument or a view of it
    args = list(op.args) + [k.value for k in op.keywords]
    if isinstance(op.func, gast.Attribute):
        args.append(op.func.value)
    return [(a.id, "view") for a in args if isinstance(a, gast.Name)]


# calls whose result never shares an argument's memory
_FRESH = {"len", "range", "float", "int", "bool", "complex", "str", "abs", "round", "print",
          "isinstance", "enumerate", "zip", "repr", "format", "hash", "id", "type"}


def _group(edges, w):
    """Every name that may share w's array, with how: 'same' only along plain rebindings."""
    seen = {w: "same"}
    todo = [w]
    while todo:
        a = todo.pop()
        for pair, kind in edges.items():
            if a in pair:
                (b,) = pair - {a} or {a}
                k = "same" if kind == "same" and seen[a] == "same" else "view"
                if b not in seen or seen[b] == "view" and k == "same":
                    seen[b] = k
                    todo.append(b)
    seen.pop(w)
    return seen


def _merge(a, b):
    """Edges on either path; sharing that holds on one path only, or not in the same way,
    is only *may*-sharing: checked at run time, never followed."""
    out = {}
    for k in set(a) | set(b):
        out[k] = a[k] if a.get(k) == b.get(k) else "view"
    return out


def _check(w, other, s):
    origin = getattr(s, "origin", None)
    where = [const(origin.filename), const(origin.lineno), const(origin.text.strip())] \
        if origin is not None else [const(None), const(None), const(None)]
    node = gast.Expr(value=call("_ax.check_no_alias", [name(w), name(other), const(w),
                                                       const(other)] + where))
    node.effect = True
    return _at(node, s)


def _at(node, s):
    node.origin = getattr(s, "origin", None)
    return node


def _copy_block(stmts):
    import copy
    return copy.deepcopy(stmts)


def _live(stmts, after, record):
    """Names live before ``stmts`` given those live after; ``record[id(s)]``: live after s."""
    live = set(after)
    for s in reversed(stmts):
        record[id(s)] = set(live)
        if isinstance(s, gast.If):
            live = _reads(s.test) | _live(s.body, live, record) | _live(s.orelse, live, record)
        elif isinstance(s, (gast.For, gast.While)):
            test = _reads(s.iter if isinstance(s, gast.For) else s.test)
            kill = {s.target.id} if isinstance(s, gast.For) and \
                isinstance(s.target, gast.Name) else set()
            head = set(live) | test
            while True:                     # what is live at the loop's head, to a fixpoint
                new = set(live) | test | (_live(s.body, head, record) - kill)
                if new == head:
                    break
                head = new
            live = head
        elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            live = (live - {s.targets[0].id}) | _reads(s.value)
        else:
            live = live | _reads(s)
    return live


def _reads(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)} | (
        {node.targets[0].value.id} if isinstance(node, gast.Assign) and
        isinstance(node.targets[0], gast.Subscript) and
        isinstance(node.targets[0].value, gast.Name) else set())
