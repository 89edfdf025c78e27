"""What `lossevo show RUN` and `lossevo export RUN` derive from a run: from its store only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cli_harness import run_cli
from test_search import tiny

from lossevo.search.run import start_search

SPACE = Path(__file__).resolve().parent.parent / "lossevo" / "search" / "spaces" / "minimal.yaml"


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_uses_the_space_stored_with_the_run(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.read_text())
    config = tiny(space=str(space), generations=1, controls=("bce",), verdict_top=1)
    run = start_search(tmp_path / "run", config, progress=False, echo=lambda s: None)
    # the space file changes after the run: the export must still use what the run searched
    space.write_text(SPACE.read_text().replace("transform: sigmoid", "transform: raw"))
    result = run_cli("export", str(run), "--top", "1", "-o", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    (exported,) = sorted((tmp_path / "out").glob("rank*.py"))
    assert load_module(exported).TRANSFORM == "sigmoid"
