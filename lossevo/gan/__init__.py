"""DCGAN models and the training loop every candidate loss is trained with."""

from lossevo.gan.models import Discriminator, Generator, ModelConfig, build_models
from lossevo.gan.train import TrainConfig, TrainResult, sample, train_gan

__all__ = ["Discriminator", "Generator", "ModelConfig", "TrainConfig", "TrainResult",
           "build_models", "sample", "train_gan"]
