"""Inception-v3 pool features (2048-d) for FID/KID on natural and medical images, via
torch-fidelity's TF-compatible port, from a LOCAL weights file (nothing is ever downloaded).

The file is the one torch-fidelity uses, ``weights-inception-2015-12-05-6726825d.pth``: a plain
PyTorch state dict (the same key layout as torchvision's Inception3 with 1008 classes). It is read
with ``torch.load(weights_only=True)``, so a file holding arbitrary pickled objects is rejected.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lossevo.fitness.metrics.cache import atomic_savez, cache_root, load_npz, safe_key
from lossevo.fitness.metrics.errors import MetricError
from lossevo.fitness.metrics.frechet import feature_stats
from lossevo.util.files import file_sha256

WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_FILENAME
)
#: Environment variable naming the weights file.
WEIGHTS_ENV = "LOSSEVO_INCEPTION_WEIGHTS"
#: sha256 prefix of the reference file (torch.hub's naming convention puts it in the file name).
REFERENCE_SHA256_PREFIX = "6726825d"
FEATURE_DIM = 2048


def default_weights_location() -> Path:
    """Where the weights are looked for when neither a path nor the env var is given."""
    return cache_root() / "weights" / WEIGHTS_FILENAME


def resolve_inception_weights(path: str | Path | None = None) -> Path:
    """The weights file: ``path``, else $LOSSEVO_INCEPTION_WEIGHTS, else the default location.

    A directory is taken to contain the file under its standard name. Raises :class:`MetricError`
    with a one-line hint when no file is found.
    """
    hint = (
        f"put {WEIGHTS_FILENAME} (from {WEIGHTS_URL}) at {default_weights_location()}, "
        f"or pass its path / set {WEIGHTS_ENV}"
    )
    candidate = path if path is not None else os.environ.get(WEIGHTS_ENV) or None
    p = Path(candidate).expanduser() if candidate is not None else default_weights_location()
    if p.is_dir():
        p = p / WEIGHTS_FILENAME
    if not p.is_file():
        raise MetricError(f"Inception-v3 FID weights not found at {p}: {hint}")
    return p


def _not_a_checkpoint(path: Path, why: str) -> MetricError:
    first = why.strip().splitlines()[0] if why.strip() else "unreadable"
    return MetricError(f"{path} is not an Inception-v3 FID checkpoint ({first[:200]})")


def _build_extractor(path: Path) -> torch.nn.Module:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or corrupt files
        raise _not_a_checkpoint(path, f"{type(err).__name__}: {err}") from err
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise _not_a_checkpoint(path, "expected a state dict of tensors")
    # torch-fidelity unpickles its path argument without weights_only; hand it our own
    # re-serialisation of the tensors just validated instead of the file itself.
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    del state
    try:
        return FeatureExtractorInceptionV3(
            "lossevo-inception-v3", ["2048"], feature_extractor_weights_path=buf
        )
    except RuntimeError as err:  # missing/unexpected keys or wrong shapes
        raise _not_a_checkpoint(path, str(err)) from err


def images_to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) floats in [-1, 1], C = 1 or 3 -> uint8 RGB 0..255 (gray repeated to 3)."""
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] not in (1, 3):
        shape = tuple(getattr(images, "shape", ()))
        raise MetricError(f"images must be a tensor (N, 1 or 3, H, W) in [-1, 1]; got {shape}")
    x = ((images.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class InceptionFeatures:
    """Callable turning images in [-1, 1] into Inception-v3 pool3 features (N, 2048) float32.

    ``fingerprint`` (sha256 prefix of the weights file) identifies the network in cache keys;
    ``is_reference`` says whether the file matches the published FID weights.
    """

    def __init__(
        self,
        weights_path: str | Path | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ):
        self.weights_path = resolve_inception_weights(weights_path)
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.net = _build_extractor(self.weights_path).to(self.device)
        self.sha256 = file_sha256(self.weights_path)
        self.fingerprint = self.sha256[:16]
        self.is_reference = self.sha256.startswith(REFERENCE_SHA256_PREFIX)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = images_to_uint8_rgb(images)
        out = [np.zeros((0, FEATURE_DIM), dtype=np.float32)]
        for i in range(0, x.shape[0], self.batch_size):
            batch = x[i : i + self.batch_size].contiguous().to(self.device)
            (feats,) = self.net(batch)
            out.append(feats.to(torch.float32).cpu().numpy())
        return np.concatenate(out)


def cached_real_stats(
    extractor: Callable[[torch.Tensor], np.ndarray],
    images: torch.Tensor,
    cache_key: str,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FID statistics (mu, sigma) of ``extractor(images)``, cached as .npz (no pickle).

    The file is ``<cache root>/fid_stats/<cache_key>-<extractor.fingerprint>.npz``, so stats from
    different weights never mix; ``cache_key`` must identify the image set (e.g. a data hash).
    """
    tag = safe_key(str(getattr(extractor, "fingerprint", "features")))
    path = cache_root(cache_dir) / "fid_stats" / f"{safe_key(cache_key)}-{tag}.npz"
    if path.is_file():
        try:
            arrays = load_npz(path)
            mu, sigma = arrays["mu"], arrays["sigma"]
            if mu.ndim == 1 and sigma.shape == (mu.size, mu.size):
                return mu, sigma
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: recompute and overwrite
    mu, sigma = feature_stats(extractor(images))
    atomic_savez(path, {"mu": mu, "sigma": sigma, "num_images": np.int64(images.shape[0])})
    return mu, sigma
