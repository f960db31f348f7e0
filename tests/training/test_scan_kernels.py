"""The fused scans' C loops (``sw.training.scan_kernels``) equal their Python loops.

Forward: spikes, membranes and final states bit for bit (``torch.equal``), in float32 and
float64, for every cell and state module that runs through them, every reset, with and
without initial states, with an expanded (static) input.  Backward: the same gradients
(float64, 1e-12 relative).  Where the kernels cannot be built the scans fall back.
"""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from sw.training import (AlphaCell, ExpSynapse, IFCell, LapicqueCell, LeakyReadout, LIFCell,
                         SecondOrderLIFCell, SynapticCell, scan_kernels)

T, B, N = 40, 5, 7

CELLS = {
    "lif": lambda r, d: LIFCell(beta=0.9, reset=r, detach_reset=d),
    "if": lambda r, d: IFCell(reset=r, detach_reset=d),
    "synaptic": lambda r, d: SynapticCell(alpha=0.85, beta=0.9, reset=r, detach_reset=d),
    "alpha": lambda r, d: AlphaCell(reset=r, detach_reset=d),
    "second_order_lif": lambda r, d: SecondOrderLIFCell(reset=r, detach_reset=d),
    "lapicque": lambda r, d: LapicqueCell(tau=20.0, dt=5.0, reset=r, detach_reset=d),
}
RESETS = [("subtract", True), ("subtract", False), ("zero", True), ("zero", False), ("none", True)]


def test_the_kernels_build_here() -> None:
    """CI and this machine have a C compiler: the fast path must really be taken."""
    assert scan_kernels.available()


def _inputs(cell, dtype, static: bool, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in cell.input_names:
        if static:  # one sample repeated over T: a stride-0 view, as prepare_input makes it
            x = (1.5 * torch.rand(B, N, generator=g, dtype=dtype)).unsqueeze(0).expand(T, B, N)
        else:
            x = 1.2 * torch.randn(T, B, N, generator=g, dtype=dtype) + 0.3
        out.append(x.clone().requires_grad_(True) if not static else x.detach().requires_grad_(True))
    return out


def _run(cell, xs, states, weights):
    spikes, final = cell.forward_sequence(tuple(xs) if len(xs) > 1 else xs[0], states)
    loss = (spikes * weights).sum() + sum((f * (i + 1.5)).sum() for i, f in enumerate(final))
    grads = torch.autograd.grad(loss, [*xs, *(s for s in states or () if s.requires_grad)])
    return spikes.detach(), [f.detach() for f in final], grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset,detach", RESETS, ids=[f"{r}-{'det' if d else 'grad'}" for r, d in RESETS])
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cells_equal_their_python_loops(kind: str, reset: str, detach: bool, dtype) -> None:
    cell = CELLS[kind](reset, detach).to(dtype)
    if not cell._fusable():
        pytest.skip(f"{kind} has no fused scan for reset={reset}, detach={detach} (runs step by step)")
    for static in (False, True):
        for with_state in (False, True):
            xs = _inputs(cell, dtype, static, seed=len(kind) + 7 * static)
            states = None
            if with_state:
                g = torch.Generator().manual_seed(3)
                states = [(0.5 * torch.randn(B, N, generator=g, dtype=dtype)).requires_grad_(True)
                          for _ in cell.state_names]
            weights = torch.randn(T, B, N, generator=torch.Generator().manual_seed(5), dtype=dtype)
            fast = _run(cell, xs, states, weights)
            with scan_kernels.kernels_disabled():
                slow = _run(cell, xs, states, weights)
            assert 0 < fast[0].mean() < 1  # some spikes, not all
            assert torch.equal(fast[0], slow[0]), f"{kind}: spikes differ (static={static})"
            for a, b in zip(fast[1], slow[1]):
                assert torch.equal(a, b), f"{kind}: a final state differs (static={static})"
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            for a, b in zip(fast[2], slow[2]):
                torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.abs().max() + 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["lif", "lapicque", "if", "synaptic"])
