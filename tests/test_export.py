"""An exported module, imported where lossevo cannot be, equals the engine: values and grads."""

import json
import random
import subprocess
import sys

import pytest
import torch

from lossevo.loss.export import export_loss
from lossevo.loss.formula import tree_to_text
from lossevo.loss.reference import LossSpec, reference_loss
from lossevo.loss.screen import probe_scores
from lossevo.loss.transform import get_transform
from lossevo.search.gp import random_tree
from lossevo.search.space import load_space

CHILD = r"""
import importlib.util, json, sys
sys.modules["lossevo"] = None  # any import of lossevo now fails
import torch
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
scores = torch.tensor(json.loads(sys.argv[2]), dtype=torch.float64, requires_grad=True)
out = {}
for label in (0.0, 1.0):
    p = mod.transform(scores)
    values = mod.loss(torch.full_like(p, label), p)
    grad, = torch.autograd.grad(values.sum(), scores)
    out[str(label)] = [values.tolist(), grad.tolist()]
cls = [v for k, v in vars(mod).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)
       and v is not torch.nn.Module][0]()
out["d"] = cls.discriminator_loss(scores.detach(), -scores.detach()).item()
out["g"] = cls.generator_loss(scores.detach()).item()
print(json.dumps(out))
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


def run_exported(path, scores) -> dict:
    result = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, str(path), json.dumps(scores.tolist())],
        capture_output=True,
        text=True,
        check=True,
        cwd=path.parent,
    )
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


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.name)
def test_exported_module_matches_engine(spec, tmp_path):
    scores = probe_scores(spec.transform)
    path = export_loss(spec, tmp_path / "exported_loss.py", provenance={"test": True})
    child = run_exported(path, scores)
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
