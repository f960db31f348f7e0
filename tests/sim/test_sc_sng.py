"""Stochastic number generators: register models, maximal periods, Sobol vs scipy, seeds."""

import numpy as np
import pytest

from sim.sc.sng import (LFSR, LFSR_TAPS, SOBOL_DIMS, Sobol, _lfsr_period_table, derive_seeds,
                        make_sng, thresholds)


@pytest.mark.parametrize("width", [3, 4, 7, 8, 12, 16, 20, 21, 24, 32])
def test_lfsr_bank_equals_register_model(width):
    seeds = derive_seeds(7, (width,), 3, width)
    bank = LFSR(width, seeds)
    got = bank.numbers(300, start=11)
    for row, seed in zip(got, seeds):
        assert list(row) == bank.reference(int(seed), 311)[11:]


@pytest.mark.parametrize("width", range(3, 19))
def test_lfsr_taps_are_maximal_length(width):
    states, position = _lfsr_period_table(width, LFSR_TAPS[width])
    assert len(np.unique(states)) == (1 << width) - 1  # every non-zero state once
    assert states.min() == 1
    seq = LFSR(width, [5 % ((1 << width) - 1) + 1]).numbers((1 << width) + 3)[0]
    assert seq[(1 << width) - 1] == seq[0] and len(set(seq[: (1 << width) - 1].tolist())) == (1 << width) - 1


def test_lfsr_wraps_past_the_period_and_rejects_bad_arguments():
    bank = LFSR(5, [9])
    assert np.array_equal(bank.numbers(10, start=31), bank.numbers(10, start=0))
    with pytest.raises(ValueError, match="non-zero"):
        LFSR(8, [0])
    with pytest.raises(ValueError, match="width"):
        LFSR(2, [1])
    with pytest.raises(ValueError, match="taps"):
        LFSR(8, [1], taps=(7, 5))
    with pytest.raises(ValueError, match="not maximal"):
        LFSR(4, [1], taps=(4, 2)).numbers(4)


def test_sobol_matches_scipy_for_every_dimension():
    from scipy.stats import qmc  # scipy is a dependency of scikit-learn
    ref = qmc.Sobol(len(SOBOL_DIMS), scramble=False).random_base2(10)
    for dim in range(len(SOBOL_DIMS)):
        mine = Sobol(16, dim).sequence(1024) / 2.0**16
        assert np.array_equal(mine, ref[:, dim]), dim


@pytest.mark.parametrize("dim", [0, 1, 5])
def test_sobol_bank_equals_register_model(dim):
    shifts = [0, 0x1234, 0xFFFF]
    bank = Sobol(16, dim, shifts)
    got = bank.numbers(200, start=50)
    for row, shift in zip(got, shifts):
        assert list(row) == bank.reference(shift, 250)[50:]


def test_sobol_blocks_are_balanced():
    # every aligned block of 2**k values hits each of the 2**k equal bins once
    seq = Sobol(16, 3).sequence(4096) >> (16 - 8)
    for b in range(16):
        assert sorted(seq[b * 256:(b + 1) * 256].tolist()) == list(range(256))


def test_seeds_are_reproducible_distinct_and_in_range():
    a = derive_seeds(42, (1, 2), 1000, 16)
    assert np.array_equal(a, derive_seeds(42, (1, 2), 1000, 16))
    assert not np.array_equal(a, derive_seeds(42, (1, 3), 1000, 16))
    assert not np.array_equal(a, derive_seeds(43, (1, 2), 1000, 16))
    assert a.min() >= 1 and a.max() <= 0xFFFF
    assert len(np.unique(a)) > 980


def test_thresholds_and_make_sng():
    assert list(thresholds([0.0, 0.5, 1.0], 8)) == [0, 128, 256]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        thresholds([1.5], 8)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        thresholds([np.nan], 8)
    assert isinstance(make_sng("lfsr", 16, 4, 1, (0,)), LFSR)
    assert make_sng("sobol", 16, 4, 1, (0,), dim=2).dim == 2
    with pytest.raises(ValueError, match="unknown SNG"):
        make_sng("mersenne", 16, 4, 1, (0,))
