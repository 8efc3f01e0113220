"""README.md stays true: every ```python block runs as written, in a fresh process.

A block whose first line is `# excerpt of <path>` quotes the project's own code instead: each
of its other lines must appear in that file.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path):
    block = BLOCKS[index]
    first, _, rest = block.partition("\n")
    excerpt = re.match(r"# excerpt of (\S+)", first)
    if excerpt:
        text = (ROOT / excerpt.group(1)).read_text()
        for line in rest.splitlines():
            assert line.strip() in text, f"README quotes a line {excerpt.group(1)} lacks: {line}"
        return
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(block)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"README block {index} failed:\n{block}\n{done.stderr[-3000:]}"
