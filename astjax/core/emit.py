"""Emit: core/generated gast functions -> readable Python source -> live functions.

    render(fdef) -> str                  source with '# file:line: user text' comments
    compile_functions(funcs, label) -> {name: function}

Every generated function is registered in ``linecache`` under a pseudo file name, so
``inspect.getsource`` works on it (which lets astjax transform its own output again) and
tracebacks show the generated lines.  Each function runs in a namespace of its own holding
``np``, ``math``, ``_ax`` (astjax.rules.runtime), its captured constants and its callees.

The user's globals and closure cells are not copied into that namespace: each function
begins by reading the ones it uses, when it runs (``_globals`` is the user's module dict,
``_cells`` the function's closure cells), and an entry whose code specialized on something
(a helper, a folded int) first checks it still holds (frontend/captures.py)::

    def grad_g(x):
        # reads g's globals when it runs; derived again if a helper was rebound
        if _captures.stale():
            return _captures.rederive(x)
        W = _globals['W']
"""
import copy
import itertools
import linecache
import math
import sys

import numpy as np

from astjax.core.simplify import simplify
from astjax.rules import registry as primitives
from astjax.rules import runtime
from astjax.frontend.syntax import gast, parse, to_source

_counter = itertools.count(1)


GENERATED_ORIGINS = {}    # pseudo file name -> {line number: Origin of the user's line}


def render(fdef, comments=True, origins=None):
    """Readable source of one gast FunctionDef; a comment names the user's line whenever the
    origin changes.  ``origins``, if given, receives each line's Origin (or None)."""
    lines = []
    header = to_source(gast.FunctionDef(name=fdef.name, args=fdef.args, body=[gast.Pass()],
                                        decorator_list=[], returns=None, type_comment=None,
                                        type_params=[])).splitlines()[0]
    doc = getattr(fdef, "doc", None)
    lines.append(header)
    if doc:
        lines.append(f'    """{doc}"""')
    state = {"origin": getattr(fdef, "origin", None), "marks": [(0, getattr(fdef, "origin", None))]}
    _render_block(fdef.body, 1, lines, state, comments)
    if origins is not None:
        marks = dict(state["marks"])
        current = None
        for i in range(len(lines)):
            current = marks.get(i, current)
            origins.append(current)
    return "\n".join(lines) + "\n"


def _render_block(stmts, depth, lines, state, comments):
    pad = "    " * depth
    if not stmts:
        lines.append(pad + "pass")
        return
    for s in stmts:
        origin = getattr(s, "origin", None)
        if comments and origin is not None and origin != state["origin"] and origin.text:
            lines.append(f"{pad}# {origin.short}: {origin.text}")
        if origin is not None and origin != state["origin"]:
            state["marks"].append((len(lines), origin))
        state["origin"] = origin if origin is not None else state["origin"]
        note = getattr(s, "note", None)
        if note:
            lines.append(f"{pad}# {note}")
        if isinstance(s, gast.If):
            _render_if(s, depth, lines, state, comments)
        elif isinstance(s, gast.For):
            lines.append(f"{pad}for {to_source(s.target)} in {to_source(s.iter)}:")
            _render_block(s.body, depth + 1, lines, state, comments)
        elif isinstance(s, gast.While):
            lines.append(f"{pad}while {to_source(s.test)}:")
            _render_block(s.body, depth + 1, lines, state, comments)
        else:
            for text in to_source(s).splitlines():
                lines.append(pad + text)


def _render_if(s, depth, lines, state, comments, keyword="if"):
    pad = "    " * depth
    lines.append(f"{pad}{keyword} {to_source(s.test)}:")
    _render_block(s.body, depth + 1, lines, state, comments)
    if s.orelse:
        if len(s.orelse) == 1 and isinstance(s.orelse[0], gast.If) and \
                getattr(s.orelse[0], "elif_", False):
            _render_if(s.orelse[0], depth, lines, state, comments, "elif")
        else:
            lines.append(f"{pad}else:")
            _render_block(s.orelse, depth + 1, lines, state, comments)


