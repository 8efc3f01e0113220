"""Nested functions and lambdas inside a transformed function, lifted to helpers.

A nested ``def`` (or a lambda bound to a name) reads the locals of the function around it
when it is *called*.  Passing those locals as extra leading arguments at each call reads the
same values at the same moment, so the nested function becomes a helper like any other:
transformed from its own source, differentiated, batched and compiled (lambda lifting).

Before (user code)::                        After (core form)::

    def loss(w, xs):                            def step(w, h, x):
        def step(h, x):                             ...np.tanh(w @ h + x)...
            return np.tanh(w @ h + x)           def loss(w, xs):
        h = np.zeros(3)                             h = np.zeros(3)
        for x in xs:                                for ...:
            h = step(h, x)                              h = step(w, h, x)
        return np.sum(h)

Nested functions may call each other and themselves.  What is refused, naming the line: a
nested function used as a value (returned, stored, passed to ``map``) rather than called, one
whose name is rebound, ``nonlocal``, and defaults that are not constants.
"""
import ast
import copy
import inspect

from astjax.errors import SourceError, UnsupportedError
from astjax.frontend.source import ParsedFunction
from astjax.frontend.syntax import free_names, gast

class LiftedFunction:
    """A nested function as a helper: its parameters are the outer locals it reads
    (``captured``), then its own.  astjax calls it only from generated code."""

    def __init__(self, node, captured, outer, nested, defaults):
        self.__name__ = self.__qualname__ = node.name
        self.__module__ = getattr(outer.fn, "__module__", None)
        self.__defaults__ = defaults or None
        self.captured = captured
        self.nested = nested         # name -> LiftedFunction, shared by the siblings
        self._outer = outer
        own = node.args.args
        node.args.args = [gast.Name(id=c, ctx=gast.Param(), annotation=None,
                                    type_comment=None) for c in captured] + list(own)
        self._node = node
        first_default = len(node.args.args) - len(defaults)
        P = inspect.Parameter
        self.__signature__ = inspect.Signature([
            P(a.id, P.POSITIONAL_OR_KEYWORD,
              default=defaults[k - first_default] if k >= first_default else P.empty)
            for k, a in enumerate(node.args.args)])

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.__name__} is a nested function astjax lifted; it runs only "
                        f"inside generated code")

    def __repr__(self):
        return f"<nested function {self.__name__} of {self._outer.name}>"

    def __astjax_parsed__(self):
        """A fresh tree each time (the normalizer rewrites the one it gets)."""
        node = copy.deepcopy(self._node)
        env, captures = {}, {}
        for n in free_names(node):
            if n in self.nested:
                continue
            if n not in self._outer.env:
                use = next(x for x in gast.walk(node) if isinstance(x, gast.Name) and x.id == n)
                raise SourceError(f"name '{n}' is not defined", where=_where(use))
            env[n] = self._outer.env[n]
            captures[n] = self._outer.captures[n]
        return ParsedFunction(fn=self, node=node, filename=self._outer.filename, env=env,
                              captures=captures, inherited=list(self._outer.inherited),
                              nested=self.nested)


