"""Packed bitstreams: packing, multiply accuracy, decorrelation, the dot-product counts."""

import numpy as np
import pytest

from sim.sc import (LFSR, Bitstream, Sobol, derive_seeds, pack_bits, popcount, sc_dot_counts, scc,
                    to_probability, unpack_bits)
from sim.sc.sng import thresholds


@pytest.mark.parametrize("length", [1, 63, 64, 65, 200, 2048])
def test_pack_roundtrip_and_popcount(length):
    rng = np.random.default_rng(length)
    bits = rng.integers(0, 2, size=(3, length), dtype=np.uint8)
    words = pack_bits(bits)
    assert words.dtype == np.uint64 and words.shape == (3, -(-length // 64))
    assert np.array_equal(unpack_bits(words, length), bits)
    assert np.array_equal(popcount(words), bits.sum(axis=1))


def _pair(kind, n, seed=3):
    if kind == "lfsr":
        return (LFSR(16, derive_seeds(seed, (0,), n, 16)), LFSR(16, derive_seeds(seed, (1,), n, 16)))
    return (Sobol(16, 0, derive_seeds(seed, (0,), n, 16) - 1), Sobol(16, 1, derive_seeds(seed, (1,), n, 16) - 1))


@pytest.mark.parametrize("kind,tol", [("lfsr", 0.03), ("sobol", 0.004)])
def test_unipolar_and_bipolar_products(kind, tol):
    rng = np.random.default_rng(0)
    pa, pb = rng.random(200), rng.random(200)
    ga, gb = _pair(kind, 200)
    a = Bitstream.from_probability(pa, ga, 4096)
    b = Bitstream.from_probability(pb, gb, 4096)
    assert np.abs(a.probability() - pa).max() < tol
    assert np.abs((a & b).value("unipolar") - pa * pb).max() < tol
    ua, ub = 2 * pa - 1, 2 * pb - 1
    assert np.abs(a.xnor(b).value("bipolar") - ua * ub).max() < 2 * tol
    assert np.array_equal(a.multiply(b, "bipolar").words, a.xnor(b).words)


def test_independent_generators_are_decorrelated_shared_ones_are_not():
    rng = np.random.default_rng(1)
    pa, pb = rng.uniform(0.1, 0.9, 300), rng.uniform(0.1, 0.9, 300)
    for kind in ("lfsr", "sobol"):
        ga, gb = _pair(kind, 300)
        a = Bitstream.from_probability(pa, ga, 4096)
        b = Bitstream.from_probability(pb, gb, 4096)
        assert np.abs(scc(a, b)).mean() < 0.05, kind
    # the failure mode the independent generators avoid: one generator for both operands
    shared = LFSR(16, derive_seeds(3, (0,), 300, 16))
    a = Bitstream.from_probability(pa, shared, 4096)
    b = Bitstream.from_probability(pb, shared, 4096)
    assert np.allclose(scc(a, b), 1.0)
    assert np.allclose((a & b).probability(), np.minimum(a.probability(), b.probability()))


def test_mismatched_lengths_and_bad_values_raise():
    g = LFSR(16, [1])
    with pytest.raises(ValueError, match="lengths differ"):
        Bitstream.from_probability(0.5, g, 64) & Bitstream.from_probability(0.5, g, 128)
    with pytest.raises(ValueError, match="outside"):
        to_probability([0.5, 2.0], 0.0, 1.0, "x")
    with pytest.raises(ValueError, match="lo < hi"):
        to_probability([0.5], 1.0, 1.0)


def test_same_seed_reproduces_streams():
    a = Bitstream.from_probability([0.3, 0.7], LFSR(16, derive_seeds(9, (0,), 2, 16)), 1000)
    b = Bitstream.from_probability([0.3, 0.7], LFSR(16, derive_seeds(9, (0,), 2, 16)), 1000)
    c = Bitstream.from_probability([0.3, 0.7], LFSR(16, derive_seeds(10, (0,), 2, 16)), 1000)
    assert np.array_equal(a.words, b.words) and not np.array_equal(a.words, c.words)


def _naive_dot(x_thr, w_thr, gx, gw, length, mode):
    """Bit-by-bit reference from the register models (what the hardware does each clock)."""
    k, lanes = x_thr.shape
    rx = [gx.reference(s, k * length) for s in (gx.seeds if isinstance(gx, LFSR) else gx.shifts)]
    rw = [gw.reference(s, k * length) for s in (gw.seeds if isinstance(gw, LFSR) else gw.shifts)]
    out = []
    for v in range(k):
        total = 0
        for n in range(v * length, (v + 1) * length):
            for i in range(lanes):
                xb, wb = rx[i][n] < x_thr[v, i], rw[i][n] < w_thr[v, i]
                total += (xb and wb) if mode == "unipolar" else (xb == wb)
        out.append(total)
    return out


@pytest.mark.parametrize("kind", ["lfsr", "sobol"])
@pytest.mark.parametrize("mode", ["unipolar", "bipolar"])
def test_sc_dot_counts_equal_bit_by_bit_reference(kind, mode):
    rng = np.random.default_rng(5)
    lanes, k, length = 4, 6, 37
    gx, gw = _pair(kind, lanes)
    x_thr = rng.integers(0, 2**16 + 1, (k, lanes))
    w_thr = rng.integers(0, 2**16 + 1, (k, lanes))
    x_thr[0, 0], w_thr[1, 1] = 0, 2**16  # the extremes
    got = sc_dot_counts(x_thr, w_thr, sng_x=gx, sng_w=gw, length=length, mode=mode)
    assert list(got) == _naive_dot(x_thr, w_thr, gx, gw, length, mode)
    with pytest.raises(ValueError, match="one generator per lane"):
        sc_dot_counts(x_thr[:, :3], w_thr[:, :3], sng_x=gx, sng_w=gw, length=length)


def test_dot_product_error_shrinks_with_length():
    rng = np.random.default_rng(2)
    px, pw = rng.random((64, 32)), rng.random((64, 32))
    exact = (px * pw).sum(axis=1)
    errs = []
    for length in (256, 4096):
        gx, gw = _pair("lfsr", 32)
        c = sc_dot_counts(thresholds(px, 16), thresholds(pw, 16), sng_x=gx, sng_w=gw, length=length)
        errs.append(np.sqrt(np.mean((c / length - exact) ** 2)))
    assert errs[1] < errs[0] / 2
