"""Value checks shared by the task configs, so the CLI and the Python API refuse the same
settings with the same words, before any data is loaded or any folder is made."""

from __future__ import annotations

import re
from pathlib import Path

from lossevo.fitness.data import DATASET_NAMES, DatasetError
from lossevo.fitness.models import SUPPORTED_SIZES
from lossevo.util.errors import LossevoError

#: Generated samples a metric may ask for: FID's usual 50,000, with room to spare.
MAX_SAMPLES = 100_000
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


class TaskConfigError(LossevoError):
    """A task setting (width, batch size, device, samples...) out of range."""


def check_int(flag: str, value: object, low: int, high: int, hint: str = "") -> None:
    """``value`` is an int in [low, high], else one line naming the flag and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TaskConfigError(
            f"{flag} must be an integer from {low} to {high}, not {value!r}"
            + (f"; {hint}" if hint else "")
        )


def check_positive(flag: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise TaskConfigError(f"{flag} must be a positive number, not {value!r}")


def check_device(device: object) -> None:
    """One of auto, cpu, cuda, cuda:N, mps (whether a GPU is there is checked on use)."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise TaskConfigError(f"--device must be cpu, cuda, cuda:N, mps or auto, not {device!r}")


def check_image_size(image_size: object) -> None:
    if image_size is not None and image_size not in SUPPORTED_SIZES:
        sizes = ", ".join(map(str, SUPPORTED_SIZES))
        raise TaskConfigError(
            f"--image-size must be one of {sizes} (the DCGAN's sizes), not {image_size!r}"
        )


def check_dataset(source: object) -> None:
    """A known dataset name, a folder or an .npz file (its contents are read on use)."""
    if not isinstance(source, str) or not source.strip():
        raise DatasetError(f"--dataset must be a dataset name or path, not {source!r}")
    if source.strip().lower() in DATASET_NAMES:
        return
    path = Path(source).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".npz"):
        return
    if path.exists():
        raise DatasetError(f"unsupported file {path}: pass a folder of images or a MedMNIST .npz")
    raise DatasetError(
        f"unknown dataset '{source}': use mnist-offline, digits-8x8, mnist, cifar10, a folder "
        "of images or a MedMNIST .npz file"
    )


def check_training(config) -> None:
    """The settings every GAN-training config shares: width, batch, latent, lr, device, size."""
    check_int("--width", config.width, 1, 1024, "try --width 16")
    check_int("--batch-size", config.batch_size, 1, 65536, "try --batch-size 64")
    check_int("latent_dim", config.latent_dim, 1, 4096)
    check_positive("lr", config.lr)
    check_device(config.device)
    check_image_size(config.image_size)
