"""Screening rejects broken candidates with the right reason, and the fingerprint dedups."""

from lossevo.loss.reference import LossSpec
from lossevo.loss.screen import fingerprint, screen


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
