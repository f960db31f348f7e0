"""``sim.tb.engine_cases``: random small networks for the engine tests, and the comparison with golden.

``make_case`` draws a dense network (sizes, lanes, packing, weights big enough to
saturate Q8.8 currents), ``saturated_currents`` counts how many input currents of
a golden run left the format's range before the overflow rule (so a test can
insist that saturation was exercised), ``check_against_golden`` compares the
per-layer spike trains, counts, classes and cycles of an ``RTLResult`` (from
``simulate_core`` / ``run_plan_rtl`` with ``trace=True``) with ``sim.golden`` and
``NetworkPlan.cycles``.  Used by ``tests/hw/test_engine.py`` and
``tests/rtl/test_network_rtl.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hw.cores.conv_unroll import conv_matrix
from hw.cores.plan import NetworkPlan, plan_quantized
from hw.fixed import Q8_8
from hw.ir import Dense, Network, Neuron
from hw.quantize import QuantizedNetwork, quantize_network
from sim.golden import GoldenResult, encode_pixels, run_golden
from sim.tb.network import RTLResult, simulate_core
from sw.training.equations import CELL_EQUATIONS

__all__ = ["ACCEPTED", "REFUSED", "RECURRENT", "Case", "neuron", "make_case", "saturated_currents",
           "check_against_golden", "check_sc_engine", "run_case"]

ACCEPTED = ("lif", "if", "synaptic", "alif", "expif", "adex", "lapicque", "second_order_lif", "alpha",
            "recurrent_lif")
"""Neuron kinds the engine runs (the tests' expectation; ``hw.cores.plan`` decides)."""
REFUSED: tuple[str, ...] = ()
"""Kinds ``plan_network`` refuses with a ``PlanError`` (none left; a recurrent first layer of a
direct-encoded network is refused, see ``RECURRENT``)."""
RECURRENT = ("recurrent_lif",)
"""Kinds with recurrent weights: not the analog (direct-encoded) first layer."""


def neuron(kind: str) -> Neuron:
    """The ``hw.ir.Neuron`` of a training cell kind (``sw.training.equations``)."""
    e = CELL_EQUATIONS[kind]
    return Neuron(kind, e.text, e.states, e.inputs, dict(e.params))


@dataclass
class Case:
    """One random network with its plan options and inputs."""

    qnet: QuantizedNetwork
    plan: NetworkPlan
    x: np.ndarray
    load: bool


def make_case(kinds: Sequence[str], seed: int, *, batch: int = 2, timesteps: int = 8,
              widths: Sequence[int] | None = None, small: int | None = None,
              spram_blocks: int = 0, ebr_budget: int | None = None, encoding: str = "direct") -> Case:
    """A random dense network, layer ``i`` of kind ``kinds[i]``.

    The last layer, and all but one (drawn) of the others when there are 3 or more,
    get "big" weights (std 90 in value, and a third of the biases at +-127, so sums
    of a few products or spikes leave Q8.8's [-128, 128) range: saturation); the
    drawn one "small" ones (within [-0.2, 0.49], i.e. 8-bit raws: the plan packs them
    two lanes per word unless ``pack`` is drawn False).  ``small``: that layer instead
    (-1: none).  ``widths``: ``[n_input, n_out_0, ...]`` instead of random sizes in 1..12.
    About a third of the inputs are 0 (skipped by the analog layer), and the spike layers
    mostly overlap accumulation and update (``LayerPlan.overlap``, drawn).
    ``spram_blocks``, ``ebr_budget``: as for ``hw.cores.plan.plan_network`` (SPRAM only
    runs on Icarus, ``run_plan_rtl``).  ``encoding`` ``"rate"`` / ``"latency"``: the board
    encodes the pixels (``hw.encoding``, a drawn LFSR seed / tau); some pixels are above 1
    or below 0 (clipped by the encoder).
    """
    rng = np.random.default_rng(seed)
    if widths is None:
        widths = [int(n) for n in rng.integers(1, 13, len(kinds) + 1)]
    n_input = widths[0]
    drawn = int(rng.integers(0, len(kinds) - 1)) if len(kinds) > 2 else -1
    small = drawn if small is None else small
    layers, lanes, n_in = [], [], n_input
    for i, (kind, n_out) in enumerate(zip(kinds, widths[1:])):
        if i != small:  # big: saturating currents
            w = np.clip(rng.normal(0.0, 90.0, (n_out, n_in)), -127, 127)
            b = np.clip(rng.normal(0.0, 60.0, n_out), -127, 127)
            rail = rng.integers(0, 3, n_out) == 0
            b[rail] = rng.choice([-127.0, 127.0], int(rail.sum()))
        else:           # small: 8-bit raws (packable)
            w = rng.uniform(-0.2, 0.49, (n_out, n_in))
            b = rng.uniform(-0.2, 0.49, n_out)
        rec = None
        if kind in RECURRENT:   # own spikes of the previous step, saturating like the inputs
            rec = (np.clip(rng.normal(0.0, 60.0, (n_out, n_out)), -127, 127) if i != small
                   else rng.uniform(-0.2, 0.49, (n_out, n_out)))
        layers.append(Dense(f"l{i}", w, b, neuron(kind), recurrent_weight=rec))
        lanes.append(int(rng.integers(1, n_out + 1)))
        n_in = n_out
    metadata = {}
    if encoding == "rate":
        metadata["encoder"] = {"seed": int(rng.integers(1, 1 << 16))}
    elif encoding == "latency":
        metadata["encoder"] = {"tau": float(rng.uniform(0.5, 2.0) * timesteps / 4)}
    net = Network(layers, (n_input,), timesteps=timesteps, encoding=encoding, metadata=metadata)
    qnet = quantize_network(net, Q8_8)
    pack = bool(rng.integers(0, 4))   # mostly packed where the raws allow it
    x = rng.uniform(0, 1, (batch, n_input))
    load = bool(rng.integers(0, 2))
    # about a third of the inputs 0 (the analog layer skips them; digits images are half 0)
    x[rng.uniform(0, 1, x.shape) < 1 / 3] = 0.0
    if encoding != "direct":   # the encoder clips: 1 and above always / first step, <= 0 never
        x[rng.uniform(0, 1, x.shape) < 0.1] = 1.0
        x[rng.uniform(0, 1, x.shape) < 0.05] = 1.5
        x[rng.uniform(0, 1, x.shape) < 0.05] = -0.5
    overlap = [bool(v) for v in rng.integers(0, 3, len(kinds)) > 0]   # mostly overlapped
    plan = plan_quantized(qnet, lanes=lanes, spram_blocks=spram_blocks, ebr_budget=ebr_budget,
                          pack=pack, overlap=overlap)
    return Case(qnet, plan, x, load=load)


def saturated_currents(qnet: QuantizedNetwork, x: np.ndarray, golden: GoldenResult) -> list[int]:
    """Per layer: input currents of the golden run outside Q8.8 before the overflow rule.

    Recomputed from the exact sums (``W @ x_q`` rounded once for the analog layer,
    ``W @ s + b`` over the recorded spikes of the previous layer for the others).
    """
    fmt = qnet.fmt
    out = []
    for li, q in enumerate(qnet.layers):
        weight, bias = q.weight, q.bias
        if q.op == "conv2d":   # the unrolled matrix (the same sums as the convolution)
            weight, bias = conv_matrix(weight, bias, q.layer.in_shape, q.layer.stride, q.layer.padding)
        if li == 0 and qnet.network.encoding != "direct":
            s = encode_pixels(qnet.network, x, fmt).transpose(1, 0, 2)     # (T, B, n_in)
            wide = np.einsum("oi,tbi->tbo", weight, s) + bias
        elif li == 0:
            acc = weight @ fmt.quantize(x).T + (bias << fmt.frac_bits)[:, None]
            wide = fmt.shift_round(acc, fmt.frac_bits)
        else:
            s = golden.layer_spikes[li - 1].astype(np.int64)          # (T, B, n_in)
            wide = np.einsum("oi,tbi->tbo", weight, s) + bias
        out.append(int(np.count_nonzero((wide > fmt.max_raw) | (wide < fmt.min_raw))))
    return out


def check_against_golden(plan: NetworkPlan, qnet: QuantizedNetwork, rtl: RTLResult,
                         golden: GoldenResult) -> None:
    """Per-layer per-step spike trains, counts, classes and cycles equal golden / the cycle model.

    Raises ``AssertionError`` naming the first mismatching (sample, step, neuron).
    """
    assert rtl.layer_spikes is not None, "run the engine with trace=True"
    assert len(rtl.layer_spikes) == len(golden.layer_spikes) == len(plan.layers)
    for li, (hw_train, ref) in enumerate(zip(rtl.layer_spikes, golden.layer_spikes)):
        ref = ref.transpose(1, 0, 2).astype(np.int64)                  # (B, T, n)
        assert hw_train.shape == ref.shape, (li, hw_train.shape, ref.shape)
        bad = np.argwhere(hw_train != ref)
        if bad.size:
            at = tuple(bad[0])
            layer = plan.layers[li]
            raise AssertionError(
                f"layer {li} ({qnet.layers[li].layer.neuron.kind}, lanes {layer.lanes}, pack {layer.pack}): "
                f"{len(bad)} mismatches, first at (sample, step, neuron) {at}: hardware {hw_train[at]}, "
                f"golden {ref[at]}")
    np.testing.assert_array_equal(rtl.spike_counts, golden.spike_counts)
    np.testing.assert_array_equal(rtl.predictions, golden.predictions)
    assert rtl.x_raw is not None, "the cycle model needs the inputs the engine ran (RTLResult.x_raw)"
    np.testing.assert_array_equal(rtl.cycles, plan.activity_cycles(golden.layer_spikes, rtl.x_raw))


def run_case(case: Case, rtl: bool = False) -> tuple[RTLResult, GoldenResult]:
    """The golden run (recorded) and the engine, traced: in Amaranth's simulator, or with
    ``rtl`` its Verilog in the RTL simulator (``sim.tb.network.run_plan_rtl``: Verilator, or
    Icarus with ``SIM=icarus``; the load port writes the banks that need it)."""
    from sim.tb.network import run_plan_rtl

    golden = run_golden(case.qnet, case.x, record=True, progress=False)
    if rtl:
        return run_plan_rtl(case.plan, Q8_8.quantize(case.x), trace=True), golden
    return simulate_core(case.plan, Q8_8.quantize(case.x), load=case.load, trace=True), golden


def check_sc_engine(plan: Any, x: np.ndarray, build_dir: Any = None, trace: bool = True
                    ) -> tuple[RTLResult, Any]:
    """Run samples ``x`` through an SC plan's engine RTL (``run_plan_rtl``) and its model
    (``sim.sc.fixed.run_sc_fixed``); assert counts, classes, cycles (the cycle model) and, with
    ``trace``, every layer's spike train per step are equal.  Returns ``(rtl, model)``."""
    from sim.sc.fixed import run_sc_fixed
    from sim.tb.network import run_plan_rtl

    rtl = run_plan_rtl(plan, Q8_8.quantize(x), build_dir=build_dir, trace=trace)
    model = run_sc_fixed(plan.qnet, x, length=plan.length, base_seed=plan.base_seed, record=True,
                         progress=False)
    assert np.array_equal(rtl.spike_counts, model.spike_counts)
    assert np.array_equal(rtl.predictions, model.predictions)
    if trace:
        for li, (got, want) in enumerate(zip(rtl.layer_spikes, model.layer_spikes)):
            assert np.array_equal(got, want.transpose(1, 0, 2)), f"layer {li} spikes differ"
    assert rtl.cycles.tolist() == plan.activity_cycles(model.layer_spikes, Q8_8.quantize(x))
    return rtl, model
