"""Whole-network SC inference of a ``hw.ir.Network`` (``run_sc``).

Schedule: the same as ``sim.golden`` (layers in order each step, spikes of
layer ``l`` at step ``t`` feed layer ``l+1`` at step ``t``, prediction =
argmax of the last layer's spike counts, ties to the lowest index); the
neurons are the IR equations evaluated in float64 (``sim.golden.FloatNeuron``);
only the synaptic currents ``W @ x + b`` are computed with bitstreams.

Mapping of one Dense layer (``n`` inputs, weights ``W``, bias ``b``), see
docs/sc.md for the derivation:

* inputs: layer 0 with direct encoding takes ``x`` in ``x_range = [x_lo, x_hi]``
  as ``p_x = (x - x_lo) / dx``; spikes (later layers, rate/latency inputs)
  have ``p_x`` 0 or 1, i.e. all-zero / all-one streams: output spike trains
  are routed, step by step, as the next layer's input bitstreams.
* ``unipolar`` (AND): weights min-max scaled per layer as ``to_sc_weights``
  does, ``p_w = (W - w_lo) / dw``.  With ``C_j`` the AND popcount over all
  lanes, ``I_j = dw dx C_j / L + w_lo dx sum(p_x) + x_lo dw sum_i p_w[j, i]
  + n w_lo x_lo + b_j`` (the last four terms are exact: an input popcount
  and constants).
* ``bipolar`` (XNOR): ``p_w = (W / M + 1) / 2`` with ``M = max |W|``, inputs read
  as bipolar ``u_x = 2 p_x - 1``; ``I_j = (dx / 2) M (2 C_j / L - n)
  + (x_lo + dx / 2) sum_i W[j, i] + b_j``.

SNGs restart from their seeds for every sample and run free across its
``T`` steps (step ``t`` uses bits ``[t L, (t + 1) L)``), so the current of a
direct-encoded first layer is re-estimated with fresh bits every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hw.ir import Dense, Network
from sim.sc.bitstream import MODES
from sim.sc.matvec import SCMatVec

__all__ = ["SCResult", "SCLayerMap", "run_sc"]


@dataclass
class SCResult:
    """Outcome of SC inference: ``spike_counts`` ``(B, n_out)`` and ``predictions`` ``(B,)``."""

    spike_counts: np.ndarray
    predictions: np.ndarray

    def accuracy(self, labels: Any) -> float:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape != self.predictions.shape:
            raise ValueError(f"labels shape {labels.shape} != predictions shape {self.predictions.shape}")
        return float(np.mean(self.predictions == labels)) if labels.size else float("nan")


class SCLayerMap:
    """One Dense layer's SC engine and the affine map from popcounts to currents.

    Parameters:
        layer: the IR layer (Dense, single-input neuron).
        x_range: value range of the layer's inputs (``(0, 1)`` for spikes).
        index: layer position (keys its generators).
        length, sng, width, mode, base_seed: see :func:`run_sc`.
    """

    def __init__(self, layer: Dense, x_range: tuple[float, float], index: int, *, length: int,
                 sng: str, width: int, mode: str, base_seed: int | None) -> None:
        w = np.asarray(layer.weight, dtype=np.float64)
        self.n_in = w.shape[1]
        self.x_lo, self.dx = float(x_range[0]), float(x_range[1] - x_range[0])
        if not self.dx > 0:
            raise ValueError(f"x_range must satisfy lo < hi, got {x_range}")
        bias = np.zeros(w.shape[0]) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64)
        self.length, self.mode = length, mode
        if mode == "unipolar":
            self.w_lo = float(w.min())
            self.dw = float(w.max() - w.min()) or 1.0
            p_w = (w - self.w_lo) / self.dw
            self.offset = (self.x_lo * self.dw * p_w.sum(axis=1)
                           + self.n_in * self.w_lo * self.x_lo + bias)
        else:
            self.scale = float(np.abs(w).max()) or 1.0
            p_w = (w / self.scale + 1.0) / 2.0
            self.offset = (self.x_lo + self.dx / 2.0) * w.sum(axis=1) + bias
        self.matvec = SCMatVec(np.clip(p_w, 0.0, 1.0), length=length, sng=sng, width=width, mode=mode,
                               base_seed=base_seed, key=(index,))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Input values ``(B, n_in)`` -> probabilities; ``ValueError`` outside ``x_range``."""
        p = (np.asarray(x, dtype=np.float64) - self.x_lo) / self.dx
        if np.any(p < -1e-12) or np.any(p > 1 + 1e-12):
            bad = np.asarray(x)[(p < -1e-12) | (p > 1 + 1e-12)].flat[0]
            raise ValueError(f"input value {bad:g} is outside x_range "
                             f"[{self.x_lo:g}, {self.x_lo + self.dx:g}]; pass a wider x_range")
        return np.clip(p, 0.0, 1.0)

    def currents(self, p_x: np.ndarray, step: int) -> np.ndarray:
        """SC estimate of ``W @ x + b`` for probabilities ``(B, n_in)``; returns ``(n_out, B)``."""
        c = self.matvec.counts(p_x, step) / self.length  # (B, n_out)
        if self.mode == "unipolar":
            cur = self.dw * self.dx * c + (self.w_lo * self.dx) * p_x.sum(axis=1, keepdims=True)
        else:
            cur = (self.dx / 2.0) * self.scale * (2.0 * c - self.n_in)
        return (cur + self.offset[None, :]).T


