"""``spike_linear``: the gather-add paths (compiled ``sparse_kernels`` and the
``embedding_bag`` fallback) equal ``F.linear`` (values and gradients) and are chosen only
for sparse inputs of large layers."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from sw.training import sparse, sparse_kernels
from sw.training.sparse import gather_linear, gather_weight_grad, spike_linear
from sw.training.sparse_kernels import csr_linear, csr_weight_grad, to_csr


def _took_sparse(y: torch.Tensor) -> bool:
    """Whether the graph of ``y`` (through its reshape) holds the gather-add node."""
    fn = y.grad_fn
    names = [type(fn).__name__] + [type(f).__name__ for f, _ in fn.next_functions if f]
    return any(k in n for n in names for k in ("SparseLinear", "CsrLinear", "BoolLinear"))


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


def test_the_compiled_kernels_build_here():
    assert sparse_kernels.available()


def _sparse_input(rows, cols, density, dtype, binary, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(rows, cols, generator=g, dtype=dtype) < density).to(dtype)
    if not binary:
        x = x * torch.randn(rows, cols, generator=g, dtype=dtype)
    x[7] = 0.0  # an empty row
    x[:, 3] = 0.0  # an input never active
    x[11] = 1.0  # a full row
    return x


@pytest.mark.parametrize("cols", [1, 3, 8, 16, 17, 40, 100])  # rows across the 8/16/64 blocks
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_to_csr_holds_the_non_zeros(cols, dtype):
    x = _sparse_input(301, cols, 0.1, torch.float32 if dtype == torch.bool else dtype,
                      binary=dtype == torch.bool) if cols > 11 else (
        torch.rand(301, cols, generator=torch.Generator().manual_seed(cols)) < 0.2).to(
        torch.float32 if dtype == torch.bool else dtype)
    x[-1] = 0.0  # the last row empty: rowptr is still filled to the end
    x = x.bool() if dtype == torch.bool else x
    csr = to_csr(x)
    r, c = x.nonzero(as_tuple=True)
    assert csr.nnz == len(r) and csr.shape == (301, cols) and csr.dtype == dtype
    assert torch.equal(csr.rowptr, torch.cat([torch.zeros(1, dtype=torch.long),
                                              torch.bincount(r, minlength=301).cumsum(0)]))
    assert torch.equal(csr.col[: csr.nnz].long(), c)
    binary = bool(((x == 0) | (x == 1)).all())
    assert (csr.val is None) == binary  # binary: no values kept
    if not binary:
        assert torch.equal(csr.val[: csr.nnz], x[r, c])
    assert to_csr(x.t()) is None if cols > 1 else True  # not contiguous: the torch path
    assert to_csr(x.half()) is None


@pytest.mark.parametrize("n_out", [2, 300])
def test_bool_spikes_equal_their_floats(n_out):
    """A bool spike train through ``spike_linear`` (the compiled path, or ``F.linear`` of
    its floats above the density) gives the float train's output and weight gradients."""
    for density in (0.01, 0.5):
        x = torch.rand(30, 20, 50, generator=torch.Generator().manual_seed(3)) < density
        w = torch.randn(n_out, 50, dtype=torch.float64, requires_grad=True)
        b = torch.randn(n_out, dtype=torch.float64, requires_grad=True)
        y = spike_linear(x, w, b)
        assert _took_sparse(y) == (density < 0.1)
        g1 = torch.autograd.grad(y.square().sum(), [w, b])
        y2 = F.linear(x.double(), w, b)
        g2 = torch.autograd.grad(y2.square().sum(), [w, b])
        torch.testing.assert_close(y, y2, rtol=1e-12, atol=1e-12)
        for a, c in zip(g1, g2):
            torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("n_out", [64, 150, 300])  # one tile, a tail tile, several tiles
