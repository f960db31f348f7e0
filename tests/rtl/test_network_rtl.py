"""Engine RTL (cocotb on Verilator, or Icarus with ``SIM=icarus``): the digits network and a
network of every accepted kind equal sim.golden.

Every case compares, per layer and per step, the spike trains the hardware appended
to its spike lists (trace signals ``layer<i>.spike_valid``/``spike_index`` and
``step``, recorded by the harness's HDL monitor, ``run_plan_rtl(trace=True)``), the output
counts, the classes and the cycle counter (``NetworkPlan.cycles``).
"""

import numpy as np
import pytest

from boards import get_board
from hw.fixed import Q8_8
from hw.ir import Dense, Network
from hw.models import load_default_model
from hw.quantize import quantize_network
from sim.golden import run_golden
from sim.tb.engine_cases import ACCEPTED, check_against_golden, make_case, neuron, saturated_currents
from sim.tb.network import run_plan_rtl, run_rtl

pytestmark = pytest.mark.rtl

N_IMAGES = 25          # the default rtl run (~7 k cycles per image)
N_IMAGES_SLOW = 100


def _digits_test_images(n):
    from sw.training.data import load_digits_data

    _, x_test, _, y_test = load_digits_data()
    return x_test.numpy()[:n].astype(np.float64), y_test.numpy()[:n]


