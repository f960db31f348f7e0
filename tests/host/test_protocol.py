"""sw.host: frames of the UART protocol and the streaming driver against a frame-level fake device."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from hw.fixed import Q8_8
from hw.pixels import encode
from sw.host import ProtocolError, SNNDevice
from sw.host import protocol as P


class FakeDevice:
    """A pyserial stand-in that answers frames the way hw.cores.host_io does (counts = codes % T)
    and records how many samples the host had in flight (sent, first reply byte not yet read)."""

    def __init__(self, n_in=4, n_out=3, T=6, banks=2, loaded=True):
        self.n_in, self.n_out, self.T, self.banks, self.loaded = n_in, n_out, T, banks, loaded
        self.inbuf, self.out = bytearray(), bytearray()
        self.heads: list[int] = []          # output offsets where a sample reply starts
        self.read_pos = 0
        self.in_flight = self.max_in_flight = 0
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.inbuf += data
        while self.inbuf:
            cmd = chr(self.inbuf[0])
            if cmd == "I":
                size = 1
            elif cmd in P.SAMPLE_COMMANDS:
                size = P.SAMPLE_COMMANDS[cmd].input_bytes * self.n_in + 1
            else:
                raise AssertionError(f"unexpected command {cmd!r}")
            if len(self.inbuf) < size:
                break
            frame, self.inbuf = bytes(self.inbuf[:size]), self.inbuf[size:]
            self.frames.append(frame)
            self._answer(frame)
        return len(data)

    def _answer(self, frame: bytes) -> None:
        cmd = chr(frame[0])
        if cmd == "I":
            self.out += b"I" + struct.pack("<HHHBBB", self.n_in, self.n_out, self.T, 1, int(self.loaded), self.banks)
            return
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        assert self.in_flight <= self.banks, "the host broke the flow-control rule"
        self.heads.append(len(self.out))
        if not self.loaded:
            self.out += b"E"
            return
        values = np.frombuffer(frame[1:], dtype=np.uint8 if cmd in "Pp" else "<i2").astype(np.int64)
        counts = np.abs(values[:self.n_out]) % (self.T + 1)
        pred = int(np.argmax(counts))
        if cmd in "ps":
            self.out += b"r" + counts.astype(np.uint8).tobytes() + bytes([pred])
        else:
            self.out += b"R" + counts.astype("<u2").tobytes() + struct.pack("<HI", pred, 1234)

    def read(self, n: int) -> bytes:
        data = bytes(self.out[self.read_pos:self.read_pos + n])
        for pos in range(self.read_pos, self.read_pos + len(data)):
            if pos in self.heads:
                self.in_flight -= 1
        self.read_pos += len(data)
        return data

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        self.read_pos = len(self.out)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("banks", [2, 4])
@pytest.mark.parametrize("pixels,compact", [(True, True), (True, False), (False, True), (False, False)])
def test_infer_batch_streams_within_the_window_in_order(banks, pixels, compact):
    fake = FakeDevice(banks=banks)
    xs = np.random.default_rng(0).uniform(0, 1, (9, 4))
    dev = SNNDevice(serial=fake)
    replies = dev.infer_batch(xs, Q8_8, pixels=pixels, compact=compact, progress=True)
    assert fake.max_in_flight == banks                       # streamed, not one by one
    sent = [np.frombuffer(f[1:], dtype=np.uint8 if pixels else "<i2").astype(np.int64) for f in fake.frames[1:]]
    expect = [encode(x) if pixels else Q8_8.quantize(x) for x in xs]
    for got, want in zip(sent, expect):
        np.testing.assert_array_equal(got, want)
    assert fake.frames[1][:1] == ((b"p" if compact else b"P") if pixels else (b"s" if compact else b"S"))
    for r, want in zip(replies, expect):
        np.testing.assert_array_equal(r.spike_counts, np.abs(want[:3]) % 7)
        assert r.cycles == (None if compact else 1234)
    classes = SNNDevice(serial=FakeDevice(banks=banks)).classify(xs, Q8_8, pixels=pixels, progress=False)
    np.testing.assert_array_equal(classes, [r.prediction for r in replies])


def test_infer_batch_not_loaded_raises():
    dev = SNNDevice(serial=FakeDevice(loaded=False))
    with pytest.raises(ProtocolError, match="not loaded"):
        dev.infer_batch(np.zeros((3, 4)))


def test_frames():
    assert P.pixel_request([0.0, 0.5, 1.0, 2.0], 4) == b"P" + bytes([0, 128, 255, 255])
    assert P.pixel_request([0, 7, 255, 1], 4, codes=True, compact=True) == b"p" + bytes([0, 7, 255, 1])
    with pytest.raises(ValueError, match="finite"):
        P.pixel_request([0.0, np.nan, 0, 0], 4)
    with pytest.raises(ValueError):
        P.pixel_request([0, 256, 0, 0], 4, codes=True)
    with pytest.raises(ValueError):
        P.pixel_request([0.1], 4)
    assert P.sample_request([1, -2], 2, compact=True) == b"s" + struct.pack("<hh", 1, -2)
    info = P.parse_info(b"I" + struct.pack("<HHHBBB", 64, 10, 25, 1, 0, 4))
    assert (info.n_input, info.n_output, info.timesteps, info.needs_load, info.loaded, info.banks) == \
        (64, 10, 25, True, False, 4)
    with pytest.raises(ProtocolError):
        P.parse_info(b"I" + bytes(8))


def test_parse_replies():
    r = P.parse_reply(b"r" + bytes([1, 2, 3]) + bytes([2]), 3, 25)
    assert list(r.spike_counts) == [1, 2, 3] and r.prediction == 2 and r.cycles is None
    wide = P.parse_reply(b"r" + struct.pack("<HH", 300, 2) + bytes([0]), 2, 300)
    assert list(wide.spike_counts) == [300, 2]
    full = P.parse_reply(b"R" + struct.pack("<HHHI", 4, 5, 1, 99), 2, 25)
    assert list(full.spike_counts) == [4, 5] and full.prediction == 1 and full.cycles == 99
    with pytest.raises(ProtocolError, match="not loaded"):
        P.parse_reply(b"E", 2, 25)
    with pytest.raises(ProtocolError, match="in flight"):
        P.parse_reply(b"O", 2, 25)
    with pytest.raises(ProtocolError):
        P.parse_reply(b"r" + bytes(2), 2, 25)
    assert P.reply_size(10, 25, "p") == 12 and P.sample_reply_size(10) == 27