def test_spikes_only_subtract_grad_kernel_equals_the_python_loop(kind, dtype, monkeypatch) -> None:
    """A loss of the spikes alone (no gradient of v) with the kept-spike subtract reset takes
    ``reverse_subtract_grad``; its input gradients equal the Python loop's."""
    cell = CELLS[kind]("subtract", False).to(dtype)
    calls = []
    real = scan_kernels.reverse_subtract_grad
    monkeypatch.setattr(scan_kernels, "reverse_subtract_grad", lambda *a: calls.append(1) or real(*a))
    xs = _inputs(cell, dtype, static=False, seed=11)
    weights = torch.randn(T, B, N, generator=torch.Generator().manual_seed(5), dtype=dtype)
    grads = []
    for off in (False, True):
        ctx = scan_kernels.kernels_disabled() if off else contextlib.nullcontext()
        with ctx:
            spikes, _ = cell.forward_sequence(tuple(xs) if len(xs) > 1 else xs[0])
            grads.append(torch.autograd.grad((spikes * weights).sum(), xs))
    assert calls, "the kernel was not taken"
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for a, b in zip(*grads):
        assert float(a.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.abs().max() + 1))


@pytest.mark.parametrize("module", [ExpSynapse(tau=10.0), LeakyReadout(beta=0.8)], ids=["expsyn", "readout"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_linear_state_modules_equal_their_python_loops(module, dtype) -> None:
    module = module.to(dtype)
    x = torch.randn(T, B, N, dtype=dtype, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    for state in (None, torch.full((B, N), 0.25, dtype=dtype)):
        out_fast, _ = module.forward_sequence(x, state)
        g_fast = torch.autograd.grad(out_fast.square().sum(), x)[0]
        with scan_kernels.kernels_disabled():
            out_slow, _ = module.forward_sequence(x, state)
            g_slow = torch.autograd.grad(out_slow.square().sum(), x)[0]
        assert torch.equal(out_fast, out_slow)
        tol = 1e-12 if dtype == torch.float64 else 1e-5  # the backward's rounding order differs
        torch.testing.assert_close(g_fast, g_slow, rtol=tol, atol=tol)


def test_the_kernel_path_is_taken_and_a_wrong_kernel_would_be_caught(monkeypatch) -> None:
    """The spy sees the C loop run; a kernel that drops one spike makes the spikes differ."""
    calls = []
    real = scan_kernels.membrane_scan

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(scan_kernels, "membrane_scan", spy)
    cell = LIFCell(beta=0.9)
    x = torch.randn(T, B, N, generator=torch.Generator().manual_seed(2)) + 0.5
    s_fast, _ = cell.forward_sequence(x)
    assert calls == [True]

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        if out is not None:  # (None inside kernels_disabled)
            out[1].view(-1)[int(out[1].view(-1).nonzero()[0])] = 0.0
        return out

    monkeypatch.setattr(scan_kernels, "membrane_scan", broken)
    s_broken, _ = cell.forward_sequence(x)
    with scan_kernels.kernels_disabled():
        s_slow, _ = cell.forward_sequence(x)
    assert torch.equal(s_fast, s_slow) and not torch.equal(s_broken, s_slow)


def test_tensors_the_kernels_do_not_take_fall_back() -> None:
    x = torch.randn(B, T, N).transpose(0, 1)  # a step is not one contiguous block
    assert scan_kernels.membrane_scan(x, None, None, 0.9, 1.0, "subtract") is None
    assert scan_kernels.linear_scan(x.to(torch.float16), 0.9, None) is None
    cell = LIFCell(beta=0.9)
    s_fast, _ = cell.forward_sequence(x)
    with scan_kernels.kernels_disabled():
        s_slow, _ = cell.forward_sequence(x)
    assert torch.equal(s_fast, s_slow)


def test_a_failed_build_warns_and_the_scans_still_run(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(scan_kernels._KERNELS, "_loaded", [])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(scan_kernels.c_build.shutil, "which", lambda name: "/bin/false" if name else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not scan_kernels.available()
    assert any("C kernels unavailable" in str(w.message) for w in caught)
    x = torch.randn(T, B, N) + 0.5
    s, _ = LIFCell(beta=0.9).forward_sequence(x)
    with scan_kernels.kernels_disabled():
        s_ref, _ = LIFCell(beta=0.9).forward_sequence(x)
    assert torch.equal(s, s_ref)
