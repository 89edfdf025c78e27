"""Mode coverage of labelled data: which classes a generator produces, and how far its class
histogram is from the data's (a collapsed GAN covers few classes and has a large KL)."""

from __future__ import annotations

import numpy as np

from lossevo.fitness.metrics.errors import MetricError


def _histogram(labels: np.ndarray, num_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0:
        raise MetricError(f"{name} must be a non-empty 1-D array; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise MetricError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= num_classes:
        raise MetricError(
            f"{name} must lie in [0, {num_classes}); got range [{arr.min()}, {arr.max()}]"
        )
    return np.bincount(arr, minlength=num_classes).astype(np.int64)


def mode_coverage(
    pred_labels_fake: np.ndarray,
    labels_real: np.ndarray,
    num_classes: int,
    *,
    min_relative_share: float = 0.1,
    smoothing: float = 0.5,
) -> dict:
    """Class coverage of generated samples, judged by a classifier's predicted labels.

    A class counts as covered when its share among the fake samples is at least
    ``min_relative_share`` times its share in the real data (default 0.1: for balanced 10-class
    MNIST, >= 1% of fake samples), so rare classes of imbalanced data can still be covered.
    Classes absent from the real data are not counted. "kl_to_data" is KL(fake || real) in nats
    over class histograms, both smoothed with ``smoothing`` pseudo-counts per class so it stays
    finite; it is 0 for identical histograms and about log(num_classes) for total collapse.

    Returns {"classes_covered", "classes_in_data", "covered" (bool per class), "kl_to_data",
    "histogram" (fake class shares), "real_histogram", "counts" (fake counts), "num_samples"},
    with plain Python values so the dict serialises to JSON.
    """
    if num_classes < 1:
        raise MetricError(f"num_classes must be >= 1; got {num_classes}")
    if smoothing <= 0:
        raise MetricError(f"smoothing must be > 0 to keep the KL finite; got {smoothing}")
    counts_fake = _histogram(pred_labels_fake, num_classes, "pred_labels_fake")
    counts_real = _histogram(labels_real, num_classes, "labels_real")
    share_fake = counts_fake / counts_fake.sum()
    share_real = counts_real / counts_real.sum()

    present = counts_real > 0
    threshold = min_relative_share * share_real * (1 - 1e-9)  # so 10/1000 counts as 1%
    covered = present & (counts_fake > 0) & (share_fake >= threshold)

    p = (counts_fake + smoothing) / (counts_fake.sum() + smoothing * num_classes)
    q = (counts_real + smoothing) / (counts_real.sum() + smoothing * num_classes)
    kl = float(np.sum(p * np.log(p / q)))

    return {
        "classes_covered": int(covered.sum()),
        "classes_in_data": int(present.sum()),
        "covered": covered.tolist(),
        "kl_to_data": kl,
        "histogram": share_fake.tolist(),
        "real_histogram": share_real.tolist(),
        "counts": counts_fake.tolist(),
        "num_samples": int(counts_fake.sum()),
    }
