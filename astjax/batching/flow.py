"""Flow facts about core functions that vmap needs: which variables are live after a
statement (only those are merged back after a masked branch or loop), and which generated
assignments nothing reads (dropped, so merged-away flags do not clutter the output).
"""
import copy

from astjax.frontend.syntax import gast
from astjax.core.form import dotted_path, walk_stmts as _walk

def _liveness(body):
    """Variables live after each compound statement, and at each loop's head."""
    live_after, live_head = {}, {}

    def block(stmts, after):
        live = set(after)
        for s in reversed(stmts):
            live = stmt(s, live)
        return live

    def stmt(s, after):
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            reads = _loads(s.value)
            if isinstance(t, gast.Name):
                return (after - {t.id}) | reads
            return after | reads | _loads(t)
        if isinstance(s, gast.Expr):
            return after | _loads(s)
        if isinstance(s, gast.Return):
            return _loads(s.value) if s.value is not None else set()
        if isinstance(s, gast.If):
            live_after[id(s)] = set(after) | live_after.get(id(s), set())
            return _loads(s.test) | block(s.body, after) | block(s.orelse, after)
        if isinstance(s, (gast.For, gast.While)):
            live_after[id(s)] = set(after) | live_after.get(id(s), set())
            head = set(after)
            for _ in range(50):
                inner = block(s.body, head | after)
                if isinstance(s, gast.For):
                    inner -= {s.target.id}
                new = set(after) | inner | (_loads(s.test) if isinstance(s, gast.While) else set())
                if new == head:
                    break
                head = new
            live_head[id(s)] = head
            return head | (_loads(s.iter) if isinstance(s, gast.For) else set())
        return set(after)

    block(body, set())
    return live_after, live_head


_IMPURE = ("_ax.add_to", "_ax.take_slot", "_ax.add_to_lanes", "_ax.take_slot_lanes")


def _pure(op):
    """May an assignment of ``op`` whose target is never read be dropped?"""
    for n in gast.walk(op):
        if isinstance(n, gast.Call):
            path = dotted_path(n.func)
            if path is None or path in _IMPURE or not (
                    path.startswith(("np.", "_ax.", "math.")) or path in (
                    "len", "range", "float", "int", "bool", "slice", "min", "max", "abs")):
                return False
    return True


def _drop_dead(stmts, live_out):
    """Remove assignments nothing reads later (flags a select made redundant, temporaries of
    branches that were merged away).  Returns (statements, live at entry)."""
    out = []
    live = set(live_out)
    for s in reversed(stmts):
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            t = s.targets[0].id
            if t not in live and _pure(s.value):
                continue
            live = (live - {t}) | _loads(s.value)
        elif isinstance(s, gast.If):
            s.body, a = _drop_dead(s.body, live)
            s.orelse, b = _drop_dead(s.orelse, live)
            s.body = s.body or [gast.Pass()]
            live = a | b | _loads(s.test)
        elif isinstance(s, (gast.For, gast.While)):
            head = set(live)
            for _ in range(50):
                _, inner = _drop_dead(copy.deepcopy(s.body), head | live)
                if isinstance(s, gast.For):
                    inner -= {s.target.id}
                new = live | inner | _loads(s.test if isinstance(s, gast.While) else s.iter)
                if new == head:
                    break
                head = new
            s.body, _ = _drop_dead(s.body, head)
            s.body = s.body or [gast.Pass()]
            live = head
        elif isinstance(s, gast.Return):
            live = _loads(s.value) if s.value is not None else set()
        else:
            live |= _loads(s)
        out.append(s)
    return out[::-1], live


def _loads(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}


def _reads(stmts):
    out = set()
    for s in stmts:
        out |= _loads(s)
    return out


def _assigned(stmts):
    out = set()
    for s in _walk(stmts):
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            out.add(s.targets[0].id)
        elif isinstance(s, gast.For):
            out.add(s.target.id)
    return out


def _item_written(stmts):
    out = set()
    for s in _walk(stmts):
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Subscript):
            out.add(s.targets[0].value.id)
    return out


def _is_break(s):
    return isinstance(s, gast.If) and len(s.body) == 1 and isinstance(s.body[0], gast.Break) \
        and not s.orelse


def _break_flags(body):
    return [b.test.id for b in body if _is_break(b) and isinstance(b.test, gast.Name)]


def _insert_before_breaks(body, stmts):
    if not stmts:
        return body
    idx = next((i for i, b in enumerate(body) if _is_break(b)), len(body))
    return body[:idx] + stmts + body[idx:]


def _at(node, s):
    """``node`` with the origin (user's line) of ``s``."""
    node.origin = getattr(s, "origin", None)
    return node
