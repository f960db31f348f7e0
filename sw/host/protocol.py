"""``sw.host.protocol``: byte frames of the UART protocol of ``hw.cores.host_io`` (pure Python).

Every function here mirrors one command of the gateware's table (see
``hw.cores.host_io``); the driver (``sw.host.driver``) only moves these bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

__all__ = ["DeviceInfo", "SampleReply", "ProtocolError", "info_request", "parse_info",
           "load_request", "sample_request", "parse_sample_reply", "sample_reply_size",
           "INFO_REPLY_SIZE", "MAX_LOAD_WORDS"]

INFO_REPLY_SIZE = 9
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


@dataclass(frozen=True)
class SampleReply:
    """One inference: output spike counts, predicted class and clock cycles it took."""

    spike_counts: np.ndarray
    prediction: int
    cycles: int


def info_request() -> bytes:
    return b"I"


def parse_info(reply: bytes) -> DeviceInfo:
    if len(reply) != INFO_REPLY_SIZE or reply[:1] != b"I":
        raise ProtocolError(f"bad info reply {reply!r} (expected 9 bytes starting with 'I')")
    n_in, n_out, t, need, loaded = struct.unpack("<HHHBB", reply[1:])
    return DeviceInfo(n_in, n_out, t, bool(need), bool(loaded))


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


def sample_request(x_raw: np.ndarray, n_input: int) -> bytes:
    """``'S'`` frame with one sample's raw fixed-point input words."""
    x_raw = np.asarray(x_raw, dtype=np.int64).reshape(-1)
    if x_raw.size != n_input:
        raise ValueError(f"the device takes {n_input} input values, got {x_raw.size}")
    if x_raw.min() < -(1 << 15) or x_raw.max() >= (1 << 15):
        raise ValueError("input raws must fit 16-bit signed words")
    return b"S" + x_raw.astype("<i2").tobytes()


def sample_reply_size(n_output: int) -> int:
    return 1 + 2 * n_output + 2 + 4


def parse_sample_reply(reply: bytes, n_output: int) -> SampleReply:
    if reply[:1] == b"E":
        raise ProtocolError("the device's weights are not loaded: call load_weights() first")
    if len(reply) != sample_reply_size(n_output) or reply[:1] != b"R":
        raise ProtocolError(f"bad sample reply ({len(reply)} bytes, starts {reply[:1]!r})")
    counts = np.frombuffer(reply[1:1 + 2 * n_output], dtype="<u2").astype(np.int64)
    pred, cycles = struct.unpack("<HI", reply[1 + 2 * n_output:])
    return SampleReply(counts, int(pred), int(cycles))
