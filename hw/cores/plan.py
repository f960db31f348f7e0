"""``hw.cores.plan``: how a quantised network is laid out on the engine (pure Python, no HDL).

The plan decides, per layer, how many parallel lanes (accumulators) it gets,
how its weights are split into memory banks and whether each bank lives in
block RAM (EBR, initialised by the bitstream) or in the UP5K's single-port
SPRAM (no power-up contents: the host loads it over the UART).  It also holds
the cycle model of the engine (:meth:`NetworkPlan.cycles`) and the resource
estimate used to refuse designs that do not fit *before* synthesis.

Weight bank layout: lane ``k`` of a layer with ``P`` lanes holds the rows
``o = g*P + k``; row ``g`` of the bank is ``[W[o, 0], ..., W[o, n_in-1]]``
(raw fixed-point integers), so the bank depth is ``groups * n_in``.
Packing (lossless): when every weight raw of a layer is ``code << shift`` with the
codes fitting ``16 / pack`` bits (pack 2: 8-bit fields, pack 4: 4-bit fields; the
smallest such ``shift``), one 16-bit word holds ``pack`` lanes (lane ``pack*b + i``
in field ``i``, bits ``i*16/pack ..``, of bank ``b``), so 4 memories feed 8 or 16
lanes; the engine shifts a code back left by ``shift`` before it is added or
multiplied.  Biases live outside the rows, in a bias memory per current
(:attr:`LayerPlan.bias_banks`: ``n_out`` words, neuron ``o`` at word ``o``; none when
every bias of that current is 0), read as each neuron's update is issued and added to
its exact sum before the one rounding (``bias << frac_bits`` for the analog layer).
Weight precision (``hw.quantize``, 8 or 4 bits) gives such raws by construction.
Physical memories: one per EBR bank, then the SPRAM blocks.  Banks of different
layers share an SPRAM block, each at its own ``base``, but never two spike layers
(they run at the same time, on consecutive steps; the analog layer reads its
weights only once per sample, alone); the banks of one layer sit in different
blocks (they are read in the same cycle).  Bias memories are always EBR, numbered after
the weight banks in EBR.  Load address of a bank word: ``index << offset_bits | (base + offset)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hw.cores.conv_unroll import conv_matrix, pooled_rows
from hw.encoding import InputEncoder, encoder_for
from hw.fixed import QFormat
from hw.quantize import split_raws

__all__ = ["SPRAM_DEPTH", "ebr_blocks", "Bank", "EngineIO", "LayerPlan", "NetworkPlan", "PlanError",
           "plan_network", "plan_quantized"]

SPRAM_DEPTH = 16384
"""Words (16 bits) in one iCE40 UP SPRAM block."""

_EBR_CONFIGS = ((256, 16), (512, 8), (1024, 4), (2048, 2))


class PlanError(ValueError):
    """The network cannot be mapped onto the engine (unsupported layer, neuron or encoding)."""


def ebr_blocks(width: int, depth: int) -> int:
    """iCE40 4-kbit block RAMs needed for a ``width`` x ``depth`` memory (best aspect ratio)."""
    if width <= 0 or depth <= 0:
        return 0
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in _EBR_CONFIGS)


@dataclass(frozen=True)
class Bank:
    """One weight memory: lane ``lane`` of layer ``layer``.

    Attributes:
        lane: bank number within its layer (it holds lanes ``lane*pack .. lane*pack+pack-1``).
        index: physical memory number (upper bits of the load address): its own EBR
            memory, or the SPRAM block it shares.
        depth: words.
        base: first word inside the physical memory (SPRAM sharing; 0 for EBR).
        spram: placed in SPRAM instead of EBR.
        preload: the bitstream initialises it (EBR only); otherwise the host loads it.
        bias: a bias memory (``lane`` is then the current it adds to), not a weight bank.
    """

    index: int
    layer: int
    lane: int
    depth: int
    spram: bool = False
    preload: bool = True
    base: int = 0
    bias: bool = False

    @property
    def ebr(self) -> int:
        return 0 if self.spram else ebr_blocks(16, self.depth)


@dataclass
class LayerPlan:
    """One dense layer on the engine.

    Attributes:
        index, name: position and name in the network.
        weight: raw ``(n_out, n_in)`` integers; ``bias`` raw ``(n_out,)``.
        neuron: the compiled neuron (``hw.compiler.CompiledNeuron``; ``.datapath()`` is used).
        states, inputs: the neuron's state and input names (from ``hw.ir.Neuron``).
        lanes: parallel accumulators (and weight banks).
        analog: the inputs are analog values (multiply) instead of binary spikes (add).
        count: keep per-neuron spike counts (the output layer).
        pack: lanes per 16-bit bank word (1, 2 or 4; module docstring).
        shift: the bank fields hold ``weight >> shift`` (0 unless packed).
        pack_options: ``{pack: shift}`` the layer's weight raws allow (pack 1 always).
        bias_banks: the layer's bias memories (:meth:`bias_words`), set by the placement.
        neuron_stages: pipeline stages of the neuron datapath (``hw.cores.pipeline``).
        split: the neuron takes an excitatory and an inhibitory current (alpha): every lane
            sums the positive weights into ``inputs[0]`` and the magnitudes of the negative
            ones (clipped to ``max_raw``, as ``hw.quantize`` splits them) into ``inputs[1]``,
            from the same weight reads; two accumulators (and hold registers) a lane.
        recurrent: ``weight`` is ``[W | W_rec]`` (``n_out`` more columns): a step also adds
            the recurrent weights of the layer's own spikes of the previous step (items after
            the inputs', read from its own spike list) into a second accumulator, ``inputs[1]``
            (``R``, no bias); spike layers only.
        overlap: the next group accumulates while this one's neurons are updated (hold
            registers, ``P`` more per layer). Spike layers only: the analog layer
            accumulates once per sample (``PREP``), where they would buy a few cycles.
        pool: max-pool window side (a pooled conv layer, ``hw.cores.conv_unroll.pooled_rows``):
            ``weight`` has ``pool**2`` rows per neuron, one per window position, and the
            layer has exactly ``pool**2`` lanes; a group accumulates one neuron's window, and
            its single update takes the largest of the lanes' currents (rounding and
            saturation are monotone, so that is the max of the rounded currents, as
            ``sim.golden`` pools them).
    """

    index: int
    name: str
    weight: np.ndarray
    bias: np.ndarray
    neuron: Any
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    lanes: int
    analog: bool
    count: bool
    pack: int = 1
    banks: list[Bank] = field(default_factory=list)
    neuron_stages: int = 1
    overlap: bool = False
    shift: int = 0
    pack_options: dict[int, int] = field(default_factory=lambda: {1: 0})
    split: bool = False
    recurrent: bool = False
    pool: int = 1
    bias_banks: list[Bank] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pool > 1 and (self.lanes != self.pool ** 2 or self.n_rows % self.lanes):
            raise PlanError(f"layer {self.index}: a {self.pool}x{self.pool}-pooled layer takes "
                            f"{self.pool ** 2} lanes and {self.pool ** 2} rows a neuron")
        if self.pack not in self.pack_options:
            self.pack_options = {**self.pack_options, **_pack_options(self.weight, 16)}
        if self.pack not in self.pack_options:
            raise PlanError(f"layer {self.index}: its raws cannot be packed {self.pack} lanes to a word")
        self.shift = self.pack_options[self.pack]

    @property
    def max_pack(self) -> int:
        """The most lanes per word the layer's raws allow."""
        return max(self.pack_options)

    def set_lanes(self, lanes: int, pack: bool = True) -> None:
        """``lanes`` lanes, packed as tightly as the raws allow (and as ``lanes`` needs)."""
        self.lanes = int(lanes)
        p = 1
        if pack and self.lanes > 1:
            p = min(self.max_pack, 1 << (self.lanes - 1).bit_length())
            while p not in self.pack_options:
                p //= 2
        self.pack = p
        self.shift = self.pack_options[p]

    @property
    def n_in(self) -> int:
        """Inputs (the previous layer's neurons, or the pixels)."""
        return int(self.weight.shape[1]) - (self.n_out if self.recurrent else 0)

    @property
    def n_cols(self) -> int:
        """Weight columns of a row: the inputs, then (recurrent) the layer's own neurons."""
        return int(self.weight.shape[1])

    @property
    def pool_stages(self) -> int:
        """Update stages of a pooled layer's window max (one per level of its compare tree)."""
        return (self.pool * self.pool - 1).bit_length() if self.pool > 1 else 0

    @property
    def n_rows(self) -> int:
        """Weight rows: one per neuron, or per window position of a pooled layer."""
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return self.n_rows // (self.pool * self.pool)

    @property
    def groups(self) -> int:
        return self.n_out if self.pool > 1 else math.ceil(self.n_out / self.lanes)

    @property
    def row(self) -> int:
        """Words of a bank row: one per weight column."""
        return self.n_cols

    @property
    def bank_depth(self) -> int:
        return self.groups * self.row

    @property
    def n_banks(self) -> int:
        return math.ceil(self.lanes / self.pack)

    @property
    def currents(self) -> int:
        """Currents a lane sums: 2 for alpha (``I_exc``, ``I_inh``) and recurrent (``R``), else 1."""
        return 2 if (self.split or self.recurrent) else 1

    def neuron_bias(self) -> np.ndarray:
        """Raw bias per neuron (``n_out``): a pooled layer's window rows share their neuron's."""
        return np.asarray(self.bias, dtype=np.int64)[::self.pool * self.pool]

    def bias_words(self, current: int, max_raw: int = (1 << 15) - 1) -> np.ndarray:
        """Raw words (``n_out``) of the bias memory of current ``current``: the biases (current
        0); for alpha, the split of ``hw.quantize.split_raws`` (positive biases into ``I_exc``,
        clipped magnitudes of the negative ones into ``I_inh``); ``R`` has no bias."""
        b = self.neuron_bias()
        if self.split:
            return split_raws(b, max_raw)[current]
        return b if current == 0 else np.zeros_like(b)

    def biased_currents(self, max_raw: int = (1 << 15) - 1) -> list[int]:
        """The currents that get a bias memory (some bias of it is not 0)."""
        return [c for c in range(self.currents) if np.any(self.bias_words(c, max_raw) != 0)]

    def lane_words(self, lane: int) -> np.ndarray:
        """What lane ``lane`` reads, in bank order: per group its weights ``>> shift`` (the
        fields of a packed bank)."""
        words = np.zeros((self.groups, self.row), dtype=np.int64)
        for g in range(self.groups):
            o = g * self.lanes + lane
            if o < self.n_rows:
                words[g] = self.weight[o] >> self.shift
        return words.reshape(-1)

    def bank_words(self, bank: int, width: int = 16) -> np.ndarray:
        """Signed ``width``-bit words of bank ``bank`` (lanes packed when ``pack`` > 1)."""
        if self.pack == 1:
            return self.lane_words(bank)
        bits = width // self.pack
        word = np.zeros(self.bank_depth, dtype=np.int64)
        for i in range(self.pack):
            lane = bank * self.pack + i
            if lane < self.lanes:
                word |= (self.lane_words(lane) & ((1 << bits) - 1)) << (i * bits)
        return np.where(word >= 1 << (width - 1), word - (1 << width), word)

    @property
    def acc_stage(self) -> int:
        """Pipeline stage (cycles after the item's issue) where a term is accumulated."""
        return 4 if self.analog else 3

    @property
    def command_overhead(self) -> int:
        """Cycles of a command besides its items and updates: start, one flush per update
        stage after the issue (a pooled layer's max tree, u2, the datapath's extra stages, u3),
        finish, done handshake."""
        return 5 + (self.neuron_stages - 1) + self.pool_stages

    def command_cycles(self, items: int, *, prep: bool = False) -> int:
        """Cycles of one command, from the core's start strobe to its next command.

        ``items``: spikes in the input list (spike layer ``STEP``) or nonzero inputs
        (analog ``PREP``); the analog ``STEP`` takes no items (one update per neuron).
        Each group issues its ``items`` items (one empty item when there are none); a group
        before the last takes ``max(items, P)`` cycles with overlap, else ``items + P - 1``; the last group's
        sums reach the accumulators ``acc_stage`` cycles after its last item, then its
        ``n_out - (groups - 1) * P`` lanes are issued.  :meth:`command_split` splits it.
        """
        return sum(self.command_split(items, prep=prep).values())

    def command_split(self, items: int, *, prep: bool = False) -> dict[str, int]:
        """:meth:`command_cycles` as ``accumulate`` (the groups' item windows; with overlap
        the updates of all groups but the last run inside them), ``update`` (updates after
        the last sum) and ``overhead`` (PREP's input scan, the pipeline's fill, the flush
        of the neuron pipeline, the start/done handshake)."""
        if self.analog and not prep:
            return {"accumulate": 0, "update": self.n_out, "overhead": self.command_overhead}
        P = self.lanes
        n = max(int(items), 1)                              # a group's items (an empty one if none)
        window = max(n, P) if self.overlap else n + P - 1
        scan = self.n_in + 1 if self.analog else 0          # PREP: list the nonzero inputs
        return {"accumulate": (self.groups - 1) * window + n,
                "update": 1 if self.pool > 1 else self.n_out - (self.groups - 1) * P,
                "overhead": scan + self.acc_stage + self.command_overhead}

    def acc_width(self, fmt: QFormat) -> int:
        """Bits of an accumulator that holds the exact sum of the weight terms (never wraps):
        ``n_cols`` terms of at most ``2**(bits-1) << shift`` in magnitude for fields of
        ``bits = fmt.width // pack`` bits, times ``2**(fmt.width-1)`` for the analog layer's
        products, plus the sign (the bias is added at the update, :meth:`sum_width`)."""
        bits = fmt.width // self.pack
        total = max(1, self.n_cols * ((1 << (bits - 1)) << self.shift))
        if self.analog:
            total <<= fmt.width - 1
        return total.bit_length() + 1

    def sum_width(self, fmt: QFormat) -> int:
        """Bits of an update's exact sum: the accumulator plus the bias (``bias << frac_bits``
        for the analog layer)."""
        bias = fmt.width + (fmt.frac_bits if self.analog else 0)
        return max(self.acc_width(fmt), bias) + 1


