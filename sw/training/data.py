"""Data sets that need no download: scikit-learn digits, and MNIST from local IDX files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def load_digits_data() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's 8x8 digits scaled to [0, 1].

    Returns ``(X_train, X_test, y_train, y_test)`` from
    ``train_test_split(test_size=0.2, random_state=42)``: X float32 ``(n, 64)``,
    y int64.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=42)
    return X_tr, X_te, y_tr, y_te


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally ``.gz``) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = raw[header:]
    if len(body) != expected:
        raise ValueError(f"{path}: IDX body has {len(body)} bytes, dims {dims} need {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{directory}: missing {stem} (or {stem}.gz); an MNIST directory "
                            f"holds {', '.join(MNIST_FILES.values())}")


def load_mnist_idx(directory: str | Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Read MNIST (or any data set in the same four-IDX-file layout) from ``directory``.

    Returns ``(X_train, X_test, y_train, y_test)``: X float32 ``(n, 1, 28, 28)``
    scaled to [0, 1], y int64.  Nothing is downloaded.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    arrays = {k: read_idx(_find(directory, v)) for k, v in MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        img, lab = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if img.ndim != 3 or lab.ndim != 1 or img.shape[0] != lab.shape[0]:
            raise ValueError(f"{split}: images {img.shape} and labels {lab.shape} do not match "
                             "(need (n, h, w) and (n,))")
        scale = 255.0 if img.dtype == np.uint8 else 1.0
        out.append((torch.tensor(img[:, None], dtype=torch.float32) / scale,
                    torch.tensor(lab, dtype=torch.long)))
    (X_tr, y_tr), (X_te, y_te) = out
    return X_tr, X_te, y_tr, y_te


def make_loaders(X_train: Tensor, X_test: Tensor, y_train: Tensor, y_test: Tensor,
                 batch_size: int = 64, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """Shuffled train loader (a ``DistributedSampler`` under DDP) and ordered test loader."""
    from sw.training.distributed import is_distributed

    train_ds = TensorDataset(X_train, y_train)
    g = torch.Generator().manual_seed(seed)
    if is_distributed():
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(train_ds, shuffle=True, seed=seed)
        train = DataLoader(train_ds, batch_size=batch_size, sampler=sampler)
    else:
        train = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=g)
    test = DataLoader(TensorDataset(X_test, y_test), batch_size=max(batch_size, 256))
    return train, test
