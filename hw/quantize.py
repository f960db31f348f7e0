"""``hw.quantize``: the ONE place a ``hw.ir.Network`` is turned into fixed-point raws.

``quantize_network(net, fmt)`` rounds every weight, bias and recurrent weight
to ``fmt`` raws (int64 holding ``fmt.width``-bit values, by ``fmt.quantize``:
the format's rounding, then its overflow rule) and compiles each layer's
neuron equations with ``hw.compiler.compile_neuron``.  The golden model
(``sim.golden``) and the RTL generator both take their numbers from here, so
the memory contents of the hardware are exactly what the golden model uses.

Weight precision (``weight_bits`` of the IR layer, or given here): 16 = the
plain ``fmt`` raws above.  A ``b``-bit layer (8 or 4) has weight raws restricted
to ``code << shift`` with ``code`` in ``[-2**(b-1), 2**(b-1) - 1]``; ``shift`` is
the smallest >= 0 for which every ``fmt`` raw of the layer's weights, shifted
right (floor), fits that code range (at most ``fmt.width - b``); each code is
the layer's ``fmt`` raw divided by ``2**shift``, rounded half up, then clipped to
the code range (a clipped code, or a weight already clipped by ``fmt``, counts in
``saturated``).  Biases (and recurrent weights) stay
full ``fmt`` raws.  The golden model reads these raws, so it follows the
precision; the planner packs ``16 // b`` codes in a bank word.

Alpha layers (inputs ``I_exc``, ``I_inh``) split the quantised weights by
sign: ``weight_exc = max(w, 0)`` and ``weight_inh = min(max(-w, 0), max_raw)``
(the magnitude of the most negative raw saturates to ``max_raw`` so it fits
the format); biases split the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from hw.fixed import Q8_8, QFormat
from hw.ir import WEIGHT_BITS, Conv2d, Dense, Layer, Network


@dataclass
class QuantizedLayer:
    """One layer in raws.

    Attributes:
        name: the IR layer's name.
        layer: the IR layer (geometry and the float values).
        weight: int64 raws, same shape as ``layer.weight``.
        bias: int64 raws ``(n_out,)`` for dense, ``(c_out,)`` for conv; zeros if the layer has none.
        recurrent_weight: int64 raws ``(n_out, n_out)`` or ``None``.
        neuron: the compiled neuron (``hw.compiler.CompiledNeuron``).
        saturated: how many weights/biases/recurrent weights were clipped by the format's range.
        saturation: the same count split by kind: ``{"weight": n, "bias": n, "recurrent": n}``.
        n_values: how many values were quantised (weights + biases + recurrent weights).
        weight_bits: the weights' precision (16, 8 or 4).
        weight_shift: the weights are ``code << weight_shift`` (0 for 16 bits).
    """

    name: str
    layer: Layer
    weight: np.ndarray
    bias: np.ndarray
    recurrent_weight: np.ndarray | None
    neuron: Any
    saturated: int = 0
    saturation: dict[str, int] = field(default_factory=dict)
    n_values: int = 0
    weight_bits: int = 16
    weight_shift: int = 0

    @property
    def op(self) -> str:
        return self.layer.op

    @property
    def n_in(self) -> int:
        return self.layer.n_in

    @property
    def n_out(self) -> int:
        return self.layer.n_out

    @property
    def split_inputs(self) -> bool:
        """True for alpha layers, whose current is split into excitatory/inhibitory parts."""
        return self.layer.neuron.kind == "alpha"

    def split(self, fmt: QFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(weight_exc, bias_exc, weight_inh, bias_inh)`` raws: positive parts and magnitudes of negatives."""
        (w_exc, w_inh), (b_exc, b_inh) = split_raws(self.weight, fmt.max_raw), split_raws(self.bias, fmt.max_raw)
        return w_exc, b_exc, w_inh, b_inh


