"""Sample-quality metrics: FID/KID on classifier or Inception features, mode coverage, AUROC."""

from lossevo.metrics.auroc import auroc
from lossevo.metrics.classifier import (
    CODE_VERSION,
    DigitClassifier,
    classifier_features,
    classifier_predict,
    dataset_fingerprint,
    get_classifier,
    train_classifier,
)
from lossevo.metrics.coverage import mode_coverage
from lossevo.metrics.errors import MetricError
from lossevo.metrics.frechet import feature_stats, frechet_distance, kid
from lossevo.metrics.inception import (
    InceptionFeatures,
    cached_real_stats,
    resolve_inception_weights,
)

__all__ = [
    "CODE_VERSION",
    "DigitClassifier",
    "InceptionFeatures",
    "MetricError",
    "auroc",
    "cached_real_stats",
    "classifier_features",
    "classifier_predict",
    "dataset_fingerprint",
    "feature_stats",
    "frechet_distance",
    "get_classifier",
    "kid",
    "mode_coverage",
    "resolve_inception_weights",
    "train_classifier",
]
