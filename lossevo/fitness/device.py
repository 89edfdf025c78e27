"""Which torch device a task runs on: ``auto`` resolves to a GPU only when torch sees one."""

from __future__ import annotations

import torch

from lossevo.util.errors import LossevoError


class DeviceError(LossevoError):
    """A device was asked for that this machine does not have."""


def resolve_device(device: str) -> str:
    """``auto`` is cuda when a GPU is visible, else cpu; cuda without a GPU is refused."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {device} asked for, but torch sees no GPU; use --device cpu")
    return device
