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
from sim.tb.engine_cases import (ACCEPTED, REFUSED, check_against_golden, make_case, neuron, run_case,
                                 saturated_currents)
from sw.training.equations import CELL_EQUATIONS

# (kind, seed, layers): one random net per kind (each simulation compiles a design,
# ~1-5 s here; the datapaths with exp() cost most, so those nets get 2 layers)
_LAYERS = {"lif": 3, "if": 2, "synaptic": 3, "alif": 2, "expif": 2, "adex": 2, "lapicque": 3,
           "second_order_lif": 3}
CASES = [(kind, 3 + 10 * i, _LAYERS[kind]) for i, kind in enumerate(ACCEPTED)]


def test_every_kind_is_either_tested_or_refused() -> None:
    """A new neuron kind must be added to ACCEPTED (and tested) or to REFUSED."""
    assert set(ACCEPTED) | set(REFUSED) == set(CELL_EQUATIONS)


@pytest.mark.parametrize("kind, seed, n_layers", CASES, ids=[c[0] for c in CASES])
def test_engine_equals_golden(kind: str, seed: int, n_layers: int) -> None:
    """A random net of ``kind`` with saturating currents: per-layer trains, counts, class, cycles."""
    case = make_case([kind] * n_layers, seed)
    rtl, golden = run_case(case)
    sat = saturated_currents(case.qnet, case.x, golden)
    assert sum(sat) > 0, f"{kind}: no current saturated ({sat}); the test lost its point"
    active = sum(int(ls.sum()) for ls in golden.layer_spikes)
    assert 0 < active < sum(ls.size for ls in golden.layer_spikes), "trivial spike trains"
    check_against_golden(case.plan, case.qnet, rtl, golden)


def test_cases_cover_the_plan_space() -> None:
    """The cases exercise packed and unpacked banks (analog and spike layers), 1, some and
    n_out lanes, sizes 1 and 12 (so a change of the generator cannot silently narrow the test)."""
    packs, lane_kinds, sizes = set(), set(), set()
    for kind, seed, n_layers in CASES:
        plan = make_case([kind] * n_layers, seed).plan
        for layer in plan.layers:
            packs.add((layer.analog, layer.pack))
            lane_kinds.add("one" if layer.lanes == 1 else "all" if layer.lanes == layer.n_out else "some")
            sizes.update({layer.n_in, layer.n_out})
    assert packs == {(True, 1), (True, 2), (False, 1), (False, 2)}, packs
    assert lane_kinds == {"one", "some", "all"}, lane_kinds
    assert {1, 12} <= sizes, sizes


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


@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("kind", REFUSED)
def test_refused_kinds_raise_plan_error(kind: str, position: int) -> None:
    """A refused kind as the analog input layer or as a spike layer: PlanError naming it."""
    rng = np.random.default_rng(0)
    sizes = [(4, 3), (2, 4)]
    layers = []
    for i, (n_out, n_in) in enumerate(sizes):
        k = kind if i == position else "lif"
        extra = {"recurrent_weight": rng.normal(0, 0.3, (n_out, n_out))} if k == "recurrent_lif" else {}
        layers.append(Dense(f"l{i}", rng.normal(0, 0.5, (n_out, n_in)), None, neuron(k), **extra))
    net = Network(layers, (3,), timesteps=4)
    with pytest.raises(PlanError, match=rf"layer {position}\b.*{kind}"):
        plan_quantized(quantize_network(net, Q8_8), spram_blocks=0)


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
