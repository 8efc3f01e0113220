"""``astjax annotate``: an HTML page, in the spirit of ``cython -a``, showing each line of a
user function beside the Cython jit generated for it, coloured by what runs in C.

    page = annotate.page(selu, lowered.source, notes=lowered.notes)
    page.html, page.summary

Generated Cython says which user line each block comes from (``# kernels.py:12: user text``
comments, see astjax/core/emit.py); that is how lines are tied together.  A user line is coloured
by what jit made of it (its lowering notes, what ``astjax.explain`` prints): C, a NumPy call,
or a Python fallback with the reason.  Each generated line is shaded as ``cython -a`` shades
it, by the calls into the Python C-API in its C (Cython's own annotation; white is pure C).
Needs Cython, not a C compiler: Cython only translates the module to C here.
"""
import html
import inspect
import linecache
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from astjax.aot.highlight import html as highlight

ORIGIN = re.compile(r"^\s*# (?P<file>.+?):(?P<line>\d+): ?(?P<text>.*)$")


@dataclass
class Block:
    """The generated lines of one user line (user_line None: module setup and headers)."""
    user_line: int = None
    lines: list = field(default_factory=list)      # (pyx line number, text, score)

    @property
    def score(self):
        return sum(s for _, _, s in self.lines)


@dataclass
class Page:
    html: str
    summary: str
    blocks: list                 # Blocks of generated lines, by user line
    scores: dict                 # pyx line -> Python C-API score
    statuses: dict               # user line -> (jit status, details)
    c_code: dict = field(default_factory=dict)   # pyx line -> the C Cython made of it


def blocks_of(pyx_source, scores, user_file=None):
    """Split generated Cython into Blocks at its ``# file:line:`` comments."""
    blocks = [Block()]
    by_line = {}
    base = Path(user_file).name if user_file else None
    for number, text in enumerate(pyx_source.splitlines(), 1):
        match = ORIGIN.match(text)
        origin = _user_origin(match.group("file"), int(match.group("line"))) if match else None
        if origin is not None and (base is None or origin[0] == base):
            line = origin[1]
            block = by_line.get(line)
            if block is None:
                block = by_line[line] = Block(line)
                blocks.append(block)
            else:                                   # a line revisited (e.g. a loop's test)
                blocks.append(block)
            continue
        blocks[-1].lines.append((number, text, scores.get(number, 0)))
    seen, out = set(), []
    for b in blocks:
        if id(b) not in seen and (b.lines or b.user_line is not None):
            seen.add(id(b))
            out.append(b)
    return out


def _user_origin(filename, line):
    """(user file, line) of a ``# file:line:`` comment.  A comment naming a generated function
    (``<astjax-3: grad(f): grad_f>:12``, when jit compiles grad(f)) is followed back through
    that function's own comments to the user's line."""
    if not filename.startswith("<astjax-"):
        return filename, line
    lines = linecache.getlines(filename)          # astjax.core.emit registered it there
    for text in reversed(lines[:line]):
        match = ORIGIN.match(text)
        if match and not match.group("file").startswith("<astjax-"):
            return match.group("file"), int(match.group("line"))
    return None


def cython_annotation(pyx_source, directives=None):
    """``({pyx line: Python C-API score}, {pyx line: its C})`` from Cython's own annotation
    (``cython -a``; no C compiler).  Both are empty when Cython cannot translate the module."""
    from Cython.Compiler.Main import CompilationOptions, compile_single, default_options

    from codegen.build import _cython_lock
    with tempfile.TemporaryDirectory(prefix="astjax-annotate-") as tmp:
        pyx = Path(tmp, "annotated.pyx")
        pyx.write_text(pyx_source)
        options = CompilationOptions(default_options, language_level=3, annotate=True,
                                     output_file=str(Path(tmp, "annotated.c")),
                                     compiler_directives=directives or {},
                                     errors_to_stderr=0, use_listing_file=1)
        with _cython_lock:
            try:
                compile_single(str(pyx), options, full_module_name="annotated")
            except Exception:       # noqa: BLE001  a page without scores beats no page
                return {}, {}
        report = Path(tmp, "annotated.html")
        if not report.exists():
            return {}, {}
        text = report.read_text(encoding="utf-8")
    scores, c_code = {}, {}
    for m in _CYTHON_LINE.finditer(text):
        number = int(m.group("line"))
        scores[number] = int(m.group("score"))
        code = html.unescape(re.sub(r"<[^>]+>", "", m.group("c") or "")).strip("\n")
        if code.strip():
            c_code[number] = code
    return scores, c_code