def lift_nested(parsed, body, outer_locals, inherited):
    """``body`` without its nested defs and named lambdas, and the LiftedFunction of each
    (with those ``inherited`` from an enclosing lift), by name."""
    found = []
    body = _strip(body, found)
    nested = dict(inherited)
    names = [node.name for node, _ in found]
    for node, origin_stmt in found:
        if names.count(node.name) > 1 or _stored(body, node.name):
            raise UnsupportedError(
                f"the nested function '{node.name}' is rebound; astjax lifts a nested function "
                f"only when its name is bound once", where=_where(origin_stmt),
                construct=_text(origin_stmt))
    locals_ = set(outer_locals) - set(names)
    # the outer locals each reads, and those of the nested functions it calls (a call passes
    # them on), to a fixed point
    reads = {node.name: set(free_names(node)) for node, _ in found}
    captured = {k: v & locals_ for k, v in reads.items()}
    calls = {k: v & set(names) for k, v in reads.items()}
    changed = True
    while changed:
        changed = False
        for k in captured:
            more = set().union(*(captured[c] for c in calls[k])) - captured[k]
            if more:
                captured[k] |= more
                changed = True
    for node, stmt in found:
        for n in gast.walk(node):
            if isinstance(n, (gast.Nonlocal, gast.Global)):
                what = "nonlocal" if isinstance(n, gast.Nonlocal) else "global"
                raise UnsupportedError(
                    f"the nested function '{node.name}' rebinds {', '.join(n.names)} of the "
                    f"function around it ('{what}'); return the new value instead",
                    where=_where(n), construct=_text(n))
        defaults = _defaults(node, stmt)
        order = [n for n in _in_order(node) if n in captured[node.name]]
        order += sorted(captured[node.name] - set(order))
        nested[node.name] = LiftedFunction(node, order, parsed, nested, defaults)
    for tree in [body] + [[node] for node, _ in found]:
        _check_only_called(tree, nested)
    return body, nested


def _check_only_called(stmts, nested):
    module = gast.Module(body=stmts, type_ignores=[])
    called = {id(n.func) for n in gast.walk(module) if isinstance(n, gast.Call)}
    for n in gast.walk(module):
        if isinstance(n, gast.Name) and n.id in nested and isinstance(n.ctx, gast.Load) \
                and id(n) not in called:
            raise UnsupportedError(
                f"the nested function '{n.id}' is used as a value (returned, stored or passed "
                f"on); astjax handles nested functions that are called directly",
                where=_where(n), construct=_text(n))


def _strip(stmts, found):
    out = []
    for s in stmts:
        if isinstance(s, gast.FunctionDef):
            if s.decorator_list:
                raise UnsupportedError(f"the nested function '{s.name}' is decorated; astjax "
                                       f"lifts undecorated nested functions",
                                       where=_where(s), construct=_text(s))
            found.append((s, s))
            continue
        if isinstance(s, gast.Assign) and isinstance(s.value, gast.Lambda) and \
                len(s.targets) == 1 and isinstance(s.targets[0], gast.Name):
            lam = s.value
            ret = gast.Return(value=lam.body)
            ret.origin = getattr(s, "origin", None)
            node = gast.FunctionDef(name=s.targets[0].id, args=lam.args, body=[ret],
                                    decorator_list=[], returns=None, type_comment=None,
                                    type_params=[])
            node.origin = getattr(s, "origin", None)
            found.append((node, s))
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(s, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], gast.stmt):
                kept = _strip(inner, found)
                setattr(s, field, kept or ([gast.Pass()] if field == "body" else []))
        out.append(s)
    return out


def _stored(body, name):
    return any(isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Store)
               for n in gast.walk(gast.Module(body=body, type_ignores=[])))


def _defaults(node, stmt):
    values = []
    for d in node.args.defaults:
        try:
            values.append(ast.literal_eval(gast.gast_to_ast(d)))
        except (ValueError, TypeError, SyntaxError):
            raise UnsupportedError(
                f"the default of a parameter of the nested function '{node.name}' is not a "
                f"constant", where=_where(stmt), construct=_text(stmt)) from None
    node.args.defaults = [gast.Constant(value=None, kind=None) for _ in values]
    return tuple(values)


def _in_order(node):
    """Names in the order they first appear in the source."""
    uses = [n for n in gast.walk(node) if isinstance(n, gast.Name)]
    uses.sort(key=lambda n: (getattr(n, "lineno", 0) or 0, getattr(n, "col_offset", 0) or 0))
    seen = []
    for n in uses:
        if n.id not in seen:
            seen.append(n.id)
    return seen


def _where(node):
    origin = getattr(node, "origin", None)
    return (origin.filename, origin.lineno) if origin else None


def _text(node):
    origin = getattr(node, "origin", None)
    return origin.text if origin else None