def _digits_equal_golden(n_images, build_dir):
    """The iCEBreaker plan (SPRAM banks loaded through the load port, packed lanes)."""
    net = load_default_model()
    x, labels = _digits_test_images(n_images)
    qnet = quantize_network(net, Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    assert plan.uses_spram and plan.needs_load  # the SPRAM + host-load path is part of the test
    golden = run_golden(qnet, x, record=True, progress=False)
    rtl = run_plan_rtl(plan, Q8_8.quantize(x), build_dir=build_dir, trace=True)
    check_against_golden(plan, qnet, rtl, golden)
    assert rtl.accuracy(labels) > 0.9


def test_digits_network_equals_golden(tmp_path):
    _digits_equal_golden(N_IMAGES, tmp_path)


@pytest.mark.slow
def test_digits_network_equals_golden_on_100_images(tmp_path):
    _digits_equal_golden(N_IMAGES_SLOW, tmp_path)


def test_every_accepted_kind_saturating(tmp_path):
    """One simulation: a packed LIF input layer, then one layer of each accepted kind, each
    with currents that saturate Q8.8; banks partly in shared SPRAM blocks (host-loaded)."""
    case = make_case(["lif", *ACCEPTED], 1, batch=4, timesteps=8,
                     widths=[6, 8, 9, 8, 10, 7, 9, 8, 10, 9, 8, 6], small=0, spram_blocks=2, ebr_budget=0)
    plan, qnet = case.plan, case.qnet
    assert plan.uses_spram and plan.layers[0].pack == 2
    golden = run_golden(qnet, case.x, record=True, progress=False)
    sat = saturated_currents(qnet, case.x, golden)
    assert all(n > 0 for n in sat[1:]), f"a kind's currents did not saturate: {dict(zip(ACCEPTED, sat[1:]))}"
    for li, train in enumerate(golden.layer_spikes):
        assert 0 < train.sum() < train.size, f"layer {li}: trivial spike train"
    rtl = run_plan_rtl(plan, Q8_8.quantize(case.x), build_dir=tmp_path, trace=True)
    check_against_golden(plan, qnet, rtl, golden)


def test_run_rtl_entry_point(tmp_path):
    """``run_rtl`` (used by ``python -m sim.verify``) on a small network of two neuron kinds."""
    rng = np.random.default_rng(3)
    layers = []
    for i, (kind, n_in, n_out) in enumerate([("synaptic", 6, 9), ("lif", 9, 4)]):
        layers.append(Dense(f"l{i}", rng.normal(0.2, 0.8, (n_out, n_in)), rng.normal(0, 0.2, n_out),
                            neuron(kind)))
    net = Network(layers, (6,), timesteps=10)
    x = rng.uniform(0, 1, (6, 6))
    golden = run_golden(net, x, record=True, progress=False)
    rtl = run_rtl(net, x, build_dir=tmp_path, trace=True)
    np.testing.assert_array_equal(rtl.spike_counts, golden.spike_counts)
    np.testing.assert_array_equal(rtl.predictions, golden.predictions)
    for hw_train, ref in zip(rtl.layer_spikes, golden.layer_spikes):
        np.testing.assert_array_equal(hw_train, ref.transpose(1, 0, 2))
    assert golden.spike_counts.sum() > 0


@pytest.mark.parametrize("encoding", ["rate", "latency"])
def test_encoded_network_equals_golden(tmp_path, encoding):
    """On-chip encoding: the host writes pixels, the encoder stage lists each step's input
    spikes (``hw.cores.encoder``), layer 0 accumulates them from SPRAM-held weights."""
    case = make_case(["lif", "synaptic", "lif"], 11, batch=4, timesteps=10, widths=[64, 12, 9, 5],
                     small=-1, spram_blocks=2, ebr_budget=0, encoding=encoding)
    plan, qnet = case.plan, case.qnet
    assert plan.encoder is not None and plan.uses_spram and not plan.layers[0].analog
    golden = run_golden(qnet, case.x, record=True, progress=False)
    for li, train in enumerate(golden.layer_spikes):
        assert 0 < train.sum() < train.size, f"layer {li}: trivial spike train"
    rtl = run_plan_rtl(plan, Q8_8.quantize(case.x), build_dir=tmp_path, trace=True)
    check_against_golden(plan, qnet, rtl, golden)


def test_run_rtl_takes_pixels_of_an_encoded_network(tmp_path):
    """The board encodes: ``run_rtl`` refuses pre-encoded spike trains, and says so."""
    net = Network([Dense("l0", np.ones((2, 3)), None, neuron("lif"))], (3,), timesteps=4, encoding="rate")
    with pytest.raises(ValueError, match="pixels"):
        run_rtl(net, np.ones((1, 4, 3)), build_dir=tmp_path)


def test_mnist_size_network_equals_golden(tmp_path):
    """A 784-128-10 network with 8-bit weights, as the iCEBreaker plans it (layer 0 in 8 lanes,
    its banks in SPRAM, loaded like the flash image), on synthetic 28x28 images."""
    from sim.tb.mnist_size import mnist_size_network, synthetic_images

    x = synthetic_images(3, seed=5)
    qnet = quantize_network(mnist_size_network(weight_bits=8), Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    assert plan.n_input == 784 and plan.uses_spram and plan.needs_load and plan.layers[0].lanes == 8
    golden = run_golden(qnet, x, record=True, progress=False)
    assert all(0 < t.sum() < t.size for t in golden.layer_spikes)
    rtl = run_plan_rtl(plan, Q8_8.quantize(x), build_dir=tmp_path, trace=True)
    check_against_golden(plan, qnet, rtl, golden)


def test_conv_network_equals_golden(tmp_path):
    """conv 1->3 (3x3, pad 1) -> conv 3->2 (3x3, stride 2) -> dense 4 on 8x8 images, as the
    iCEBreaker plans it (unrolled conv matrices, banks in SPRAM where the plan puts them)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hw"))
    from test_conv_engine import _conv_net

    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (3, 64))
    x[rng.uniform(0, 1, x.shape) < 0.4] = 0.0
    qnet = quantize_network(_conv_net(4, first_conv=True), Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    golden = run_golden(qnet, x, record=True, progress=False)
    assert all(0 < t.sum() < t.size for t in golden.layer_spikes)
    rtl = run_plan_rtl(plan, Q8_8.quantize(x), build_dir=tmp_path, trace=True)
    check_against_golden(plan, qnet, rtl, golden)


def test_max_pooled_conv_network_equals_golden(tmp_path):
    """ConvSpikingNet's shape on 8x8 images (conv -> max-pool 2 -> LIF, twice, then dense), as
    the iCEBreaker plans it: the pooled layers' 4 lanes are the window, the max before the neuron."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hw"))
    from test_conv_engine import _pooled_net

    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (3, 64))
    x[rng.uniform(0, 1, x.shape) < 0.4] = 0.0
    qnet = quantize_network(_pooled_net(2), Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    assert [layer.pool for layer in plan.layers] == [2, 2, 1]
    golden = run_golden(qnet, x, record=True, progress=False)
    assert all(0 < t.sum() < t.size for t in golden.layer_spikes)
    rtl = run_plan_rtl(plan, Q8_8.quantize(x), build_dir=tmp_path, trace=True)
    check_against_golden(plan, qnet, rtl, golden)
