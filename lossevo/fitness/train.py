"""One GAN training loop for any element-wise loss L(y_real, y_pred).

Per step (one generator step = one step), with the objectives of ``lossevo.loss.objective``:
  D: loss_D = mean L(1, t(D(x))) + mean L(0, t(D(G(z).detach())))   then Adam on D
  G: "non_saturating": minimise  mean L(1, t(D(G(z))))
     "minimax":        minimise -mean L(0, t(D(G(z))))              then Adam on G
where t is the output transform ("sigmoid" or "raw") and G(z) is the same fake batch in both.

Divergence: after each step one finite check over (loss_D, |grad_D|, loss_G, |grad_G|, |params|)
(one host sync per step); the first non-finite value stops training with status "diverged",
``diverged_at`` the step it happened in and ``reason`` naming the quantity. That step's updates
have been applied, so a diverged run's modules may hold non-finite weights.

Curves: "g_loss" is the objective G minimises (so it is negative-ish in minimax mode); "d_real"
and "d_fake" are the mean transformed D outputs on the D step's batches.

Checkpoints: ``on_checkpoint(step, G)`` is called after the listed steps, so one training is
scored at several budgets. It samples with its own generator and leaves G as it found it, so
a run with checkpoints trains exactly as one without. If it returns True the training stops
there (``stopped_at``): a search's early stopping, decided by the caller from the scores.

Determinism: torch's global RNG is seeded (initialisation, dropout) and a private CPU
torch.Generator draws batch indices and z, so a seed gives the same run on CPU, bit for bit
(on CUDA, cuDNN may still be non-deterministic unless the caller asks for deterministic kernels).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from lossevo.fitness.models import ModelConfig, build_models
from lossevo.loss.objective import discriminator_objective, generator_objective
from lossevo.loss.reference import GENERATOR_MODES
from lossevo.loss.transform import get_transform

#: Names of the quantities in the finite check, in the order they are computed.
CHECKS = ("d_loss", "d_grad", "g_loss", "g_grad", "params")
#: The curves recorded every ``curve_every`` steps, beside "step".
CURVES = ("d_loss", "g_loss", "d_real", "d_fake")


@dataclass
class TrainConfig:
    steps: int = 300  # generator steps
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 100
    width: int = 16
    seed: int = 0
    device: str = "cpu"
    curve_every: int = 10  # record losses every k steps (and at steps 1 and the last)


@dataclass
class TrainResult:
    generator: nn.Module  # eval mode
    discriminator: nn.Module
    status: str  # "ok" | "diverged"
    diverged_at: int | None  # 1-based step in which a non-finite value appeared
    reason: str | None  # e.g. "non-finite d_loss"
    steps_done: int  # steps that completed with every check finite
    seconds: float
    stopped_at: int | None = None  # the checkpoint at which on_checkpoint asked to stop
    curves: dict[str, list[float]] = field(default_factory=dict)


def _norm(tensors, device: torch.device) -> torch.Tensor:
    """The 2-norm over all tensors at once: non-finite if any element is (or if it overflows)."""
    tensors = [t for t in tensors if t is not None]
    return torch.nn.utils.get_total_norm(tensors) if tensors else torch.zeros((), device=device)


def _models(images: torch.Tensor, cfg: TrainConfig, device: torch.device):
    """G, D and their Adam optimizers, seeded by ``cfg.seed``."""
    G, D = build_models(ModelConfig(tuple(images.shape[1:]), cfg.latent_dim, cfg.width))
    # channels_last: measured ~25% faster per step on CPU (oneDNN convs); also fine on CUDA
    G, D = (m.to(device, memory_format=torch.channels_last).train() for m in (G, D))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    return G, D, opt_g, opt_d


def _d_step(D, opt_d, loss_fn, t, real, fake, device):
    """Discriminator step, real -> 1 and fake -> 0; returns loss, grad norm and mean outputs."""
    real_scores, fake_scores = D(real), D(fake.detach())
    d_loss = discriminator_objective(loss_fn, t, real_scores, fake_scores)
    opt_d.zero_grad(set_to_none=True)
    if d_loss.requires_grad:  # a loss constant in y_pred has no graph: no update
        d_loss.backward()
    d_grad = _norm((p.grad for p in D.parameters()), device)
    opt_d.step()
    return d_loss, d_grad, t(real_scores.detach()), t(fake_scores.detach())


def _g_step(G, D, opt_g, loss_fn, t, fake, generator_mode: str, device):
    """Generator step against the updated D (D's weights get no gradient here)."""
    D.requires_grad_(False)
    g_loss = generator_objective(loss_fn, t, generator_mode, D(fake))
    opt_g.zero_grad(set_to_none=True)
    if g_loss.requires_grad:
        g_loss.backward()
    g_grad = _norm((p.grad for p in G.parameters()), device)
    opt_g.step()
    D.requires_grad_(True)
    return g_loss, g_grad


def _record(curves: dict, step: int, d_loss, g_loss, p_real, p_fake) -> None:
    values = torch.stack([d_loss, g_loss, p_real.mean(), p_fake.mean()]).detach().tolist()
    for key, value in zip(("d_loss", "g_loss", "d_real", "d_fake"), values, strict=True):
        curves[key].append(value)
    curves["step"].append(step)


def train_gan(
    images: torch.Tensor,
    loss_fn: Callable,
    *,
    transform: str,
    generator_mode: str,
    config: TrainConfig,
    progress: Callable[[int], None] | None = None,
    checkpoints: Iterable[int] = (),
    on_checkpoint: Callable[[int, nn.Module], bool | None] | None = None,
) -> TrainResult:
    """Train a DCGAN on ``images`` (float32 in [-1, 1], shape (N, C, H, W)) with ``loss_fn``."""
    if generator_mode not in GENERATOR_MODES:
        raise ValueError(
            f"unknown generator mode {generator_mode!r}; use one of {', '.join(GENERATOR_MODES)}"
        )
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    t, cfg = get_transform(transform), config
    device = torch.device(cfg.device)
    start = time.perf_counter()
    # Denormal floats (tiny sigmoid gradients of saturated scores) make CPU kernels ~10x
    # slower: measured 29 s against 2.8 s for 40 GANetic steps. Flushing them changes no result
    # the tests compare.
    torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    rng = torch.Generator().manual_seed(cfg.seed)
    G, D, opt_g, opt_d = _models(images, cfg, device)
    params = list(G.parameters()) + list(D.parameters())
    data = images.to(device=device, dtype=torch.float32)  # batches drawn with replacement
    curves: dict[str, list[float]] = {k: [] for k in ("step", *CURVES)}
    status, diverged_at, reason, steps_done, stopped_at = "ok", None, None, 0, None
    score_at = {int(s) for s in checkpoints} if on_checkpoint is not None else set()
    for step in range(1, cfg.steps + 1):
        real = data[torch.randint(data.shape[0], (cfg.batch_size,), generator=rng).to(device)]
        z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=rng).to(device)
        fake = G(z)
        d_loss, d_grad, p_real, p_fake = _d_step(D, opt_d, loss_fn, t, real, fake, device)
        g_loss, g_grad = _g_step(G, D, opt_g, loss_fn, t, fake, generator_mode, device)
        # one host sync per step: are losses, gradients and the updated parameters finite?
        checked = [d_loss.detach(), d_grad, g_loss.detach(), g_grad, _norm(params, device)]
        finite = torch.isfinite(torch.stack(checked))
        if not bool(finite.all()):
            status, diverged_at = "diverged", step
            reason = f"non-finite {CHECKS[int((~finite).nonzero()[0])]}"
            break
        steps_done = step
        if step == 1 or step % cfg.curve_every == 0 or step == cfg.steps:
            _record(curves, step, d_loss, g_loss, p_real, p_fake)
        if progress is not None:
            progress(step)
        if step in score_at and on_checkpoint(step, G):
            stopped_at = step
            break
    G, D = (m.to(memory_format=torch.contiguous_format).eval() for m in (G, D))
    return TrainResult(
        generator=G,
        discriminator=D,
        status=status,
        diverged_at=diverged_at,
        reason=reason,
        steps_done=steps_done,
        seconds=time.perf_counter() - start,
        curves=curves,
        stopped_at=stopped_at,
    )


@torch.no_grad()
def sample(
    generator: nn.Module,
    n: int,
    *,
    latent_dim: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> torch.Tensor:
    """``n`` images in [-1, 1] from ``generator`` (run in eval mode on ``device``), on the CPU.

    z comes from a CPU torch.Generator seeded with ``seed``: the same seed gives the same z on
    any device. ``latent_dim`` defaults to ``generator.latent_dim``. The generator is moved to
    ``device`` and left there, in its previous train/eval mode.
    """
    latent_dim = latent_dim if latent_dim is not None else generator.latent_dim
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.to(device).eval()
    out = []
    for i in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - i), latent_dim, generator=rng)
        out.append(generator(z.to(device)).float().cpu().contiguous())
    generator.train(was_training)
    return torch.cat(out) if out else torch.empty(0, *generator.image_shape)
