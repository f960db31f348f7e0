"""The fused multi-step LIF (one autograd node) equals the single-step loop,
forward values and gradients (input, initial state, learned beta and threshold)."""

import pytest
import torch

from sw.training import (LIFCell, Surrogate, atan_surrogate, fast_sigmoid, superspike,
                         triangular)
from sw.training.fused import reverse_discounted_sum


def _loop(cell, x, v0):
    spikes, vs, v = [], [], v0
    for t in range(x.shape[0]):
        s, v = cell(x[t], v)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


@pytest.mark.parametrize("sur", [atan_surrogate, fast_sigmoid.with_params(slope=5.0), superspike,
                                 triangular], ids=lambda s: s.name)
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("T", [7, 150])  # 150 > one chunk of the backward scan
def test_fused_equals_loop(sur, learn, T):
    torch.manual_seed(3)
    B, N = 4, 10
    cell = LIFCell(beta=0.8, threshold=0.7, surrogate_fn=sur, learn_beta=learn,
                   learn_threshold=learn)
    x = (torch.randn(T, B, N) * 0.6 + 0.2).requires_grad_(True)
    v0 = (torch.rand(B, N) * 0.5).requires_grad_(True)
    gs, gv = torch.randn(T, B, N), torch.randn(T, B, N)

    s1, v1 = cell.forward_sequence_with_membrane(x, v0)
    ((s1 * gs).sum() + (v1 * gv).sum()).backward()
    grads1 = [x.grad.clone(), v0.grad.clone()] + [p.grad.clone() for p in cell.parameters()]
    for t in [x, v0, *cell.parameters()]:
        t.grad = None

    s2, v2 = _loop(cell, x, v0)
    ((s2 * gs).sum() + (v2 * gv).sum()).backward()
    grads2 = [x.grad.clone(), v0.grad.clone()] + [p.grad.clone() for p in cell.parameters()]

    assert torch.equal(s1, s2) and torch.equal(v1, v2)
    assert 0.05 < s1.mean() < 0.8
    assert len(grads1) == (4 if learn else 2)
    for a, b in zip(grads1, grads2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_only_spike_gradient_and_static_input():
    """Gradient through spikes only, with a static (expanded) input as SpikingNet uses."""
    torch.manual_seed(0)
    cell = LIFCell(beta=0.9)
    base = (torch.rand(5, 12) * 0.5).requires_grad_(True)
    x = base.unsqueeze(0).expand(20, 5, 12)
    s, _ = cell.forward_sequence(x)
    s.sum().backward()
    g1 = base.grad.clone()
    base.grad = None
    s2, _ = _loop(cell, x, None)
    s2.sum().backward()
    assert torch.equal(s, s2)
    torch.testing.assert_close(g1, base.grad, rtol=1e-4, atol=1e-5)


def test_custom_callable_surrogate_falls_back_to_loop():
    class Hard(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return (x > 0).float()

        @staticmethod
        def backward(ctx, g):
            return g

    cell = LIFCell(surrogate_fn=Hard.apply)
    assert not isinstance(cell.surrogate_fn, Surrogate)
    x = torch.rand(10, 2, 3, requires_grad=True)
    s, (v,) = cell.forward_sequence(x)
    s.sum().backward()
    assert x.grad is not None and s.shape == x.shape


def test_reverse_discounted_sum_against_loop():
    g = torch.randn(200, 3, 2, dtype=torch.float64)
    ref = torch.zeros_like(g)
    acc = torch.zeros_like(g[0])
    for t in reversed(range(g.shape[0])):
        acc = g[t] + 0.93 * acc
        ref[t] = acc
    torch.testing.assert_close(reverse_discounted_sum(g, 0.93), ref)
