"""Conv2d layers in the engine: planned as their unrolled dense matrix (``hw.cores.conv_unroll``),
max-pooled ones with one lane per window position and the max taken before the neuron; equal
to ``sim.golden``'s im2col convolution and max-pool per layer and per step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from boards import get_board
from hw.build import check_memory_fit
from hw.cores.conv_unroll import conv_matrix
from hw.cores.plan import PlanError, plan_quantized
from hw.fixed import Q8_8
from hw.ir import Conv2d, Dense, Network
from hw.quantize import quantize_network
from sim.golden import run_golden
from sim.tb.engine_cases import check_against_golden, neuron
from sim.tb.network import simulate_core


@pytest.mark.parametrize("c_out, c_in, k, side, stride, padding", [
    (3, 2, 3, 8, 1, 1), (4, 1, 5, 8, 1, 0), (2, 3, 3, 7, 2, 1), (2, 2, 2, 6, 2, 0), (1, 1, 1, 3, 1, 0)])
def test_conv_matrix_is_the_convolution(c_out, c_in, k, side, stride, padding) -> None:
    rng = np.random.default_rng(c_out * 10 + k)
    w, b = rng.normal(size=(c_out, c_in, k, k)), rng.normal(size=c_out)
    x = rng.normal(size=(c_in, side, side))
    mat, bias = conv_matrix(w, b, (c_in, side, side), stride, padding)
    ref = F.conv2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), stride=stride,
                   padding=padding)[0].numpy()
    assert mat.shape == (ref.size, x.size)
    np.testing.assert_allclose(mat @ x.ravel() + bias, ref.ravel(), rtol=0, atol=1e-12)


def test_conv_matrix_keeps_raws_integer() -> None:
    w = np.arange(8, dtype=np.int64).reshape(2, 1, 2, 2)
    mat, bias = conv_matrix(w, np.array([5, -7]), (1, 3, 3))
    assert mat.dtype == np.int64 and set(np.unique(mat)) <= set(range(8))
    assert list(bias) == [5] * 4 + [-7] * 4


def _conv_net(seed: int, *, first_conv: bool, encoding: str = "direct", kinds=("lif", "synaptic", "lif")):
    """An 8x8-image net: [conv 1->3 (3x3, pad 1) ->] conv 3->2 (3x3, stride 2) -> dense -> 4."""
    rng = np.random.default_rng(seed)
    layers = []
    if first_conv:
        layers.append(Conv2d("c0", rng.normal(0.1, 0.5, (3, 1, 3, 3)), rng.normal(0, 0.3, 3),
                             neuron(kinds[0]), in_shape=(1, 8, 8), padding=1))
    else:
        layers.append(Dense("d0", rng.normal(0.0, 0.15, (192, 64)), rng.normal(0, 0.3, 192), neuron(kinds[0])))
    layers.append(Conv2d("c1", rng.normal(0.0, 0.4, (2, 3, 3, 3)), rng.normal(0, 0.3, 2),
                         neuron(kinds[1]), in_shape=(3, 8, 8), stride=2))
    layers.append(Dense("out", rng.normal(0.1, 0.5, (4, 18)), rng.normal(0, 0.3, 4), neuron(kinds[2])))
    meta = {"encoder": {"seed": 77}} if encoding == "rate" else {}
    return Network(layers, (1, 8, 8), timesteps=8, encoding=encoding, metadata=meta)


def _images(n: int, seed: int) -> np.ndarray:
    """``(n, 64)`` 8x8 inputs in [0, 1], 40 % of them 0 (the analog layer skips zeros)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 64))
    x[rng.uniform(0, 1, x.shape) < 0.4] = 0.0
    return x


def _engine_equals_golden(qnet, plan, x: np.ndarray) -> None:
    """Golden (recorded; every layer's spike train non-trivial) == the engine, per layer and step."""
    golden = run_golden(qnet, x, record=True, progress=False)
    assert all(0 < t.sum() < t.size for t in golden.layer_spikes), [t.mean() for t in golden.layer_spikes]
    check_against_golden(plan, qnet, simulate_core(plan, Q8_8.quantize(x), trace=True), golden)


@pytest.mark.parametrize("first_conv, encoding", [(True, "direct"), (False, "direct"), (True, "rate")])
def test_conv_network_equals_golden_per_layer_and_step(first_conv, encoding) -> None:
    qnet = quantize_network(_conv_net(4, first_conv=first_conv, encoding=encoding), Q8_8)
    plan = plan_quantized(qnet, lanes=[3, 4, 2])
    assert [layer.n_out for layer in plan.layers] == [192, 18, 4]
    _engine_equals_golden(qnet, plan, _images(3, seed=3))


