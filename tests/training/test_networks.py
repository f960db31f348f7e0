"""SpikingNet / ConvSpikingNet structure, input handling and the SC bridge."""

import pytest
import torch

from sw.training import (ConvSpikingNet, LIFCell, SpikingNet, fast_sigmoid, prepare_input,
                         superspike)


def test_spikingnet_layout_and_outputs():
    net = SpikingNet(64, 128, 10)
    assert [tuple(f.weight.shape) for f in net.fcs] == [(128, 64), (128, 128), (10, 128)]
    assert len(net.lifs) == 3 and all(isinstance(l, LIFCell) for l in net.lifs)
    assert [n for n, m in net.named_modules() if isinstance(m, LIFCell)] == ["lifs.0", "lifs.1",
                                                                               "lifs.2"]
    hw = SpikingNet(64, 128, 10, n_layers=1)
    assert [tuple(f.weight.shape) for f in hw.fcs] == [(128, 64), (10, 128)]
    counts, mem = hw(torch.rand(25, 7, 64))
    assert counts.shape == mem.shape == (7, 10)
    assert counts.min() >= 0 and counts.max() <= 25 and torch.equal(counts, counts.round())
    assert net.config["n_layers"] == 2 and net.config["surrogate_fn"]["name"] == "atan"


def test_static_input_path_equals_materialised_input():
    torch.manual_seed(0)
    net = SpikingNet(20, 30, 4, n_layers=2, surrogate_fn=superspike)
    x = torch.rand(6, 20, requires_grad=True)
    c1, m1 = net(x.unsqueeze(0).expand(15, 6, 20))
    (c1.sum() + m1.sum()).backward()
    g1 = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    c2, m2 = net(x.detach().unsqueeze(0).repeat(15, 1, 1))
    (c2.sum() + m2.sum()).backward()
    assert torch.equal(c1, c2)
    torch.testing.assert_close(m1, m2)
    for a, b in zip(g1, [p.grad for p in net.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_membrane_acc_is_output_membrane_sum():
    torch.manual_seed(0)
    net = SpikingNet(5, 6, 3, n_layers=1)
    seen = {}
    net.lifs[1].add_observer(lambda c, s, st, tm: seen.update(v=st["v"]))
    _, mem = net(torch.rand(9, 2, 5))
    torch.testing.assert_close(mem, seen["v"].sum(0))


def test_convnet_shapes_and_pool_before_lif():
    torch.manual_seed(0)
    net = ConvSpikingNet(n_output=10)
    shapes = {}
    for i, lif in enumerate(net.lifs):
        lif.add_observer(lambda c, s, st, tm, i=i: shapes.__setitem__(i, tuple(s.shape)))
    counts, mem = net(torch.rand(4, 3, 1, 28, 28))
    assert counts.shape == mem.shape == (3, 10)
    assert shapes == {0: (4, 3, 12, 12, 12), 1: (4, 3, 32, 4, 4), 2: (4, 3, 10)}
    assert net.fc.in_features == 32 * 4 * 4 and len(net.convs) == 2
    assert [tuple(w.shape) for w in net.to_sc_weights()] == [(12, 1, 5, 5), (32, 12, 5, 5), (10, 512)]


def test_to_sc_weights_per_layer_minmax():
    torch.manual_seed(0)
    net = SpikingNet(8, 6, 3, n_layers=1)
    sc = net.to_sc_weights()
    assert len(sc) == 2
    for w, fc in zip(sc, net.fcs):
        assert w.shape == fc.weight.shape and not w.requires_grad
        assert float(w.min()) == 0.0 and float(w.max()) == 1.0
        lo, hi = fc.weight.min(), fc.weight.max()
        torch.testing.assert_close(w * (hi - lo) + lo, fc.weight.detach())


def test_prepare_input_layouts():
    dense, conv = SpikingNet(784, 8, 10, n_layers=1), ConvSpikingNet()
    img = torch.rand(5, 1, 28, 28)
    assert prepare_input(dense, img, 7).shape == (7, 5, 784)
    assert prepare_input(dense, img.flatten(1), 7).stride(0) == 0
    assert prepare_input(conv, img.flatten(1), 7).shape == (7, 5, 1, 28, 28)
    enc = torch.rand(9, 5, 784)
    assert prepare_input(dense, enc, 7).shape == (9, 5, 784)
    assert prepare_input(conv, enc, 7).shape == (9, 5, 1, 28, 28)
    with pytest.raises(ValueError, match="matches neither"):
        prepare_input(dense, torch.rand(5, 100), 7)


def test_bad_construction_and_input():
    with pytest.raises(ValueError, match="n_hidden"):
        SpikingNet(4, 0, 2)
    with pytest.raises(ValueError, match="unknown surrogate"):
        SpikingNet(4, 4, 2, surrogate_fn="bogus")
    assert SpikingNet(4, 4, 2, surrogate_fn="fast_sigmoid").lifs[0].surrogate_fn is fast_sigmoid
    with pytest.raises(ValueError, match=r"\(T, batch, 4\)"):
        SpikingNet(4, 4, 2)(torch.rand(3, 4))
