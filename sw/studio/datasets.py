"""Datasets the Train tab offers: synthetic, digits (scikit-learn), MNIST (local IDX files).

Every loader returns features in [0, 1] as float32 ``(n, n_input)`` and int64
labels.  MNIST is read only from a local folder; when its files are missing
the job trains on synthetic data and says so (``DatasetBundle.note``), as seed
001 describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("synthetic", "digits", "mnist")


@dataclass
class DatasetBundle:
    """Train/validation arrays plus what was actually loaded."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int
    note: str | None = None

    @property
    def n_input(self) -> int:
        return int(self.x_train.shape[1])


def synthetic(seed: int = 0, n_train: int = 512, n_val: int = 128, n_input: int = 64,
              n_classes: int = 10, noise: float = 0.15) -> DatasetBundle:
    """Noisy copies of one random binary prototype per class: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((n_classes, n_input)) < 0.3).astype(np.float32)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, n_classes, n)
        x = prototypes[y] * 0.8 + rng.normal(0.0, noise, (n, n_input)).astype(np.float32)
        return np.clip(x, 0.0, 1.0).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_va, y_va = draw(n_val)
    return DatasetBundle("synthetic", x_tr, y_tr, x_va, y_va, n_classes)


def digits() -> DatasetBundle:
    """scikit-learn's 8x8 digits scaled to [0, 1] (``sw.training.load_digits_data`` split)."""
    from sw.training import load_digits_data

    x_tr, x_va, y_tr, y_va = load_digits_data()
    return DatasetBundle("digits", x_tr.numpy(), y_tr.numpy(), x_va.numpy(), y_va.numpy(), 10)


def _names(stem: str) -> tuple[str, ...]:
    dotted = stem.replace("-idx", ".idx")
    return (stem, stem + ".gz", dotted, dotted + ".gz")


def mnist_missing(directory: Path | None) -> str | None:
    """Why MNIST cannot be loaded from ``directory``, or None when all four files are there."""
    from sw.training.data import MNIST_FILES

    if directory is None:
        return "no MNIST folder configured (set SNN_STUDIO_MNIST_DIR or --mnist-dir)"
    directory = Path(directory)
    missing = [stem for stem in MNIST_FILES.values()
               if not any((directory / name).is_file() for name in _names(stem))]
    if missing:
        return f"MNIST files missing in {directory}: {', '.join(missing)}"
    return None


def mnist(directory: Path) -> DatasetBundle:
    """MNIST from the four IDX files in ``directory``, flattened to 784 features."""
    from sw.training import load_mnist_idx

    x_tr, x_va, y_tr, y_va = load_mnist_idx(directory)
    return DatasetBundle("mnist", x_tr.flatten(1).numpy(), y_tr.numpy(),
                         x_va.flatten(1).numpy(), y_va.numpy(), 10)


def availability(mnist_dir: Path | None) -> list[dict[str, object]]:
    """Each dataset with whether it loads here and, if not, what happens instead."""
    why = mnist_missing(mnist_dir)
    return [{"name": "synthetic", "available": True, "note": None},
            {"name": "digits", "available": True, "note": None},
            {"name": "mnist", "available": why is None,
             "note": None if why is None else f"{why}; synthetic data is used instead"}]


def load_dataset(name: str, mnist_dir: Path | None = None, seed: int = 0) -> DatasetBundle:
    """The dataset called ``name``; MNIST without files falls back to synthetic with a note."""
    if name == "synthetic":
        return synthetic(seed)
    if name == "digits":
        return digits()
    if name == "mnist":
        why = mnist_missing(mnist_dir)
        if why is None:
            return mnist(Path(mnist_dir))  # type: ignore[arg-type]
        bundle = synthetic(seed)
        bundle.note = f"{why}; training on synthetic data instead"
        return bundle
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
