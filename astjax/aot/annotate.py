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


def cython_scores(pyx_source, directives=None):
    """{pyx line number: Python C-API score} from Cython's own annotation (no C compiler)."""
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
                return {}
        report = Path(tmp, "annotated.html")
        if not report.exists():
            return {}
        text = report.read_text(encoding="utf-8")
    scores = {}
    for m in re.finditer(r'<pre class="cython line score-(\d+)"[^>]*>.*?<span class="">(\d+)'
                         r'</span>', text):
        scores[int(m.group(2))] = int(m.group(1))
    return scores


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
    scores = cython_scores(pyx_source, directives)
    blocks = blocks_of(pyx_source, scores, user_file)
    by_user = {b.user_line: b for b in blocks if b.user_line is not None}
    statuses = line_status(notes)
    rows, counts = [], dict.fromkeys(STATUS, 0)
    for offset, text in enumerate(user_lines):
        number = start + offset
        block = by_user.get(number)
        status, details = statuses.get(number, (None, []))
        if status is not None:
            counts[status] += 1
        rows.append(_row(number, text.rstrip("\n"), block, status, details))
    shown = range(start, start + len(user_lines))
    setup_rows = "".join(_code_lines(b.lines) for b in blocks
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
    return Page(body, summary, blocks, scores, statuses)


def _code_lines(lines):
    return "".join(
        f'<div class="gen" style="background:{_colour(score)}" title="Python C-API score '
        f'{score}"><span class="no">{number:4d}</span> {highlight(text)}</div>'
        for number, text, score in lines)


def _row(number, text, block, status, details):
    score = block.score if block else 0
    if status is None:                       # no statement of jit's: the def line, blanks
        word, colour, state = "", _colour(score) if block else "#ffffff", "none"
    else:
        (word, colour), state = STATUS[status], status.lower()
    note = f'<div class="why">{html.escape(word)}' + \
        (f": {html.escape('; '.join(details))}" if details else "") + "</div>" if word else ""
    return (f'<tr class="{state}"><td class="user" style="background:{colour}" '
            f'title="{html.escape(word or "no code")}, Python C-API score {score}">'
            f'<span class="no">{number}</span> <code>{highlight(text)}</code>{note}</td>'
            f'<td class="code">{_code_lines(block.lines if block else [])}</td></tr>\n')


_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
td {{ vertical-align: top; border-top: 1px solid #ddd; padding: 2px 6px; }}
td.user {{ width: 45%; white-space: pre; font-family: monospace; }}
td.code {{ font-family: monospace; white-space: pre; font-size: 90%; color: #333; }}
.gen {{ padding: 0 2px; }}
.no {{ color: #999; user-select: none; }}
.why {{ font-family: sans-serif; font-size: 85%; color: #a33; white-space: normal; }}
.k {{ color: #0033b3; font-weight: bold; }} .t {{ color: #00828c; }} .s {{ color: #067d17; }}
.n {{ color: #1750eb; }} .c {{ color: #8c8c8c; font-style: italic; }} .f {{ color: #00627a; }}
.legend span {{ padding: 1px 8px; border: 1px solid #ccc; margin-right: 6px; }}
details {{ margin-top: 1.5em; }}
</style></head>
<body>
<h1>{name}</h1>
<p>{file} &mdash; {summary}</p>
<p class="legend">Your lines: <span style="background:#ffffff">C</span>
<span style="background:#ffff9f">NumPy call</span>
<span style="background:#ffc89a">Python fallback</span> (what jit made of them, as
<code>astjax.explain</code> says). Generated lines: shaded as in <code>cython -a</code>,
<span style="background:#ffffff">white</span> pure C,
<span style="background:#ffff7f">yellow</span> by the number of Python C-API calls in its C.</p>
<table>
<tr><th>your code</th><th>generated Cython</th></tr>
{rows}</table>
<details><summary>module setup and function headers</summary>
<div class="code">{setup}</div></details>
</body></html>
"""
