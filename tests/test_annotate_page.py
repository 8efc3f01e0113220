"""The page ``astjax annotate`` writes, read as HTML and rendered in a real browser.

What a user of ``cython -a`` expects: each generated line opens on its C; long lines wrap
instead of widening the page; a line jit made C is not drawn beside yellow Python C-API
setup (allocation and typed views run once per call, and are folded away in grey).
"""
import importlib.util
import re
import struct
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest

from astjax.aot import cli

ROOT = Path(__file__).resolve().parent.parent

KERNELS = textwrap.dedent('''\
    import numpy as np


    def scaled_tanh(x):
        return np.tanh(x) * 2.0


    def relax(u, f, h):
        n = u.shape[0]
        for i in range(1, n - 1):
            u[i] = 0.5 * (u[i - 1] + u[i + 1] - h * h * f[i]) + 0.0 * (u[i - 1] * u[i + 1] * f[i] * h * u[i - 1] * u[i + 1] * f[i] * h)
        return np.sum(u * u)
    ''')


class Tree(HTMLParser):
    """A minimal DOM: (tag, attrs, children, text) nodes."""

    VOID = {"meta", "br", "img", "hr", "input", "link"}

    def __init__(self, text):
        super().__init__()
        self.root = {"tag": "root", "attrs": {}, "children": [], "text": ""}
        self.stack = [self.root]
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, "attrs": dict(attrs), "children": [], "text": ""}
        self.stack[-1]["children"].append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        while len(self.stack) > 1:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for node in self.stack:
            node["text"] += data


def find(node, tag=None, cls=None, within=True):
    """Descendants with this tag and class (``within=False``: not below another match)."""
    out = []
    for child in node["children"]:
        hit = (tag is None or child["tag"] == tag) and \
            (cls is None or cls in child["attrs"].get("class", "").split())
        if hit:
            out.append(child)
        if within or not hit:
            out += find(child, tag, cls, within)
    return out


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    where = tmp_path_factory.mktemp("annotate")
    (where / "kernels.py").write_text(KERNELS)
    out = {}
    for name, sig in (("scaled_tanh", "float64[::1]"),
                      ("relax", "(float64[::1], float64[::1], float)")):
        page = where / f"{name}.html"
        assert cli.main(["annotate", f"{where / 'kernels.py'}:{name}", "-s", sig,
                         "-o", str(page)]) == 0
        out[name] = page
    return out


def test_each_generated_line_opens_on_its_c(pages):
    tree = Tree(pages["relax"].read_text())
    lines = find(tree.root, "details", "gen")
    assert len(lines) > 20
    for line in lines:
        (summary,) = [c for c in line["children"] if c["tag"] == "summary"]
        (c_code,) = [c for c in line["children"] if c["tag"] == "pre"]
        assert re.match(r"\s*\d+ ", summary["text"]) and c_code["text"].strip()
    # the C of the loop's item write is the C Cython wrote for it
    writes = [d for d in lines if "u_mv3[i] = t" in d["text"]]
    assert writes and "__pyx_v_" in find(writes[0], "pre")[0]["text"]


def test_a_c_line_is_not_drawn_beside_yellow_setup(pages):
    tree = Tree(pages["scaled_tanh"].read_text())
    (row,) = find(tree.root, "tr", "fused")
    (setup,) = find(row, "details", "setup")
    assert "per-call setup" in setup["text"] and "np.empty" in setup["text"]
    code = find(row, "td", "code")[0]
    work = [d for d in find(code, cls="gen", within=False) if d not in find(setup, cls="gen")]
    assert work, "the loop itself is shown"
    (loop,) = [d for d in work if "prange" in d["text"]]
    assert "background:#f3f3f3" in loop["attrs"]["style"] and "once per call" in loop["text"]
    assert all("background:#ffffff" in d["attrs"]["style"] for d in work if d is not loop)


def test_long_lines_wrap(pages):
    style = pages["relax"].read_text().split("<style>")[1].split("</style>")[0]
    assert re.search(r"td\.user code, td\.code, \.gen, pre\.c \{[^}]*white-space: pre-wrap",
                     style)
    assert "table-layout: fixed" in style


def _render_tool():
    spec = importlib.util.spec_from_file_location("render_annotate",
                                                  ROOT / "tools" / "render_annotate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def render():
    tool = _render_tool()
    if tool.browser() is None:
        pytest.skip("needs Chromium on PATH (apt-get install chromium); CI installs it")
    return tool


MEASURE = """<script>
(function () {
  var first = document.querySelector("details.gen");
  var c = first.querySelector("pre.c");
  var before = c.checkVisibility() ? c.getBoundingClientRect().height : 0;
  first.open = true;
  var after = c.checkVisibility() ? c.getBoundingClientRect().height : 0;
  document.body.setAttribute("data-closed", before);
  document.body.setAttribute("data-opened", after);
  document.body.setAttribute("data-overflow",
      document.documentElement.scrollWidth > window.innerWidth + 1);
})();
</script></body>"""


def test_chromium_lays_the_page_out(pages, render, tmp_path):
    # In a real browser: a line's C is hidden until it is opened, and the page is no wider
    # than the window even with a 200-column user line.
    page = tmp_path / "measured.html"
    page.write_text(pages["relax"].read_text().replace("</body>", MEASURE))
    dom = render.chromium("--window-size=900,700", "--dump-dom", page.as_uri())
    (body,) = re.findall(r"<body[^>]*>", dom)
    attrs = dict(re.findall(r'data-(closed|opened|overflow)="([^"]*)"', body))
    assert float(attrs["closed"]) == 0 and float(attrs["opened"]) > 0
    assert attrs["overflow"] == "false"


def test_render_tool_writes_a_png(pages, render, tmp_path):
    png = tmp_path / "relax.png"
    assert render.main(["--html", str(pages["relax"]), "-o", str(png), "--open", "3",
                        "--size", "1000x800"]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 800)
