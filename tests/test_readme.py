"""The README's Python examples run as written, each block in its own fresh interpreter, in
order, in an empty folder: the documented API cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def test_the_block_finder_finds_python_blocks_only():
    text = "```bash\nls\n```\n```python\nx = 1\n```\nprose\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path):
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the README's Python API section lost its examples"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOSSEVO_CACHE": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",  # two threads thrash on a shared 2-core machine
    }
    for number, code in enumerate(blocks, 1):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"README python block {number}:\n{result.stderr[-3000:]}"
    for written in ("losses/rank1.py", "losses/rank2.py", "ganetic_loss.py"):
        assert (tmp_path / written).is_file(), written
    assert "## Results" in (tmp_path / "runs/tiny-replay/report.md").read_text()
