"""Pytrees: nested tuples, lists and dicts of arrays, flattened to a list of leaves and back.

    leaves, tree = flatten({"w": w, "b": (b1, b2)})     # [w, b1, b2], its structure
    unflatten(tree, [2 * w, b1, b2])                     # {"w": 2 * w, "b": (b1, b2)}
    tree_map(np.zeros_like, params)                      # same structure, new leaves

Arguments and results of every transformation may be pytrees; gradients, tangents and
Jacobians come back in the structure of what they are taken with respect to, as in JAX.
Anything that is not a tuple, list or dict is a leaf (arrays, scalars, None).  Dict entries
keep the dict's own key order.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Tree:
    kind: str                   # 'leaf', 'tuple', 'list', 'dict'
    children: tuple = ()        # Trees
    keys: tuple = ()            # dict keys, in order
    cls: object = None          # the tuple's own type (namedtuples)

    @property
    def num_leaves(self):
        return 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children)) + "}"
        inner = ", ".join(repr(c) for c in self.children)
        return f"[{inner}]" if self.kind == "list" else f"({inner}{',' if len(self.children) == 1 else ''})"


LEAF = Tree("leaf")


def is_container(x):
    return isinstance(x, (tuple, list, dict))


def flatten(x):
    """(leaves, tree): the leaves of ``x`` in order and its structure."""
    leaves = []
    return leaves, _flatten(x, leaves)


def _flatten(x, leaves):
    if isinstance(x, dict):
        keys = tuple(x)
        return Tree("dict", tuple(_flatten(x[k], leaves) for k in keys), keys)
    if isinstance(x, tuple):
        return Tree("tuple", tuple(_flatten(v, leaves) for v in x), cls=type(x))
    if isinstance(x, list):
        return Tree("list", tuple(_flatten(v, leaves) for v in x))
    leaves.append(x)
    return LEAF


def unflatten(tree, leaves):
    """The inverse of :func:`flatten`."""
    it = iter(leaves)
    out = _build(tree, it)
    rest = list(it)
    if rest:
        raise ValueError(f"{len(rest)} leaves too many for the structure {tree!r}")
    return out


def _build(tree, it):
    if tree.kind == "leaf":
        try:
            return next(it)
        except StopIteration:
            raise ValueError("too few leaves for the structure") from None
    items = [_build(c, it) for c in tree.children]
    if tree.kind == "dict":
        return dict(zip(tree.keys, items))
    if tree.kind == "list":
        return items
    cls = tree.cls or tuple
    return cls(*items) if hasattr(cls, "_fields") else cls(items)


def leaves(x):
    return flatten(x)[0]


def tree_map(fn, x, *rest):
    """``fn`` applied leaf by leaf to ``x`` (and to the matching leaves of ``rest``)."""
    xs, tree = flatten(x)
    others = [flatten_like(r, tree) for r in rest]
    return unflatten(tree, [fn(*args) for args in zip(xs, *others)])


def flatten_like(x, tree):
    """The leaves of ``x`` read in the structure ``tree``.  A missing part of ``x`` (an
    adjoint that is still the scalar 0.0, a shorter list) reads as 0.0 leaves."""
    out = []
    _flatten_like(x, tree, out)
    return out


def _flatten_like(x, tree, out):
    if tree.kind == "leaf":
        out.append(x)
        return
    for i, child in enumerate(tree.children):
        if tree.kind == "dict":
            key = tree.keys[i]
            item = x.get(key, 0.0) if isinstance(x, dict) else 0.0
        else:
            item = x[i] if isinstance(x, (tuple, list)) and i < len(x) else 0.0
        _flatten_like(item, child, out)
