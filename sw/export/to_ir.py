"""``sw.export.to_ir``: a trained torch model -> ``hw.ir.Network``.

Supported models (duck-typed, so any model built the same way works):

* ``SpikingNet``-like: ``fcs`` (``nn.Linear`` list) and ``lifs`` (cells, one per
  linear) -> one ``Dense`` layer per pair, named after the linear (``fcs.0``, ...).
  A ``RecurrentLIFCell`` contributes its ``recurrent.weight`` as the layer's
  recurrent weights.
* ``ConvSpikingNet``-like: ``convs`` (``nn.Conv2d`` list), ``fc`` and ``lifs``
  (len(convs) + 1 cells) -> ``Conv2d`` layers with ``pool`` = the model's
  ``pool`` attribute (default 2: ``max_pool2d(2)`` of the current, as
  ``ConvSpikingNet`` does), then a ``Dense`` layer.

Each population's neuron is copied from its cell: ``cell.EQUATIONS`` (the
equation text, states, inputs, kind) and ``cell.equation_params()`` (current,
possibly learned, parameter values).  Weights keep their dtype (float32).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hw.ir import ENCODINGS, Conv2d, Dense, Layer, Network, Neuron

__all__ = ["to_ir", "neuron_from_cell"]


def _array(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def neuron_from_cell(cell: Any, where: str = "cell") -> Neuron:
    """The ``hw.ir.Neuron`` of a ``sw.training`` cell (its equations and current parameters)."""
    eq = getattr(cell, "EQUATIONS", None)
    if eq is None or not callable(getattr(cell, "equation_params", None)):
        raise TypeError(f"{where}: {type(cell).__name__} is not a sw.training spiking cell "
                        "(needs EQUATIONS and equation_params())")
    return Neuron(kind=eq.kind, equations=eq.text, states=tuple(eq.states), inputs=tuple(eq.inputs),
                  params={k: float(v) for k, v in cell.equation_params().items()})


def _recurrent(cell: Any) -> np.ndarray | None:
    rec = getattr(cell, "recurrent", None)
    return None if rec is None else _array(rec.weight)


def _linear(fc: Any, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    if not (hasattr(fc, "weight") and getattr(fc.weight, "dim", lambda: 0)() == 2):
        raise TypeError(f"{where}: expected an nn.Linear, got {type(fc).__name__}")
    return _array(fc.weight), None if fc.bias is None else _array(fc.bias)


def _conv(conv: Any, where: str) -> tuple[np.ndarray, np.ndarray | None, int, int]:
    """Weights, bias, stride, padding of an ``nn.Conv2d``; refuses what ``hw.ir.Conv2d`` cannot say."""
    w = getattr(conv, "weight", None)
    if w is None or w.dim() != 4:
        raise TypeError(f"{where}: expected an nn.Conv2d, got {type(conv).__name__}")
    stride, padding = tuple(conv.stride), conv.padding
    if isinstance(padding, str):
        raise ValueError(f"{where}: padding={padding!r} is not supported; use an int")
    padding = tuple(padding)
    if (conv.groups != 1 or tuple(conv.dilation) != (1, 1) or stride[0] != stride[1]
            or padding[0] != padding[1] or getattr(conv, "padding_mode", "zeros") != "zeros"):
        raise ValueError(f"{where}: only square stride/padding, zero padding, groups=1 and "
                         f"dilation=1 are supported (got stride={stride}, padding={padding}, "
                         f"groups={conv.groups}, dilation={tuple(conv.dilation)})")
    return _array(w), None if conv.bias is None else _array(conv.bias), int(stride[0]), int(padding[0])


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _json_safe(v) for k, v in value.items()}
        return repr(value)


def _input_shape_for_conv(model: Any) -> tuple[int, int, int]:
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if len(shape) != 3:
            raise ValueError(f"model.input_shape must be (c, h, w) for a conv model, got {shape}")
        return shape  # type: ignore[return-value]
    raise ValueError("cannot tell the conv model's input size: give input_shape=(c, h, w)")


def _dense_layers(model: Any) -> tuple[list[Layer], tuple[int, ...]]:
    fcs, lifs = list(model.fcs), list(model.lifs)
    if len(fcs) != len(lifs) or not fcs:
        raise ValueError(f"model has {len(fcs)} linear layers and {len(lifs)} cells; need one cell per layer")
    layers: list[Layer] = []
    for i, (fc, cell) in enumerate(zip(fcs, lifs)):
        w, b = _linear(fc, f"fcs.{i}")
        layers.append(Dense(name=f"fcs.{i}", weight=w, bias=b,
                            neuron=neuron_from_cell(cell, f"lifs.{i}"), recurrent_weight=_recurrent(cell)))
    return layers, (int(fcs[0].weight.shape[1]),)


def _conv_layers(model: Any, input_shape: tuple[int, ...] | None) -> tuple[list[Layer], tuple[int, ...]]:
    convs, lifs = list(model.convs), list(model.lifs)
    if len(lifs) != len(convs) + 1:
        raise ValueError(f"model has {len(convs)} convs + fc and {len(lifs)} cells; need {len(convs) + 1}")
    pool = int(getattr(model, "pool", 2))
    shape = tuple(input_shape) if input_shape is not None else _input_shape_for_conv(model)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (c, h, w) for a conv model, got {shape}")
    layers: list[Layer] = []
    in_shape = tuple(int(d) for d in shape)
    for i, (conv, cell) in enumerate(zip(convs, lifs)):
        w, b, stride, padding = _conv(conv, f"convs.{i}")
        layer = Conv2d(name=f"convs.{i}", weight=w, bias=b, neuron=neuron_from_cell(cell, f"lifs.{i}"),
                       in_shape=in_shape, stride=stride, padding=padding, pool=pool)  # type: ignore[arg-type]
        layers.append(layer)
        in_shape = layer.out_shape
    w, b = _linear(model.fc, "fc")
    layers.append(Dense(name="fc", weight=w, bias=b, neuron=neuron_from_cell(lifs[-1], f"lifs.{len(convs)}"),
                        recurrent_weight=_recurrent(lifs[-1])))
    return layers, tuple(int(d) for d in shape)


def to_ir(model: Any, *, timesteps: int = 25, encoding: str = "direct", name: str | None = None,
          input_shape: tuple[int, ...] | None = None, metadata: dict[str, Any] | None = None) -> Network:
    """Convert a trained ``SpikingNet``/``ConvSpikingNet`` (or a model built like them) to ``hw.ir``.

    Parameters:
        model: the torch model (left unchanged).
        timesteps: steps per sample in the hardware.
        encoding: ``"direct"`` (the input presented every step, as ``train_epoch``
            does), ``"rate"`` or ``"latency"`` (the input is a spike train).
        name: network name (default: the model's class name).
        input_shape: conv models only, when the model has no ``input_shape``.
        metadata: extra JSON data merged into the network's metadata.

    Returns a validated ``hw.ir.Network``; raises ``TypeError``/``ValueError`` for a model
    it cannot describe and ``hw.ir.IRError`` for values the IR refuses (e.g. NaN weights).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    while hasattr(model, "module") and not hasattr(model, "lifs"):  # DataParallel / DDP wrapper
        model = model.module
    if hasattr(model, "convs") and hasattr(model, "fc") and hasattr(model, "lifs"):
        layers, shape = _conv_layers(model, input_shape)
    elif hasattr(model, "fcs") and hasattr(model, "lifs"):
        layers, shape = _dense_layers(model)
    else:
        raise TypeError(f"to_ir supports SpikingNet-like (fcs + lifs) and ConvSpikingNet-like "
                        f"(convs + fc + lifs) models, got {type(model).__name__}")
    meta: dict[str, Any] = {"source": type(model).__name__}
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        meta["config"] = _json_safe(config)
    meta.update(_json_safe(metadata or {}))
    net = Network(layers=layers, input_shape=shape, timesteps=timesteps, encoding=encoding,
                  name=name if name is not None else type(model).__name__, metadata=meta)
    return net.validate()
