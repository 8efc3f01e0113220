"""The corpus benchmark runs end to end on a tiny corpus: table, summary and JSON (no peers
beyond NumPy and astjax needed)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CORPUS = '''
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Kernel:
    name: str
    category: str
    fn: Callable
    make_args: Callable


def scaled_sum(x, a):
    return np.sum(x * a)


def decay_inplace(x):
    for i in range(x.shape[0]):
        x[i] = 0.5 * x[i]
    return x


KERNELS = [
    Kernel("scaled_sum", "reduction", scaled_sum,
           lambda rng, size: (rng.standard_normal(50), 2.0)),
    Kernel("decay_inplace", "loop", decay_inplace,
           lambda rng, size: (rng.standard_normal(40),)),
]


def by_name(name):
    return {k.name: k for k in KERNELS}[name]
'''


def test_quick_run_writes_table_and_json(tmp_path):
    package = tmp_path / "corpus"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(CORPUS))
    out = tmp_path / "result.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASTJAX_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_corpus.py"), "--quick",
         "--peers", "numpy,astjax", "--corpus-path", str(tmp_path), "--budget", "0.05",
         "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    assert "| kernel | category | NumPy | astjax | astjax build s |" in text
    assert "| correct | 2/2 |" in text
    for name in ("scaled_sum", "decay_inplace"):
        assert f"| {name} |" in text

    result = json.loads(out.read_text())
    rows = {r["name"]: r for r in result["kernels"]}
    assert set(rows) == {"scaled_sum", "decay_inplace"}
    assert rows["decay_inplace"]["mutates"] is True       # found by running NumPy on copies
    assert rows["scaled_sum"]["mutates"] is False
    for row in rows.values():
        numpy_cell, astjax_cell = row["peers"]["numpy"], row["peers"]["astjax"]
        assert numpy_cell["status"] == astjax_cell["status"] == "ok"
        assert numpy_cell["speedup"] == 1.0
        assert astjax_cell["seconds"] > 0 and astjax_cell["build_s"] > 0
        assert np.isclose(astjax_cell["speedup"],
                          numpy_cell["seconds"] / astjax_cell["seconds"])
    summary = result["summary"]["astjax"]
    assert summary["correct"] == summary["kernels"] == 2
    speedups = [rows[n]["peers"]["astjax"]["speedup"] for n in rows]
    assert np.isclose(summary["geomean_correct"], np.sqrt(speedups[0] * speedups[1]))
    assert result["meta"]["installed"] == {"numpy": True, "astjax": True}


def test_checker_catches_dtype_values_and_structure():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_corpus import mismatch, pythran_type
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    x = np.linspace(0.0, 1.0, 5)
    assert mismatch(x, x.copy()) is None
    assert "dtype float32" in mismatch(x, x.astype(np.float32))
    assert "values differ" in mismatch(x, x + 1e-6)
    assert mismatch(x.astype(np.float32), x.astype(np.float32) * (1 + 1e-6)) is None
    assert "shape" in mismatch(x, x[:4])
    assert "list instead of tuple" in mismatch((x, 1.0), [x, 1.0])
    assert "a scalar instead of an array" in mismatch(x, 1.0)
    assert mismatch(np.float64(2.0), 2.0) is None            # same dtype, scalar either way
    assert "values differ" in mismatch(np.arange(3), np.arange(3) + 1)
    assert pythran_type(np.zeros((2, 3))) == "float64[:,:]"
    assert pythran_type(np.zeros(3, np.float32)) == "float32[:]"
    assert pythran_type(np.zeros(3, bool)) == "bool[:]"
    assert pythran_type(np.zeros(3, complex)) == "complex128[:]"
    assert pythran_type(2.0) == "float" and pythran_type(3) == "int"
