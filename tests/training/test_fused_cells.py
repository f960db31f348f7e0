"""Every cell's fused multi-step scan equals its step-by-step autograd path (float64).

The reference calls ``cell(x[t], *states)`` once per step (ordinary autograd through
``_step``); the fused path is ``forward_sequence``.  Compared: spikes (bit-equal),
every state trajectory, and the gradients of a random linear functional of
spikes and trajectories with respect to the inputs, the initial states and every
trainable parameter, to 1e-10 relative, for every registered surrogate.
"""

from __future__ import annotations

import pytest
import torch

from sw.training import (CELLS, SURROGATES, ExpSynapse, LeakyReadout, RecurrentLIFCell,
                         make_surrogate)
from sw.training.fused import fused_scans

B, N = 3, 5
RTOL = 1e-10

# non-default parameters, the input scale that makes the cell spike, learnable options
CELL_CASES = {
    "lif": (dict(beta=0.85, threshold=0.9), 0.5, ("beta", "threshold")),
    "if": (dict(threshold=1.1), 0.4, ("threshold",)),
    "synaptic": (dict(alpha=0.7, beta=0.75, threshold=1.2), 0.4, ("alpha", "beta", "threshold")),
    "alif": (dict(beta=0.8, threshold=0.8, rho=0.95, beta_adapt=0.6), 0.6, ("beta", "threshold")),
    "expif": (dict(beta=0.88, threshold=1.0, delta_t=0.4, v_rh=0.7), 0.4, ("beta", "threshold")),
    "adex": (dict(beta=0.87, threshold=1.0, delta_t=0.45, v_rh=0.75, a=0.05, b=0.2, rho=0.93,
                  v_rest=-0.1), 1.0, ("beta", "threshold")),
    "lapicque": (dict(tau=8.0, r=1.5, dt=1.0, threshold=0.7, v_rest=0.05), 1.5, ("threshold",)),
    "alpha": (dict(alpha_exc=0.8, alpha_inh=0.7, beta=0.85, threshold=1.0), 0.5,
              ("beta", "threshold")),
    "second_order_lif": (dict(alpha=0.6, beta=0.8, threshold=1.0), 0.3, ("beta", "threshold")),
    "recurrent_lif": (dict(n_neurons=N, beta=0.85, threshold=1.0, recurrent_scale=0.4), 0.5,
                      ("beta", "threshold")),
}
SURS = sorted(SURROGATES)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-300))


def _make_cell(kind: str, sur, learn: bool, **reset):
    kwargs, scale, learnable = CELL_CASES[kind]
    opts = {f"learn_{p}": True for p in learnable} if learn else {}
    torch.manual_seed(5)
    return CELLS[kind](**kwargs, surrogate_fn=sur, **opts, **reset).double(), scale


