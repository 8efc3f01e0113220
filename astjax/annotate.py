"""``astjax annotate``: an HTML page, in the spirit of ``cython -a``, showing each line of a
user function beside the Cython jit generated for it, coloured by what runs in C.

    page = annotate.page(selu, pyx_source, explain=astjax.explain(selu))
    page.html, page.summary

Generated Cython says which user line each block comes from (``# kernels.py:12: user text``
comments, see astjax/emit.py); that is how lines are tied together.  Cython itself scores
every generated line by its calls into the Python C-API (``cython -a``'s yellow); a user
line's score is the sum over its generated lines.  White means pure C.  Lines jit's explain
reports as running in NumPy/Python are marked too, with the reason.  Needs Cython, not a C
compiler: Cython only translates the module to C here.
"""
import html
import inspect
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .highlight import html as highlight

ORIGIN = re.compile(r"^\s*# (?P<file>[^\s:]+):(?P<line>\d+): ?(?P<text>.*)$")


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
    blocks: list
    scores: dict


def blocks_of(pyx_source, scores, user_file=None):
    """Split generated Cython into Blocks at its ``# file:line:`` comments."""
    blocks = [Block()]
    by_line = {}
    base = Path(user_file).name if user_file else None
    for number, text in enumerate(pyx_source.splitlines(), 1):
        match = ORIGIN.match(text)
        if match and (base is None or match.group("file") == base):
            line = int(match.group("line"))
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


def page(fn, pyx_source, explain=None, title=None, directives=None):
    """The annotated page of user function ``fn`` compiled to ``pyx_source``."""
    plain = inspect.unwrap(fn)
    try:
        user_lines, start = inspect.getsourcelines(plain)
        user_file = inspect.getsourcefile(plain)
    except (OSError, TypeError):
        user_lines, start, user_file = [], 0, None
    scores = cython_scores(pyx_source, directives)
    blocks = blocks_of(pyx_source, scores, user_file)
    by_user = {}
    for b in blocks:
        if b.user_line is not None:
            by_user[b.user_line] = b
    python_lines = _python_lines(explain)
    rows, in_c, with_code = [], 0, 0
    for offset, text in enumerate(user_lines):
        number = start + offset
        block = by_user.get(number)
        score = block.score if block else 0
        code = block.lines if block else []
        why = python_lines.get(number)
        if code:
            with_code += 1
            in_c += score == 0 and why is None
        rows.append(_row(number, text.rstrip("\n"), score, code, why))
    setup = [b for b in blocks if b.user_line is None or b.user_line not in
             range(start, start + len(user_lines))]
    setup_rows = "".join(_code_lines(b.lines) for b in setup)
    name = title or getattr(plain, "__qualname__", "function")
    summary = (f"{with_code} line(s) of {name} generate code: {in_c} run in C only, "
               f"{with_code - in_c} call into Python")
    if not scores:
        summary += " (no Cython scores: Cython could not translate the module)"
    body = _TEMPLATE.format(
        title=html.escape(f"astjax annotate: {name}"), name=html.escape(name),
        file=html.escape(f"{user_file}:{start}" if user_file else "(source unavailable)"),
        summary=html.escape(summary), rows="".join(rows), setup=setup_rows)
    return Page(body, summary, blocks, scores)


def _python_lines(explain):
    """{user line: reason} for what explain says runs as NumPy/Python (duck-typed)."""
    out = {}
    for item in getattr(explain, "fallbacks", None) or []:
        line = getattr(item, "lineno", None) or (item.get("lineno") if isinstance(item, dict)
                                                 else None)
        reason = getattr(item, "reason", None) or (item.get("reason") if isinstance(item, dict)
                                                   else None)
        if line is not None:
            out[int(line)] = reason or "runs as Python"
    return out


def _code_lines(lines):
    return "".join(
        f'<div class="gen" style="background:{_colour(score)}" title="score {score}">'
        f'<span class="no">{number:4d}</span> {highlight(text)}</div>'
        for number, text, score in lines)


def _row(number, text, score, code, why):
    colour = "#ffd0b0" if why else _colour(score)
    note = f'<div class="why">runs as Python: {html.escape(why)}</div>' if why else ""
    state = "python" if why else ("c" if code and score == 0 else "capi" if code else "none")
    return (f'<tr class="{state}"><td class="user" style="background:{colour}" '
            f'title="score {score}"><span class="no">{number}</span> '
            f'<code>{highlight(text)}</code>{note}</td>'
            f'<td class="code">{_code_lines(code)}</td></tr>\n')


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
<p class="legend"><span style="background:#ffffff">C only</span>
<span style="background:#ffff9f">some Python C-API calls</span>
<span style="background:#ffff3f">many</span>
<span style="background:#ffd0b0">runs as NumPy/Python</span>
(shades as in <code>cython -a</code>: a user line's score is the number of Python C-API
calls in the C of its generated lines)</p>
<table>
<tr><th>your code</th><th>generated Cython</th></tr>
{rows}</table>
<details><summary>module setup and function headers</summary>
<div class="code">{setup}</div></details>
</body></html>
"""
