"""``hw.models``: built-in network artifacts (``hw.ir`` files) shipped with the package.

``digits.npz`` is the default digits net: ``SpikingNet(64, 128, 10)``
(64-128-128-10, LIF, T=25, direct encoding) trained on scikit-learn digits and exported
with ``sw.export.to_ir``.  Its metadata records the float validation accuracy and
the recipe; ``python -m sw.export.make_default`` regenerates it.
"""

from __future__ import annotations

from pathlib import Path

from hw.ir import Network

__all__ = ["default_model_path", "load_default_model", "MODELS_DIR"]

MODELS_DIR = Path(__file__).resolve().parent
"""Folder holding the built-in artifacts."""


def default_model_path() -> Path:
    """Path of the built-in digits network (``hw/models/digits.npz``)."""
    path = MODELS_DIR / "digits.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate it with `python -m sw.export.make_default`")
    return path


def load_default_model() -> Network:
    """The built-in digits network, loaded and validated."""
    return Network.load(default_model_path())
