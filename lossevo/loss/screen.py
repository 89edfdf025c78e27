"""Cheap checks that reject broken candidates before any GAN is trained, and a fingerprint.

Stages, in order, each with a reason code (``REASONS``):
1. both leaves used;
2. finite values and gradients on a probe grid of scores (p from 1e-7 to 1 - 1e-7);
3. the fake branch L(0, p) is not constant in p on that grid: otherwise the discriminator is
   never pushed to score fakes low (it only learns to score reals high). "Constant" means both
   the spread of L(0, p) over the grid is at most ``CONSTANT_RTOL`` times the loss's scale
   (the largest |L| on both branches, at least 1) and the largest |dL(0, p)/d score| is at most
   ``CONSTANT_RTOL`` times the real branch's largest gradient (at least 1);
4. the discriminator can learn: free scores for real and fake samples, trained with Adam under
   the loss, end up separated (either way round: a loss with inverted labels is still a game);
5. the generator gets a useful gradient at the fake scores the discriminator learned, pointing
   to the real side. Optima away from the label are fine: GANetic's real optimum is p = 0.7302.

The fingerprint identifies losses that train identically: values and gradients on the grid, up
to a positive scale and an additive constant per label (Adam sees neither).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from lossevo.loss.reference import LossSpec
from lossevo.loss.transform import get_transform
from lossevo.util.errors import LossevoError

REASONS = {
    "missing_leaf": "does not depend on both y_real and y_pred",
    "compile_error": "the generated torch function raised an error",
    "non_finite": "a value or gradient is inf/NaN on the probe grid",
    "fake_branch_constant": "the fake branch L(0, p) is constant in p on the probe grid, so the "
    "discriminator is never pushed to score fakes low",
    "discriminator_cannot_learn": "free real and fake scores do not separate under the loss",
    "generator_no_gradient": "the generator's gradient at the fake scores vanishes or points "
    "away from the real side",
}

_P_GRID = [
    1e-7,
    1e-5,
    1e-3,
    0.01,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    1 - 1e-3,
    1 - 1e-5,
    1 - 1e-7,
]
#: Relative tolerance under which the fake branch L(0, p) counts as constant (stage 3).
CONSTANT_RTOL = 1e-5

_RAW_GRID = [-20.0, -10.0, -5.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]


def probe_scores(transform: str) -> torch.Tensor:
    """Discriminator scores (before the transform) at which a loss is probed, float64."""
    if transform == "sigmoid":
        p = torch.tensor(_P_GRID, dtype=torch.float64)
        return torch.log(p) - torch.log1p(-p)
    return torch.tensor(_RAW_GRID, dtype=torch.float64)


@dataclass(frozen=True)
class ScreenConfig:
    d_steps: int = 200
    d_lr: float = 0.05
    n_scores: int = 32
    min_separation: float = 0.2
    min_generator_ratio: float = 1e-3
    seed: int = 0


@dataclass
class Verdict:
    """The outcome of screening: passed, or the first failed stage with its reason code."""

    passed: bool
    reason: str | None = None
    detail: str = ""
    fingerprint: str | None = None
    measurements: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _values_and_grads(fn, transform: str, scores: torch.Tensor, label: float):
    s = scores.clone().requires_grad_(True)
    p = get_transform(transform)(s)
    values = fn(torch.full_like(p, label), p)
    (grad,) = torch.autograd.grad(values.sum(), s)
    return values.detach(), grad


def fingerprint(spec: LossSpec) -> str:
    """Hash of (values, gradients) on the probe grid, normalised for scale and offset."""
    fn = spec.expr.torch_fn()
    scores = probe_scores(spec.transform)
    rows = [_values_and_grads(fn, spec.transform, scores, label) for label in (0.0, 1.0)]
    grads = torch.cat([g for _, g in rows])
    values = torch.cat([v - v.mean() for v, _ in rows])
    scale = grads.abs().max().item()
    if not math.isfinite(scale) or scale == 0.0:
        body = "constant" if scale == 0.0 else "non-finite"
    else:
        table = torch.cat([values / scale, grads / scale]).numpy()
        body = np.array2string(np.round(table, 4) + 0.0, precision=4, threshold=10**6)
    text = f"{spec.transform}|{spec.generator}|{body}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _fake_branch_constant(fake: tuple, real: tuple) -> str | None:
    """Why the fake branch counts as constant (stage 3), or None when it varies."""
    (fake_values, fake_grads), (real_values, real_grads) = fake, real
    spread = (fake_values.max() - fake_values.min()).item()
    scale = max(1.0, fake_values.abs().max().item(), real_values.abs().max().item())
    slope = fake_grads.abs().max().item()
    grad_scale = max(1.0, real_grads.abs().max().item())
    if spread <= CONSTANT_RTOL * scale and slope <= CONSTANT_RTOL * grad_scale:
        return (
            f"L(0, p) spreads {spread:.3g} over the grid (scale {scale:.3g}) and its largest "
            f"gradient is {slope:.3g}"
        )
    return None


#: Verdicts this process has reached, by (spec key, config), newest last. Screening is a pure
#: function of the spec (the key digests expression, transform and generator) and the config,
#: so a search resumed in the same process, or a notebook's second search, screens nothing twice.
_VERDICTS: OrderedDict[tuple[str, ScreenConfig], Verdict] = OrderedDict()
_VERDICTS_KEPT = 20_000


def screen(spec: LossSpec, config: ScreenConfig | None = None) -> Verdict:
    """Run the stages in order; stop at the first failure. Remembered per process."""
    config = config or ScreenConfig()
    memo = (spec.key, config)
    if memo in _VERDICTS:
        _VERDICTS.move_to_end(memo)
    else:
        _VERDICTS[memo] = _screen(spec, config)
        if len(_VERDICTS) > _VERDICTS_KEPT:
            _VERDICTS.popitem(last=False)
    return copy.deepcopy(_VERDICTS[memo])  # callers own their verdict


def _screen(spec: LossSpec, config: ScreenConfig) -> Verdict:
    if not spec.expr.uses_both_leaves:
        used = sorted(map(str, spec.expr.sympy.free_symbols)) or ["no variable"]
        return Verdict(False, "missing_leaf", f"uses only {', '.join(used)}")
    try:
        fn = spec.expr.torch_fn()
        scores = probe_scores(spec.transform).float()
        branches = {}
        for label in (0.0, 1.0):
            values, grads = _values_and_grads(fn, spec.transform, scores, label)
            if not (torch.isfinite(values).all() and torch.isfinite(grads).all()):
                bad = scores[~(torch.isfinite(values) & torch.isfinite(grads))][0].item()
                return Verdict(
                    False,
                    "non_finite",
                    f"y_real={label:g}, score={bad:.3g}: value or gradient not finite",
                )
            branches[label] = (values, grads)
        constant = _fake_branch_constant(branches[0.0], branches[1.0])
        if constant:
            return Verdict(False, "fake_branch_constant", constant)
        measurements = game_probe(spec, config)
    except Exception as err:  # a candidate must never crash the search
        return Verdict(False, "compile_error", f"{type(err).__name__}: {err}")
    if measurements.get("non_finite"):
        return Verdict(False, "non_finite", measurements["non_finite"], measurements=measurements)
    if abs(measurements["separation"]) < config.min_separation:
        return Verdict(
            False,
            "discriminator_cannot_learn",
            f"real/fake separation {measurements['separation']:.3g} < {config.min_separation}",
            measurements=measurements,
        )
    if not measurements["generator_ratio"] > config.min_generator_ratio:
        return Verdict(
            False,
            "generator_no_gradient",
            f"generator pull {measurements['generator_ratio']:.3g} (relative to the "
            f"discriminator's) <= {config.min_generator_ratio}",
            measurements=measurements,
        )
    return Verdict(True, None, "passed", fingerprint(spec), measurements)


def game_probe(spec: LossSpec, config: ScreenConfig) -> dict:
    """Train free real/fake scores as a discriminator would, then probe the generator's pull.

    Seeded by ``config.seed``; returns plain numbers, or ``{"non_finite": where}``. The real
    and fake scores are one tensor, trained by :class:`_Adam`: every operation is elementwise,
    so this is the two-parameter ``torch.optim.Adam`` game value for value at half the
    dispatches (screening is most of a search's cost before training; tests/test_screen.py
    checks the equality).
    """
    fn = spec.expr.torch_fn()
    transform = get_transform(spec.transform)
    n = config.n_scores
    gen = torch.Generator().manual_seed(config.seed)
    start = torch.randn(n, generator=gen)
    scores = torch.cat([start, start]).requires_grad_(True)  # real, then fake
    labels = torch.cat([torch.ones(n), torch.zeros(n)])

    def d_grads():
        values = fn(labels, transform(scores))
        loss = values[:n].sum() + values[n:].sum()
        return torch.autograd.grad(loss, scores)[0], loss

    grads, _ = d_grads()
    d_scale = grads.pow(2).mean().sqrt().item()
    optimizer = _Adam(scores, lr=config.d_lr)
    for step in range(config.d_steps):
        grads, loss = d_grads()
        if not torch.isfinite(loss) or not torch.isfinite(grads).all():
            return {"non_finite": f"discriminator probe, step {step}"}
        optimizer.step(grads)
    return _measure(spec, fn, transform, scores[:n], scores[n:], d_scale)


def _measure(spec: LossSpec, fn, transform, real, fake, d_scale: float) -> dict:
    """What a trained discriminator game shows: how far it separated real from fake, and how
    hard the generator is pulled towards the real side (relative to ``d_scale``)."""
    with torch.no_grad():
        p_real, p_fake = transform(real), transform(fake)
        separation = (p_real.mean() - p_fake.mean()).item()
    direction = 1.0 if separation >= 0 else -1.0
    at_fake = fake.detach().clone().requires_grad_(True)
    n = len(at_fake)
    if spec.generator == "non_saturating":
        objective = fn(torch.ones(n), transform(at_fake)).sum()
    else:
        objective = -fn(torch.zeros(n), transform(at_fake)).sum()
    (g_gen,) = torch.autograd.grad(objective, at_fake)
    pull = (-g_gen * direction).mean().item()
    ratio = pull / d_scale if d_scale > 0 else 0.0
    return {
        "separation": separation,
        "p_real": p_real.mean().item(),
        "p_fake": p_fake.mean().item(),
        "generator_pull": pull,
        "d_grad_scale": d_scale,
        "generator_ratio": ratio if math.isfinite(ratio) else 0.0,
    }


class _Adam:
    """``torch.optim.Adam``'s single-tensor update (the one it runs on a CPU), for one tensor
    and defaults betas=(0.9, 0.999), eps=1e-8, without the optimizer's per-step overhead."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = self.lr / (1 - beta1**self.steps)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2**self.steps) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)


class ScreeningRejected(LossevoError):
    """A loss that screening rejects was about to be trained."""


def require_passing(spec: LossSpec, config: ScreenConfig | None = None) -> Verdict:
    """Screen ``spec`` and return its passing verdict, or refuse it in one line with the reason.

    Training a rejected loss wastes a run on a loss known to be broken (a constant, inf/NaN on
    the probe grid, no learning signal); ``lossevo evaluate --no-screen`` skips this check.
    """
    verdict = screen(spec, config)
    if not verdict.passed:
        raise ScreeningRejected(
            f"screening rejects {spec.name[:80]!r}: {verdict.reason} ({REASONS[verdict.reason]}; "
            f"{verdict.detail}); pass --no-screen to train it anyway"
        )
    return verdict