# One line of `cython -a`'s report: the line (its score, its number), then its C, if any.
_CYTHON_LINE = re.compile(
    r'<pre class="cython line score-(?P<score>\d+)"[^>]*>.*?<span class="">(?P<line>\d+)'
    r'</span>.*?</pre>(?:\s*<pre class=\'cython code score-\d+ ?\'>(?P<c>.*?)</pre>)?',
    re.S)


def _colour(score):
    if score <= 0:
        return "#ffffff"
    shade = int(255.0 // (1.0 + score / 10.0))
    return f"#ffff{shade:02x}"


# What jit made of a user line (codegen.cython's note statuses, worst first wins).
STATUS = {"C": ("C", "#ffffff"), "fused": ("C loop (fused)", "#ffffff"),
          "NumPy": ("NumPy call", "#ffff9f"), "Python": ("Python (fallback)", "#ffc89a")}
RANK = {"C": 0, "fused": 1, "NumPy": 2, "Python": 3}


def line_status(notes):
    """{user line: (status, [details])} from jit's lowering notes (the worst status of the
    line's statements, as ``astjax.explain`` reports it)."""
    out = {}
    for note in notes:
        origin = getattr(note, "origin", None)
        where = _user_origin(origin.filename, origin.lineno) if origin else None
        if where is None or note.status not in RANK:
            continue
        status, details = out.get(where[1], ("C", []))
        if RANK[note.status] >= RANK[status]:
            status = note.status
        if note.status in ("NumPy", "Python") and note.detail and note.detail not in details:
            details.append(note.detail)
        out[where[1]] = (status, details)
    return out


def page(fn, pyx_source, notes=(), title=None, directives=None):
    """The annotated page of user function ``fn`` compiled to ``pyx_source``; ``notes`` are
    jit's lowering notes (``Lowered.notes``), ``directives`` its Cython directives."""
    plain = inspect.unwrap(fn)
    try:
        user_lines, start = inspect.getsourcelines(plain)
        user_file = inspect.getsourcefile(plain)
    except (OSError, TypeError):
        user_lines, start, user_file = [], 0, None
    scores, c_code = cython_annotation(pyx_source, directives)
    blocks = blocks_of(pyx_source, scores, user_file)
    by_user = {b.user_line: b for b in blocks if b.user_line is not None}
    statuses = line_status(notes)
    looped = loop_lines(pyx_source)
    rows, counts = [], dict.fromkeys(STATUS, 0)
    for offset, text in enumerate(user_lines):
        number = start + offset
        block = by_user.get(number)
        status, details = statuses.get(number, (None, []))
        if status is not None:
            counts[status] += 1
        rows.append(_row(number, text.rstrip("\n"), block, status, details, c_code, looped))
    shown = range(start, start + len(user_lines))
    setup_rows = "".join(_code_lines(b.lines, c_code) for b in blocks
                         if b.user_line is None or b.user_line not in shown)
    name = title or getattr(plain, "__qualname__", "function")
    summary = (f"{sum(counts.values())} line(s): {counts['C'] + counts['fused']} in C "
               f"({counts['fused']} fused loops), {counts['NumPy']} NumPy calls, "
               f"{counts['Python']} Python fallbacks")
    if not scores:
        summary += " (no Cython scores: Cython could not translate the module)"
    body = _TEMPLATE.format(
        title=html.escape(f"astjax annotate: {name}"), name=html.escape(name),
        file=html.escape(f"{user_file}:{start}" if user_file else "(source unavailable)"),
        summary=html.escape(summary), rows="".join(rows), setup=setup_rows)
    return Page(body, summary, blocks, scores, statuses, c_code)


def loop_lines(pyx_source):
    """The numbers of the generated lines that run inside a loop (once per iteration)."""
    inside, open_loops = set(), []            # indents of the loops around this line
    for number, text in enumerate(pyx_source.splitlines(), 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        indent = len(text) - len(text.lstrip())
        while open_loops and indent <= open_loops[-1]:
            open_loops.pop()
        if open_loops:
            inside.add(number)
        if _LOOP.match(text):
            open_loops.append(indent)
    return inside


def per_call_setup(lines, looped):
    """The positions in ``lines`` (a block's (number, text, score)) that are per-call setup:
    lines that go through the Python C-API (score > 0) outside every loop (``looped``: the
    line numbers inside one), such as the allocation of a result and the binding of its
    typed view.  They run once per call, not once per element, so a line jit made C is not
    shaded by them."""
    return {k for k, (number, text, score) in enumerate(lines)
            if score > 0 and number not in looped}


_LOOP = re.compile(r"\s*(for|while)\b")
_C_API = re.compile(r"\b(__Pyx_\w+|Py[A-Z]\w*)\b")


ONCE = "#f3f3f3"      # the shade of a line whose Python C-API calls run once per call


def _code_lines(lines, c_code, once=()):
    """Generated lines, each a <details> that opens on its C (as ``cython -a``'s '+');
    lines in ``once`` (numbers) are shaded as per-call setup, not by their score."""
    out = []
    for number, text, score in lines:
        label = (f'<span class="no">{number:4d}</span> {highlight(text)}')
        c = c_code.get(number)
        if number in once:
            score = 0
            label += ' <span class="once">(Python C-API once per call)</span>'
        colour = ONCE if number in once else _colour(score)
        if c is None:
            out.append(f'<div class="gen" style="background:{colour}" '
                       f'title="Python C-API score {score}">{label}</div>')
            continue
        c_html = _C_API.sub(r'<span class="api">\1</span>', html.escape(c))
        out.append(f'<details class="gen" style="background:{colour}" '
                   f'title="Python C-API score {score}; click for its C">'
                   f'<summary>{label}</summary><pre class="c">{c_html}</pre></details>')
    return "".join(out)


def _row(number, text, block, status, details, c_code, looped):
    lines = block.lines if block else []
    setup = per_call_setup(lines, looped) if status in ("C", "fused") else set()
    headers = {k for k in setup if _LOOP.match(lines[k][1])}    # shown in place, grey
    setup -= headers
    work = [line for k, line in enumerate(lines) if k not in setup]
    score = sum(s for k, (_, _, s) in enumerate(lines) if k not in setup | headers)
    if status is None:                       # no statement of jit's: the def line, blanks
        word, colour, state = "", _colour(score) if block else "#ffffff", "none"
    else:
        (word, colour), state = STATUS[status], status.lower()
    note = f'<div class="why">{html.escape(word)}' + \
        (f": {html.escape('; '.join(details))}" if details else "") + "</div>" if word else ""
    code = _code_lines(work, c_code, once={lines[k][0] for k in headers})
    if setup:
        kept = [line for k, line in enumerate(lines) if k in setup]
        code = (f'<details class="setup"><summary>{len(kept)} line(s) of per-call setup '
                f'(allocation, typed views): Python C-API once per call, not per '
                f'element</summary>{_code_lines(kept, c_code)}</details>') + code
    return (f'<tr class="{state}"><td class="user" style="background:{colour}" '
            f'title="{html.escape(word or "no code")}, Python C-API score {score}">'
            f'<span class="no">{number}</span> <code>{highlight(text)}</code>{note}</td>'
            f'<td class="code">{code}</td></tr>\n')


_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
td {{ vertical-align: top; border-top: 1px solid #ddd; padding: 2px 6px; }}
td.user {{ width: 40%; }}
td.user code, td.code, .gen, pre.c {{ font-family: monospace; white-space: pre-wrap;
  overflow-wrap: anywhere; }}
td.code {{ font-size: 90%; color: #333; }}
.gen {{ padding: 0 2px; }}
details.gen > summary {{ cursor: pointer; list-style-position: inside; }}
pre.c {{ margin: 2px 0 4px 2em; padding: 4px; background: #f6f6f6; color: #222;
  border-left: 3px solid #ccc; font-size: 90%; }}
pre.c .api {{ color: #b00; }}
.once {{ color: #888; font-size: 85%; font-family: sans-serif; }}
details.setup {{ color: #777; background: #f3f3f3; font-size: 90%; }}
details.setup .gen {{ background: #f3f3f3 !important; }}
.no {{ color: #999; user-select: none; }}
.why {{ font-family: sans-serif; font-size: 85%; color: #a33; white-space: normal; }}
span.k {{ color: #0033b3; font-weight: bold; }} span.t {{ color: #00828c; }}
span.s {{ color: #067d17; }} span.n {{ color: #1750eb; }}
span.c {{ color: #8c8c8c; font-style: italic; }} span.f {{ color: #00627a; }}
.legend span {{ padding: 1px 8px; border: 1px solid #ccc; margin-right: 6px; }}
details.module {{ margin-top: 1.5em; }}
</style></head>
<body>
<h1>{name}</h1>
<p>{file} &mdash; {summary}</p>
<p class="legend">Your lines: <span style="background:#ffffff">C</span>
<span style="background:#ffff9f">NumPy call</span>
<span style="background:#ffc89a">Python fallback</span> (what jit made of them, as
<code>astjax.explain</code> says). Generated lines: shaded as in <code>cython -a</code>,
<span style="background:#ffffff">white</span> pure C,
<span style="background:#ffff7f">yellow</span> by the number of Python C-API calls in its C;
click a line to see its C. A C line's per-call setup (allocating its result, binding typed
views) is folded away in grey: it runs once per call, not per element.</p>
<table>
<tr><th>your code</th><th>generated Cython</th></tr>
{rows}</table>
<details class="module"><summary>module setup and function headers</summary>
<div class="code">{setup}</div></details>
</body></html>
"""
