"""Checkpoints: class name + constructor config + state_dict (+ free extras).

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``,
so loading never unpickles arbitrary objects.  Writes are atomic (temporary
file then rename): an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sw.training.distributed import unwrap

FORMAT = "snn-ice40-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, corrupt, or does not match its model."""


def _models() -> dict[str, type[nn.Module]]:
    from sw.training.networks import MODELS
    return MODELS


def save_checkpoint(model: nn.Module, path: str | Path, **extra: Any) -> Path:
    """Save ``model`` (a registered class with a ``config``) to ``path``.

    ``extra`` holds plain data (numbers, strings, lists, dicts, tensors), e.g.
    ``epoch=3, val_acc=0.97``; ``load_checkpoint`` puts it in ``model.checkpoint_extra``.
    """
    model = unwrap(model)
    name = type(model).__name__
    if name not in _models():
        raise CheckpointError(f"cannot checkpoint {name}: known model classes are "
                              f"{', '.join(sorted(_models()))}")
    config = dict(model.config)
    if "surrogate_fn" in config and config["surrogate_fn"] is None:
        raise CheckpointError(f"{name} uses a surrogate that is not a registered Surrogate; "
                              "build it with sw.training.make_surrogate(..., name=...)")
    payload = {"format": FORMAT, "version": VERSION, "class": name, "config": config,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "extra": extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _load_failure(exc: Exception) -> str:
    """Our one-line reason for a failed ``torch.load`` (torch's own text suggests unsafe loading)."""
    text = str(exc)
    if "weights_only" in text or "Weights only" in text:
        return "it holds pickled Python objects, which a checkpoint never does; refused"
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate the raw checkpoint dict (format, version, class, config, state_dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a readable checkpoint (not a torch zip archive)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, forbidden pickle global...
        raise CheckpointError(f"{path} is not a readable checkpoint ({_load_failure(exc)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file (missing 'format' marker)")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise CheckpointError(f"{path}: format version {data.get('version')!r} is newer than "
                              f"this code understands ({VERSION})")
    for key, typ in (("class", str), ("config", dict), ("state_dict", dict)):
        if not isinstance(data.get(key), typ):
            raise CheckpointError(f"{path}: field '{key}' missing or not a {typ.__name__}")
    return data


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model saved by ``save_checkpoint``.

    The extras are attached as ``model.checkpoint_extra``.  Raises
    ``CheckpointError`` (a ``ValueError``) naming what is wrong for an
    unknown class, a config the constructor rejects, or missing / unexpected /
    wrongly shaped tensors.
    """
    data = read_checkpoint(path)
    cls = _models().get(data["class"])
    if cls is None:
        raise CheckpointError(f"{path}: unknown model class {data['class']!r}; known: "
                              f"{', '.join(sorted(_models()))}")
    try:
        model = cls(**data["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: config does not fit {data['class']}: {exc}") from exc
    state = data["state_dict"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: state_dict does not match {data['class']}"
                              f"{' — missing ' + ', '.join(missing) if missing else ''}"
                              f"{' — unexpected ' + ', '.join(unexpected) if unexpected else ''}")
    for k, v in state.items():
        if not torch.is_tensor(v) or v.shape != own[k].shape:
            got = tuple(v.shape) if torch.is_tensor(v) else type(v).__name__
            raise CheckpointError(f"{path}: tensor {k!r} has shape {got}, "
                                  f"model expects {tuple(own[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k!r} contains NaN or inf")
    model.load_state_dict(state)
    model.checkpoint_extra = data.get("extra", {})
    return model.to(map_location)
