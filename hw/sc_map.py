"""``hw.sc_map``: the fixed-point mapping of a network onto stochastic-computing (SC) layers.

The one definition used by the SC engine (``hw.cores.sc_network``) and by its
bit-exact software twin (``sim.sc.fixed.run_sc_fixed``).  Only the synaptic
currents are computed with bitstreams; the neurons are the compiled Q8.8
equations, as in ``sim.golden``.

Per Dense layer ``l`` (raw Q8.8 weights ``w``, bias ``b``, ``n`` inputs), with
``lo = min w`` and ``span = max w - lo + 1``:

* weight stream of synapse ``(j, i)``: Sobol dimension 1, digital shift
  ``shift[j, i]``, threshold ``thr[j, i] = round((w[j, i] - lo + 1/2) / span * 2**16)``,
  always in ``[1, 2**16 - 1]`` (16 bits; no synapse is all-0 or all-1);
* input stream: spikes are all-0 / all-1 streams (an inactive input adds nothing, so the
  engine skips it); the direct-encoded first layer's input ``i`` has Sobol dimension 0,
  shift ``x_shift[i]`` and threshold ``clamp(x_raw, 0, 2**8) << 8`` (``p = x`` for
  ``x`` in ``[0, 1]``);
* ``C_j`` = popcount over the step's ``L`` stream bits of ``X_i AND W_ji``, summed over the inputs;
* current (raw Q8.8): ``I_j = fit(shift_round(A C_j + K S + (b_j << 16), 16))`` with
  ``A = round(span 2**16 / L)``, ``S`` the number of active inputs (spikes) or
  ``sum clamp(x_raw, 0, 2**8)`` (direct), ``K = (2 lo - 1) 2**15`` (spikes) or
  ``(2 lo - 1) 2**7`` (direct): ``E[I_j] = sum_i w_ji x_i + b_j`` up to threshold rounding.

Generators restart from their seeds for every sample; step ``t`` uses stream
positions ``[t L, (t + 1) L)`` (``sim.sc.SCMatVec``); seeds are
``sim.sc.sng.make_sng("sobol", 16, ..., base_seed, key=(l, 0 | 1))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.cores.sc_numbers import make_sng
from hw.fixed import QFormat
from hw.ir import Dense

__all__ = ["SC_WIDTH", "SC_FRAC", "SC_SNG", "SC_MODE", "SCLayerTable", "SCMapError", "sc_tables",
           "input_thresholds", "input_sum", "sc_currents", "check_length"]

SC_WIDTH = 16          # generator width: thresholds and shifts are 16-bit
SC_FRAC = 16           # fraction bits of the current accumulator A C + K S + B
SC_SNG = "sobol"       # the engine's generators (one shared sequence per operand, XOR shifts)
SC_MODE = "unipolar"   # AND multipliers (inactive inputs add nothing)
_MAX_LENGTH = 1 << SC_WIDTH


class SCMapError(ValueError):
    """The network or the stream length cannot be mapped onto SC layers (the message says why)."""


@dataclass(frozen=True)
class SCLayerTable:
    """One layer's SC constants (module docstring).

    Attributes:
        index: layer position (keys its generators).
        thr, shift: ``(n_out, n_in)`` int64 weight-stream thresholds and Sobol shifts.
        x_shift: ``(n_in,)`` input-stream shifts of a direct-encoded first layer, else ``None``.
        a, k: the current map's integer constants.
        bias: ``(n_out,)`` raw biases.
    """

    index: int
    thr: np.ndarray
    shift: np.ndarray
    x_shift: np.ndarray | None
    a: int
    k: int
    bias: np.ndarray

    @property
    def analog(self) -> bool:
        return self.x_shift is not None

    @property
    def n_out(self) -> int:
        return int(self.thr.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.thr.shape[1])


def check_length(length: int) -> int:
    """The stream length as an int in ``[8, 2**16]``, a multiple of 8; ``SCMapError`` otherwise."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) \
            or not 8 <= length <= _MAX_LENGTH or length % 8:
        raise SCMapError(f"the SC stream length must be a multiple of 8 in [8, {_MAX_LENGTH}], got {length!r}")
    return int(length)


