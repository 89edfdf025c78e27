"""Sample-quality metrics: FID/KID on classifier or Inception features, mode coverage, AUROC."""

from lossevo.fitness.metrics.auroc import auroc
from lossevo.fitness.metrics.classifier import (
    CODE_VERSION,
    DigitClassifier,
    classifier_features,
    classifier_predict,
    dataset_fingerprint,
    get_classifier,
    train_classifier,
)
from lossevo.fitness.metrics.coverage import mode_coverage
from lossevo.fitness.metrics.errors import MetricError
from lossevo.fitness.metrics.frechet import feature_stats, frechet_distance, kid
from lossevo.fitness.metrics.inception import (
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
