"""A small CNN digit classifier whose penultimate features give a domain FID ("classifier FID").

The FID authors recommend a domain classifier's features instead of Inception's for MNIST-like
data. The classifier is trained once per dataset, deterministically, and cached on disk as plain
arrays (``np.savez``) plus a JSON sidecar, never as a pickle.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lossevo.fitness.metrics.cache import atomic_savez, cache_root, load_npz, safe_key
from lossevo.fitness.metrics.errors import MetricError
from lossevo.util.files import write_json
from lossevo.util.hashing import tensors_digest

#: Bump whenever the architecture, preprocessing or training procedure changes: it is part of
#: the cache key, so stale classifiers are retrained instead of silently reused.
CODE_VERSION = 1
#: Fraction of the data held out (deterministically) to measure accuracy.
HOLDOUT_FRACTION = 0.2
FEATURE_DIM = 128


class DigitClassifier(nn.Module):
    """Two conv/batch-norm/max-pool blocks and two linear layers (a LeNet-style classifier).

    Inputs are images in [-1, 1], shape (N, C, H, W); other sizes than 28x28 are resized to 28x28
    (bilinear, antialiased) first, so the same network serves any small image size.
    """

    SIZE = 28

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, 128), the features used for the classifier FID."""
        if tuple(x.shape[-2:]) != (self.SIZE, self.SIZE):
            x = F.interpolate(
                x, size=(self.SIZE, self.SIZE), mode="bilinear", align_corners=False, antialias=True
            )
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return F.relu(self.fc1(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes)."""
        return self.fc2(self.features(x))


def dataset_fingerprint(images: torch.Tensor, labels: torch.Tensor | None = None) -> str:
    """A short sha256 of the tensors' shapes and bytes, usable as ``dataset_key``."""
    return tensors_digest(images, labels)


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels while training; global settings are restored afterwards.

    On CPU training runs single-threaded: the result then does not depend on the core count (so
    a cached classifier is reproducible anywhere), and on a busy 2-core machine one thread was
    about 3x faster than two in our measurements.
    """
    prev_alg = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_alg, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        if device.type == "cpu":
            torch.set_num_threads(prev_threads)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random affine jitter (rotation +-10 deg, scale +-10%, shift +-2 px at 28x28) per image."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / 14)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _check_data(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not torch.is_tensor(images) or images.dim() != 4:
        shape = getattr(images, "shape", None)
        raise MetricError(f"images must be a tensor (N, C, H, W); got {shape}")
    if min(images.shape[2:]) < 4:
        raise MetricError(f"images must be at least 4x4; got {tuple(images.shape[2:])}")
    if not torch.is_tensor(labels) or labels.shape != (images.shape[0],):
        raise MetricError(f"labels must be a tensor ({images.shape[0]},); got {labels.shape}")
    if labels.dtype.is_floating_point or labels.numel() == 0 or int(labels.min()) < 0:
        raise MetricError("labels must be non-negative integers")
    if images.shape[0] < 10:
        raise MetricError(f"need at least 10 labelled images to train; got {images.shape[0]}")


def _split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic (train, held-out) index split; the held-out part is 20% of the data."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919))
    n_val = max(1, round(HOLDOUT_FRACTION * n))
    return perm[n_val:], perm[:n_val]


@torch.no_grad()
def _accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / x.shape[0]


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    device: str | torch.device = "cpu",
    epochs: int = 6,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
) -> tuple[DigitClassifier, float]:
    """Train a fresh classifier on 80% of the data; return it (eval mode) and held-out accuracy."""
    _check_data(images, labels)
    device = torch.device(device)
    num_classes = int(labels.max()) + 1
    x = images.detach().to(device=device, dtype=torch.float32)
    y = labels.detach().to(device=device, dtype=torch.int64)
    train_idx, val_idx = _split(x.shape[0], seed)
    x_tr, y_tr = x[train_idx.to(device)], y[train_idx.to(device)]
    x_val, y_val = x[val_idx.to(device)], y[val_idx.to(device)]

    with _deterministic(device), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier(x.shape[1], num_classes).to(device)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * ((x_tr.shape[0] + batch_size - 1) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
        model.train()
        for _ in range(epochs):
            order = torch.randperm(x_tr.shape[0], generator=gen).to(device)
            for i in range(0, x_tr.shape[0], batch_size):
                idx = order[i : i + batch_size]
                xb = _augment(x_tr[idx], gen)
                # Cross-entropy via one-hot: F.nll_loss has no deterministic CUDA kernel.
                logp = F.log_softmax(model(xb), dim=1)
                loss = -(logp * F.one_hot(y_tr[idx], num_classes)).sum(1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        acc = _accuracy(model, x_val, y_val, 512)
    model.eval().requires_grad_(False)
    return model, acc


def _cache_paths(cache_dir: str | Path | None, dataset_key: str, epochs: int, seed: int):
    stem = f"{safe_key(dataset_key)}-v{CODE_VERSION}-e{epochs}-s{seed}"
    folder = cache_root(cache_dir) / "classifiers"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _load_cached(weights: Path, meta_path: Path, device: torch.device):
    if not (weights.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("code_version") != CODE_VERSION:
            return None
        model = DigitClassifier(int(meta["in_channels"]), int(meta["num_classes"]))
        arrays = load_npz(weights)
        state = model.state_dict()
        if set(arrays) != set(state) or any(arrays[k].shape != state[k].shape for k in state):
            raise ValueError("parameter names or shapes differ")
        model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    except (OSError, ValueError, KeyError, TypeError) as err:
        warnings.warn(f"ignoring unreadable cached classifier {weights}: {err}", stacklevel=3)
        return None
    return model.to(device).eval().requires_grad_(False), meta


def get_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    dataset_key: str,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    epochs: int = 6,
    seed: int = 0,
) -> tuple[DigitClassifier, dict]:
    """The classifier for this dataset: loaded from the cache, else trained and cached.

    ``images`` (N, C, H, W) in [-1, 1] and integer ``labels`` (N,) are only used on a cache miss.
    The cache key is ``dataset_key`` (a hash of the data, supplied by the caller), CODE_VERSION,
    ``epochs`` and ``seed``; files go to ``<cache root>/classifiers/``. Returns the model (eval
    mode, on ``device``) and {"accuracy", "dataset_key", "code_version", "train_seconds",
    "num_classes", "cached", ...}, where accuracy is on the deterministic 20% held-out split.
    """
    device = torch.device(device)
    weights, meta_path = _cache_paths(cache_dir, dataset_key, epochs, seed)
    loaded = _load_cached(weights, meta_path, device)
    if loaded is not None:
        model, meta = loaded
        return model, {**meta, "cached": True}

    start = time.perf_counter()
    model, acc = train_classifier(images, labels, device=device, epochs=epochs, seed=seed)
    meta = {
        "accuracy": acc,
        "dataset_key": dataset_key,
        "code_version": CODE_VERSION,
        "train_seconds": time.perf_counter() - start,
        "num_classes": model.num_classes,
        "in_channels": model.in_channels,
        "epochs": epochs,
        "seed": seed,
        "num_images": int(images.shape[0]),
        "image_size": list(images.shape[2:]),
        "device": str(device),
        "torch_version": torch.__version__,
    }
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    atomic_savez(weights, arrays)  # weights first: a sidecar on disk implies complete weights
    write_json(meta_path, meta)
    return model, {**meta, "cached": False}


@torch.no_grad()
def _run(classifier: DigitClassifier, images: torch.Tensor, batch_size: int, device, fn, empty):
    """Apply ``fn`` batch-wise in eval mode; the classifier is moved to ``device`` if given."""
    if not torch.is_tensor(images) or images.dim() != 4:
        shape = getattr(images, "shape", None)
        raise MetricError(f"images must be a tensor (N, C, H, W); got {shape}")
    device = torch.device(device) if device is not None else next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    classifier.to(device)
    outs = [torch.from_numpy(empty)]
    try:
        for i in range(0, images.shape[0], batch_size):
            batch = images[i : i + batch_size].to(device=device, dtype=torch.float32)
            outs.append(fn(batch).cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(outs).numpy()


def classifier_features(
    classifier: DigitClassifier,
    images: torch.Tensor,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Penultimate features (N, 128) float32 of ``images`` (N, C, H, W) in [-1, 1].

    ``device`` defaults to wherever the classifier already is (if given, the classifier is moved
    there).
    """
    empty = np.zeros((0, FEATURE_DIM), dtype=np.float32)
    return _run(classifier, images, batch_size, device, classifier.features, empty)


def classifier_predict(
    classifier: DigitClassifier,
    images: torch.Tensor,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Predicted class labels (N,) int64, e.g. for
    :func:`~lossevo.fitness.metrics.mode_coverage`."""
    empty = np.zeros((0,), dtype=np.int64)
    return _run(classifier, images, batch_size, device, lambda b: classifier(b).argmax(1), empty)
