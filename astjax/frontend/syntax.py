"""The one thin module through which astjax touches gast and beniget.

Tangent died when gast changed its node shapes and nothing pinned it.  Every other module
imports ``gast`` from here and calls the helpers below instead of gast/beniget directly, so a
future node change is absorbed in one file.  Versions are pinned in setup.py.
"""
import ast

import beniget
import gast

__all__ = ["gast", "parse", "parse_expr", "to_source", "expr_source", "free_names",
           "name", "load", "store", "const", "attr", "call", "assign", "copy_location"]


def parse(source):
    """Parse module source into a gast Module."""
    return gast.parse(source)


def parse_expr(source):
    """Parse one expression into a gast expression node."""
    return gast.parse(source, mode="eval").body


def to_source(node):
    """Python source of a gast node (statement, expression or module), without comments."""
    tree = gast.gast_to_ast(node)
    return ast.unparse(ast.fix_missing_locations(tree))


def expr_source(node):
    return to_source(node).strip()


class _Chains(beniget.DefUseChains):
    """DefUseChains that records the identifiers it cannot bind instead of warning."""

    def __init__(self):
        super().__init__()
        self.unbound = set()

    def unbound_identifier(self, name, node):
        self.unbound.add(name)


def free_names(fn_node):
    """Names a function reads but does not bind: its globals, closure cells and builtins."""
    module = gast.Module(body=[fn_node], type_ignores=[])
    chains = _Chains()
    chains.visit(module)
    bound = set()
    for scope, defs in chains.locals.items():
        if scope is module:
            continue
        bound.update(d.name() for d in defs)
    used = {n.id for n in gast.walk(fn_node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
    return sorted((used - bound) | (chains.unbound & used))


# ---- node builders: the only place that knows gast's constructor signatures -----------------

def load():
    return gast.Load()


def store():
    return gast.Store()


def name(id_, ctx=None):
    return gast.Name(id=id_, ctx=ctx or gast.Load(), annotation=None, type_comment=None)


def const(value):
    return gast.Constant(value=value, kind=None)


def attr(value, attribute):
    if isinstance(value, str):
        head, *rest = value.split(".")
        value = name(head)
        for part in rest:
            value = gast.Attribute(value=value, attr=part, ctx=gast.Load())
    return gast.Attribute(value=value, attr=attribute, ctx=gast.Load())


def call(func, args=(), keywords=None):
    if isinstance(func, str):
        func = dotted(func)
    kws = [gast.keyword(arg=k, value=v) for k, v in (keywords or {}).items()]
    return gast.Call(func=func, args=list(args), keywords=kws)


def dotted(path):
    """`np.linalg.solve` -> the Attribute chain (or a Name for a bare identifier)."""
    head, *rest = path.split(".")
    node = name(head)
    for part in rest:
        node = gast.Attribute(value=node, attr=part, ctx=gast.Load())
    return node


def assign(target, value):
    if isinstance(target, str):
        target = name(target, gast.Store())
    return gast.Assign(targets=[target], value=value, type_comment=None)


def copy_location(new, old):
    for field in ("lineno", "col_offset", "end_lineno", "end_col_offset", "origin"):
        if hasattr(old, field):
            setattr(new, field, getattr(old, field))
    return new
