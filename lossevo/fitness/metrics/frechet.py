"""Fréchet distance (FID) and kernel distance (KID) between two sets of feature vectors.

Both follow the reference implementations (pytorch-fid for FID, Binkowski et al. / torch-fidelity
for KID) so the numbers are comparable with published ones given the same feature extractor.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from lossevo.fitness.metrics.errors import MetricError


def _as_features(features: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise MetricError(f"{name} must be a 2-D array (N, D); got shape {x.shape}")
    if x.shape[0] < 2:
        raise MetricError(f"{name} needs at least 2 samples; got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise MetricError(f"{name} contains NaN or infinite values")
    return x


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), both float64."""
    x = _as_features(features, "features")
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    return mu, np.atleast_2d(sigma)


def _sqrtm(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # scipy warns on singular input; singular products are handled by the caller.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return linalg.sqrtm(a)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), as pytorch-fid computes it.

    If the matrix square root of the product is not finite (near-singular covariances, e.g. a
    collapsed generator), ``eps`` is added to both diagonals and it is retried. Small imaginary
    parts from numerical error are dropped; large ones raise :class:`MetricError`.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise MetricError(f"mean vectors differ in shape: {mu1.shape} vs {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise MetricError(f"covariances must be ({d}, {d}); got {sigma1.shape} and {sigma2.shape}")
    for name, arr in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.isfinite(arr).all():
            raise MetricError(f"{name} contains NaN or infinite values")

    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise MetricError("matrix square root of the covariance product is not finite")
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = np.max(np.abs(covmean.imag))
            raise MetricError(f"matrix square root has a large imaginary component ({m:.3g})")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 for sample sizes m = len(X) and n = len(Y), which may differ."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float(sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * k_xy.sum() / (m * n))


def kid(
    features_real: np.ndarray,
    features_fake: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: float = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std over subsets of the unbiased MMD^2.

    The kernel is ``k(x, y) = (gamma * x.y + coef0) ** degree`` with ``gamma = 1 / D`` by default.
    Subsets are drawn without replacement exactly as torch-fidelity draws them
    (``RandomState(seed)``, real then fake per subset), so with equal settings the two agree.
    A side with at most ``subset_size`` samples is used whole in every subset; if both are, there
    is one subset of all samples and the std is 0.
    """
    x = _as_features(features_real, "features_real")
    y = _as_features(features_fake, "features_fake")
    if x.shape[1] != y.shape[1]:
        raise MetricError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise MetricError(f"need subsets >= 1 and subset_size >= 2; got {subsets}, {subset_size}")
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        base = a @ b.T * g + coef0
        if isinstance(degree, int | np.integer) and degree >= 1:
            out = base.copy()  # repeated products: ~15x faster than float pow for degree 3
            for _ in range(int(degree) - 1):
                out *= base
            return out
        return base**degree

    n_x, n_y = x.shape[0], y.shape[0]
    m_x, m_y = min(n_x, subset_size), min(n_y, subset_size)
    if n_x <= subset_size and n_y <= subset_size:
        subsets = 1
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        xs = x[rng.choice(n_x, m_x, replace=False)]
        ys = y[rng.choice(n_y, m_y, replace=False)]
        mmds[i] = _mmd2_unbiased(kernel(xs, xs), kernel(ys, ys), kernel(xs, ys))
    return float(mmds.mean()), float(mmds.std())
