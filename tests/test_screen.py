"""Screening rejects broken candidates with the right reason, and the fingerprint dedups."""

import random

import torch

from lossevo.loss.expr import LossExpr
from lossevo.loss.reference import LossSpec, reference_loss, reference_names
from lossevo.loss.screen import ScreenConfig, _measure, fingerprint, game_probe, screen
from lossevo.loss.transform import get_transform
from lossevo.search.config import SearchConfig
from lossevo.search.gp import deap_to_tree
from lossevo.search.space import load_space
from lossevo.search.variation import Variation


def spec(formula, **kw):
    return LossSpec.from_formula(formula, **kw)


def test_missing_leaf():
    assert screen(spec("y_pred**2")).reason == "missing_leaf"


def test_non_finite_on_probe_grid():
    # at p = 0.5 the guarded denominator is 1e-8, and (1e8)**9 overflows float32
    verdict = screen(spec("cube(cube(y_real/(y_pred - 0.5)))*y_pred"))
    assert verdict.reason == "non_finite"


def test_discriminator_cannot_learn_when_loss_ignores_the_label_direction():
    # identical pull on real and fake scores: nothing separates them
    assert screen(spec("y_pred + 0*y_real")).reason in {
        "missing_leaf",
        "discriminator_cannot_learn",
    }
    assert screen(spec("y_pred*(1 + y_real)")).reason == "discriminator_cannot_learn"


def test_minimax_with_least_squares_gives_generator_no_gradient():
    # under minimax the generator maximises L(0, p) = p**2: it pushes p up, away from 0 at the
    # fake point, which is the real side; flip it: maximising -(p-1)**2 pulls fakes to p=1 ...
    bad = spec("y_real*(1 - y_pred) + (1 - y_real)*y_pred*0.000000001", generator="minimax")
    verdict = screen(bad)
    assert not verdict.passed


def test_fingerprint_ignores_scale_and_per_label_offsets():
    base = spec("(y_pred - y_real)**2")
    scaled = spec("3*(y_pred - y_real)**2 + 7")
    offset = spec("(y_pred - y_real)**2 + 2*y_real")
    other = spec("(y_pred - y_real)**2 + y_pred")
    assert fingerprint(base) == fingerprint(scaled) == fingerprint(offset)
    assert fingerprint(base) != fingerprint(other)
    assert fingerprint(base) != fingerprint(spec("(y_pred - y_real)**2", transform="raw"))


def test_inverted_labels_are_still_a_game():
    verdict = screen(spec("y_real*y_pred + (1 - y_real)*(1 - y_pred)"))
    assert verdict.passed, verdict.detail
    assert verdict.measurements["separation"] < 0


def test_constant_fake_branch_is_rejected_before_the_game():
    # both passed the game before: reals are pushed up, fakes stay where they start
    for formula in (
        "-0.1097*y_pred*y_real",
        "-y_real*log(abs(y_pred)) - (1 - y_real)*log(abs(y_real - 1))",
    ):
        verdict = screen(spec(formula, transform="sigmoid", generator="non_saturating"))
        assert verdict.reason == "fake_branch_constant", (formula, verdict.reason)
        assert not verdict.measurements  # rejected before the (costlier) game probe


def test_a_small_but_real_fake_branch_is_not_constant():
    # L(0, p) = 0.01*p varies by 0.01 over the grid: well above the tolerance
    verdict = screen(spec("-y_real*log(y_pred) + 0.01*(1 - y_real)*y_pred"))
    assert verdict.reason != "fake_branch_constant"


def _reference_game_probe(spec: LossSpec, config: ScreenConfig) -> dict:
    """The discriminator game as written before, with two parameters and torch.optim.Adam
    (its measurement after training is the shared ``_measure``): the one-tensor game in
    lossevo.loss.screen must train exactly as this trains."""
    fn = spec.expr.torch_fn()
    transform = get_transform(spec.transform)
    gen = torch.Generator().manual_seed(config.seed)
    start = torch.randn(config.n_scores, generator=gen)
    real = start.clone().requires_grad_(True)
    fake = start.clone().requires_grad_(True)
    ones, zeros = torch.ones(config.n_scores), torch.zeros(config.n_scores)

    def d_grads():
        loss = fn(ones, transform(real)).sum() + fn(zeros, transform(fake)).sum()
        return torch.autograd.grad(loss, (real, fake)), loss

    (g_real, g_fake), _ = d_grads()
    d_scale = torch.cat([g_real, g_fake]).pow(2).mean().sqrt().item()
    optimizer = torch.optim.Adam([real, fake], lr=config.d_lr)
    for step in range(config.d_steps):
        optimizer.zero_grad()
        (g_real, g_fake), loss = d_grads()
        finite = torch.isfinite(g_real).all() and torch.isfinite(g_fake).all()
        if not torch.isfinite(loss) or not finite:
            return {"non_finite": f"discriminator probe, step {step}"}
        real.grad, fake.grad = g_real, g_fake
        optimizer.step()
    return _measure(spec, fn, transform, real, fake, d_scale)  # unchanged: shared


def test_the_one_tensor_game_measures_exactly_what_two_parameters_and_adam_did():
    """The game probe trains real and fake scores as one tensor with Adam's update written
    out (half the dispatches); every measurement equals the two-parameter torch.optim.Adam
    game bit for bit, on the built-in losses and on random trees of the full space."""
    random.seed(0)
    space = load_space("full")
    variation = Variation(space, SearchConfig(space="full", population=2))
    specs = [reference_loss(name) for name in reference_names()]
    for _ in range(30):
        tree = deap_to_tree(variation.random_individual())
        for transform in ("sigmoid", "raw"):
            specs.append(LossSpec(name="t", expr=LossExpr.from_tree(tree), transform=transform))
    config = ScreenConfig(d_steps=60)

    def outcome(probe, one):  # repr: exact floats, NaN equal to NaN, and the same errors
        try:
            return repr(probe(one, config))
        except Exception as err:
            return repr(err)

    for one in specs:
        assert outcome(game_probe, one) == outcome(_reference_game_probe, one), one.expr.text