def split_raws(raw: np.ndarray, max_raw: int) -> tuple[np.ndarray, np.ndarray]:
    """The alpha split of raws: ``(max(raw, 0), min(max(-raw, 0), max_raw))``, the positive parts
    (into ``I_exc``) and the magnitudes of the negative ones (into ``I_inh``), clipped to the format."""
    raw = np.asarray(raw, dtype=np.int64)
    return np.maximum(raw, 0), np.minimum(np.maximum(-raw, 0), max_raw)


@dataclass
class QuantizedNetwork:
    """A network in raws plus the format they are in.

    Attributes:
        network: the source IR network (shapes, timesteps, encoding).
        layers: one ``QuantizedLayer`` per IR layer.
        fmt: the fixed-point format of every raw.
    """

    network: Network
    layers: list[QuantizedLayer]
    fmt: QFormat

    @property
    def timesteps(self) -> int:
        return self.network.timesteps

    @property
    def encoding(self) -> str:
        return self.network.encoding

    @property
    def n_input(self) -> int:
        return self.network.n_input

    @property
    def n_output(self) -> int:
        return self.network.n_output

    @property
    def saturated(self) -> int:
        """Weights, biases and recurrent weights clipped by the format's range, all layers."""
        return sum(q.saturated for q in self.layers)

    def report(self) -> str:
        """Per layer: raw ranges, saturated count and worst rounding error of the weights."""
        lines = [f"{self.network.name} in {self.fmt}"]
        for q in self.layers:
            err = np.max(np.abs(self.fmt.to_float(q.weight) - np.asarray(q.layer.weight, np.float64)))
            prec = "" if q.weight_bits == 16 else f" ({q.weight_bits}-bit codes << {q.weight_shift})"
            lines.append(f"  {q.name}: weight raws [{q.weight.min()}, {q.weight.max()}]{prec}, "
                         f"max |error| {err:.3g}, saturated {q.saturated}")
        return "\n".join(lines)

    def saturation_summary(self) -> str:
        """One line: how many values each layer had clipped to the format's range (or that none were)."""
        rng = f"[{self.fmt.min_value:g}, {self.fmt.max_value:g}]"
        if self.saturated == 0:
            return f"{self.fmt} quantisation: no weight or bias outside {rng}"
        parts = []
        for q in self.layers:
            kinds = ", ".join(f"{n} {k}" for k, n in q.saturation.items() if n)
            parts.append(f"{q.name} {q.saturated} of {q.n_values}" + (f" ({kinds})" if kinds else ""))
        narrow = [q for q in self.layers if q.weight_bits < 16]
        where = rng if not narrow else f"{rng} or the {'/'.join(sorted({str(q.weight_bits) for q in narrow}))}-bit weight codes"
        return (f"{self.fmt} quantisation: {self.saturated} weights/biases outside {where} were clipped: "
                + "; ".join(parts))


def _raws(values: np.ndarray, fmt: QFormat) -> tuple[np.ndarray, int]:
    values = np.asarray(values, dtype=np.float64)
    raw = fmt.quantize(values)
    scaled = values * fmt.one
    n_sat = int(np.count_nonzero((scaled > fmt.max_raw + 0.5) | (scaled < fmt.min_raw - 0.5)))
    return raw.astype(np.int64), n_sat


