"""The observer protocol the profiler and the studio rely on."""

import torch

from sw.training import ALIFCell, LIFCell, SpikingNet


def test_single_step_and_sequence_observers():
    cell = LIFCell()
    calls = []
    h = cell.add_observer(lambda c, spikes, states, tm: calls.append((c, spikes, states, tm)))
    x = torch.rand(6, 4, 5)
    spk, v = cell(x[0])
    assert len(calls) == 1
    c, s, st, tm = calls[0]
    assert c is cell and s is spk and tm is False and torch.equal(st["v"], v)
    spikes, (v_last,) = cell.forward_sequence(x)
    c, s, st, tm = calls[1]
    assert tm is True and s is spikes and st["v"].shape == spikes.shape
    assert torch.equal(st["v"][-1], v_last)
    h.remove()
    cell(x[0])
    cell.forward_sequence(x)
    assert len(calls) == 2


def test_generic_cell_sequence_gives_state_trajectories():
    cell = ALIFCell()
    seen = {}
    cell.add_observer(lambda c, s, st, tm: seen.update(st=st, tm=tm, s=s))
    spikes, (v, a) = cell.forward_sequence(torch.rand(8, 2, 3))
    assert seen["tm"] and set(seen["st"]) == {"v", "a"}
    assert seen["st"]["v"].shape == spikes.shape and torch.equal(seen["st"]["a"][-1], a)


def test_observer_sees_gradients_through_spikes_in_a_network():
    torch.manual_seed(0)
    net = SpikingNet(8, 16, 3, n_layers=1)
    grads, names = {}, []
    for name, lif in zip(["lifs.0", "lifs.1"], net.lifs):
        def obs(cell, spikes, states, tm, name=name):
            names.append(name)
            assert tm and states["v"].shape == spikes.shape
            spikes.register_hook(lambda g: grads.__setitem__(name, g))
        lif.add_observer(obs)
    counts, _ = net(torch.rand(10, 5, 8))
    counts.sum().backward()
    assert names == ["lifs.0", "lifs.1"]
    assert grads["lifs.1"].shape == (10, 5, 3) and grads["lifs.0"].shape == (10, 5, 16)


def test_no_observer_no_call_and_multiple_observers():
    cell = LIFCell()
    a, b = [], []
    ha = cell.add_observer(lambda *args: a.append(1))
    cell.add_observer(lambda *args: b.append(1))
    cell(torch.rand(2, 2))
    ha.remove()
    cell(torch.rand(2, 2))
    assert a == [1] and b == [1, 1]
