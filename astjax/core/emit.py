"""Emit: core/generated gast functions -> readable Python source -> live functions.

    render(fdef) -> str                  source with '# file:line: user text' comments
    compile_functions(funcs, label) -> {name: function}

Every generated function is registered in ``linecache`` under a pseudo file name, so
``inspect.getsource`` works on it (which lets astjax transform its own output again) and
tracebacks show the generated lines.  Each function runs in a namespace of its own holding
``np``, ``math``, ``_ax`` (astjax.rules.runtime), its captured constants and its callees.
"""
import itertools
import linecache
import math
import sys

import numpy as np

from astjax.core.simplify import simplify
from astjax.rules import registry as primitives
from astjax.rules import runtime
from astjax.frontend.syntax import gast, to_source

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


def compile_functions(units, label):
    """Compile generated functions.  ``units`` is a list of (fdef, env) where env maps the
    captured names the function reads to their values.  Functions may call each other by
    name.  Returns (functions by name, full source)."""
    sources = []
    functions = {}
    namespaces = []
    for fdef, env in units:
        fdef = simplify(fdef)
        origins = []
        text = render(fdef, origins=origins)
        filename = f"<astjax-{next(_counter)}: {label}: {fdef.name}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        # transforming this function again cites the user's lines, not these generated ones
        GENERATED_ORIGINS[filename] = {i + 1: o for i, o in enumerate(origins) if o is not None}
        namespace = base_namespace()
        namespace.update(env)
        code = compile(text, filename, "exec")
        exec(code, namespace)
        functions[fdef.name] = namespace[fdef.name]
        namespaces.append(namespace)
        sources.append(text)
    for namespace in namespaces:           # let generated functions call each other
        for fname, f in functions.items():
            namespace.setdefault(fname, f)
    return functions, "\n\n".join(sources)
