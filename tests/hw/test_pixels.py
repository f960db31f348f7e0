"""hw.pixels: the 8-bit code -> Q8.8 raw mapping, exhaustively, and its HDL twin."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.fixed import Q8_8, QFormat
from hw.pixels import code_to_raw, decode, encode, hdl_code_to_raw, supports

CODES = np.arange(256)


def test_raw_identity_is_exact_rounding_for_every_code():
    raw = code_to_raw(CODES)
    exact_twice = 2 * CODES * 256                       # 2 * c * 256 / 255 == 2 * raw_exact
    # never a tie: c*256/255 is never k + 1/2, i.e. 2*c*256 is never an odd multiple of 255
    assert not np.any((exact_twice % 255 == 0) & ((exact_twice // 255) % 2 == 1))
    np.testing.assert_array_equal(raw, (2 * CODES * 256 + 255) // (2 * 255))   # round half up
    np.testing.assert_array_equal(raw, np.rint(CODES * 256 / 255).astype(np.int64))


def test_golden_quantisation_of_decoded_codes_equals_raw():
    np.testing.assert_array_equal(Q8_8.quantize(decode(CODES)), code_to_raw(CODES))


def test_encode_rounds_clips_and_refuses_non_finite():
    np.testing.assert_array_equal(encode(decode(CODES)), CODES)
    np.testing.assert_array_equal(encode([-0.5, 0.0, 0.5, 1.0, 7.0]), [0, 0, 128, 255, 255])
    assert encode([0.3]).dtype == np.uint8
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="finite"):
            encode([0.2, bad])
    with pytest.raises(ValueError):
        code_to_raw([256])


def test_supports():
    assert supports(Q8_8) and supports(QFormat(4, 8)) and not supports(QFormat(8, 7))
    assert not supports(QFormat(1, 8))


def test_hdl_twin_matches_for_every_code():
    code, raw = Signal(8), Signal(9)
    m = Module()
    m.d.comb += raw.eq(hdl_code_to_raw(code))
    got = []

    async def bench(ctx):
        for c in range(256):
            ctx.set(code, c)
            got.append(ctx.get(raw))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(got, code_to_raw(CODES))
