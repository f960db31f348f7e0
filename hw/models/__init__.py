"""``hw.models``: built-in network artifacts (``hw.ir`` files) shipped with the package.

``digits.npz`` is the default digits net: ``SpikingNet(64, 128, 10)``
(64-128-128-10, LIF, T=25, direct encoding) trained on scikit-learn digits and exported
with ``sw.export.to_ir``.  Its metadata records the float validation accuracy and
the recipe; ``python -m sw.export.make_default`` regenerates it.  ``digits-small.npz``
(64-32-10, same recipe; ``--model digits-small``) is the built-in model of boards whose
block RAM cannot hold the default's weights (``boards.Board.default_model``), and
``digits-tiny.npz`` (64 -> 10 IF neurons, rate-encoded on chip; ``--model digits-tiny``) that
of the iCEstick, whose LCs hold no larger engine.
"""

from __future__ import annotations

from pathlib import Path

from hw.ir import Network

__all__ = ["BUILTIN", "default_model_path", "load_default_model", "MODELS_DIR"]

MODELS_DIR = Path(__file__).resolve().parent
"""Folder holding the built-in artifacts."""


BUILTIN: tuple[str, ...] = ("digits", "digits-small", "digits-tiny")
"""Names of the built-in models (``hw/models/NAME.npz``)."""


def default_model_path(name: str = "digits") -> Path:
    """Path of the built-in network ``name`` (default ``hw/models/digits.npz``)."""
    if name not in BUILTIN:
        raise ValueError(f"unknown built-in model {name!r}; known: {', '.join(BUILTIN)}")
    path = MODELS_DIR / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate it with "
                                f"`python -m sw.export.make_default --model {name}`")
    return path


def load_default_model(name: str = "digits") -> Network:
    """The built-in network ``name`` (default: the digits net), loaded and validated."""
    return Network.load(default_model_path(name))
