"""SpikingJelly -> NIR (SpikingJelly's own exporter) -> ``from_nir``.

SpikingJelly exports only hard-reset neurons (``v <- v_reset``; it refuses soft
reset), which is also the NIR definition, so its graphs are imported with
``reset="zero"`` (neuron kinds ``lif_hard`` / ``if_hard`` of
``sw.training.equations.IMPORT_EQUATIONS``).

Stated tolerance: >= 99 % of samples with all output spike counts identical
(float32 in SpikingJelly vs float64 here).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from spikingjelly.activation_based.nir_exchange import export_to_nir

from sim.golden import run_golden, simulate_float
from sw.export.nir import from_nir
from sw.training import load_digits_data

T = 10


def run_spikingjelly(net: torch.nn.Module, x: torch.Tensor, steps: int) -> np.ndarray:
    """SpikingJelly's own single-step simulation, the same input every step."""
    functional.reset_net(net)
    counts = 0
    with torch.no_grad():
        for _ in range(steps):
            counts = counts + net(x)
    functional.reset_net(net)
    return counts.numpy().astype(np.int64)


@pytest.fixture(scope="module")
def trained():
    """64-48-10 LIF net (tau=2, hard reset to 0) trained for two epochs on digits."""
    torch.manual_seed(0)
    x_tr, x_te, y_tr, y_te = load_digits_data()
    net = torch.nn.Sequential(
        layer.Linear(64, 48), neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
        layer.Linear(48, 10), neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(2):
        perm = torch.randperm(len(x_tr))
        for i in range(0, len(x_tr), 64):
            idx = perm[i:i + 64]
            functional.reset_net(net)
            counts = sum(net(x_tr[idx]) for _ in range(T))
            loss = torch.nn.functional.cross_entropy(counts, y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    functional.reset_net(net)
    graph = export_to_nir(net, torch.zeros(1, 64))
    return net, graph, x_te, y_te


def test_graph_structure_and_gains(trained):
    """SpikingJelly's LIF (decay_input=True) exports r = 1, tau = 2 dt: gain 1/2 folded in."""
    net, graph, _, _ = trained
    ir = from_nir(graph, timesteps=T, reset="subtract")  # structure only; dynamics below
    assert [l.weight.shape for l in ir.layers] == [(48, 64), (10, 48)]
    assert ir.layers[0].neuron.params["beta"] == pytest.approx(0.5)
    np.testing.assert_allclose(ir.layers[0].weight, 0.5 * net[0].weight.detach().numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(ir.layers[1].bias, 0.5 * net[2].bias.detach().numpy(), rtol=1e-6)


def test_float_matches_spikingjelly(trained):
    net, graph, x_te, y_te = trained
    ref = run_spikingjelly(net, x_te, T)
    ir = from_nir(graph, timesteps=T, reset="zero")
    ours = simulate_float(ir, x_te.numpy(), progress=False)
    assert float(np.mean(np.argmax(ref, 1) == y_te.numpy())) > 0.7, "training failed"
    assert float(np.mean(np.all(ours.spike_counts == ref, axis=1))) >= 0.99
    q = run_golden(ir, x_te.numpy(), progress=False)
    assert q.accuracy(y_te.numpy()) >= ours.accuracy(y_te.numpy()) - 0.03


def test_conv_if_net_matches_spikingjelly():
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(v_threshold=0.5), layer.AvgPool2d(2),
        layer.Flatten(), layer.Linear(64, 10), neuron.IFNode(v_threshold=0.5))
    graph = export_to_nir(net, torch.zeros(1, 1, 8, 8))
    ir = from_nir(graph, timesteps=T, reset="zero")
    assert [type(l).__name__ for l in ir.layers] == ["Conv2d", "Dense"]
    x = torch.rand(64, 1, 8, 8)
    ref = run_spikingjelly(net, x, T)
    ours = simulate_float(ir, x.numpy().reshape(64, -1), progress=False)
    assert ref.sum() > 0
    assert float(np.mean(np.all(ours.spike_counts == ref, axis=1))) >= 0.99


@pytest.mark.rtl
def test_rtl_matches_golden_on_imported_model(trained, tmp_path):
    from sim.tb.network import run_rtl

    _, graph, x_te, _ = trained
    ir = from_nir(graph, timesteps=T, reset="zero")
    x = x_te.numpy()[:20]
    gold = run_golden(ir, x, progress=False)
    rtl = run_rtl(ir, x, build_dir=tmp_path)
    np.testing.assert_array_equal(rtl.spike_counts, gold.spike_counts)
    np.testing.assert_array_equal(rtl.predictions, gold.predictions)
