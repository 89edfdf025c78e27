"""An exported module, imported where lossevo cannot be, equals the engine: values and grads."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lossevo.loss.export import export_loss
from lossevo.loss.formula import tree_to_text
from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.loss.screen import probe_scores
from lossevo.loss.transform import get_transform
from lossevo.search.gp import random_tree
from lossevo.search.space import load_space

#: Imports each exported module (argv: JSON of [[path, scores], ...]) where lossevo cannot be
#: imported, and prints what it computes, one JSON list in the order given.
CHILD = r"""
import importlib.util, json, sys
sys.modules["lossevo"] = None  # any import of lossevo now fails
import torch
outs = []
for path, probe in json.loads(sys.argv[1]):
    spec = importlib.util.spec_from_file_location("exported", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    scores = torch.tensor(probe, dtype=torch.float64, requires_grad=True)
    out = {}
    for label in (0.0, 1.0):
        p = mod.transform(scores)
        values = mod.loss(torch.full_like(p, label), p)
        grad, = torch.autograd.grad(values.sum(), scores)
        out[str(label)] = [values.tolist(), grad.tolist()]
    cls = [v for k, v in vars(mod).items() if isinstance(v, type)
           and issubclass(v, torch.nn.Module) and v is not torch.nn.Module][0]()
    out["d"] = cls.discriminator_loss(scores.detach(), -scores.detach()).item()
    out["g"] = cls.generator_loss(scores.detach()).item()
    outs.append(out)
print(json.dumps(outs))
"""


def engine_values(spec: LossSpec, scores: torch.Tensor) -> dict:
    fn, transform = spec.expr.torch_fn(), get_transform(spec.transform)
    out = {}
    for label in (0.0, 1.0):
        s = scores.clone().requires_grad_(True)
        p = transform(s)
        values = fn(torch.full_like(p, label), p)
        (grad,) = torch.autograd.grad(values.sum(), s)
        out[str(label)] = [values.tolist(), grad.tolist()]
    return out


def run_exported(paths_and_scores: list[tuple[Path, torch.Tensor]], cwd: Path) -> list[dict]:
    """What each exported module computes, all in one isolated child interpreter."""
    work = json.dumps([[str(path), scores.tolist()] for path, scores in paths_and_scores])
    command = [sys.executable, "-I", "-c", CHILD, work]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd)
    return json.loads(result.stdout)


def _specs():
    space = load_space("full")
    random.seed(1234)
    randoms = [
        LossSpec.from_formula(
            tree_to_text(random_tree(space)),
            name=f"random_{i}",
            transform=["sigmoid", "raw"][i % 2],
        )
        for i in range(4)
    ]
    return randoms + [reference_loss(n) for n in ("ganetic", "hinge", "adversarial")]


SPECS = _specs()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, dict]:
    """Each spec exported to its own file and run in one child (torch imported once, not 7)."""
    folder = tmp_path_factory.mktemp("exported")
    work = [
        (export_loss(spec, folder / f"{spec.name}.py", provenance={"test": True}), scores)
        for spec in SPECS
        for scores in [probe_scores(spec.transform)]
    ]
    return dict(zip([spec.name for spec in SPECS], run_exported(work, folder), strict=True))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exported_module_matches_engine(spec, exported):
    scores = probe_scores(spec.transform)
    child = exported[spec.name]
    ours = engine_values(spec, scores)
    for label in ("0.0", "1.0"):
        for got, want in zip(child[label], ours[label], strict=True):
            torch.testing.assert_close(
                torch.tensor(got), torch.tensor(want), equal_nan=True, rtol=1e-12, atol=0
            )
    fn, transform = spec.expr.torch_fn(), get_transform(spec.transform)
    s = scores.double()
    d_engine = (
        fn(torch.ones_like(s), transform(s)).mean() + fn(torch.zeros_like(s), transform(-s)).mean()
    ).item()
    assert child["d"] == pytest.approx(d_engine, rel=1e-12, nan_ok=True)


def test_export_docstring_has_formula_latex_and_provenance(tmp_path):
    path = export_loss(reference_loss("ganetic"), tmp_path, provenance={"run": "r1", "rank": 1})
    text = path.read_text()
    assert path.name == "ganetic.py"
    assert "y_pred**3 + sqrt(3.985*Abs(y_real/guard(y_pred)) + 1.0e-8)" in text
    assert "\\\\sqrt" in text or "\\sqrt" in text
    assert '"run": "r1"' in text
    assert "import lossevo" not in text and "from lossevo" not in text


HOSTILE_NAME = 'inj/x"""; __import__("os").system("touch PWNED"); """y\\'


def test_hostile_text_cannot_run_code_and_the_module_still_imports(tmp_path):
    spec = LossSpec.from_formula("y_pred**3 + sqrt(3.985*y_real/y_pred)", name=HOSTILE_NAME)
    run = str(tmp_path / 'run"""\\') + "\\"
    provenance = {"run": run, "note": "a\x00b\r\x1b[2J", "fitness": float("nan")}
    path = export_loss(spec, tmp_path / "rank1.py", provenance)
    child = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('m', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "print(json.dumps([mod.__doc__, mod.PROVENANCE]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", child, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    doc, stored = json.loads(result.stdout)
    assert not (tmp_path / "PWNED").exists()
    assert doc.startswith(HOSTILE_NAME + ": a GAN loss exported by lossevo.")
    assert stored == {"run": run, "note": "a\x00b\r\x1b[2J", "fitness": "nan"}


LIMITED_WRITE = r"""
import resource, signal, sys
from lossevo.loss.export import export_loss
from lossevo.loss.reference import reference_loss
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
export_loss(reference_loss("ganetic"), sys.argv[1])
"""


def test_a_failed_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "mine.py"
    target.write_text("# my own module, which must survive\n" * 10)
    before = target.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_WRITE, str(target)], capture_output=True, text=True, env=env
    )
    assert result.returncode != 0 and "File too large" in result.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py"]  # no temp file left
