"""Differential fuzzing of astjax with random programs (tests/programs.py, tests/fuzz_oracles.py).

    python3 tools/fuzz_programs.py --transform grad --programs 10000
    python3 tools/fuzz_programs.py --transform all --programs 500 --out fuzz-failures

Each program runs under the transform and is classified ok / refused (an AstjaxError, or jit's
NumPy fallback) / wrong / internal.  The first program of every distinct failure (same transform,
category and error kind) is minimized -- statements are deleted while the same failure remains --
and written to OUT/<transform>-<n>.py with what went wrong in its header.  The last line reports,
per transform:  `grad: programs N, ok A, refused R, wrong W, internal I`.
"""
import argparse
import collections
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from hypothesis import HealthCheck, assume, given, settings, strategies as st  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402

from fuzz_oracles import RETURNS, TRANSFORMS, check  # noqa: E402
from programs import Program, programs  # noqa: E402


def minimize(program, transform, seed, signature, folder, budget=80):
    """Delete statements (a line and its indented block) while the same failure remains."""
    lines = program.source.splitlines()
    tries = 0

    def same(candidate):
        nonlocal tries
        tries += 1
        p = Program("\n".join(candidate) + "\n", program.shapes, program.returns)
        return check(p, transform, seed, folder).signature == signature

    changed = True
    while changed and tries < budget:
        changed = False
        i = len(lines) - 1
        while i >= 0 and tries < budget:
            line = lines[i]
            if not line.strip() or line.startswith(("import", "def f(")) or \
                    line.strip().startswith("return") and line.startswith("    ") and \
                    not line.startswith("        ") and _in_f(lines, i):
                i -= 1
                continue
            indent = len(line) - len(line.lstrip())
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or
                                      len(lines[j]) - len(lines[j].lstrip()) > indent):
                j += 1
            candidate = lines[:i] + lines[j:]
            if same(candidate):
                lines = candidate
                changed = True
            i -= 1
    return Program("\n".join(lines) + "\n", program.shapes, program.returns)


def _in_f(lines, i):
    for k in range(i, -1, -1):
        if lines[k].startswith("def "):
            return lines[k].startswith("def f(")
    return False


def run(transform, count, out, seed, max_statements, folder, log):
    counts = collections.Counter()
    failures = {}                       # signature -> (program, seed, outcome)

    @settings(max_examples=count, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(programs(returns=RETURNS[transform], max_statements=max_statements),
           st.integers(0, 2 ** 31 - 1))
    def one(program, input_seed):
        outcome = check(program, transform, input_seed, folder)
        assume(outcome.category != "discard")
        counts[outcome.category] += 1
        if outcome.category in ("wrong", "internal") and outcome.signature not in failures:
            failures[outcome.signature] = (program, input_seed, outcome)
            log(f"  new {outcome.category}: {outcome.signature}")

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    start = time.time()
    one()
    log(f"{transform}: {sum(counts.values())} programs in {time.time() - start:.0f} s; "
        f"{len(failures)} distinct failures")
    os.makedirs(out, exist_ok=True)
    for n, (signature, (program, input_seed, outcome)) in enumerate(sorted(failures.items())):
        small = minimize(program, transform, input_seed, signature, folder)
        path = os.path.join(out, f"{transform}-{n + 1}.py")
        header = [f"# astjax fuzz: {transform}, {outcome.category}: {signature}",
                  f"# arguments of shapes {program.shapes}, input seed {input_seed}"]
        header += ["# " + line for line in outcome.detail.splitlines()[:12]]
        with open(path, "w") as fh:
            fh.write("\n".join(header) + "\n" + small.source)
        log(f"  wrote {path}")
    total = sum(counts.values())
    return (f"{transform}: programs {total}, ok {counts['ok']}, refused {counts['refused']}, "
            f"wrong {counts['wrong']}, internal {counts['internal']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transform", default="all", choices=TRANSFORMS + ["all"])
    parser.add_argument("--programs", type=int, default=200, help="programs per transform")
    parser.add_argument("--out", default="fuzz-failures", help="folder for failing programs")
    parser.add_argument("--seed", type=int, default=None,
                        help="hypothesis seed (default: derandomized, the same run every time)")
    parser.add_argument("--max-statements", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("ASTJAX_CACHE_DIR", tempfile.mkdtemp(prefix="astjax-fuzz-cache-"))
    folder = tempfile.mkdtemp(prefix="astjax-fuzz-programs-")
    sys.path.insert(0, folder)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    transforms = TRANSFORMS if args.transform == "all" else [args.transform]
    lines = [run(t, args.programs, args.out, args.seed, args.max_statements, folder, log)
             for t in transforms]
    for line in lines[:-1]:
        print(line)
    print("; ".join(lines) if len(lines) > 1 else lines[0])


if __name__ == "__main__":
    main()
