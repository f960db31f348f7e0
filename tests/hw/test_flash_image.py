"""hw.flash_image: the weight image for the SPI flash and the model of what FlashBoot does with it."""

import struct

import numpy as np
import pytest

from boards import get_board
from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.flash_image import (CRC_INIT, HEADER_BYTES, MAGIC, VERSION, ImageError, boot_shape, boot_writes,
                            build_image, crc32_mpeg2, parse_header, write_image)
from hw.ir import Dense, Network, Neuron
from hw.models import load_default_model
from hw.quantize import quantize_network
from sw.training.equations import CELL_EQUATIONS


def _bitwise_crc(data: bytes) -> int:
    """CRC-32/MPEG-2 one bit at a time, MSB first: what the core's shift register does."""
    crc = CRC_INIT
    for byte in data:
        for i in range(7, -1, -1):
            fb = ((crc >> 31) ^ (byte >> i)) & 1
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (0x04C11DB7 if fb else 0)
    return crc


def _small_plan(seed=4, preload=False):
    rng = np.random.default_rng(seed)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    net = Network([Dense("a", rng.normal(0.3, 0.9, (6, 5)), rng.normal(0, 0.3, 6), neuron),
                   Dense("b", rng.normal(0.3, 0.9, (3, 6)), rng.normal(0, 0.3, 3), neuron)], (5,), timesteps=6)
    return plan_quantized(quantize_network(net, Q8_8), lanes=[2, 2], preload=preload)


def _load_words(plan):
    return [(a + k, int(w)) for a, words in plan.load_image(only_needed=True) for k, w in enumerate(words)]


def _model(plan, flash):
    return boot_writes(flash, boot_shape(plan))


@pytest.fixture(scope="module")
def digits_plan():
    return get_board("icebreaker").plan(quantize_network(load_default_model(), Q8_8))


def test_crc_is_crc32_mpeg2():
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7          # the catalogued check value
    data = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    assert crc32_mpeg2(data) == _bitwise_crc(data)


def test_image_header_and_layout(digits_plan):
    image = build_image(digits_plan)
    runs = digits_plan.load_image(only_needed=True)
    n_words = sum(len(w) for _, w in runs)
    assert image[:4] == MAGIC
    version, n_runs, words, crc = struct.unpack(">HHII", image[4:HEADER_BYTES])
    assert (version, n_runs, words) == (VERSION, len(runs), n_words)
    assert len(image) == HEADER_BYTES + 8 * n_runs + 2 * n_words
    assert crc == crc32_mpeg2(image[HEADER_BYTES:])
    pos = HEADER_BYTES
    for addr, w in runs:                                   # runs in load-image order, big-endian
        assert struct.unpack(">II", image[pos:pos + 8]) == (addr, len(w))
        np.testing.assert_array_equal(np.frombuffer(image[pos + 8:pos + 8 + 2 * len(w)], ">i2"), w)
        pos += 8 + 2 * len(w)
    assert parse_header(image).words == n_words


def test_model_writes_the_load_image(digits_plan):
    result = _model(digits_plan, build_image(digits_plan))
    assert result.done, result.reason
    assert result.writes == _load_words(digits_plan)


def test_blank_and_short_flash_are_refused(digits_plan):
    for flash in (b"", b"\xff" * 64, b"\x00" * 64, build_image(digits_plan)[:HEADER_BYTES + 100]):
        result = _model(digits_plan, flash)
        assert not result.done


def test_every_header_bit_flip_is_refused_before_any_write():
    plan = _small_plan()
    image = build_image(plan)
    for bit in range(HEADER_BYTES * 8):
        bad = bytearray(image)
        bad[bit // 8] ^= 0x80 >> (bit % 8)
        result = _model(plan, bytes(bad))
        assert not result.done and result.writes == [], bit


def test_every_payload_bit_flip_keeps_boot_done_low():
    plan = _small_plan()
    image = build_image(plan)
    for bit in range(HEADER_BYTES * 8, len(image) * 8):
        bad = bytearray(image)
        bad[bit // 8] ^= 0x80 >> (bit % 8)
        assert not _model(plan, bytes(bad)).done, bit


def test_stale_image_of_other_weights_is_refused():
    plan, other = _small_plan(seed=4), _small_plan(seed=5)
    assert not _model(plan, build_image(other)).done
    assert _model(other, build_image(other)).done


def test_plan_without_host_loaded_weights_has_an_empty_image():
    plan = _small_plan(preload=True)
    assert not plan.needs_load
    image = build_image(plan)
    assert len(image) == HEADER_BYTES and parse_header(image).runs == 0


def test_parse_header_names_the_field(tmp_path):
    plan = _small_plan()
    path = tmp_path / "w.bin"
    assert write_image(plan, path) == len(build_image(plan))
    assert path.read_bytes() == build_image(plan)
    with pytest.raises(ImageError, match="magic"):
        parse_header(b"\xff" * 32)
    with pytest.raises(ImageError, match="version"):
        parse_header(MAGIC + struct.pack(">HHII", 9, 0, 0, 0))
    with pytest.raises(ImageError, match="truncated"):
        parse_header(path.read_bytes()[:-1])
    with pytest.raises(ImageError, match="shorter"):
        parse_header(MAGIC)
    bad = bytearray(path.read_bytes())
    bad[-1] ^= 1
    with pytest.raises(ImageError, match="corrupted"):
        parse_header(bytes(bad))
