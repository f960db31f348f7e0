"""The engine (``hw.cores``) in Amaranth's simulator equals ``sim.golden`` for every neuron kind it accepts.

Random small dense networks (2-3 layers, 1..12 neurons, 1..n_out lanes, packed and
unpacked weight banks) with weights large enough that the input currents SATURATE
Q8.8; each case checks that the golden run really saturated, then compares per
layer and per step the spike trains the hardware appended to its spike lists
(trace signals, ``simulate_core(trace=True)``), the output counts, the class and
the cycle counter (against ``NetworkPlan.cycles``).
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.cores.plan import PlanError, plan_quantized
from hw.fixed import Q8_8
from hw.ir import Dense, Network
from hw.quantize import quantize_network
from sim.tb.engine_cases import (ACCEPTED, RECURRENT, REFUSED, Case, check_against_golden, make_case, neuron,
                                 run_case, saturated_currents)
from sw.training.equations import CELL_EQUATIONS

# (kind, seed, layers): one random net per kind (each simulation compiles a design,
# ~1-5 s here; the datapaths with exp() cost most, so those nets get 2 layers)
_LAYERS = {"lif": 3, "if": 2, "synaptic": 3, "alif": 2, "expif": 2, "adex": 2, "lapicque": 3,
           "second_order_lif": 3, "alpha": 3, "recurrent_lif": 3}
CASES = [(kind, 3 + 10 * i, _LAYERS[kind]) for i, kind in enumerate(ACCEPTED)]


def _kinds(kind: str, n_layers: int) -> list[str]:
    """``n_layers`` of ``kind``; a recurrent kind after a feed-forward (analog) first layer."""
    return [kind] * n_layers if kind not in RECURRENT else ["lif"] + [kind] * (n_layers - 1)


def test_every_kind_is_either_tested_or_refused() -> None:
    """A new neuron kind must be added to ACCEPTED (and tested) or to REFUSED."""
    assert set(ACCEPTED) | set(REFUSED) == set(CELL_EQUATIONS)


@pytest.mark.parametrize("kind, seed, n_layers", CASES, ids=[c[0] for c in CASES])
def test_engine_equals_golden(kind: str, seed: int, n_layers: int) -> None:
    """A random net of ``kind`` with saturating currents: per-layer trains, counts, class, cycles."""
    case = make_case(_kinds(kind, n_layers), seed)
    rtl, golden = run_case(case)
    sat = saturated_currents(case.qnet, case.x, golden)
    assert sum(sat) > 0, f"{kind}: no current saturated ({sat}); the test lost its point"
    active = sum(int(ls.sum()) for ls in golden.layer_spikes)
    assert 0 < active < sum(ls.size for ls in golden.layer_spikes), "trivial spike trains"
    check_against_golden(case.plan, case.qnet, rtl, golden)


def test_cases_cover_the_plan_space() -> None:
    """The cases exercise packed and unpacked banks (analog and spike layers), 1, some and
    n_out lanes, sizes 1 and 12, spike layers with and without overlap, zero inputs (so a
    change of the generator cannot silently narrow the test)."""
    packs, lane_kinds, sizes, overlaps = set(), set(), set(), set()
    zero_inputs = 0
    for kind, seed, n_layers in CASES:
        case = make_case(_kinds(kind, n_layers), seed)
        for layer in case.plan.layers:
            packs.add((layer.analog, layer.pack))
            lane_kinds.add("one" if layer.lanes == 1 else "all" if layer.lanes == layer.n_out else "some")
            sizes.update({layer.n_in, layer.n_out})
            if not layer.analog and layer.lanes > 1:
                overlaps.add(layer.overlap)
        zero_inputs += int(np.sum(Q8_8.quantize(case.x) == 0))
    assert packs == {(True, 1), (True, 2), (False, 1), (False, 2)}, packs
    assert lane_kinds == {"one", "some", "all"}, lane_kinds
    assert {1, 12} <= sizes, sizes
    assert overlaps == {False, True}, overlaps        # spike layers with and without hold registers
    assert zero_inputs > 0                            # the analog layer's zero skipping runs


def test_mixed_kinds_in_one_network() -> None:
    """Layers of different kinds in one network; and the comparison catches one moved spike."""
    case = make_case(["alif", "lif", "if"], 77)
    rtl, golden = run_case(case)
    assert sum(saturated_currents(case.qnet, case.x, golden)) > 0
    check_against_golden(case.plan, case.qnet, rtl, golden)
    # a hidden-layer spike one step late (counts of the output layer unchanged) must fail
    train = rtl.layer_spikes[1]
    b, t, o = np.argwhere((train[:, :-1] == 1) & (train[:, 1:] == 0))[0]
    train[b, t, o], train[b, t + 1, o] = 0, 1
    with pytest.raises(AssertionError, match="layer 1"):
        check_against_golden(case.plan, case.qnet, rtl, golden)


def test_recurrent_first_layer_of_a_direct_net_raises_plan_error() -> None:
    """A recurrent layer as the analog (direct-encoded) input layer: PlanError naming it and the
    way out; the same layer behind an on-chip encoder, or after a first layer, plans."""
    rng = np.random.default_rng(0)

    def net(position: int, encoding: str) -> Network:
        layers = []
        for i, (n_out, n_in) in enumerate([(4, 3), (2, 4)]):
            k = "recurrent_lif" if i == position else "lif"
            extra = {"recurrent_weight": rng.normal(0, 0.3, (n_out, n_out))} if i == position else {}
            layers.append(Dense(f"l{i}", rng.normal(0, 0.5, (n_out, n_in)), None, neuron(k), **extra))
        return Network(layers, (3,), timesteps=4, encoding=encoding)

    with pytest.raises(PlanError, match=r"layer 0\b.*recurrent_lif.*rate or latency"):
        plan_quantized(quantize_network(net(0, "direct"), Q8_8), spram_blocks=0)
    assert plan_quantized(quantize_network(net(0, "rate"), Q8_8), spram_blocks=0).layers[0].recurrent
    assert plan_quantized(quantize_network(net(1, "direct"), Q8_8), spram_blocks=0).layers[1].recurrent


def test_recurrent_weights_go_with_recurrent_neurons() -> None:
    """plan_network refuses recurrent weights for a feed-forward neuron and their absence for a
    recurrent one (the IR checks the artifact; this is the plan's own guard)."""
    from hw.compiler import compile_neuron
    from hw.cores.plan import plan_network

    lif, rec = neuron("lif"), neuron("recurrent_lif")
    w = [np.ones((2, 3), np.int64), np.ones((2, 2), np.int64)]
    for neurons, recurrent in (([lif, rec], [None, None]), ([lif, lif], [None, np.ones((2, 2), np.int64)])):
        with pytest.raises(PlanError, match="layer 1.*recurrent"):
            plan_network(w, [None, None], neurons, [compile_neuron(n, Q8_8) for n in neurons], fmt=Q8_8,
                         timesteps=3, recurrent=recurrent)


@pytest.mark.slow
def test_engine_long_run() -> None:
    """> 10^4 neuron updates: 3 layers of 12, T = 24, 12 samples, kinds mixed."""
    case = make_case(["lif", "alif", "second_order_lif"], 5, batch=12, timesteps=24,
                     widths=[12, 12, 12, 12])
    updates = case.x.shape[0] * case.plan.timesteps * sum(layer.n_out for layer in case.plan.layers)
    assert updates > 10_000, updates
    rtl, golden = run_case(case)
    assert sum(saturated_currents(case.qnet, case.x, golden)) > 0
    check_against_golden(case.plan, case.qnet, rtl, golden)


def _digits_shaped_plan(**options):
    """A random 64-128-128-10 LIF net with 8-bit raws (packable, like the trained digits net)."""
    rng = np.random.default_rng(1)
    layers, n_in = [], 64
    for i, n_out in enumerate((128, 128, 10)):
        layers.append(Dense(f"l{i}", rng.uniform(-0.2, 0.2, (n_out, n_in)), rng.uniform(-0.2, 0.2, n_out),
                            neuron("lif")))
        n_in = n_out
    qnet = quantize_network(Network(layers, (64,), timesteps=25), Q8_8)
    return plan_quantized(qnet, analog_lanes=4, spike_lanes=4, **options)


def test_default_plan_balances_the_pipelined_layers() -> None:
    """Without explicit lanes, the small output layer gives its lanes to the slowest layer (the
    layers' steps run at once): fewer lanes there, more in the 128x128 layer, no more in total,
    and the shrunk layer's worst-case step still within the slowest layer's; with the EBR
    budget and SPRAM of the UP5K the widened layer still fits."""
    def worst(layer):
        return layer.command_cycles(0 if layer.analog else layer.n_in)

    fixed = _digits_shaped_plan(lanes=[4, 8, 8])
    plan = _digits_shaped_plan(spram_blocks=4, ebr_budget=30)
    hidden, out = plan.layers[1], plan.layers[2]
    assert out.lanes < 8 and not out.overlap, (out.lanes, out.overlap)
    assert hidden.lanes > 8 and hidden.overlap, hidden.lanes
    assert hidden.lanes + out.lanes <= 16
    assert worst(out) <= worst(hidden)
    assert plan.resources()["ebr"] <= 30 and plan.resources()["spram"] <= 4
    assert plan.cycles() < fixed.cycles()
    # explicit lanes or overlap: the plan takes them as given
    assert [layer.lanes for layer in fixed.layers] == [4, 8, 8]
    assert all(layer.overlap for layer in fixed.layers[1:])
    kept = _digits_shaped_plan(overlap=[False, True, False])
    assert [layer.overlap for layer in kept.layers] == [False, True, False]


def test_pipelined_rounds_in_the_cycle_model() -> None:
    """``NetworkPlan.cycles``: a round lasts as long as its slowest layer (the layers compute
    consecutive steps at once), and zero inputs shorten only the analog layer's PREP."""
    plan = _digits_shaped_plan(lanes=[4, 8, 8])
    T = plan.timesteps
    spikes = [np.full(T, 20), np.full(T, 15), np.full(T, 1)]
    steps = [plan.layers[0].command_cycles(0), plan.layers[1].command_cycles(20),
             plan.layers[2].command_cycles(15)]
    prep = plan.layers[0].command_cycles(30, prep=True)
    rounds = steps[0] + max(steps[:2]) + (T - 2) * max(steps) + max(steps[1:]) + steps[2]
    assert plan.cycles(spikes, nonzero_inputs=30) == 1 + prep + rounds + plan.n_output + 2
    assert plan.cycles(spikes, 0) < plan.cycles(spikes, 30) < plan.cycles(spikes) == plan.cycles(spikes, 64)


@pytest.mark.parametrize("position", [0, 1])
def test_alpha_splits_at_the_format_limit(position: int) -> None:
    """Alpha (I_exc, I_inh) as the analog or a spike layer, weights and biases at -128 (raw
    -32768, whose magnitude hw.quantize clips to 127.996) and +127.996: engine == golden."""
    rng = np.random.default_rng(9 + position)
    layers = []
    for i, (n_out, n_in) in enumerate([(5, 4), (3, 5)]):
        w = rng.choice([-128.0, -3.0, 0.0, 2.5, 127.99609375], (n_out, n_in))
        b = rng.choice([-128.0, -1.0, 0.5], n_out)
        k = "alpha" if i == position else "lif"
        layers.append(Dense(f"l{i}", w, b, neuron(k)))
    net = Network(layers, (4,), timesteps=6)
    qnet = quantize_network(net, Q8_8)
    assert (qnet.layers[position].weight == -32768).any() and (qnet.layers[position].bias == -32768).any()
    plan = plan_quantized(qnet, spram_blocks=0, lanes=[2, 3])
    x = rng.uniform(0, 1, (3, 4))
    from sim.golden import run_golden
    from sim.tb.network import simulate_core

    golden = run_golden(qnet, x, record=True, progress=False)
    rtl = simulate_core(plan, Q8_8.quantize(x), trace=True)
    check_against_golden(plan, qnet, rtl, golden)
    assert 0 < sum(int(ls.sum()) for ls in golden.layer_spikes) < sum(ls.size for ls in golden.layer_spikes)


def test_biases_outside_the_rows_and_empty_groups() -> None:
    """Biases sit in their own memories (none for an unbiased layer); groups with no input
    items (a blank sample into the analog layer, silent steps into the spike layers) still
    update every neuron with its bias alone: an alpha layer's negative biases (I_inh), a
    recurrent layer's bias (not into R), a layer without biases."""
    rng = np.random.default_rng(5)
    w0 = rng.normal(0.0, 1.5, (6, 5))
    b0 = np.array([0.45, -0.4, 0.0, 0.0, 0.3, -1.0])
    w1 = rng.normal(0.0, 1.0, (4, 6))
    b1 = np.array([-0.3, 0.2, -127.0, 0.25])            # alpha: negative biases into I_inh
    w2 = rng.normal(0.0, 2.0, (3, 4))
    rec = rng.normal(0.0, 1.0, (3, 3))
    net = Network([Dense("l0", w0, b0, neuron("lif")), Dense("l1", w1, b1, neuron("alpha")),
                   Dense("l2", w2, np.array([0.7, 0.0, 0.2]), neuron("recurrent_lif"), recurrent_weight=rec),
                   Dense("l3", rng.normal(0.0, 2.0, (2, 3)), None, neuron("lif"))],
                  (5,), timesteps=10)
    qnet = quantize_network(net, Q8_8)
    plan = plan_quantized(qnet, lanes=[2, 2, 3, 1])
    assert [[b.lane for b in l.bias_banks] for l in plan.layers] == [[0], [0, 1], [0], []]
    x = np.zeros((4, 5))          # blank samples first and after a full one (stale input lists)
    x[1] = [0.9, 0.0, 0.5, 1.0, 0.2]
    x[3, 3] = 1.0
    case = Case(qnet, plan, x, load=True)   # the bias memories loaded through the load port
    rtl, golden = run_case(case)
    assert golden.layer_spikes[0][:, 0].sum() > 0, "the blank sample's biases made no spike"
    per_step = golden.layer_spikes[0][:, 0].sum(axis=1)      # silent steps after spiking ones:
    assert np.any((per_step[2:] == 0) & (per_step[:-2] > 0))  # stale spike-list entries exist
    check_against_golden(plan, qnet, rtl, golden)
