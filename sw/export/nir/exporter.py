"""``to_nir``: ``hw.ir.Network`` (or a ``sw.training`` model) -> ``nir.NIRGraph``.

The inverse of the importer's discretisation (``neurons.py``) with snnTorch's
conventions, so snnTorch's ``import_from_nir`` rebuilds the same cells:
``lif`` -> LIF(tau = dt/(1-beta), r = tau/dt, v_leak = 0), ``if`` -> IF(r = 1/dt),
``synaptic`` -> CubaLIF(tau_syn = dt/(1-alpha), w_in = tau_syn/dt,
tau_mem = dt/(1-beta), r = tau_mem/dt), ``recurrent_lif`` -> LIF with a
self-loop through a Linear node.  NIR cannot say "subtractive reset", so the
graph's metadata records ``reset`` (and ``dt``, ``timesteps``, ``encoding``),
which ``from_nir`` reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np

from hw.ir import Conv2d, Dense, Network

from .errors import NIRExportError

EXPORTABLE_KINDS = ("lif", "if", "synaptic", "recurrent_lif")
"""Neuron kinds with a NIR primitive."""


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, float(value), dtype=np.float32)


def _tau(layer: str, decay: float, what: str, dt: float) -> float:
    if not 0.0 <= decay < 1.0:
        raise NIRExportError(layer, f"{what} = {decay} has no NIR time constant (needs 0 <= {what} < 1)")
    return dt / (1.0 - decay)


def _neuron_node(name: str, kind: str, p: dict[str, float], shape: tuple[int, ...],
                 dt: float) -> nir.NIRNode:
    th = _full(shape, p["threshold"])
    zero = _full(shape, 0.0)
    if kind in ("lif", "recurrent_lif"):
        beta = p["beta"]
        if beta == 1.0:  # no leak: an integrate-and-fire neuron
            return nir.IF(r=_full(shape, 1.0 / dt), v_threshold=th, v_reset=zero)
        tau = _tau(name, beta, "beta", dt)
        return nir.LIF(tau=_full(shape, tau), r=_full(shape, tau / dt), v_leak=zero,
                       v_threshold=th, v_reset=zero)
    if kind == "if":
        return nir.IF(r=_full(shape, 1.0 / dt), v_threshold=th, v_reset=zero)
    if kind == "synaptic":
        tau_syn = _tau(name, p["alpha"], "alpha", dt)
        tau_mem = _tau(name, p["beta"], "beta", dt)
        return nir.CubaLIF(tau_syn=_full(shape, tau_syn), tau_mem=_full(shape, tau_mem),
                           r=_full(shape, tau_mem / dt), v_leak=zero, v_threshold=th,
                           v_reset=zero, w_in=_full(shape, tau_syn / dt))
    raise NIRExportError(name, f"neuron kind {kind!r} has no NIR primitive; exportable kinds: "
                               f"{', '.join(EXPORTABLE_KINDS)}")


def _as_network(model: Any, timesteps: int) -> Network:
    if isinstance(model, Network):
        return model.validate()
    from sw.export import to_ir  # lazy: pulls in torch models only when needed

    return to_ir(model, timesteps=timesteps)


def to_nir(model: Network | Any, *, dt: float = 1e-4, timesteps: int = 25,
           path: str | Path | None = None) -> nir.NIRGraph:
    """Describe a network as a NIR graph (and optionally write it to ``path``).

    Args:
        model: a ``hw.ir.Network`` or a ``sw.training`` model (``SpikingNet``,
            converted with ``sw.export.to_ir``).
        dt: time step in seconds used to express decays as time constants
            (``tau = dt / (1 - beta)``); 1e-4 is what snnTorch's importer assumes.
        timesteps: used only when ``model`` is a torch model.
        path: if given, the graph is also written there with ``nir.write``.

    Raises:
        NIRExportError: naming the layer NIR cannot describe (unsupported kind,
            max-pooled convolution, a decay outside [0, 1)).
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    net = _as_network(model, timesteps)
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(net.input_shape))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    shape: tuple[int, ...] = tuple(net.input_shape)

    def add(key: str, node: nir.NIRNode) -> str:
        nonlocal prev
        nodes[key] = node
        edges.append((prev, key))
        prev = key
        return key

    for i, layer in enumerate(net.layers):
        # node names without dots: snnTorch's importer splits names on "."
        base = f"l{i}_" + "".join(c if c.isalnum() else "_" for c in layer.name)
        kind = layer.neuron.kind
        if kind not in EXPORTABLE_KINDS:
            raise NIRExportError(layer.name, f"neuron kind {kind!r} has no NIR primitive; "
                                             f"exportable kinds: {', '.join(EXPORTABLE_KINDS)}")
        if isinstance(layer, Conv2d):
            if layer.pool != 1:
                raise NIRExportError(layer.name, f"max-pool {layer.pool} of the current has no "
                                                 "NIR primitive (NIR pools are sum/average)")
            if shape != tuple(layer.in_shape):
                raise NIRExportError(layer.name, f"receives shape {shape}, expects {layer.in_shape}")
            w = np.asarray(layer.weight, dtype=np.float32)
            bias = np.zeros(w.shape[0], np.float32) if layer.bias is None \
                else np.asarray(layer.bias, dtype=np.float32)
            add(f"{base}_conv", nir.Conv2d(input_shape=tuple(layer.in_shape[1:]), weight=w,
                                           stride=layer.stride, padding=layer.padding,
                                           dilation=1, groups=1, bias=bias))
            shape = tuple(int(d) for d in layer.out_shape)
        elif isinstance(layer, Dense):
            if len(shape) > 1:
                add(f"{base}_flatten", nir.Flatten(input_type={"input": np.array(shape)},
                                                   start_dim=0, end_dim=-1))
            w = np.asarray(layer.weight, dtype=np.float32)
            if layer.bias is None:
                add(f"{base}_fc", nir.Linear(weight=w))
            else:
                add(f"{base}_fc", nir.Affine(weight=w, bias=np.asarray(layer.bias, np.float32)))
            shape = (layer.n_out,)
        else:  # pragma: no cover - Network.validate admits only these two
            raise NIRExportError(layer.name, f"unknown layer type {type(layer).__name__}")
        pop = add(f"{base}_{kind}", _neuron_node(layer.name, kind, layer.neuron.params, shape, dt))
        if kind == "recurrent_lif":
            rec = f"{base}_rec"
            nodes[rec] = nir.Linear(weight=np.asarray(layer.recurrent_weight, dtype=np.float32))
            edges += [(pop, rec), (rec, pop)]
    nodes["output"] = nir.Output(output_type=np.array(shape))
    edges.append((prev, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={
        "source": "snn-ice40", "name": net.name, "dt": float(dt), "reset": "subtract",
        "timesteps": int(net.timesteps), "encoding": net.encoding})
    if path is not None:
        nir.write(Path(path), graph)
    return graph