def weight_shift(raw: np.ndarray, bits: int, fmt: QFormat = Q8_8) -> int:
    """The smallest shift >= 0 (at most ``fmt.width - bits``) for which every raw of ``raw``
    shifted right (floor) fits a ``bits``-bit signed code."""
    raw = np.asarray(raw, dtype=np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    top = max(0, fmt.width - bits)
    if raw.size == 0:
        return 0
    for shift in range(top + 1):
        if int(raw.min()) >> shift >= lo and int(raw.max()) >> shift <= hi:
            return shift
    return top


def _weight_codes(values: np.ndarray, bits: int, fmt: QFormat) -> tuple[np.ndarray, int, int]:
    """``(raws, clipped, shift)`` of a ``bits``-bit layer (module docstring)."""
    raw = fmt.quantize(np.asarray(values, dtype=np.float64)).astype(np.int64)
    shift = weight_shift(raw, bits, fmt)
    wide = (raw + ((1 << shift) >> 1)) >> shift          # the raw to the nearest code, half up
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    code = np.clip(wide, lo, hi)
    clipped = (code != wide) | (np.abs(np.asarray(values, np.float64) * fmt.one)
                                > np.where(values >= 0, fmt.max_raw, -fmt.min_raw) + 0.5)
    return code << shift, int(np.count_nonzero(clipped)), shift


def set_weight_bits(network: Network, bits: int | Sequence[int]) -> Network:
    """A copy of ``network`` whose layers have ``weight_bits`` ``bits`` (one value for every
    layer, or one per layer); the arrays are shared."""
    per = [int(bits)] * len(network.layers) if isinstance(bits, (int, np.integer)) else [int(b) for b in bits]
    if len(per) != len(network.layers):
        raise ValueError(f"{len(per)} weight precisions for {len(network.layers)} layers")
    return replace(network, layers=[replace(l, weight_bits=b) for l, b in zip(network.layers, per)])


def quantize_layer(layer: Layer, fmt: QFormat = Q8_8) -> QuantizedLayer:
    """Quantise one IR layer and compile its neuron (see ``quantize_network``)."""
    from hw.compiler import compile_neuron  # imported late: the compiler pulls in amaranth

    bits = int(getattr(layer, "weight_bits", 16))
    if bits not in WEIGHT_BITS:
        raise ValueError(f"{layer.name}: weight_bits must be one of {WEIGHT_BITS}, got {bits}")
    shift = 0
    if bits >= fmt.width:
        weight, n_w = _raws(layer.weight, fmt)
    else:
        weight, n_w, shift = _weight_codes(layer.weight, bits, fmt)
    n_bias = layer.weight.shape[0]
    sat = {"weight": n_w, "bias": 0, "recurrent": 0}
    n_values = int(weight.size)
    if layer.bias is None:
        bias = np.zeros(n_bias, dtype=np.int64)
    else:
        bias, sat["bias"] = _raws(layer.bias, fmt)
        n_values += int(bias.size)
    recurrent = None
    if isinstance(layer, Dense) and layer.recurrent_weight is not None:
        recurrent, sat["recurrent"] = _raws(layer.recurrent_weight, fmt)
        n_values += int(recurrent.size)
    if not isinstance(layer, (Dense, Conv2d)):
        raise TypeError(f"unknown layer type {type(layer).__name__}")
    neuron = compile_neuron(layer.neuron, fmt)
    return QuantizedLayer(name=layer.name, layer=layer, weight=weight, bias=bias,
                          recurrent_weight=recurrent, neuron=neuron, saturated=sum(sat.values()),
                          saturation=sat, n_values=n_values, weight_bits=bits, weight_shift=shift)


def quantize_network(network: Network, fmt: QFormat = Q8_8, *,
                     weight_bits: int | Sequence[int] | None = None) -> QuantizedNetwork:
    """Quantise every layer of ``network`` to ``fmt`` raws and compile its neurons.

    ``weight_bits``: override the layers' own ``weight_bits`` (one value or one per layer).

    The network is validated first (``hw.ir.IRError`` on a malformed one);
    an equation the compiler cannot handle raises the compiler's error.
    """
    if not isinstance(network, Network):
        raise TypeError(f"quantize_network expects a hw.ir.Network, got {type(network).__name__}")
    if not isinstance(fmt, QFormat):
        raise TypeError(f"fmt must be a hw.fixed.QFormat, got {type(fmt).__name__}")
    if weight_bits is not None:
        network = set_weight_bits(network, weight_bits)
    network.validate()
    return QuantizedNetwork(network=network, layers=[quantize_layer(l, fmt) for l in network.layers],
                            fmt=fmt)
