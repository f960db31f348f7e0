"""The seed system's training API (issue 17): beta = 0, RecurrentLIFCell's (spike, v),
reset options, the seed-003 building blocks, SpikeMonitor / population_decode /
reset_states and auto_device's fallback."""

import math
import warnings

import pytest
import torch
from torch import nn

import sw.training.loop as loop
from sw.training import (CELLS, SYNAPSE_EQUATIONS, ALIFCell, ExpSynapse, LapicqueCell,
                         LeakyReadout, LIFCell, RecurrentLIFCell, SpikeMonitor, SpikingNet,
                         SpikingSequential, auto_device, population_decode, reset_states)
from sw.training.equations import IMPORT_EQUATIONS, reset_variant

from . import eqeval

T, B, N = 30, 3, 8


def _x(scale=0.6, seed=0):
    return torch.rand(T, B, N, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("cls", [LIFCell, ALIFCell])
def test_beta_zero_means_no_memory(cls):
    cell = cls(beta=0.0)
    x = _x()
    spikes, _ = cell.forward_sequence(x)
    if cls is LIFCell:  # no memory: each step spikes iff its own input crosses the threshold
        assert torch.equal(spikes, (x > 1.0).float())
        assert torch.equal(spikes, cell.forward_sequence(x * 1.0)[0])
    with pytest.raises(ValueError, match="learned beta"):
        cls(beta=0.0, learn_beta=True)


def test_beta_zero_fused_path_equals_step_loop():
    cell = LIFCell(beta=0.0, threshold=0.5)
    x = _x(1.0)
    fused, v = cell.forward_sequence_with_membrane(x)
    v_loop, spk = None, []
    for t in range(T):
        s, v_loop = cell(x[t], v_loop)
        spk.append(s)
    assert torch.equal(fused, torch.stack(spk)) and torch.allclose(v[-1], v_loop)


def test_recurrent_cell_returns_spike_and_v_and_keeps_the_spike():
    torch.manual_seed(0)
    cell = RecurrentLIFCell(N, beta=0.8, recurrent_scale=0.8)
    x = _x(0.7)
    seq, (v_seq,) = cell.forward_sequence(x)
    v, out = None, []
    for t in range(T):
        spike, v = cell(x[t], v)  # the seed's one-state signature
        out.append(spike)
    assert torch.equal(torch.stack(out), seq) and torch.allclose(v, v_seq)
    assert seq.sum() > 0
    # explicit previous spike: same as the kept one; a different one changes the result
    cell.reset_state()
    v, prev, out2 = None, None, []
    for t in range(T):
        spike, v = cell(x[t], v, prev)
        prev = spike
        out2.append(spike)
    assert torch.equal(torch.stack(out2), seq)
    s_kept, _ = cell(x[0], v)
    s_other, _ = cell(x[0], v, torch.ones(B, N))
    assert not torch.equal(s_kept, s_other) or cell.recurrent.weight.abs().sum() == 0
    with pytest.raises(ValueError, match="previous spike"):
        cell(torch.zeros(5, N), torch.zeros(5, N))  # kept spike has batch 3


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("reset", ["zero", "none"])
def test_reset_options_follow_their_equation_text(kind, reset):
    torch.manual_seed(1)
    kw = {"n_neurons": N} if kind == "recurrent_lif" else {}
    cell = CELLS[kind](**kw, reset=reset)
    assert cell.reset == reset and cell.EQUATIONS.kind.endswith("_hard" if reset == "zero" else "_noreset")
    if kind in ("lif", "if", "synaptic") and reset == "zero":
        assert cell.EQUATIONS.text == IMPORT_EQUATIONS[f"{kind}_hard"].text  # hardware-exportable
    eq = cell.EQUATIONS
    prog = eqeval.parse(eq.text)
    params = {k: torch.tensor(v) for k, v in cell.equation_params().items()}
    inputs = [_x(0.5, seed=i) for i in range(len(cell.input_names))]
    env = {s: torch.zeros(B, N) for s in eq.states}
    states = [None] * len(cell.state_names)
    prev = torch.zeros(B, N)
    with torch.no_grad():
        for t in range(T):
            step_in = dict(zip(eq.inputs, [x[t] for x in inputs]))
            if kind == "recurrent_lif":
                step_in["R"] = prev @ cell.recurrent.weight.T
            env = eqeval.step(prog, {**params, **env, **step_in})
            env = {s: env[s] for s in eq.states} | {"spike": env["spike"]}
            prev = env["spike"]
            spike, *states = cell(*[x[t] for x in inputs], *states)
            assert torch.equal(spike, env["spike"]), (kind, reset, t)
            env.pop("spike")


def test_reset_zero_and_detach_change_what_they_should():
    x = _x(0.9)
    sub, zero, none = (LIFCell(beta=0.9, reset=r) for r in ("subtract", "zero", "none"))
    s_sub, s_zero, s_none = (c.forward_sequence(x)[0] for c in (sub, zero, none))
    assert s_none.sum() >= s_sub.sum() >= s_zero.sum() > 0  # no reset fires most
    # detach_reset=False lets the gradient flow through the reset term
    grads = []
    for detach in (True, False):
        xi = x.clone().requires_grad_(True)
        LIFCell(reset="zero", detach_reset=detach).forward_sequence(xi)[0].sum().backward()
        grads.append(xi.grad)
    assert not torch.allclose(grads[0], grads[1])
    with pytest.raises(ValueError, match="reset must be one of"):
        LIFCell(reset="hard")
    with pytest.raises(ValueError, match="reset must be one of"):
        reset_variant(LIFCell.EQUATIONS, "sometimes")


def test_soft_reset_not_detached_is_brainpys_lif():
    """Seed 003's brainpy LIF resets softly *before* integrating, ``V -= V_th * spk_fun(V_prev)``
    with no ``stop_gradient``; ``detach_reset=False`` gives its spikes and its input gradient."""
    x = (torch.rand(T, B, N, generator=torch.Generator().manual_seed(3)) * 3).requires_grad_(True)
    k = 1.0 - math.exp(-1.0 / 20.0)  # exponential Euler, tau 20, dt 1
    cell = LapicqueCell(tau=20.0, dt=20.0 * k, detach_reset=False)
    spikes, _ = cell.forward_sequence(x)
    v, ref = torch.zeros(B, N), []
    for t in range(T):  # brainpy's update order, by hand
        v = v - 1.0 * cell.surrogate_fn(v - 1.0)
        v = v + k * (0.0 - v + 1.0 * x[t])
        ref.append(cell.surrogate_fn(v - 1.0))
    ref = torch.stack(ref)
    assert spikes.sum() > 0 and torch.equal(spikes, ref)
    w = torch.rand(T, B, N, generator=torch.Generator().manual_seed(4))
    (g_cell,) = torch.autograd.grad((spikes * w).sum(), x)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), x)
    torch.testing.assert_close(g_cell, g_ref)
    detached = LapicqueCell(tau=20.0, dt=20.0 * k)  # the default detaches: another gradient
    (g_det,) = torch.autograd.grad((detached.forward_sequence(x)[0] * w).sum(), x)
    assert not torch.allclose(g_det, g_ref)


