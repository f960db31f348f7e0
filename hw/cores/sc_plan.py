"""``hw.cores.sc_plan``: the layout of a network on the SC engine (``hw.cores.sc_network``).

:class:`SCPlan` has the attributes the board top, host interface, flash loader and
build report read from a ``hw.cores.plan.NetworkPlan`` (``n_input``, ``fmt``,
``load_image``, ``resources``, ``cycles`` ...), so the rest of the flow is shared.

Memory: every synapse has a 16-bit Sobol shift and a 16-bit threshold
(``hw.sc_map``).  Synapse ``g`` (layers in order, row-major ``j * n_in + i`` within a
layer) lives in SPRAM pair ``g // 16384`` at offset ``g % 16384``: the shifts in block
``2 * pair``, the thresholds in block ``2 * pair + 1`` (load address
``block << 14 | offset``), so one read gives both.  At most two pairs: 32 768 synapses.

Cycle model (:meth:`SCPlan.cycles`, the FSM of ``hw.cores.sc_network``, measured equal
by ``tests/rtl/test_sc_network_rtl.py``): per sample ``START + n_input + SUM_TAIL`` (with an
on-chip rate/latency encoder instead ``n_input + ENCODE`` per step, its scan);
per layer and step ``LAYER`` + ``s_bits`` (the ``K S`` product); per neuron
``NEURON + c_bits + neuron_stages - 1`` (the ``A C`` product, the neuron pipeline) plus,
per input entry, ``ENTRY + W`` when it streams (``W = length / bits_per_cycle`` words) and ``SKIP`` for a zero pixel; the end
``END + n_output`` (argmax).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hw.cores.plan import SPRAM_DEPTH, EngineIO, PlanError, ebr_blocks
from hw.sc_map import SC_FRAC, SC_WIDTH, SCLayerTable, SCMapError, check_length, sc_tables

__all__ = ["SCPlan", "SCLayerPlan", "plan_sc"]

PAIR_SYNAPSES = SPRAM_DEPTH
MAX_PAIRS = 2
BITS_PER_CYCLE = (8, 16, 32, 64, 128)

# FSM costs in cycles (hw.cores.sc_network): see the module docstring
START, SUM_TAIL, LAYER, NEURON, ENTRY, SKIP, DRAIN, END = 1, 1, 3, 10, 3, 2, 4, 2
ENCODE = 5     # a step's encoder command beyond its n_input pixel scan (hw.cores.encoder)


@dataclass(frozen=True)
class SCLayerPlan:
    """One layer on the SC engine.

    Attributes:
        index, name: position and IR name.
        n_in, n_out: sizes.
        base: global index of the layer's first synapse.
        table: its ``hw.sc_map.SCLayerTable``.
        neuron: the compiled Q8.8 neuron.
    """

    index: int
    name: str
    n_in: int
    n_out: int
    base: int
    table: SCLayerTable
    neuron: Any

    @property
    def analog(self) -> bool:
        return self.table.analog

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.neuron.states)


class SCPlan(EngineIO):
    """A quantised network laid out on the SC engine.

    Parameters:
        qnet: a ``hw.quantize.QuantizedNetwork`` (Dense layers, neurons with the one input I;
            direct encoding streams the pixels, rate/latency encode them on chip).
        length: stream bits per synaptic current and step (``hw.sc_map.check_length``).
        bits_per_cycle: stream bits the engine computes per clock (8 .. 128, dividing ``length``).
        base_seed: seeds the generators (``hw.sc_map.sc_tables``).
        spram_blocks: SPRAM blocks on the device.
    """

    arith = "sc"
    needs_load = True
    uses_spram = True

    def __init__(self, qnet: Any, length: int = 2048, bits_per_cycle: int = 64, base_seed: int = 0,
                 spram_blocks: int = 4) -> None:
        try:
            self.length = check_length(length)
            tables = sc_tables(qnet, self.length, base_seed)
        except SCMapError as err:
            raise PlanError(str(err)) from err
        from hw.encoding import encoder_for

        self.encoder = encoder_for(qnet.network, qnet.fmt.frac_bits)   # rate / latency: on chip
        if qnet.encoding != "direct" and self.encoder is None:
            raise PlanError(f"encoding {qnet.encoding!r} needs its on-chip encoder (hw.encoding)")
        if bits_per_cycle not in BITS_PER_CYCLE or self.length % bits_per_cycle:
            raise PlanError(f"bits per cycle must be one of {BITS_PER_CYCLE} and divide the stream "
                            f"length {self.length}, got {bits_per_cycle}")
        self.qnet, self.fmt, self.base_seed = qnet, qnet.fmt, int(base_seed)
        self.bits_per_cycle = int(bits_per_cycle)
        self.block_bits = int(math.log2(self.bits_per_cycle))
        self.words = self.length // self.bits_per_cycle
        layers, base = [], 0
        for q, t in zip(qnet.layers, tables):
            layers.append(SCLayerPlan(t.index, q.name, t.n_in, t.n_out, base, t, q.neuron))
            base += t.n_in * t.n_out
        self.layers = layers
        self.n_synapses = base
        self.pairs = -(-base // PAIR_SYNAPSES)
        if self.pairs > min(MAX_PAIRS, spram_blocks // 2):
            raise PlanError(f"{base} synapses need {2 * self.pairs} SPRAM blocks (a 16-bit shift and a 16-bit "
                            f"threshold each, {PAIR_SYNAPSES} a block); the device has {spram_blocks} "
                            f"({min(MAX_PAIRS, spram_blocks // 2) * PAIR_SYNAPSES} synapses): shrink the network")
        from hw.cores.pipeline import auto_stages   # the delay model lives with the pipeline

        self.neuron_stages = max(auto_stages(layer.neuron) for layer in layers)
        self.timesteps = qnet.timesteps
        self.n_input, self.n_output = qnet.n_input, qnet.n_output
        self.offset_bits = SPRAM_DEPTH.bit_length() - 1
        self.bank_bits = max(1, (2 * self.pairs - 1).bit_length())

    # -- widths -----------------------------------------------------------
    @property
    def count_bits(self) -> int:
        return max(1, self.timesteps.bit_length())

    def c_bits(self, layer: SCLayerPlan) -> int:
        """Bits of the popcount ``C`` (at most ``n_in * length``)."""
        return (layer.n_in * self.length).bit_length()

    def s_bits(self, layer: SCLayerPlan) -> int:
        """Bits of ``S`` (active inputs, or the clamped pixel sum)."""
        one = 1 << self.fmt.frac_bits
        return (layer.n_in * (one if layer.analog else 1)).bit_length()

    @property
    def acc_bits(self) -> int:
        """Signed width that holds ``A C + K S + (b << 16)`` of every layer."""
        one = 1 << self.fmt.frac_bits
        bound = 0
        for layer in self.layers:
            t = layer.table
            s_max = layer.n_in * (one if layer.analog else 1)
            bound = max(bound, t.a * layer.n_in * self.length + abs(t.k) * s_max
                        + (int(np.abs(t.bias).max(initial=0)) << SC_FRAC))
        return bound.bit_length() + 2

    # -- memory images ----------------------------------------------------
    def _signed(self, words: np.ndarray) -> np.ndarray:
        words = np.asarray(words, dtype=np.int64)
        return np.where(words >= 1 << (SC_WIDTH - 1), words - (1 << SC_WIDTH), words)

    def synapse_words(self) -> tuple[np.ndarray, np.ndarray]:
        """All synapses' ``(shifts, thresholds)`` in global order (int64, unsigned 16-bit)."""
        shifts = np.concatenate([layer.table.shift.reshape(-1) for layer in self.layers])
        thr = np.concatenate([layer.table.thr.reshape(-1) for layer in self.layers])
        return shifts, thr

    @property
    def spram_blocks(self) -> dict[int, list[int]]:
        """SPRAM block (physical index, ``spram<i>`` in the netlist) -> the blocks it holds (itself)."""
        return {b: [b] for b in range(2 * self.pairs)}

    def load_address(self, block: int, offset: int = 0) -> int:
        return (block << self.offset_bits) | offset

    def load_image(self, only_needed: bool = False) -> list[tuple[int, np.ndarray]]:
        """``[(start load address, raw words)]``: per SPRAM pair, its shift block and threshold block."""
        shifts, thr = self.synapse_words()
        out = []
        for pair in range(self.pairs):
            part = slice(pair * PAIR_SYNAPSES, (pair + 1) * PAIR_SYNAPSES)
            out.append((self.load_address(2 * pair), self._signed(shifts[part])))
            out.append((self.load_address(2 * pair + 1), self._signed(thr[part])))
        return out

    # -- resources ----------------------------------------------------------
    def memory_table(self) -> list[dict[str, Any]]:
        """Per layer: EBR and SPRAM the engine uses for it (the SPRAM pairs are shared)."""
        rows, w = [], self.fmt.width
        for layer in self.layers:
            ebr = ebr_blocks(len(layer.states) * w, layer.n_out)               # neuron states
            ebr += ebr_blocks(max(1, (layer.n_out - 1).bit_length()), layer.n_out)   # spike list
            ebr += ebr_blocks(w, layer.n_out)                                   # biases
            if layer.analog:
                ebr += ebr_blocks(SC_WIDTH, layer.n_in)                         # input shifts
            if layer.index == len(self.layers) - 1:
                ebr += ebr_blocks(self.count_bits, layer.n_out)                 # spike counts
            rows.append({"layer": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "lanes": 1,
                         "arith": "sc", "synapses": layer.n_in * layer.n_out,
                         "weight_words": 2 * layer.n_in * layer.n_out, "ebr": ebr,
                         "spram": 2 * self.pairs if layer.index == 0 else 0, "dsp": 0})
        return rows

    def resources(self) -> dict[str, int]:
        ebr = sum(r["ebr"] for r in self.memory_table())
        ebr += ebr_blocks(self.fmt.width, self.input_ram_words(self.input_banks())) + self.encoder_ebr()
        return {"ebr": ebr, "spram": 2 * self.pairs, "dsp": 0}

    def describe(self) -> dict[str, Any]:
        """What the report shows about the SC arithmetic."""
        return {"length": self.length, "bits_per_cycle": self.bits_per_cycle, "sng": "sobol",
                "mode": "unipolar", "width": SC_WIDTH, "base_seed": self.base_seed,
                "synapses": self.n_synapses, "spram_pairs": self.pairs}

    # -- cycles ------------------------------------------------------------
    def cycles(self, spikes_per_step: Sequence[np.ndarray] | None = None,
               nonzero_inputs: int | None = None, input_spikes: np.ndarray | None = None) -> int:
        """Clock cycles of one inference (start to done) for given activity.

        Parameters:
            spikes_per_step: for each layer, an array ``(T,)`` with the number of its
                neurons that spiked at each step (``None``: worst case, all spike).
            nonzero_inputs: pixels of the sample above 0 (the only ones streamed; ``None``: all).
            input_spikes: with an on-chip encoder, ``(T,)`` input spikes per step (``None``: all).
        """
        T, W = self.timesteps, self.words
        nz = self.n_input if nonzero_inputs is None else int(nonzero_inputs)
        total = START + END + self.n_output
        total += self.n_input + SUM_TAIL if self.encoder is None else T * (self.n_input + ENCODE)
        for li, layer in enumerate(self.layers):
            per_neuron = NEURON + self.neuron_stages - 1 + self.c_bits(layer)
            if layer.analog:
                entries = nz * (ENTRY + W) + (layer.n_in - nz) * SKIP
                total += T * (LAYER + self.s_bits(layer) + layer.n_out * (per_neuron + entries))
                continue
            if li == 0:
                prev = np.full(T, self.n_input) if input_spikes is None else np.asarray(input_spikes).reshape(T)
            else:
                prev = (np.full(T, self.layers[li - 1].n_out) if spikes_per_step is None
                        else np.asarray(spikes_per_step[li - 1]).reshape(T))
            active = int(prev.sum())
            total += T * (LAYER + self.s_bits(layer) + layer.n_out * per_neuron)
            total += layer.n_out * active * (ENTRY + W)
        return int(total)

    def activity_cycles(self, layer_spikes: Sequence[np.ndarray], x_raw: np.ndarray) -> list[int]:
        """Per sample, :meth:`cycles` for recorded activity (``(T, batch, n_out)`` per layer)."""
        per_step = [np.asarray(ls).sum(axis=2) for ls in layer_spikes]     # (T, batch)
        x_raw = np.asarray(x_raw).reshape(-1, self.n_input)
        inputs = None if self.encoder is None else self.encoder.spikes(x_raw).sum(axis=2)   # (batch, T)
        return [self.cycles([p[:, b] for p in per_step], int(np.count_nonzero(x_raw[b] > 0)),
                            None if inputs is None else inputs[b])
                for b in range(x_raw.shape[0])]


def plan_sc(qnet: Any, *, length: int = 2048, bits_per_cycle: int = 64, base_seed: int = 0,
            spram_blocks: int = 4) -> SCPlan:
    """:class:`SCPlan` of ``qnet`` (``PlanError`` when the SC engine cannot take it)."""
    return SCPlan(qnet, length, bits_per_cycle, base_seed, spram_blocks)
