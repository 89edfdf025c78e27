"""Shared fixtures."""

from pathlib import Path

import pytest
import torch

from lossevo.fitness.metrics.cache import cache_root


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for the module: on a busy 2-core machine two threads thrash (4x
    slower measured), and one thread makes timings and results independent of the core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def classifier_cache() -> str:
    """The cache a user's runs share ($LOSSEVO_CACHE, else ~/.cache/lossevo): each data set's
    classifier is trained once per machine, not once per test module. Tests of the cache
    itself (tests/test_metrics.py) use their own folders."""
    root = Path(cache_root())
    root.mkdir(parents=True, exist_ok=True)
    return str(root)