def test_exp_synapse_and_leaky_readout():
    syn = ExpSynapse(tau=10.0)
    decay = torch.exp(torch.tensor(-0.1))
    x = torch.zeros(5, 1, 2)
    x[0] = 1.0
    g, last = syn.forward_sequence(x)
    assert torch.allclose(g[:, 0, 0], decay ** torch.arange(5.0))
    assert SYNAPSE_EQUATIONS["expon"].params["decay"] == pytest.approx(float(decay))
    # single steps equal the sequence (and continue from a given state)
    state, outs = None, []
    for t in range(5):
        out, state = syn(x[t], state)
        outs.append(out)
    assert torch.allclose(torch.stack(outs), g)
    ro = LeakyReadout(beta=0.5, normalize=True)
    y, _ = ro.forward_sequence(torch.ones(40, 1, 1))
    assert float(y[-1]) == pytest.approx(1.0, abs=1e-6)  # normalised: steady state = input
    assert LeakyReadout(tau=20.0).equation_params()["beta"] == pytest.approx(0.951229, abs=1e-6)
    learn = ExpSynapse(tau=5.0, learn_tau=True)
    learn.forward_sequence(torch.rand(6, 2, 3))[0].sum().backward()
    assert learn.log_tau.grad is not None
    with pytest.raises(ValueError, match="tau"):
        ExpSynapse(tau=0.0)