def _data(cell, scale: float, T: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xs = [(torch.rand(T, B, N, generator=g, dtype=torch.float64) * scale).requires_grad_()
          for _ in cell.input_names]
    init = [(torch.rand(B, N, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
            for _ in cell.state_names]
    return xs, init


def _stepwise(cell, xs, init, prev=None):
    """Per-step calls; returns (spikes, {state: trajectory})."""
    st, spikes, traj = list(init), [], {n: [] for n in cell.state_names}
    for t in range(xs[0].shape[0]):
        if isinstance(cell, RecurrentLIFCell):
            spk, *st = cell(xs[0][t], *st, *([prev] if t == 0 else []))
        else:
            spk, *st = cell(*[x[t] for x in xs], *st)
        spikes.append(spk)
        for n, v in zip(cell.state_names, st):
            traj[n].append(v)
    return torch.stack(spikes), {n: torch.stack(v) for n, v in traj.items()}


def _fused(cell, xs, init, prev=None):
    seen = {}
    h = cell.add_observer(lambda c, s, st, tm: seen.update(st))
    states = (*init, prev) if isinstance(cell, RecurrentLIFCell) else init
    spikes, final = cell.forward_sequence(xs[0] if len(xs) == 1 else tuple(xs), states)
    h.remove()
    for n, f in zip(cell.state_names, final):
        assert torch.equal(f, seen[n][-1])
    return spikes, seen


def _grads(cell, xs, init, extra, spikes, traj, seed, spikes_only=False):
    g = torch.Generator().manual_seed(seed + 1)
    loss = (spikes * torch.randn(spikes.shape, generator=g, dtype=spikes.dtype)).sum()
    for n in () if spikes_only else cell.state_names:
        loss = loss + (traj[n] * torch.randn(traj[n].shape, generator=g, dtype=spikes.dtype)).sum()
    wrt = [*xs, *init, *extra, *cell.parameters()]
    return torch.autograd.grad(loss, wrt, allow_unused=True)


def check_cell(kind: str, sur, learn: bool, T: int, seed: int = 0, spikes_only: bool = False,
               **reset) -> float:
    """Compare both paths; return the largest relative gradient error.  ``spikes_only``: the
    functional sees the spikes alone (no gradient reaches the state trajectories: the
    backward's ``g_v is None`` branches)."""
    cell, scale = _make_cell(kind, sur, learn, **reset)
    xs, init = _data(cell, scale, T, seed)
    extra = []
    if kind == "recurrent_lif":
        extra = [torch.rand(B, N, generator=torch.Generator().manual_seed(seed + 9),
                            dtype=torch.float64).requires_grad_()]
    prev = extra[0] if extra else None
    s1, tr1 = _fused(cell, xs, init, prev)
    assert "Scan" in type(s1.grad_fn).__name__, "the fused path was not taken"
    g1 = _grads(cell, xs, init, extra, s1, tr1, seed, spikes_only)
    cell.reset_state() if hasattr(cell, "reset_state") else None
    s2, tr2 = _stepwise(cell, xs, init, prev)
    g2 = _grads(cell, xs, init, extra, s2, tr2, seed, spikes_only)
    assert torch.equal(s1, s2)
    assert 0.02 < float(s1.detach().mean()) < 0.99, f"{kind}: inputs must make the cell spike"
    for n in cell.state_names:
        assert _rel(tr1[n], tr2[n]) <= RTOL, n
    n_params = len(list(cell.parameters()))
    assert n_params == (len(CELL_CASES[kind][2]) if learn else 0) + (kind == "recurrent_lif")
    worst = 0.0
    for a, b in zip(g1, g2):
        assert (a is None) == (b is None)
        if b is not None:
            worst = max(worst, _rel(a, b))
    assert worst <= RTOL, f"{kind}: max relative gradient error {worst:.2e}"
    return worst


@pytest.mark.parametrize("learn", [False, True], ids=["fixed", "learned"])
@pytest.mark.parametrize("sur", SURS)
@pytest.mark.parametrize("kind", sorted(CELL_CASES))
def test_fused_cell_equals_stepwise(kind, sur, learn):
    for T in (7, 70):  # 70 > one 64-step chunk of the backward scan
        check_cell(kind, SURROGATES[sur], learn, T)


@pytest.mark.slow
@pytest.mark.parametrize("sur", SURS)
@pytest.mark.parametrize("kind", sorted(CELL_CASES))
def test_fused_cell_equals_stepwise_long(kind, sur):
    check_cell(kind, SURROGATES[sur], True, 200, seed=3)


ANY_RESET = sorted(k for k in CELL_CASES if CELLS[k]._FUSED_ANY_RESET)
RESETS = [("subtract", False), ("zero", True), ("zero", False), ("none", True)]


def test_cells_with_a_fused_scan_for_every_reset():
    assert ANY_RESET == ["alpha", "if", "lapicque", "lif", "second_order_lif", "synaptic"]


@pytest.mark.parametrize("sur", SURS)
@pytest.mark.parametrize("reset,detach", RESETS)
@pytest.mark.parametrize("kind", ANY_RESET)
def test_fused_resets_equal_stepwise(kind, reset, detach, sur):
    for T in (7, 70):
        check_cell(kind, SURROGATES[sur], True, T, reset=reset, detach_reset=detach)


@pytest.mark.parametrize("sur", SURS)
@pytest.mark.parametrize("reset,detach", RESETS)
@pytest.mark.parametrize("kind", ANY_RESET)
def test_fused_resets_equal_stepwise_spikes_only(kind, reset, detach, sur):
    """A loss of the spikes alone: e.g. the kept-spike subtract reset with a fixed threshold
    then takes the compiled ``reverse_subtract_grad``."""
    for T in (7, 70):
        for learn in (False, True):
            check_cell(kind, SURROGATES[sur], learn, T, spikes_only=True, reset=reset,
                       detach_reset=detach)


@pytest.mark.slow
@pytest.mark.parametrize("reset,detach", RESETS)
@pytest.mark.parametrize("kind", ANY_RESET)
def test_fused_resets_equal_stepwise_long(kind, reset, detach):
    for sur in SURS:
        check_cell(kind, SURROGATES[sur], True, 200, seed=3, reset=reset, detach_reset=detach)


def _module_case(name: str, learn: bool):
    if name == "exp_synapse":
        return ExpSynapse(tau=7.0, learn_tau=learn).double()
    return LeakyReadout(beta=0.8, learn_beta=learn, normalize=learn).double()


def check_module(name: str, learn: bool, T: int, with_state: bool) -> float:
    """Compare a state module's fused scan with its per-step calls; return the largest
    relative error (outputs and gradients)."""
    mod = _module_case(name, learn)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(T, B, N, generator=g, dtype=torch.float64).requires_grad_()
    s0 = torch.randn(B, N, generator=g, dtype=torch.float64).requires_grad_() if with_state else None
    w = torch.randn(T, B, N, generator=g, dtype=torch.float64)
    out1, last1 = mod.forward_sequence(x, s0)
    assert type(out1.grad_fn).__name__ == "LinearScanBackward"
    wrt = [x, *([s0] if with_state else []), *mod.parameters()]
    g1 = torch.autograd.grad((out1 * w).sum() + last1.sum(), wrt)
    outs, st = [], s0
    for t in range(T):
        o, st = mod(x[t], st)
        outs.append(o)
    out2 = torch.stack(outs)
    g2 = torch.autograd.grad((out2 * w).sum() + st.sum(), wrt)
    worst = _rel(out1, out2)
    assert worst <= RTOL
    assert len(g1) == len(wrt) == 1 + with_state + learn
    for a, b in zip(g1, g2):
        worst = max(worst, _rel(a, b))
        assert _rel(a, b) <= RTOL
    return worst


@pytest.mark.parametrize("T", [7, 70, pytest.param(200, marks=pytest.mark.slow)])
@pytest.mark.parametrize("learn", [False, True], ids=["fixed", "learned"])
@pytest.mark.parametrize("name", ["exp_synapse", "leaky_readout"])
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_state_modules_equal_stepwise(name, learn, T, with_state):
    check_module(name, learn, T, with_state)


def test_fallbacks_still_run_step_by_step():
    """A plain-callable surrogate, another reset, or fusion switched off: the loop runs."""
    class Hard(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, g):
            return g

    x = torch.rand(6, 2, 3, requires_grad=True)
    shifted = CELLS["lif"](reset="zero")
    shifted.v_reset.fill_(0.25)  # the fused scans assume v_reset = 0
    for cell in (CELLS["alif"](surrogate_fn=Hard.apply), CELLS["alif"](reset="zero"),
                 CELLS["adex"](detach_reset=False), CELLS["recurrent_lif"](3, reset="none"),
                 shifted):
        s, _ = cell.forward_sequence(x)
        assert "Scan" not in type(s.grad_fn).__name__
        s.sum().backward()
    with fused_scans(False):
        s, _ = CELLS["expif"]().forward_sequence(x)
        out, _ = ExpSynapse().forward_sequence(x)
    assert "Scan" not in type(s.grad_fn).__name__ + type(out.grad_fn).__name__
    s, _ = CELLS["expif"]().forward_sequence(x)
    assert "Scan" in type(s.grad_fn).__name__


def test_check_detects_a_wrong_backward():
    """The comparison has teeth: a surrogate whose backward formula differs from the one the
    fused scans use (same name, so both paths see it) is caught."""
    good = make_surrogate(lambda x, k: k / (1 + (k * x) ** 2), name="teeth", register=False, k=3.0)
    cell, scale = _make_cell("alif", good, True)
    xs, init = _data(cell, scale, 12, 0)
    s1, tr1 = _fused(cell, xs, init)
    g1 = _grads(cell, xs, init, [], s1, tr1, 0)
    cell.surrogate_fn = good.with_params(k=3.1)  # the step path now differs slightly
    s2, tr2 = _stepwise(cell, xs, init)
    g2 = _grads(cell, xs, init, [], s2, tr2, 0)
    assert torch.equal(s1, s2)
    assert max(_rel(a, b) for a, b in zip(g1, g2)) > 1e-4


def report() -> None:
    """Print the largest relative gradient error per cell over every case the tests check
    (all surrogates, fixed and learned parameters, T = 7 / 70 / 200, every reset where the
    cell's scan takes it, for those cells also with a spikes-only functional):
    ``python -m tests.training.test_fused_cells``."""
    torch.set_num_threads(1)
    print(f"float64, B={B}, N={N}, surrogates {', '.join(SURS)}; T = 7, 70, 200")
    for kind in sorted(CELL_CASES):
        resets = [{}] + ([dict(reset=r, detach_reset=d) for r, d in RESETS]
                         if kind in ANY_RESET else [])
        worst, n = 0.0, 0
        for reset in resets:
            for sur in SURS:
                for learn in (False, True):
                    for T in (7, 70, 200):
                        for only in ((False, True) if kind in ANY_RESET else (False,)):
                            worst = max(worst, check_cell(kind, SURROGATES[sur], learn, T,
                                                          spikes_only=only, **reset))
                            n += 1
        print(f"  {kind:18s} {n:4d} cases  max rel grad error {worst:.1e}"
              f"  resets: {'all' if len(resets) > 1 else 'subtract, detached'}")
    for name in ("exp_synapse", "leaky_readout"):
        worst = max(check_module(name, learn, T, st) for learn in (False, True)
                    for T in (7, 70, 200) for st in (False, True))
        print(f"  {name:18s} {12:4d} cases  max rel error      {worst:.1e}")


if __name__ == "__main__":
    report()