def _check_network(network: Network) -> None:
    network.validate()
    for i, layer in enumerate(network.layers):
        if not isinstance(layer, Dense):
            raise ValueError(f"layers[{i}] ({layer.name}): the SC path supports Dense layers only, "
                             f"got {type(layer).__name__}")
        if layer.neuron.inputs != ("I",) or layer.recurrent_weight is not None:
            raise ValueError(f"layers[{i}] ({layer.name}): the SC path supports neurons with the single "
                             f"input I, got kind {layer.neuron.kind!r} with inputs {layer.neuron.inputs}")


def run_sc(network: Network, x: Any, *, length: int = 2048, sng: str = "sobol", mode: str = "unipolar",
           width: int = 16, base_seed: int | None = 0, x_range: tuple[float, float] = (0.0, 1.0),
           progress: bool = True) -> SCResult:
    """Stochastic-computing inference of ``network`` on a batch (mapping in the module docstring).

    Parameters:
        network: a ``hw.ir.Network`` of Dense layers with single-input neurons.
        x: ``(B, n_input)`` for direct encoding, ``(B, T, n_input)`` 0/1 spike trains otherwise
            (or the pixels ``(B, n_input)``, encoded as the board does: ``sim.golden.encode_pixels``).
        length: bitstream length per synaptic current and step.
        sng: ``"sobol"`` (default) or ``"lfsr"``.
        mode: ``"unipolar"`` (AND, default) or ``"bipolar"`` (XNOR).
        width: SNG width in bits.
        base_seed: seeds all generators; the same seed reproduces exactly.
        x_range: range of direct-encoded inputs.
        progress: tqdm bar over the timesteps.
    """
    from sim.golden import FloatNeuron, encode_pixels, is_pixels, prepare_input

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
    _check_network(network)
    x = prepare_input(network, x)
    if is_pixels(network, x):   # the pixels of a rate/latency net: the board's encoder (hw.encoding)
        x = encode_pixels(network, x)
    batch, T = x.shape[0], network.timesteps
    direct = network.encoding == "direct"
    maps = [SCLayerMap(layer, x_range if (i == 0 and direct) else (0.0, 1.0), i, length=length,
                       sng=sng, width=width, mode=mode, base_seed=base_seed)
            for i, layer in enumerate(network.layers)]
    neurons = [FloatNeuron(layer.neuron) for layer in network.layers]
    states = [{k: np.zeros((layer.n_out, batch)) for k in layer.neuron.states} for layer in network.layers]
    p0 = maps[0].probabilities(x) if direct else None
    counts = np.zeros((network.n_output, batch), dtype=np.int64)
    steps = range(T)
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc=f"SC {sng} L={length}", unit="step", leave=False)
    for t in steps:
        p = p0 if direct else x[:, t, :].astype(np.float64)
        for li, m in enumerate(maps):
            spikes, states[li] = neurons[li].step(states[li], {"I": m.currents(p, t)})
            p = spikes.T.astype(np.float64)  # (B, n_out): next layer's all-0 / all-1 streams
        counts += spikes
    counts = counts.T.copy()
    preds = np.argmax(counts, axis=1).astype(np.int64) if batch else np.zeros(0, dtype=np.int64)
    return SCResult(spike_counts=counts, predictions=preds)