def test_sequential_stacks_linear_cells_and_readouts():
    torch.manual_seed(0)
    net = SpikingSequential(nn.Linear(6, 5), ExpSynapse(tau=10.0), LapicqueCell(tau=20.0),
                            nn.Linear(5, 2), LeakyReadout(tau=10.0))
    x = (torch.rand(T, 4, 6) < 0.3).float()
    out = net(x)
    assert out.shape == (T, 4, 2) and set(net.last_states) == {1, 2, 4}
    # the same by hand, step by step
    fc0, syn, cell, fc1, ro = net
    g = v = r = None
    ref = []
    for t in range(T):
        h, g = syn(fc0(x[t]), g)
        s, v = cell(h, v)
        y, r = ro(fc1(s), r)
        ref.append(y)
    assert torch.allclose(out, torch.stack(ref), atol=1e-5)
    out.mean().backward()
    assert fc0.weight.grad is not None
    reset_states(net)
    assert net.last_states == {}
    with pytest.raises(ValueError, match=r"\(T, batch"):
        net(torch.zeros(3))


def test_spike_monitor_records_chosen_layers():
    torch.manual_seed(0)
    model = SpikingNet(6, 7, 3, n_layers=1)
    mon = SpikeMonitor(model, layers=["lifs.0"])
    model(torch.rand(T, B, 6) * 3)
    assert mon.layer_names == ["lifs.0"]
    assert mon.get("lifs.0").shape == (T, B, 7) and mon.get_membrane("lifs.0").shape == (T, B, 7)
    assert mon.get("lifs.1") is None
    reset_states([mon])  # the seed's form: a list of monitors
    assert mon.get("lifs.0") is None
    cell = RecurrentLIFCell(4)
    mon2 = SpikeMonitor(cell)  # single steps too
    v = None
    for _ in range(3):
        _, v = cell(torch.rand(2, 4), v)
    assert mon2.get("").shape == (3, 2, 4)
    mon2.remove()
    with pytest.raises(ValueError, match="not spiking layers"):
        SpikeMonitor(model, layers=["fcs.0"])


def test_population_decode():
    counts = torch.tensor([[0.0, 2.0, 2.0], [0.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    assert population_decode(counts).tolist() == [1.5, 0.0, 0.0]
    pv = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert population_decode(counts, pv)[0].tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="preferred_values"):
        population_decode(counts, torch.zeros(4))


def test_auto_device_falls_back_when_cuda_is_unusable(monkeypatch):
    """Only ``torch.cuda.is_available`` is faked (this machine has no GPU, so there is no
    honest way to get a present-but-unusable one); the probe then calls the real torch,
    which fails, and auto_device must fall back instead of raising."""
    if torch.backends.cuda.is_built() and torch.cuda.is_available():
        pytest.skip("a usable CUDA device is present")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dev = auto_device()
    assert dev.type in ("cpu", "mps")
    assert any("unusable" in str(w.message) for w in caught)


def test_auto_device_probe_failure_is_caught(monkeypatch):
    """The 'no kernel image' case: the first kernel raises RuntimeError."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def no_kernel(*a, **k):
        if str(k.get("device", "")).startswith("cuda"):
            raise RuntimeError("CUDA error: no kernel image is available for execution on the device")
        return torch.empty(0)

    monkeypatch.setattr(loop.torch, "ones", no_kernel)
    with pytest.warns(RuntimeWarning, match="no kernel image"):
        assert auto_device().type in ("cpu", "mps")