def test_a_wrong_unrolling_is_caught() -> None:
    """The comparison can fail: the conv layer's matrix transposed in space differs from golden."""
    qnet = quantize_network(_conv_net(4, first_conv=True), Q8_8)
    plan = plan_quantized(qnet, lanes=[3, 4, 2])
    layer = plan.layers[0]
    w = layer.weight.reshape(3, 8, 8, 1, 8, 8)
    layer.weight = np.ascontiguousarray(w.transpose(0, 2, 1, 3, 4, 5)).reshape(192, -1)   # x <-> y
    x = np.random.default_rng(3).uniform(0, 1, (2, 64))
    golden = run_golden(qnet, x, record=True, progress=False)
    rtl = simulate_core(plan, Q8_8.quantize(x), trace=True)
    with pytest.raises(AssertionError, match="layer 0"):
        check_against_golden(plan, qnet, rtl, golden)


def _pooled_net(seed: int, kinds=("lif", "lif", "lif"), encoding: str = "direct") -> Network:
    """ConvSpikingNet's shape on 8x8 images: conv 1->4 (3x3, pad 1) -> max-pool 2 -> conv 4->3
    (3x3, pad 1) -> max-pool 2 (ragged: none) -> dense 12 -> 4; pooling on the current."""
    rng = np.random.default_rng(seed)
    layers = [Conv2d("c0", rng.normal(0.05, 0.4, (4, 1, 3, 3)), rng.normal(0, 0.2, 4), neuron(kinds[0]),
                     in_shape=(1, 8, 8), padding=1, pool=2),
              Conv2d("c1", rng.normal(0.0, 0.5, (3, 4, 3, 3)), rng.normal(0, 0.2, 3), neuron(kinds[1]),
                     in_shape=(4, 4, 4), padding=1, pool=2),
              Dense("out", rng.normal(0.1, 0.6, (4, 12)), rng.normal(0, 0.2, 4), neuron(kinds[2]))]
    meta = {"encoder": {"seed": 99}} if encoding == "rate" else {}
    return Network(layers, (1, 8, 8), timesteps=8, encoding=encoding, metadata=meta)


@pytest.mark.parametrize("kinds, encoding, overlap", [
    (("lif", "lif", "lif"), "direct", None), (("synaptic", "alpha", "lif"), "direct", [False, False, True]),
    (("lif", "alif", "if"), "rate", None)])
def test_max_pooled_conv_network_equals_golden(kinds, encoding, overlap) -> None:
    qnet = quantize_network(_pooled_net(2, kinds, encoding), Q8_8)
    plan = plan_quantized(qnet, overlap=overlap)
    assert [layer.n_out for layer in plan.layers] == [64, 12, 4]
    assert [layer.lanes for layer in plan.layers[:2]] == [4, 4] and plan.layers[0].pool == 2
    _engine_equals_golden(qnet, plan, _images(3, seed=5))


def test_pooling_the_first_lane_instead_of_the_max_is_caught() -> None:
    """The comparison can fail: a plan whose pooled layer is a plain layer reading lane 0 only
    (rows of position (0, 0) of every window) differs from golden's max-pool."""
    qnet = quantize_network(_pooled_net(2), Q8_8)
    plan = plan_quantized(qnet)
    # every lane gets window position (0, 0)'s row
    plan.layers[0].weight = np.repeat(plan.layers[0].weight[0::4], 4, axis=0)
    x = np.random.default_rng(5).uniform(0, 1, (2, 64))
    golden = run_golden(qnet, x, record=True, progress=False)
    rtl = simulate_core(plan, Q8_8.quantize(x), trace=True)
    with pytest.raises(AssertionError, match="layer 0"):
        check_against_golden(plan, qnet, rtl, golden)


def test_pooled_layer_lanes_are_its_window() -> None:
    qnet = quantize_network(_pooled_net(2), Q8_8)
    with pytest.raises(PlanError, match="2x2-pooled layer takes 4 lanes, got 3"):
        plan_quantized(qnet, lanes=[3, 4, 2])


def test_conv_digits_net_fits_the_icebreaker() -> None:
    board = get_board("icebreaker")
    plan = board.plan(quantize_network(_conv_net(1, first_conv=True), Q8_8))
    check_memory_fit(plan, board)
