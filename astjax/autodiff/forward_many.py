"""Forward mode for many tangents at once: a pass over a ``_jvp`` function (forward.py) that
makes every tangent value a list of K tangents, so the primal runs once for all of them.

Before (forward.py's output)::

    def f_jvp(x, t_x):
        exp1 = np.exp(x)
        t_exp1 = t_x * exp1
        lst.append(exp1)
        t_lst.append(t_exp1)
        return (exp1, t_exp1)

After (``t_x`` is now a list of tangents)::

    def f_jvp_many(x, t_x):
        exp1 = np.exp(x)
        t_exp1 = [t_x_k * exp1 for t_x_k in t_x]
        lst.append(exp1)
        for t_lst_k, t_exp1_k in zip(t_lst, t_exp1):
            t_lst_k.append(t_exp1_k)
        return (exp1, t_exp1)

jacfwd pushes its basis through ``f_jvp_many``.  The loops change per-tangent lists through
aliases, which reverse mode does not follow, so transformations of a jacfwd read the
one-tangent-at-a-time equivalent instead (higher.py).
"""
import copy

from astjax.frontend.syntax import assign, gast, parse, parse_expr, to_source
from astjax.core.form import with_origin as _stmt


class OverTangents:
    """Rewrites a jvp body so every tangent value is a list of K tangents: an assignment maps
    its expression over the lists it reads, item writes and appends loop over them."""

    def __init__(self, fwd):
        self.fwd = fwd
        # tangent-valued names; a temporary joins when its expression reads one (a primal
        # part of a rule, np.cos(x) in t_x * np.cos(x), stays a single value)
        self.tangents = set(fwd.tangent_names.values())
        self.temps = fwd.temps
        self.k_names = {}
        first = fwd.tan(fwd.wrt[0]) if fwd.wrt else None
        self.count = f"len({first})" if first else "0"

    def k(self, t):
        if t not in self.k_names:
            self.k_names[t] = self.fwd.fresh.exact(f"{t}_k")
        return self.k_names[t]

    def read(self, node):
        seen = []
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and n.id in self.tangents and n.id not in seen:
                seen.append(n.id)
        return seen

    def per_tangent(self, node, names):
        node = copy.deepcopy(node)
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and n.id in names:
                n.id = self.k(n.id)
        return to_source(node)

    def over(self, expr):
        """``[expr per tangent for ...]`` as a parsed expression."""
        names = self.read(expr)
        elt = self.per_tangent(expr, names)
        if not names:
            return parse_expr(f"[{elt} for _ in range({self.count})]")
        if len(names) == 1:
            return parse_expr(f"[{elt} for {self.k(names[0])} in {names[0]}]")
        targets = ", ".join(self.k(n) for n in names)
        return parse_expr(f"[{elt} for {targets} in zip({', '.join(names)})]")

    def loop(self, stmt, names, s):
        """``for t_k, v_k in zip(t, v): <stmt per tangent>``."""
        body = parse(self.per_tangent(stmt, names)).body
        head = ", ".join(self.k(n) for n in names)
        lists = names[0] if len(names) == 1 else f"zip({', '.join(names)})"
        loop = parse(f"for {head} in {lists}:\n    pass").body[0]
        loop.body = body
        for node in [loop] + body:
            _stmt(node, s)
        return loop

    def block(self, stmts):
        out = []
        for s in stmts:
            out += self.stmt(s)
        return out

    def stmt(self, s):
        if isinstance(s, gast.If):
            s.body = self.block(s.body) or [gast.Pass()]
            s.orelse = self.block(s.orelse)
            return [s]
        if isinstance(s, (gast.For, gast.While)):
            s.body = self.block(s.body) or [gast.Pass()]
            return [s]
        if isinstance(s, gast.Return) and isinstance(s.value, gast.Tuple):
            value, tangent = s.value.elts
            if not (isinstance(tangent, gast.Name) and tangent.id in self.tangents):
                s.value.elts = [value, self.over(tangent)]
            return [s]
        if isinstance(s, gast.Assign) and getattr(s, "custom_rule", False):
            return self.custom_rule(s)
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                s.targets[0].id in self.temps and not self.read(s.value):
            return [s]
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                (s.targets[0].id in self.tangents or s.targets[0].id in self.temps):
            self.tangents.add(s.targets[0].id)
            return [_stmt(assign(s.targets[0].id, self.over(s.value)), s)]
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Subscript) and \
                s.targets[0].value.id in self.tangents:
            return [self.loop(s, self.read(s), s)]
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and isinstance(
                s.value.func, gast.Attribute) and isinstance(s.value.func.value, gast.Name) \
                and s.value.func.value.id in self.tangents:
            return [self.loop(s, self.read(s), s)]
        return [s]

    def custom_rule(self, s):
        """``y, t_y = rule(primals, tangents)`` -> the rule once per tangent."""
        y, t_y = (e.id for e in s.targets[0].elts)
        pairs = self.fwd.fresh("pairs")
        first = [_stmt(assign(pairs, self.over(s.value)), s)]
        return first + [_stmt(assign(y, parse_expr(f"{pairs}[0][0]")), s),
                        _stmt(assign(t_y, parse_expr(f"[pair[1] for pair in {pairs}]")), s)]