class EngineIO:
    """What the host side of either engine derives from a plan the same way: the input RAM's
    banks, the load image as words, the encoder's block RAMs.  Mixed into
    :class:`NetworkPlan` and ``hw.cores.sc_plan.SCPlan`` (which provide ``n_input``, ``fmt``,
    ``encoder`` and ``load_image``)."""

    def load_words(self, only_needed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`load_image` as one word per load address: ``(addresses, raw words)`` int64."""
        image = self.load_image(only_needed)
        if not image:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return (np.concatenate([a + np.arange(len(w)) for a, w in image]),
                np.concatenate([w for _, w in image]).astype(np.int64))

    def input_ram_words(self, banks: int) -> int:
        """Words of the input RAM with ``banks`` sample banks (each ``2**bits(n_input)`` deep)."""
        return banks << max(1, (self.n_input - 1).bit_length())

    def input_banks(self, most: int = 4) -> int:
        """Input banks the host interface gets: the most (<= ``most``, a power of two, >= 2)
        that fit the block RAMs two banks need, so a deeper stream window costs no EBR."""
        banks = 2
        while banks * 2 <= most and ebr_blocks(self.fmt.width, self.input_ram_words(banks * 2)) \
                <= ebr_blocks(self.fmt.width, self.input_ram_words(2)):
            banks *= 2
        return banks

    def encoder_ebr(self) -> int:
        """Block RAMs of the input encoder: its two spike-list banks (and the latency table)."""
        enc = self.encoder
        if enc is None:
            return 0
        n = enc.n_input
        ebr = ebr_blocks(max(1, n.bit_length()), 2 << max(1, (n - 1).bit_length()))
        if enc.kind == "latency":
            ebr += ebr_blocks(max(1, enc.timesteps.bit_length()), enc.one + 1)
        return ebr


@dataclass
class NetworkPlan(EngineIO):
    """A network laid out on the engine.

    Attributes:
        fmt: the fixed-point format of weights, currents and states.
        layers: layer plans in order.
        timesteps: T, steps per sample.
        n_input: input values per sample.
        name: network name.
        encoder: the on-chip input encoder (``hw.encoding``) of a rate/latency network: it is
            the pipeline's first stage (``hw.cores.encoder``), layer 0 then a spike layer;
            ``None`` for direct encoding (layer 0 analog).
    """

    fmt: QFormat
    layers: list[LayerPlan]
    timesteps: int
    n_input: int
    name: str = "network"
    encoder: InputEncoder | None = None

    @property
    def n_output(self) -> int:
        return self.layers[-1].n_out

    @property
    def banks(self) -> list[Bank]:
        """Every memory the load port writes: the weight banks, then the bias memories."""
        return ([b for layer in self.layers for b in layer.banks]
                + [b for layer in self.layers for b in layer.bias_banks])

    def bank_words(self, bank: Bank) -> np.ndarray:
        """The raw words of ``bank`` (a weight bank or a bias memory), as the load image holds them."""
        layer = self.layers[bank.layer]
        if bank.bias:
            return layer.bias_words(bank.lane, self.fmt.max_raw)
        return layer.bank_words(bank.lane, self.fmt.width)

    @property
    def count_bits(self) -> int:
        return max(1, self.timesteps.bit_length())

    @property
    def memories(self) -> int:
        """Physical weight memories (EBR banks + SPRAM blocks)."""
        return max(b.index for b in self.banks) + 1

    @property
    def spram_blocks(self) -> dict[int, list[Bank]]:
        """SPRAM block (physical index) -> the banks it holds."""
        blocks: dict[int, list[Bank]] = {}
        for b in self.banks:
            if b.spram:
                blocks.setdefault(b.index, []).append(b)
        return blocks

    @property
    def offset_bits(self) -> int:
        return max(1, max(b.base + b.depth for b in self.banks) - 1).bit_length()

    @property
    def bank_bits(self) -> int:
        return max(1, (self.memories - 1).bit_length())

    @property
    def needs_load(self) -> bool:
        """Some weights are not in the bitstream and must be sent by the host after configuration."""
        return any(not b.preload for b in self.banks)

    @property
    def uses_spram(self) -> bool:
        return any(b.spram for b in self.banks)

    def load_address(self, bank: Bank, offset: int = 0) -> int:
        return (bank.index << self.offset_bits) | (bank.base + offset)

    def load_image(self, only_needed: bool = False) -> list[tuple[int, np.ndarray]]:
        """``[(start load address, raw words)]`` for every bank (or only those the bitstream lacks)."""
        return [(self.load_address(bank), self.bank_words(bank)) for bank in self.banks
                if not (only_needed and bank.preload)]

    # -- resources and cycles --------------------------------------------
    def memory_table(self) -> list[dict[str, Any]]:
        """Per layer: EBR blocks, SPRAM blocks and multipliers the engine will use for it."""
        rows = []
        w = self.fmt.width
        for layer in self.layers:
            n_states = len(layer.states)
            ebr = sum(b.ebr for b in layer.banks + layer.bias_banks)
            ebr += ebr_blocks(n_states * w, layer.n_out)                    # state
            lists = 2 if layer.recurrent else 1            # spike list (a copy for its own reads)
            ebr += lists * ebr_blocks(max(1, (layer.n_out - 1).bit_length()), layer.n_out)
            if layer.analog:                                                # static current(s)
                ebr += ebr_blocks(w * (2 if layer.split else 1), layer.n_out)
            if layer.count:
                ebr += ebr_blocks(self.count_bits, layer.n_out)
            ebr += _rom_blocks(layer)                                       # exp tables
            rows.append({"layer": layer.name, "n_in": layer.n_in, "n_out": layer.n_out,
                         "lanes": layer.lanes, "weight_words": layer.n_rows * layer.row,
                         "bias_words": layer.n_out * len(layer.bias_banks),
                         "ebr": ebr, "spram_banks": sum(b.spram for b in layer.banks),
                         "dsp": (layer.lanes if layer.analog else 0) + _multipliers(layer.neuron)})
        return rows

    def encoder_cycles(self) -> int:
        """Cycles of one encoder command (a step's scan of every pixel): start, ``n_input``
        issues, the two pipeline stages, finish and the done handshake."""
        return 0 if self.encoder is None else self.n_input + 5

    def resources(self) -> dict[str, int]:
        table = self.memory_table()
        ebr = sum(r["ebr"] for r in table) + ebr_blocks(self.fmt.width,
                                                        self.input_ram_words(self.input_banks()))
        ebr += self.encoder_ebr()
        return {"ebr": ebr, "spram": len(self.spram_blocks), "dsp": sum(r["dsp"] for r in table)}

    def cycles(self, spikes_per_step: Sequence[np.ndarray] | None = None,
               nonzero_inputs: int | None = None) -> int:
        """Clock cycles of one inference (start to done) for given activity.

        Parameters:
            spikes_per_step: for each layer, an array ``(T,)`` with the number of its
                neurons that spiked at each step (``None``: worst case, all spike).
            nonzero_inputs: inputs of the sample whose raw value is not 0 (the analog
                layer multiplies only those; ``None``: worst case, all of them).
        """
        split = self.cycle_split(spikes_per_step, nonzero_inputs)
        return split["accumulate"] + split["update"] + split["overhead"]

    def cycle_split(self, spikes_per_step: Sequence[np.ndarray] | None = None,
                    nonzero_inputs: int | None = None) -> dict[str, Any]:
        """:meth:`cycles` (same parameters) split into ``accumulate``, ``update`` and
        ``overhead`` (:meth:`LayerPlan.command_split` of PREP and of each round's slowest
        command; start, argmax and done count as overhead), with ``prep`` (the analog layer's
        static current), ``rounds`` (the ``T + L - 1`` pipelined rounds: layer ``l``
        computes step ``k - l`` in round ``k``, and a round lasts as long as its slowest
        command) and ``bound_by`` (per layer, the rounds it was the slowest in).

        With an input encoder (:attr:`encoder`) the pipeline has ``L + 1`` stages: the
        encoder lists step ``k`` in round ``k`` (its scans count as ``overhead``; rounds it
        bounds are ``encoder_bound``) and layer ``l`` computes step ``k - l - 1``;
        ``spikes_per_step[0]`` then holds the input spikes of each step (``None``: all)."""
        T, L = self.timesteps, len(self.layers)
        first = self.layers[0]
        enc = 1 if self.encoder is not None else 0
        split = {"accumulate": 0, "update": 0, "overhead": 1 + self.n_output + 2,   # start, argmax + done
                 "prep": 0, "rounds": 0, "bound_by": [0] * L}
        if enc:
            split["encoder_bound"] = 0
            if spikes_per_step is not None and len(spikes_per_step) != L + 1:
                raise ValueError(f"with an input encoder, spikes_per_step holds the input spikes and "
                                 f"{L} layers' ({L + 1} arrays), got {len(spikes_per_step)}")

        def add(part: dict[str, int]) -> int:
            for key, value in part.items():
                split[key] += value
            return sum(part.values())

        if first.analog:                                                    # static current
            split["prep"] = add(first.command_split(first.n_in if nonzero_inputs is None
                                                    else nonzero_inputs, prep=True))

        def step(si: int, t: int) -> dict[str, int]:
            if enc and si == 0:
                return {"overhead": self.encoder_cycles()}
            li = si - enc
            if li == 0 and first.analog:
                return first.command_split(0)
            layer = self.layers[li]
            n_src = self.n_input if li == 0 else self.layers[li - 1].n_out
            s = n_src if spikes_per_step is None else int(spikes_per_step[si - 1][t])
            if layer.recurrent and t > 0:   # its own spikes of the previous step
                s += layer.n_out if spikes_per_step is None else int(spikes_per_step[si][t - 1])
            return layer.command_split(s)

        S = L + enc                                                         # pipeline stages
        for k in range(T + S - 1):
            parts = {si: step(si, k - si) for si in range(S) if 0 <= k - si < T}
            slowest = max(parts, key=lambda si: sum(parts[si].values()))   # the first of ties
            if enc and slowest == 0:
                split["encoder_bound"] += 1
            else:
                split["bound_by"][slowest - enc] += 1
            split["rounds"] += add(parts[slowest])
        return split

    def nonzero_inputs(self, x_raw: np.ndarray) -> np.ndarray:
        """Per sample, the raw inputs that are not 0 (the ``nonzero_inputs`` of :meth:`cycles`)."""
        return np.count_nonzero(np.asarray(x_raw).reshape(-1, self.n_input), axis=1)

    def activity_cycles(self, layer_spikes: Sequence[np.ndarray], x_raw: np.ndarray) -> list[int]:
        """Per sample, :meth:`cycles` for recorded activity.

        Parameters:
            layer_spikes: one ``(T, batch, n_out)`` spike array per layer (``sim.golden``'s
                ``layer_spikes`` with ``record=True``, or the RTL's traced trains).
            x_raw: ``(batch, n_input)`` raw Q8.8 inputs the engine ran (an analog first layer
                skips the zeros; an encoder's spikes are :meth:`InputEncoder.spikes` of them).
        """
        per_step = [np.asarray(ls).sum(axis=2) for ls in layer_spikes]      # (T, batch) per layer
        if self.encoder is not None:
            per_step.insert(0, self.encoder.spikes(x_raw).sum(axis=2).T)
        batch = per_step[0].shape[1]
        nonzero = self.nonzero_inputs(x_raw) if self.layers[0].analog else [None] * batch
        if len(nonzero) != batch:
            raise ValueError(f"x_raw holds {len(nonzero)} samples, the spike trains {batch}")
        return [self.cycles([s[:, b] for s in per_step],
                            None if nonzero[b] is None else int(nonzero[b])) for b in range(batch)]


def _rom_blocks(layer: LayerPlan) -> int:
    """Block RAMs of the layer's neuron datapath: the ``exp`` tables of a pipelined ExpIF/AdEx."""
    from hw.cores.pipeline import PipelinedDatapath

    return PipelinedDatapath(layer.neuron, layer.neuron_stages).rom_blocks


def _multipliers(compiled: Any) -> int:
    """DSPs a compiled neuron's datapath may take: products of two run-time operands.

    Uses ``CompiledNeuron.dsp_multipliers()`` (constant products are shift-add logic);
    an object without it is counted by its ``mul`` operations.
    """
    dsp = getattr(compiled, "dsp_multipliers", None)
    if callable(dsp):
        return int(dsp())
    counts = getattr(compiled, "op_counts", None)
    return int(counts().get("mul", 0)) if callable(counts) else 0


def _neuron_stages(compiled: Any, stages: int | None) -> int:
    if stages is not None:
        if int(stages) < 1:
            raise PlanError(f"neuron_stages must be >= 1, got {stages}")
        return int(stages)
    if getattr(compiled, "program", None) is None:
        return 1
    from hw.cores.pipeline import auto_stages  # the delay model lives with the pipeline

    return auto_stages(compiled)


def plan_network(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray | None],
    neurons: Sequence[Any],
    compiled: Sequence[Any],
    *,
    fmt: QFormat,
    timesteps: int,
    encoding: str = "direct",
    encoder: InputEncoder | None = None,
    recurrent: Sequence[np.ndarray | None] | None = None,
    name: str = "network",
    lanes: Sequence[int] | None = None,
    analog_lanes: int = 4,
    dsp_budget: int | None = None,
    pools: Sequence[int] | None = None,
    spike_lanes: int = 4,
    spram_blocks: int = 0,
    ebr_budget: int | None = None,
    preload: bool | None = None,
    pack: bool = True,
    neuron_stages: int | None = None,
    overlap: Sequence[bool] | None = None,
) -> NetworkPlan:
    """Lay out dense layers (raw integer weights) on the engine.

    ``preload``: EBR banks get their weights from the bitstream; ``None`` (default)
    means yes unless some bank is in SPRAM -- the host must load those anyway, and
    EBR initial contents make synthesis slow (yosys maps each distinct block RAM
    content separately), so then every bank is loaded by the host.

    ``pack``: put two lanes in one word where the layer's raws allow it (lossless).

    ``neuron_stages``: pipeline stages of every layer's neuron datapath; ``None``
    (default): as many as its estimated delay needs (``hw.cores.pipeline.auto_stages``).

    ``neurons`` are the ``hw.ir.Neuron`` of each layer, ``compiled`` their
    ``hw.compiler.CompiledNeuron`` (whose datapath the engine instantiates).

    Lanes: ``lanes[i]`` per layer, else ``analog_lanes`` for the (analog) first layer
    and ``spike_lanes`` for the others (twice that when the layer's weights pack),
    capped at the layer width.  With SPRAM blocks, an analog layer whose banks are deeper
    than an SPRAM block (a wide input, e.g. MNIST's 784 pixels) doubles its lanes (one
    multiplier each) until they fit one, while ``dsp_budget`` (the FPGA's DSPs, less the
    neuron datapaths' multipliers) allows.  ``overlap[i]``: spike layer ``i`` accumulates its next
    group while the last one is updated (``LayerPlan.overlap``; default: all of them).
    With neither given, the layers are balanced (:func:`_balance`): the steps of all
    layers run at once, so a spike layer whose worst-case step is shorter than the
    slowest layer's gets the fewest lanes (and no overlap) that keep it so.
    Banks move from EBR to SPRAM, largest first, while the EBR estimate exceeds
    ``ebr_budget`` and SPRAM blocks remain (``spram_blocks`` = 0: never).

    Raises:
        PlanError: unsupported encoding, a bank too deep for SPRAM, or bad lanes.
    """
    if encoding != "direct" and (encoder is None or encoder.kind != encoding):
        raise PlanError(f"encoding {encoding!r} needs its on-chip encoder (hw.encoding.InputEncoder "
                        f"of that kind; plan_quantized makes it from the network)")
    if fmt.width > 16:
        raise PlanError(f"{fmt} is {fmt.width} bits wide; the engine's memories and DSPs take <= 16")
    if not weights:
        raise PlanError("a network needs at least one layer")
    layers: list[LayerPlan] = []
    packable: list[int] = []
    if not (len(weights) == len(biases) == len(neurons) == len(compiled)):
        raise PlanError("weights, biases, neurons and compiled need one entry per layer")
    for i, (w, b, neuron, comp) in enumerate(zip(weights, biases, neurons, compiled)):
        w = np.asarray(w, dtype=np.int64)
        n_out = w.shape[0]
        w_rec = None if recurrent is None else recurrent[i]
        if (w_rec is not None) != (len(neuron.inputs) == 2 and neuron.kind != "alpha"):
            raise PlanError(f"layer {i}: a {neuron.kind} layer needs recurrent weights exactly when its "
                            f"neuron has a recurrent input (inputs {neuron.inputs})")
        if w_rec is not None:
            if i == 0 and encoder is None:
                raise PlanError(f"layer {i}: a recurrent ({neuron.kind}) first layer of a direct-encoded "
                                "network is not supported by the FPGA engine yet (its analog current is "
                                "computed once a sample); use rate or latency encoding (on chip), or "
                                "a feed-forward first layer")
            w_rec = np.asarray(w_rec, dtype=np.int64)
            if w_rec.shape != (n_out, n_out):
                raise PlanError(f"layer {i}: recurrent weights must be ({n_out}, {n_out}), got {w_rec.shape}")
            w = np.concatenate([w, w_rec], axis=1)
        b = np.zeros(n_out, dtype=np.int64) if b is None else np.asarray(b, dtype=np.int64)
        options = _pack_options(w, fmt.width) if pack else {1: 0}
        most = max(options)
        # spike layers: packing doubles the lanes the same memories feed; not more for 4 lanes a
        # word (lanes cost logic: accumulators, hold registers; on the UP5K LCs bind first)
        analog = i == 0 and encoder is None
        pool = 1 if pools is None else int(pools[i])
        n_out = n_out // (pool * pool)
        default = analog_lanes if analog else spike_lanes * min(most, 2)
        if neuron.kind == "alpha":
            # two accumulators and hold registers per lane: 4 + 8 lanes of a 64-32-10 alpha
            # net need 5553 LCs (of 5280), 2 + 2 lanes 4443 (bench/kinds_table.py)
            default = max(1, (analog_lanes if analog else spike_lanes) // 2)
        p = min(n_out, default) if lanes is None else int(lanes[i])
        if pool > 1:   # one lane per window position
            if lanes is not None and p != pool * pool:
                raise PlanError(f"layer {i}: a {pool}x{pool}-pooled layer takes {pool * pool} lanes, got {p}")
            p = pool * pool
        elif not 1 <= p <= n_out:
            raise PlanError(f"layer {i}: lanes must be 1..{n_out}, got {p}")
        layer = LayerPlan(index=i, name=f"layer{i}", weight=w, bias=b, neuron=comp,
                          states=tuple(neuron.states), inputs=tuple(neuron.inputs),
                          lanes=p, analog=analog, count=(i == len(weights) - 1),
                          neuron_stages=_neuron_stages(comp, neuron_stages),
                          overlap=not analog and (overlap is None or bool(overlap[i])),
                          pack_options=options, split=neuron.kind == "alpha",
                          recurrent=w_rec is not None, pool=pool)
        layer.set_lanes(p, pack)
        layers.append(layer)
        packable.append(most)
    first = layers[0]
    if lanes is None and first.analog and spram_blocks > 0 and first.pool == 1:
        most = analog_lanes if dsp_budget is None else \
            dsp_budget - sum(_multipliers(layer.neuron) for layer in layers)
        while first.bank_depth > SPRAM_DEPTH and first.lanes < min(most, first.n_out):
            first.set_lanes(min(2 * first.lanes, most, first.n_out), pack)
    if lanes is None and overlap is None:
        defaults = [layer.lanes for layer in layers]
        _balance(layers, packable)
        plan = _place(layers, fmt, timesteps, name, spram_blocks, ebr_budget, preload, encoder)
        plan = _widen(plan, packable, defaults, fmt, timesteps, name, spram_blocks, ebr_budget, preload, encoder)
        return plan
    return _place(layers, fmt, timesteps, name, spram_blocks, ebr_budget, preload, encoder)


def _place(layers: list[LayerPlan], fmt: QFormat, timesteps: int, name: str, spram_blocks: int,
           ebr_budget: int | None, preload: bool | None, encoder: InputEncoder | None) -> NetworkPlan:
    """Number the banks and move them from EBR to SPRAM (see :func:`plan_network`)."""
    index = 0
    for layer in layers:
        layer.banks = [Bank(index + k, layer.index, k, layer.bank_depth) for k in range(layer.n_banks)]
        index += layer.n_banks
    for layer in layers:
        layer.bias_banks = [Bank(index + k, layer.index, c, layer.n_out, bias=True)
                            for k, c in enumerate(layer.biased_currents(fmt.max_raw))]
        index += len(layer.bias_banks)
    plan = NetworkPlan(fmt=fmt, layers=layers, timesteps=timesteps,
                       n_input=int(layers[0].n_in), name=name, encoder=encoder)
    blocks: list[dict[str, Any]] = []          # SPRAM blocks: layers held, words used
    placed: dict[tuple[int, int], tuple[int, int]] = {}   # (layer, lane) -> (block, base)
    if ebr_budget is not None and spram_blocks > 0:
        weight_banks = [b for layer in layers for b in layer.banks]
        for bank in sorted(weight_banks, key=lambda b: -b.depth):
            if plan.resources()["ebr"] - sum(b.ebr for b in weight_banks if (b.layer, b.lane) in placed) \
                    <= ebr_budget:
                break
            # a block holds banks of different layers, but of one spike layer at most: the
            # spike layers read their weights at the same time (pipelined steps), the
            # analog layer only in PREP, which runs alone
            fits = [i for i, blk in enumerate(blocks)
                    if bank.layer not in blk["layers"] and blk["used"] + bank.depth <= SPRAM_DEPTH
                    and (layers[bank.layer].analog or all(layers[li].analog for li in blk["layers"]))]
            if fits:
                i = fits[0]
            elif len(blocks) < spram_blocks and bank.depth <= SPRAM_DEPTH:
                blocks.append({"layers": set(), "used": 0})
                i = len(blocks) - 1
            else:
                continue
            placed[(bank.layer, bank.lane)] = (i, blocks[i]["used"])
            blocks[i]["layers"].add(bank.layer)
            blocks[i]["used"] += bank.depth
    if preload is None:
        preload = not placed
    n_ebr = sum(1 for b in plan.banks if b.bias or (b.layer, b.lane) not in placed)
    index = 0
    for layer in layers:
        banks = []
        for b in layer.banks:
            if (b.layer, b.lane) in placed:
                blk, base = placed[(b.layer, b.lane)]
                banks.append(Bank(n_ebr + blk, b.layer, b.lane, b.depth, spram=True, preload=False,
                                  base=base))
            else:
                banks.append(Bank(index, b.layer, b.lane, b.depth, preload=preload))
                index += 1
        layer.banks = banks
    for layer in layers:   # the bias memories: EBR, after the weight banks in EBR
        layer.bias_banks = [Bank(index + k, b.layer, b.lane, b.depth, preload=preload, bias=True)
                            for k, b in enumerate(layer.bias_banks)]
        index += len(layer.bias_banks)
    return plan


def _balance(layers: list[LayerPlan], packable: Sequence[int], keep: int | None = None,
             limit: Sequence[int] | None = None) -> None:
    """Shrink the spike layers that are not the slowest: all layers compute their steps at
    once (``NetworkCore``), so one whose worst-case step (every input spiked) stays within
    the slowest layer's needs no more lanes or overlap than that (fewer accumulators, hold
    registers and banks).  Each such layer takes the first of (1 bank, no overlap), (1 bank,
    overlap), (2 banks, no overlap) ... up to its default that stays within the slowest."""
    worst = _worst
    bound = max(worst(layer) for layer in layers)
    for layer, can_pack in zip(layers, packable):
        if layer.analog or layer.index == keep or layer.pool > 1:
            continue
        if limit is not None:   # rebalancing: from the layer's default lanes, with overlap
            layer.overlap = True
            layer.set_lanes(limit[layer.index], can_pack > 1)
        default = (layer.lanes, layer.pack, layer.overlap)
        per_bank = min(can_pack, 2)     # lanes in steps of 2 when packed (set_lanes packs them)
        for banks in range(1, math.ceil(layer.lanes / per_bank) + 1):
            lanes = min(layer.n_out, banks * per_bank)
            found = False
            for ov in (False, True):
                layer.overlap = ov
                layer.set_lanes(lanes, can_pack > 1)
                if (lanes, layer.pack, ov) == default or worst(layer) <= bound:
                    found = True
                    break
            if found:
                break
        else:
            layer.overlap = default[2]
            layer.set_lanes(default[0], can_pack > 1)


def _pack_options(weight: np.ndarray, width: int) -> dict[int, int]:
    """``{pack: shift}`` for 1 and every packing (2, 4) the raws allow: the weights are
    ``code << shift`` with codes of ``width // pack`` bits (the smallest such shift)."""
    w = np.asarray(weight, dtype=np.int64).ravel()
    options = {1: 0}
    for pack in (2, 4):
        bits = width // pack
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        shift = next((s for s in range(width - bits + 1)
                      if w.size == 0 or (int(w.min()) >> s >= lo and int(w.max()) >> s <= hi)), None)
        if shift is None or np.any(w & ((1 << shift) - 1)):
            break           # codes that do not fit, or raws between them: no tighter packing
        options[pack] = shift
    return options


def _worst(layer: LayerPlan) -> int:
    """Cycles of the layer's step when every input is active (the analog STEP has no inputs)."""
    return layer.command_cycles(0 if layer.analog else layer.n_in + (layer.n_out if layer.recurrent else 0))


def _widen(plan: NetworkPlan, packable: Sequence[int], defaults: Sequence[int], fmt: QFormat,
           timesteps: int, name: str, spram_blocks: int, ebr_budget: int | None,
           preload: bool | None, encoder: InputEncoder | None) -> NetworkPlan:
    """Give the lanes :func:`_balance` took from the other spike layers to the slowest one, a
    bank at a time, while its step gets shorter and the plan stays within ``ebr_budget``
    (lanes are accumulators and hold registers: the logic stays about the same); then
    rebalance the others against its new step."""
    layers = plan.layers
    spike = [layer for layer in layers if not layer.analog]
    if not spike:
        return plan
    slowest = max(spike, key=_worst)
    if slowest.pool == 1:   # (a pooled layer's lanes are its window)
        spare = sum(defaults[layer.index] for layer in spike) - sum(layer.lanes for layer in spike)
        per_bank = min(packable[slowest.index], 2)
        start = kept = lanes = slowest.lanes

        def use(n: int) -> None:
            slowest.set_lanes(n, packable[slowest.index] > 1)

        while True:
            lanes = min(slowest.n_out, (math.ceil(lanes / per_bank) + 1) * per_bank)
            if lanes <= kept or lanes - start > spare:
                break
            before = _worst(slowest)
            use(lanes)
            if _worst(slowest) >= before or (
                    ebr_budget is not None
                    and _place(layers, fmt, timesteps, name, spram_blocks, ebr_budget,
                               preload, encoder).resources()["ebr"] > ebr_budget):
                break
            kept = lanes
        use(kept)
    _balance(layers, packable, keep=slowest.index, limit=defaults)
    return _place(layers, fmt, timesteps, name, spram_blocks, ebr_budget, preload, encoder)


def _encoder(qnet: Any) -> InputEncoder | None:
    """The on-chip encoder of a quantised network (``PlanError`` for bad parameters)."""
    try:
        return encoder_for(qnet.network, qnet.fmt.frac_bits)
    except ValueError as exc:
        raise PlanError(f"input encoder: {exc}") from None


def plan_quantized(qnet: Any, **options: Any) -> NetworkPlan:
    """Plan a ``hw.quantize.QuantizedNetwork`` (the one source of the raw weights).

    ``options`` go to :func:`plan_network` (``lanes``, ``spram_blocks``, ``ebr_budget``).

    Raises:
        PlanError: a layer the engine does not run, bad lanes for a pooled layer or bad encoder
            parameters.  Conv2d layers run as their unrolled dense matrix
            (``hw.cores.conv_unroll``), a max-pooled one with one lane per window position.
    """
    weights, biases, pools = [], [], []
    for i, q in enumerate(qnet.layers):
        w, b = q.weight, q.bias
        if q.layer.op == "conv2d":
            w, b = conv_matrix(w, b, q.layer.in_shape, q.layer.stride, q.layer.padding)
            if q.layer.pool > 1:   # rows grouped by pooled neuron, window positions in its lanes
                rows = pooled_rows(q.layer.conv_shape, q.layer.pool)
                w, b = w[rows], b[rows]
        elif q.layer.op != "dense":
            raise PlanError(f"layer {i} ({q.name}): {q.layer.op} layers are not supported by the FPGA engine")
        pools.append(q.layer.pool if q.layer.op == "conv2d" else 1)
        weights.append(w)
        biases.append(b)
    plan = plan_network(weights, biases,
                        [q.layer.neuron for q in qnet.layers], [q.neuron for q in qnet.layers],
                        recurrent=[q.recurrent_weight for q in qnet.layers],
                        fmt=qnet.fmt, timesteps=qnet.timesteps, encoding=qnet.encoding,
                        encoder=_encoder(qnet), name=qnet.network.name, pools=pools, **options)
    for layer, q in zip(plan.layers, qnet.layers):
        layer.name = q.name
    return plan
