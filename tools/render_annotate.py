"""Render an ``astjax annotate`` page in headless Chromium, to a PNG for review.

    python3 tools/render_annotate.py kernels.py:selu -s "float64[::1]" -o selu.png
    python3 tools/render_annotate.py --html selu.html -o selu.png [--open 3]

The first form runs ``astjax annotate`` (any of its options after the target) and renders
its page; ``--open N`` expands the first N generated lines to their C, as a click would.
Needs Debian's ``chromium`` (``apt-get install chromium``) or another Chrome on PATH.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def browser():
    """The path of a headless-capable Chromium, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def chromium(*args, timeout=60):
    """Run headless Chromium with ``args``; its stdout (e.g. ``--dump-dom``)."""
    exe = browser()
    if exe is None:
        raise SystemExit("render_annotate: no Chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="astjax-chromium-") as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"render_annotate: chromium exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def with_open_lines(page_html, count):
    """The page with its first ``count`` generated lines expanded to their C."""
    script = ('<script>document.querySelectorAll("details.gen").forEach('
              f'function(d, i) {{ if (i < {count}) d.open = true; }});</script>')
    return page_html.replace("</body>", script + "</body>")


def render(page_html, png, width=1300, height=1000, open_lines=0):
    with tempfile.TemporaryDirectory(prefix="astjax-render-") as tmp:
        page = Path(tmp, "page.html")
        page.write_text(with_open_lines(page_html, open_lines), encoding="utf-8")
        chromium(f"--screenshot={Path(png).resolve()}", f"--window-size={width},{height}",
                 page.as_uri())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="MODULE.py:FUNC, as astjax annotate takes")
    parser.add_argument("--html", help="render this page instead of annotating a target")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png")
    parser.add_argument("--open", type=int, default=0, metavar="N",
                        help="expand the first N generated lines to their C")
    parser.add_argument("--size", default="1300x1000", metavar="WxH")
    args, annotate_args = parser.parse_known_args(argv)
    if args.html:
        page_html = Path(args.html).read_text(encoding="utf-8")
    elif args.target:
        with tempfile.TemporaryDirectory(prefix="astjax-render-") as tmp:
            out = Path(tmp, "page.html")
            cmd = [sys.executable, "-m", "astjax", "annotate", args.target, "-o", str(out),
                   *annotate_args]
            if subprocess.run(cmd).returncode != 0:
                return 1
            page_html = out.read_text(encoding="utf-8")
    else:
        parser.error("give MODULE.py:FUNC or --html PAGE")
    width, height = (int(n) for n in args.size.split("x"))
    render(page_html, args.output, width, height, args.open)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