def _weight_thresholds(w: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(thr, lo, span)`` of raw weights (module docstring), integer arithmetic only."""
    lo = int(w.min())
    span = int(w.max()) - lo + 1
    # round((w - lo + 1/2) / span * 2**16) = floor(((2 (w - lo) + 1) 2**16 + span) / (2 span))
    thr = (((2 * (w - lo) + 1) << SC_WIDTH) + span) // (2 * span)
    return thr.astype(np.int64), lo, span


def sc_tables(qnet, length: int, base_seed: int = 0) -> list[SCLayerTable]:
    """The SC constants of every layer of a ``hw.quantize.QuantizedNetwork``.

    Raises ``SCMapError`` for what the SC layers cannot take: a layer that is not Dense, a
    neuron with other inputs than ``I`` or recurrent weights, a bad stream length.
    """
    length = check_length(length)
    frac = qnet.fmt.frac_bits
    if frac > SC_WIDTH - 1:
        raise SCMapError(f"SC inputs need a format with at most {SC_WIDTH - 1} fraction bits, got {frac}")
    direct = qnet.encoding == "direct"
    tables = []
    for index, q in enumerate(qnet.layers):
        layer = q.layer
        if not isinstance(layer, Dense):
            raise SCMapError(f"layers[{index}] ({layer.name}): SC layers are Dense only, got {type(layer).__name__}")
        if layer.neuron.inputs != ("I",) or q.recurrent_weight is not None:
            raise SCMapError(f"layers[{index}] ({layer.name}): SC layers take neurons with the one input I "
                             f"and no recurrent weights, got kind {layer.neuron.kind!r}")
        w = np.asarray(q.weight, dtype=np.int64)
        thr, lo, span = _weight_thresholds(w)
        n_out, n_in = w.shape
        shift = (make_sng(SC_SNG, SC_WIDTH, n_out * n_in, base_seed, (index, 1), dim=1).shifts
                 .reshape(n_out, n_in).astype(np.int64))
        analog = index == 0 and direct
        x_shift = (make_sng(SC_SNG, SC_WIDTH, n_in, base_seed, (index, 0), dim=0).shifts.astype(np.int64)
                   if analog else None)
        a = ((span << (SC_FRAC + 1)) + length) // (2 * length)
        k = (2 * lo - 1) << (SC_FRAC - 1 - (frac if analog else 0))
        tables.append(SCLayerTable(index, thr, shift, x_shift, int(a), int(k),
                                   np.asarray(q.bias, dtype=np.int64).reshape(n_out)))
    return tables


def input_thresholds(x_raw: np.ndarray, fmt: QFormat) -> np.ndarray:
    """Input-stream thresholds ``clamp(x_raw, 0, 1.0) << (16 - frac)`` in ``[0, 2**16]`` (int64)."""
    one = 1 << fmt.frac_bits
    return np.clip(np.asarray(x_raw, dtype=np.int64), 0, one) << (SC_WIDTH - fmt.frac_bits)


def input_sum(x_raw: np.ndarray, fmt: QFormat) -> np.ndarray:
    """``S`` of a direct-encoded layer: ``sum_i clamp(x_raw_i, 0, 1.0)`` over the last axis."""
    return np.clip(np.asarray(x_raw, dtype=np.int64), 0, 1 << fmt.frac_bits).sum(axis=-1)


def sc_currents(table: SCLayerTable, counts: np.ndarray, s: np.ndarray, fmt: QFormat) -> np.ndarray:
    """Raw currents ``fit(shift_round(A C + K S + (b << 16), 16))``.

    ``counts``: ``(n_out, B)`` popcounts ``C``; ``s``: ``(B,)`` the ``S`` of each sample.
    """
    acc = (table.a * np.asarray(counts, dtype=np.int64) + table.k * np.asarray(s, dtype=np.int64)[None, :]
           + (table.bias[:, None] << SC_FRAC))
    return fmt.fit(fmt.shift_round(acc, SC_FRAC))
