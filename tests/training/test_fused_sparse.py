"""``spike_linear``: the gather-add path equals ``F.linear`` (values and gradients) and is
chosen only for sparse inputs of large layers."""

import pytest
import torch
import torch.nn.functional as F

from sw.training import sparse
from sw.training.sparse import gather_linear, gather_weight_grad, spike_linear


def _took_sparse(y: torch.Tensor) -> bool:
    """Whether the graph of ``y`` (through its reshape) holds the gather-add node."""
    fn = y.grad_fn
    names = [type(fn).__name__] + [type(f).__name__ for f, _ in fn.next_functions if f]
    return any("SparseLinear" in n for n in names)


@pytest.mark.parametrize("binary", [True, False])
def test_gather_kernels_equal_dense(binary):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(300, 40, generator=g, dtype=torch.float64) < 0.05).double()
    if not binary:
        x = x * torch.randn(300, 40, generator=g, dtype=torch.float64)
    x[7] = 0.0  # an empty row
    x[:, 3] = 0.0  # an input never active
    w = torch.randn(50, 40, generator=g, dtype=torch.float64)
    gy = torch.randn(300, 50, generator=g, dtype=torch.float64)
    torch.testing.assert_close(gather_linear(x, w), x @ w.t(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gather_weight_grad(gy, x), gy.t() @ x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("density", [0.02, 0.08, 0.5])
def test_spike_linear_equals_linear_and_dispatches_by_density(density):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(20, 16, 64, generator=g, dtype=torch.float64) < density).double()
    x.requires_grad_()
    w = torch.randn(300, 64, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(300, generator=g, dtype=torch.float64, requires_grad=True)
    y = spike_linear(x, w, b)
    measured = float(x.count_nonzero()) / x.numel()
    sparse_path = _took_sparse(y)
    assert sparse_path == (measured < sparse.FORWARD_DENSITY)
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    g1 = torch.autograd.grad((y * gy).sum(), [x, w, b])
    y2 = F.linear(x, w, b)
    g2 = torch.autograd.grad((y2 * gy).sum(), [x, w, b])
    torch.testing.assert_close(y, y2, rtol=1e-12, atol=1e-12)
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)


def test_small_layers_and_dense_inputs_stay_dense():
    x = (torch.rand(25, 64, 128) < 0.01).float()
    assert not _took_sparse(spike_linear(x, torch.randn(128, 128, requires_grad=True)))
    xd = torch.rand(25, 64, 128)
    assert not _took_sparse(spike_linear(xd, torch.randn(512, 128, requires_grad=True)))
    assert _took_sparse(spike_linear(x, torch.randn(512, 128, requires_grad=True)))
