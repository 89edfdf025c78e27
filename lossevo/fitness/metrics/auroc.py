"""Area under the ROC curve via the Mann-Whitney rank-sum statistic (ties count one half), for
anomaly-detection scores where higher means more anomalous."""

from __future__ import annotations

import numpy as np

from lossevo.fitness.metrics.errors import MetricError


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative) + 0.5 P(tie).

    ``labels`` are 1 for anomaly/positive and 0 for normal (bools are accepted). Equals
    ``sklearn.metrics.roc_auc_score(labels, scores)``.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise MetricError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if not np.isfinite(s).all():
        raise MetricError("auroc scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise MetricError("auroc labels must be 0 (normal) or 1 (anomaly)")
    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "1 (anomaly)" if n_pos else "0 (normal)"
        raise MetricError(f"auroc needs both classes; all {y.size} labels are {only}")
    # 1-based ranks, tied scores sharing the average of their ranks (scipy.stats.rankdata's
    # "average"; done in numpy because importing scipy.stats costs seconds).
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
