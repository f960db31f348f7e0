"""Encoders and losses."""

import math

import pytest
import torch
import torch.nn.functional as F

from sw.training import (delta_encode, latency_encode, membrane_loss, rate_encode,
                         spike_count_loss, spike_l1_loss, spike_l2_loss, spike_rate_loss)


def test_rate_encode_statistics_and_shape():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    g = torch.Generator().manual_seed(0)
    s = rate_encode(x, 4000, generator=g)
    assert s.shape == (4000, 4) and set(s.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(s.mean(0), x, atol=0.03, rtol=0)
    assert s[:, 0].sum() == 0 and s[:, 3].sum() == 4000
    # out-of-range values are clamped (the seed's and snnTorch's behaviour)
    clamped = rate_encode(torch.tensor([1.5, -0.5]), 50)
    assert clamped[:, 0].sum() == 50 and clamped[:, 1].sum() == 0
    with pytest.raises(ValueError, match="NaN"):
        rate_encode(torch.tensor([float("nan")]), 3)
    with pytest.raises(ValueError, match="n_timesteps"):
        rate_encode(x, 0)


def test_latency_encode_one_spike_strong_first():
    x = torch.tensor([[1.0, 0.5, 0.1, 0.0]])
    s = latency_encode(x, 20, tau=5.0)
    assert s.shape == (20, 1, 4)
    assert s.sum(0).tolist() == [[1.0, 1.0, 1.0, 0.0]]
    first = s.argmax(0)[0].tolist()[:3]
    assert first == [0, round(5 * math.log(2)), round(5 * math.log(10))]
    assert latency_encode(torch.tensor([0.01]), 10, tau=5.0).sum() == 0  # falls after T


def test_delta_encode():
    x = torch.tensor([0.0, 0.5, 0.55, 0.2, 0.2, 0.9])
    assert delta_encode(x, threshold=0.1).tolist() == [0, 1, 0, 0, 0, 1]
    assert delta_encode(x, threshold=0.1, off_spike=True).tolist() == [0, 1, 0, -1, 0, 1]
    # the first sample is the reference: a constant (even a large one) gives no spikes
    assert delta_encode(torch.tensor([0.3]), 0.1).tolist() == [0]
    assert delta_encode(torch.full((5, 3), 0.8), 0.1).sum() == 0
    assert delta_encode(torch.tensor([0.8, 0.8, 1.0]), 0.1).tolist() == [0, 0, 1]


def test_count_and_membrane_losses_are_cross_entropy():
    torch.manual_seed(0)
    c, y = torch.rand(6, 4) * 10, torch.randint(0, 4, (6,))
    assert spike_count_loss(c, y) == pytest.approx(float(F.cross_entropy(c, y)))
    assert membrane_loss(c, y) == pytest.approx(float(F.cross_entropy(c, y)))


def test_spike_rate_loss():
    counts = torch.tensor([[8.0, 0.0], [5.0, 5.0]])
    y = torch.tensor([0, 1])
    # rates [[0.8, 0], [0.5, 0.5]] vs targets [[0.8, 0], [0, 0.8]]
    want = ((0.5 - 0.0) ** 2 + (0.5 - 0.8) ** 2) / 4
    assert float(spike_rate_loss(counts, y, 10)) == pytest.approx(want)
    assert float(spike_rate_loss(torch.tensor([[10.0, 0.0]]), torch.tensor([0]), 10, 1.0)) == 0
    with pytest.raises(ValueError):
        spike_rate_loss(counts, y, 10, target_rate=2.0)


def test_regularisers():
    s = torch.tensor([[0.0, 1.0], [2.0, 1.0]], requires_grad=True)
    assert float(spike_l1_loss(s).detach()) == pytest.approx(1.0)
    assert float(spike_l2_loss(s, weight=0.5).detach()) == pytest.approx(0.5 * 6 / 4)
    spike_l1_loss(s).backward()
    assert s.grad is not None


def test_regularisers_take_n_timesteps_as_the_seed():
    counts = torch.tensor([[0.0, 10.0], [20.0, 10.0]])
    # seed: (counts / T).abs().mean() and ((counts / T) ** 2).mean()
    assert float(spike_l1_loss(counts, 20)) == pytest.approx((0 + 0.5 + 1 + 0.5) / 4)
    assert float(spike_l2_loss(counts, 20)) == pytest.approx((0 + 0.25 + 1 + 0.25) / 4)
    assert float(spike_l1_loss(counts, n_timesteps=10, weight=2.0)) == pytest.approx(2 * 4 / 4)
    with pytest.raises(ValueError, match="n_timesteps"):
        spike_l1_loss(counts, 0)
