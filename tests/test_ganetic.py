"""GANetic as built in equals the reference formula of ../shared/GANETIC.md, and its properties."""

import math

import pytest
import torch

from lossevo.loss.reference import reference_loss, reference_names
from lossevo.loss.screen import screen
from lossevo.loss.transform import sigmoid_clipped


def reference_ganetic(y_real, y_pred):
    p = torch.clamp(y_pred, 1e-7, 1 - 1e-7)
    return p**3 + torch.sqrt(torch.abs(3.985 * y_real / (p + 1e-8)) + 1e-8)


def test_builtin_equals_reference_values_and_gradients():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(1000, generator=gen, dtype=torch.float64) * 6
    labels = (torch.rand(1000, generator=gen) > 0.5).double()
    fn = reference_loss("ganetic").expr.torch_fn()
    s1 = scores.clone().requires_grad_(True)
    s2 = scores.clone().requires_grad_(True)
    ours = fn(labels, sigmoid_clipped(s1))
    theirs = reference_ganetic(labels, torch.sigmoid(s2))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(ours.sum(), s1)
    (g2,) = torch.autograd.grad(theirs.sum(), s2)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_minimum_for_real_samples_is_at_0_7302():
    fn = reference_loss("ganetic").expr.torch_fn()
    p = torch.linspace(0.5, 0.95, 450001, dtype=torch.float64)
    best = p[fn(torch.ones_like(p), p).argmin()].item()
    analytic = (math.sqrt(3.985) / 6) ** (1 / 3.5)
    assert abs(analytic - 0.7302) < 1e-4
    assert abs(best - analytic) < 1e-5


def test_fake_samples_give_p_cubed():
    fn = reference_loss("ganetic").expr.torch_fn()
    p = torch.rand(100, dtype=torch.float64).clamp(1e-7, 1 - 1e-7)
    torch.testing.assert_close(fn(torch.zeros_like(p), p), p**3 + 1e-4, rtol=1e-9, atol=1e-12)


def test_generator_gradient_near_001_is_ten_times_bce():
    p = torch.tensor([0.01], dtype=torch.float64, requires_grad=True)
    (g_ganetic,) = torch.autograd.grad(
        reference_loss("ganetic").expr.torch_fn()(torch.ones(1, dtype=torch.float64), p), p
    )
    (g_bce,) = torch.autograd.grad(
        reference_loss("bce").expr.torch_fn()(torch.ones(1, dtype=torch.float64), p), p
    )
    assert g_ganetic.item() == pytest.approx(-998, rel=2e-3)
    assert g_bce.item() == pytest.approx(-100, rel=1e-3)


@pytest.mark.parametrize("name", ["ganetic", "bce", "hinge", "least_squares", "wasserstein"])
def test_reference_losses_pass_screening(name):
    verdict = screen(reference_loss(name))
    assert verdict.passed, (name, verdict.reason, verdict.detail)
    assert verdict.fingerprint


def test_ganetic_real_optimum_is_not_rejected_as_off_label():
    verdict = screen(reference_loss("ganetic"))
    assert abs(verdict.measurements["p_real"] - 0.7302) < 0.01


def test_all_reference_losses_have_distinct_fingerprints():
    from lossevo.loss.screen import fingerprint

    prints = {fingerprint(reference_loss(n)) for n in reference_names()}
    assert len(prints) == len(reference_names())
