"""Which lines of the corpus kernels run as Python under jit, and why (issue 12).

Compiles every kernel of benchmarks/corpus at size "small", calls it once, and counts the
fallback reasons jit records (the notes `astjax.explain` prints): per reason, how many
kernels and lines hit it. Whole functions that run as NumPy are counted by their reason.

    ASTJAX_CACHE_DIR=/tmp/corpus-cache python3 tools/corpus_fallbacks.py [--lines]
"""
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astjax import jit  # noqa: E402
from benchmarks.corpus import KERNELS  # noqa: E402


def reason_of(detail):
    """The reason without the user's names and numbers, so equal causes count together."""
    text = re.sub(r"'[^']*'", "'…'", detail)
    return re.sub(r"\b\d+\b", "N", text)


def main(show_lines=False):
    lines_per_reason, kernels_per_reason = Counter(), defaultdict(set)
    examples = {}
    clean = 0
    for kernel in KERNELS:
        f = jit(kernel.fn)
        try:
            f(*kernel.make_args(np.random.default_rng(12), "small"))
        except Exception as error:  # a crash is the test's business; note it and go on
            print(f"{kernel.name}: raised {type(error).__name__}: {error}".splitlines()[0])
            continue
        found = False
        for spec in f.specializations.values():
            if spec.status == "numpy":
                key = "whole function as NumPy: " + reason_of(spec.reason)
                lines_per_reason[key] += 1
                kernels_per_reason[key].add(kernel.name)
                found = True
                continue
            seen = set()
            for note in spec.lowered.notes if spec.lowered is not None else ():
                if note.status != "Python":
                    continue
                where = note.origin.short if note.origin else "?"
                key = reason_of(note.detail)
                if (where, key) in seen:
                    continue
                seen.add((where, key))
                lines_per_reason[key] += 1
                kernels_per_reason[key].add(kernel.name)
                examples.setdefault(key, f"{where}: {note.detail}")
                found = True
                if show_lines:
                    print(f"{kernel.name}: {where}: {note.detail}")
        clean += not found
    print(f"\n{clean}/{len(KERNELS)} kernels run without Python fallbacks\n")
    print(f"{'kernels':>7} {'lines':>5}  reason")
    for key, count in sorted(lines_per_reason.items(),
                             key=lambda kv: (-len(kernels_per_reason[kv[0]]), -kv[1])):
        names = ", ".join(sorted(kernels_per_reason[key])[:4])
        print(f"{len(kernels_per_reason[key]):>7} {count:>5}  {key}   [{names}]")


if __name__ == "__main__":
    main("--lines" in sys.argv)