def test_compiled_kernels_equal_dense(binary, dtype, threads, n_out):
    x = _sparse_input(300, 40, 0.1, dtype, binary)
    g = torch.Generator().manual_seed(1)
    w = torch.randn(n_out, 40, generator=g, dtype=dtype)
    b = torch.randn(n_out, generator=g, dtype=dtype)
    gy = torch.randn(300, n_out, generator=g, dtype=dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        csr = to_csr(x)
        torch.testing.assert_close(csr_linear(csr, w, b), x @ w.t() + b, **tol)
        torch.testing.assert_close(csr_linear(csr, w, None), x @ w.t(), **tol)
        torch.testing.assert_close(csr_weight_grad(gy, csr), gy.t() @ x, **tol)
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("density", [0.02, 0.08, 0.22, 0.5])
def test_spike_linear_equals_linear_and_dispatches_by_density(density, kernels):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(20, 16, 64, generator=g, dtype=torch.float64) < density).double()
    x.requires_grad_()
    w = torch.randn(300, 64, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(300, generator=g, dtype=torch.float64, requires_grad=True)
    measured = float(x.count_nonzero()) / x.numel()
    if kernels:
        y = spike_linear(x, w, b)
        assert _took_sparse(y) == (measured < sparse.KERNEL_FORWARD_DENSITY)
        assert ("CsrLinear" in type(y.grad_fn.next_functions[0][0]).__name__) == _took_sparse(y)
    else:
        with sparse_kernels.kernels_disabled():
            y = spike_linear(x, w, b)
        assert _took_sparse(y) == (measured < sparse.FORWARD_DENSITY)
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    g1 = torch.autograd.grad((y * gy).sum(), [x, w, b])
    y2 = F.linear(x, w, b)
    g2 = torch.autograd.grad((y2 * gy).sum(), [x, w, b])
    torch.testing.assert_close(y, y2, rtol=1e-12, atol=1e-12)
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)


def test_small_layers_and_dense_inputs_stay_dense():
    x = (torch.rand(25, 64, 128) < 0.01).float()
    xd = torch.rand(25, 64, 128)
    assert not _took_sparse(spike_linear(x, torch.randn(64, 128, requires_grad=True)))
    assert not _took_sparse(spike_linear(xd, torch.randn(512, 128, requires_grad=True)))
    assert not _took_sparse(spike_linear(x[:2], torch.randn(512, 128, requires_grad=True)))  # few rows
    assert _took_sparse(spike_linear(x, torch.randn(128, 128, requires_grad=True)))
    with sparse_kernels.kernels_disabled():
        assert not _took_sparse(spike_linear(x, torch.randn(128, 128, requires_grad=True)))
        assert _took_sparse(spike_linear(x, torch.randn(512, 128, requires_grad=True)))


def test_weight_gradient_path_follows_its_density(monkeypatch):
    """Between the two thresholds the forward is sparse and the weight gradient dense;
    both give the dense gradient."""
    x = (torch.rand(25, 64, 128, generator=torch.Generator().manual_seed(2)) < 0.1).double()
    w = torch.randn(256, 128, dtype=torch.float64, requires_grad=True)
    calls = []
    real = sparse.csr_weight_grad
    monkeypatch.setattr(sparse, "csr_weight_grad", lambda *a: calls.append(1) or real(*a))
    for threshold, used in ((0.5, True), (0.05, False)):
        monkeypatch.setattr(sparse, "KERNEL_WEIGHT_GRAD_DENSITY", threshold)
        calls.clear()
        (gw,) = torch.autograd.grad(spike_linear(x, w).sum(), [w])
        assert bool(calls) == used
        torch.testing.assert_close(gw, torch.ones(25 * 64, 256, dtype=torch.float64).t()
                                   @ x.reshape(-1, 128), rtol=1e-12, atol=1e-12)


def test_a_failed_build_warns_and_spike_linear_falls_back(monkeypatch, tmp_path):
    monkeypatch.setattr(sparse_kernels._KERNELS, "_loaded", [])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(sparse_kernels.c_build.shutil, "which", lambda name: "/bin/false" if name else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not sparse_kernels.available()
    assert any("sparse linear: C kernels unavailable" in str(w.message) for w in caught)
    x = (torch.rand(25, 64, 128) < 0.02).float()
    w = torch.randn(512, 128, requires_grad=True)
    y = spike_linear(x, w)
    assert _took_sparse(y) and "CsrLinear" not in type(y.grad_fn.next_functions[0][0]).__name__
    torch.testing.assert_close(y, F.linear(x, w), rtol=1e-5, atol=1e-5)
