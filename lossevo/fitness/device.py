"""Which torch device a task runs on: ``auto`` resolves to a GPU only when torch sees one."""

from __future__ import annotations

import torch

from lossevo.fitness.checks import TaskConfigError, check_device


class DeviceError(TaskConfigError):
    """A device was asked for that this machine does not have."""


def resolve_device(device: str) -> str:
    """``auto`` is cuda when a GPU is visible, else cpu; a device that is not here is refused."""
    check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {device} asked for, but torch sees no GPU; use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("--device mps asked for, but torch sees no MPS; use --device cpu")
    return device