def base_namespace():
    namespace = {"np": np, "math": math, "_ax": runtime}
    if primitives.load_scipy():            # generated code calls scipy.special.gammaln(...)
        namespace["scipy"] = sys.modules["scipy"]
    return namespace


def compile_functions(units, label, entry=None, captures=None):
    """Compile generated functions.  ``units`` is a list of (fdef, env) where env maps the
    captured names the function reads to their values (``env.live``: those read from the
    user's globals and cells at each call).  Functions may call each other by name.  The
    function named ``entry`` checks ``captures`` (a frontend.captures.Captures) first.
    Returns (functions by name, full source)."""
    sources = []
    functions = {}
    namespaces = []
    for fdef, env in units:
        fdef = simplify(fdef)
        guard = captures if fdef.name == entry and captures and \
            captures.rederive_fn is not None else None
        fdef, holders, reads = _with_prologue(fdef, env, guard)
        origins = []
        text = render(fdef, origins=origins)
        filename = f"<astjax-{next(_counter)}: {label}: {fdef.name}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        # transforming this function again cites the user's lines, not these generated ones
        GENERATED_ORIGINS[filename] = {i + 1: o for i, o in enumerate(origins) if o is not None}
        namespace = base_namespace()
        live = getattr(env, "live", {})
        namespace.update({k: v for k, v in env.items() if k not in live})
        namespace.update(holders)
        code = compile(text, filename, "exec")
        exec(code, namespace)
        fn = functions[fdef.name] = namespace[fdef.name]
        if reads is not None:
            fn.__astjax_reads__ = reads
        if fdef.name == entry and captures is not None:
            fn.__astjax_captures__ = captures
        namespaces.append(namespace)
        sources.append(text)
    for namespace in namespaces:           # let generated functions call each other
        for fname, f in functions.items():
            namespace.setdefault(fname, f)
    return functions, "\n\n".join(sources)


def _with_prologue(fdef, env, captures):
    """``fdef`` with its reads of the user's globals and cells (and, for an entry with
    ``captures``, the guard) as its first statements; the names those statements use; and
    what emit records for transforming the result again: (statement count, {name: Capture},
    captures)."""
    from astjax.core.form import names_read
    live = getattr(env, "live", {})
    used = names_read(fdef) if live else set()
    wanted = [(k, c) for k, c in live.items() if k in used]
    if not wanted and captures is None:
        return fdef, {}, None
    holders, stmts = {}, []
    if captures is not None:
        params = ", ".join(a.id for a in fdef.args.args)
        guard = parse(f"if _captures.stale():\n    return _captures.rederive({params})\n").body[0]
        guard.note = "derived again if a helper or a folded int/bool/str global was rebound"
        holders["_captures"] = captures
        stmts.append(guard)
    names = {}
    for key, capture in wanted:
        if capture.kind == "global":
            holder = names.get(id(capture.holder))
            if holder is None:
                holder = "_globals" if not names else f"_globals_{len(names) + 1}"
                names[id(capture.holder)] = holder
                holders[holder] = capture.holder
        elif capture.kind == "cell":
            cell = (capture.base or capture).key
            holders.setdefault("_cells", {})[cell] = capture.holder
            holder = f"_cells[{cell!r}]"
        else:                        # a bound method's receiver: self.w
            holder = "_self" if "_self" not in holders or holders["_self"] is capture.holder \
                else f"_self_{len(holders)}"
            holders[holder] = capture.holder
        text = f"{key} = {capture.text(holder)}"
        stmts.append(parse(text).body[0])
    if wanted:
        where = {(True, True): "the user's globals and closure cells",
                 (True, False): "the user's globals", (False, True): "the user's closure cells",
                 (False, False): "attributes of the method's object"}[
            bool(names), "_cells" in holders]
        stmts[1 if captures is not None else 0].note = f"{where}, read when this runs"
    origin = getattr(fdef, "origin", None)
    for st in stmts:
        for n in gast.walk(st):
            n.origin = origin
    new = copy.copy(fdef)
    new.body = stmts + list(fdef.body)
    return new, holders, (len(stmts), dict(wanted), captures)
