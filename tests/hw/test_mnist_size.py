"""MNIST-size models (784-128-10) on the UP5K: the plan fits, its weights go to SPRAM with flash
loading, and the cycle model follows the golden model's activity on synthetic 28x28 images.
The RTL run of the same network is ``tests/rtl/test_network_rtl.py::test_mnist_size_network_equals_golden``."""

from __future__ import annotations

import numpy as np
import pytest

from boards import get_board
from hw.build import FitError, check_memory_fit
from hw.fixed import Q8_8
from hw.flash_image import write_image
from hw.quantize import quantize_network
from sim.golden import run_golden
from sim.tb.mnist_size import mnist_size_network, synthetic_images


def test_synthetic_images_look_like_mnist() -> None:
    x = synthetic_images(16, seed=1)
    assert x.shape == (16, 784) and x.min() == 0.0 and x.max() == 1.0
    assert 0.6 < np.mean(x == 0) < 0.95                     # mostly background, as MNIST
    assert np.array_equal(x, synthetic_images(16, seed=1)) and not np.array_equal(x, synthetic_images(16, 2))
    assert np.array_equal(np.round(x * 255), x * 255)       # 8-bit grey levels


@pytest.mark.parametrize("bits", [8, 4])
def test_784_128_10_fits_the_icebreaker(bits: int, tmp_path) -> None:
    board = get_board("icebreaker")
    qnet = quantize_network(mnist_size_network(weight_bits=bits), Q8_8)
    plan = board.plan(qnet)
    need = check_memory_fit(plan, board)                    # raises FitError when over budget
    assert need["spram"] >= 1 and plan.needs_load           # SPRAM banks, loaded from flash
    first = plan.layers[0]
    assert first.analog and first.bank_depth <= 16384       # one SPRAM block deep at most
    assert first.lanes == 8 and need["dsp"] <= board.budget.dsp   # lanes up to the DSPs left
    write_image(plan, tmp_path / "weights.bin")
    size = (tmp_path / "weights.bin").stat().st_size
    assert size > 784 * 128 * bits // 8                     # the weights travel in the image


def test_784_128_10_at_16_bit_full_range_does_not_fit() -> None:
    """Full-range 16-bit weights cannot pack two to a word: the plan needs more than 4 SPRAMs,
    and the build stops before synthesis with the table and what to shrink."""
    net = mnist_size_network()
    for layer in net.layers:
        layer.weight[:, ::7] = 100.0                        # raws beyond 8 bits: no packing
    board = get_board("icebreaker")
    with pytest.raises(FitError, match="does not fit.*\n.*resource.*needed.*available") as err:
        check_memory_fit(board.plan(quantize_network(net, Q8_8)), board)
    assert "shrink layer 'fc0' (784 -> 128" in str(err.value) and "--weight-bits 8 or 4" in str(err.value)


def test_cycle_model_follows_golden_activity() -> None:
    x = synthetic_images(6, seed=3)
    qnet = quantize_network(mnist_size_network(weight_bits=8), Q8_8)
    plan = get_board("icebreaker").plan(qnet)
    golden = run_golden(qnet, x, record=True, progress=False)
    assert all(0 < t.sum() < t.size for t in golden.layer_spikes)   # both layers spike
    cycles = plan.activity_cycles(golden.layer_spikes, Q8_8.quantize(x))
    worst = plan.cycles()
    assert all(0 < c < worst for c in cycles)
    # the analog layer multiplies only the non-zero pixels (about a fifth of them)
    assert plan.cycle_split(None, 150)["prep"] < plan.cycle_split(None, 784)["prep"]
