"""``sw.host.protocol``: byte frames of the UART protocol of ``hw.cores.host_io`` (pure Python).

Every function here mirrors one command of the gateware's table (see
``hw.cores.host_io``); the driver (``sw.host.driver``) only moves these bytes.
Frame sizes come from ``hw.cores.link`` and 8-bit pixel codes from ``hw.pixels``
(the one definition of each, shared with the gateware).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from hw.cores.link import INFO_REPLY_BYTES, SAMPLE_COMMANDS, class_bytes, count_bytes, reply_bytes
from hw.pixels import encode

__all__ = ["DeviceInfo", "SampleReply", "ProtocolError", "info_request", "parse_info",
           "load_request", "sample_request", "pixel_request", "parse_sample_reply", "sample_reply_size",
           "parse_reply", "reply_size", "INFO_REPLY_SIZE", "MAX_LOAD_WORDS", "SAMPLE_COMMANDS"]

INFO_REPLY_SIZE = INFO_REPLY_BYTES
MAX_LOAD_WORDS = 0xFFFF


class ProtocolError(RuntimeError):
    """The device answered something the protocol does not allow (or nothing)."""


@dataclass(frozen=True)
class DeviceInfo:
    """What the device reports about the network it runs."""

    n_input: int
    n_output: int
    timesteps: int
    needs_load: bool
    loaded: bool
    banks: int = 2
    """Input banks = samples that may be in flight in a stream (``SNNDevice.infer_batch``)."""


@dataclass(frozen=True)
class SampleReply:
    """One inference: output spike counts, predicted class and clock cycles it took
    (``cycles`` is ``None`` for a compact reply, which does not carry it)."""

    spike_counts: np.ndarray
    prediction: int
    cycles: int | None


def info_request() -> bytes:
    return b"I"


def parse_info(reply: bytes) -> DeviceInfo:
    if len(reply) != INFO_REPLY_SIZE or reply[:1] != b"I":
        raise ProtocolError(f"bad info reply {reply!r} (expected {INFO_REPLY_SIZE} bytes starting with 'I')")
    n_in, n_out, t, need, loaded, banks = struct.unpack("<HHHBBB", reply[1:])
    return DeviceInfo(n_in, n_out, t, bool(need), bool(loaded), banks)


def load_request(address: int, words: np.ndarray) -> bytes:
    """``'W'`` frame writing raw ``words`` (int16 range) from load ``address`` on."""
    words = np.asarray(words, dtype=np.int64).reshape(-1)
    if not 0 <= address < (1 << 24):
        raise ValueError(f"load address {address} does not fit 24 bits")
    if words.size > MAX_LOAD_WORDS:
        raise ValueError(f"at most {MAX_LOAD_WORDS} words per load frame, got {words.size}")
    if words.size and (words.min() < -(1 << 15) or words.max() >= (1 << 15)):
        raise ValueError("load words must fit 16-bit signed raws")
    return (b"W" + address.to_bytes(3, "little") + struct.pack("<H", words.size)
            + words.astype("<i2").tobytes())


def sample_request(x_raw: np.ndarray, n_input: int, *, compact: bool = False) -> bytes:
    """``'S'`` (``compact``: ``'s'``) frame with one sample's raw fixed-point input words."""
    x_raw = np.asarray(x_raw, dtype=np.int64).reshape(-1)
    if x_raw.size != n_input:
        raise ValueError(f"the device takes {n_input} input values, got {x_raw.size}")
    if x_raw.min() < -(1 << 15) or x_raw.max() >= (1 << 15):
        raise ValueError("input raws must fit 16-bit signed words")
    return (b"s" if compact else b"S") + x_raw.astype("<i2").tobytes()


def pixel_request(x: np.ndarray, n_input: int, *, compact: bool = False, codes: bool = False) -> bytes:
    """``'P'`` (``compact``: ``'p'``) frame: one sample of values in [0, 1] as 8-bit codes.

    ``x`` is quantised with ``hw.pixels.encode`` (``round(x * 255)``, clipped; NaN/inf
    raise); with ``codes=True`` it already holds the codes 0..255.  The device computes
    exactly ``sim.golden.run_golden(qnet, hw.pixels.decode(codes))``.
    """
    x = np.asarray(x).reshape(-1)
    if x.size != n_input:
        raise ValueError(f"the device takes {n_input} input values, got {x.size}")
    if codes:
        if x.size and (np.min(x) < 0 or np.max(x) > 255 or not np.all(np.equal(np.mod(x, 1), 0))):
            raise ValueError("pixel codes are integers 0..255")
        c = x.astype(np.uint8)
    else:
        c = encode(x)
    return (b"p" if compact else b"P") + c.tobytes()


def sample_reply_size(n_output: int) -> int:
    """Bytes of a full (``'R'``) sample reply."""
    return reply_bytes(n_output, 1, "S")


def reply_size(n_output: int, timesteps: int, command: str) -> int:
    """Bytes of the reply to sample ``command`` (``'S'``, ``'P'``, ``'s'``, ``'p'``)."""
    return reply_bytes(n_output, timesteps, command)


def parse_reply(reply: bytes, n_output: int, timesteps: int) -> SampleReply:
    """Parse a full (``'R'``) or compact (``'r'``) sample reply; ``'E'``/``'O'`` raise ``ProtocolError``."""
    head = reply[:1]
    if head == b"E":
        raise ProtocolError("the device's weights are not loaded: call load_weights() first")
    if head == b"O":
        raise ProtocolError("the device dropped a sample: more than two samples were in flight")
    if head == b"R":
        return parse_sample_reply(reply, n_output)
    if head != b"r" or len(reply) != reply_bytes(n_output, timesteps, "p"):
        raise ProtocolError(f"bad sample reply ({len(reply)} bytes, starts {head!r})")
    cw, pw = count_bytes(timesteps), class_bytes(n_output)
    counts = np.frombuffer(reply[1:1 + cw * n_output], dtype="<u1" if cw == 1 else "<u2").astype(np.int64)
    pred = int.from_bytes(reply[1 + cw * n_output:1 + cw * n_output + pw], "little")
    return SampleReply(counts, pred, None)


def parse_sample_reply(reply: bytes, n_output: int) -> SampleReply:
    """Parse a full (``'R'``) sample reply; ``'E'``/``'O'`` raise ``ProtocolError``."""
    if reply[:1] in (b"E", b"O"):
        return parse_reply(reply, n_output, 1)
    if len(reply) != sample_reply_size(n_output) or reply[:1] != b"R":
        raise ProtocolError(f"bad sample reply ({len(reply)} bytes, starts {reply[:1]!r})")
    counts = np.frombuffer(reply[1:1 + 2 * n_output], dtype="<u2").astype(np.int64)
    pred, cycles = struct.unpack("<HI", reply[1 + 2 * n_output:])
    return SampleReply(counts, int(pred), int(cycles))
