"""The README's Python examples run as written, in order, in an empty folder: the documented
API cannot drift from the code. One interpreter runs them all (torch is imported once), each
block as its own script with its own globals, so a block that forgets an import still fails."""

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


#: Runs each block's file as ``__main__`` in turn; a failure stops at that block's traceback.
RUN_BLOCKS = (
    "import runpy, sys\nfor path in sys.argv[1:]:\n    runpy.run_path(path, run_name='__main__')\n"
)


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, classifier_cache):
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the README's Python API section lost its examples"
    scripts, work = tmp_path / "blocks", tmp_path / "work"
    scripts.mkdir()
    work.mkdir()
    paths = []
    for number, code in enumerate(blocks, 1):
        paths.append(scripts / f"readme_block_{number}.py")
        paths[-1].write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOSSEVO_CACHE": classifier_cache,
        "OMP_NUM_THREADS": "1",  # two threads thrash on a shared 2-core machine
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN_BLOCKS, *map(str, paths)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"a README python block failed:\n{result.stderr[-3000:]}"
    for written in ("losses/rank1.py", "losses/rank2.py", "ganetic_loss.py"):
        assert (work / written).is_file(), written
    assert "## Results" in (work / "runs/tiny-replay/report.md").read_text()
