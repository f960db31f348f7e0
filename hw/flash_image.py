"""``hw.flash_image``: the weight image written to a board's SPI flash, and what ``FlashBoot`` does with it.

The UP5K's SPRAM has no power-up contents, so the weights the bitstream lacks
(``NetworkPlan.load_image(only_needed=True)``) go to the configuration flash,
after the bitstream, at the board's ``flash_offset``.  At start-up
:class:`hw.cores.flash_boot.FlashBoot` reads them back and writes them through
the host interface's boot port.  This module is the one definition of the
format: the programmer writes :func:`build_image`, the core compares the
header with :func:`expected_header`, and :func:`boot_writes` is the software
model of the core (the writes it makes and whether it raises ``boot_done``).

Format (big-endian, the order the bits arrive on the SPI bus)::

    offset  size  field
    0       4     magic  b"SNNW"
    4       2     format version (1)
    6       2     runs R
    8       4     weight words N (all runs together)
    12      4     CRC-32/MPEG-2 of the payload
    16      ...   payload: R runs of [load address u32, word count u32, count x u16]

Words are the two's-complement raw fixed-point values (``fmt.width`` <= 16 bits).
The gateware is built with the header of *its own* plan and weights compiled in
(:func:`boot_shape`), so a blank flash (``0xFF``), an image of another plan or of
other weights (stale), and a corrupted payload (CRC) are all refused:
``boot_done`` stays 0 and the host loads the weights over the UART as before.
A header mismatch writes nothing; a corrupted payload is detected only at its
end (the words read until then were written, which leaves the memories no worse
than their undefined power-up contents).  The CRC covers the run headers too,
so the core needs no other length or range checks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["MAGIC", "VERSION", "HEADER_BYTES", "CRC_POLY", "CRC_INIT", "ImageError", "BootShape",
           "BootResult", "crc32_mpeg2", "image_runs", "build_image", "expected_header", "parse_header",
           "write_image", "boot_shape", "boot_writes"]

MAGIC = b"SNNW"
VERSION = 1
HEADER_BYTES = 16
CRC_POLY = 0x04C11DB7
"""CRC-32 polynomial, processed MSB first (CRC-32/MPEG-2: init ``0xFFFFFFFF``, no reflection, no final xor)."""
CRC_INIT = 0xFFFFFFFF
WORD_BITS = 16


class ImageError(ValueError):
    """Bytes that are not a weight image of this format (the message says which field)."""


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) if crc & 0x80000000 else (crc << 1)
        table.append(crc & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def crc32_mpeg2(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-32/MPEG-2 of ``data`` (bit by bit in arrival order, as the core computes it)."""
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[((crc >> 24) ^ b) & 0xFF]
    return crc


def image_runs(plan: Any) -> list[tuple[int, np.ndarray]]:
    """``(load address, raw words)`` runs the image carries: the banks the bitstream lacks."""
    return [(int(a), np.asarray(w, dtype=np.int64)) for a, w in plan.load_image(only_needed=True)]


def _payload(runs: Sequence[tuple[int, np.ndarray]], width: int) -> bytes:
    if not 1 <= width <= WORD_BITS:
        raise ImageError(f"word width {width} is not 1..{WORD_BITS} bits")
    parts = []
    for addr, words in runs:
        words = np.asarray(words, dtype=np.int64)
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        if words.size and (words.min() < lo or words.max() > hi):
            raise ImageError(f"run at 0x{addr:x}: a word does not fit {width} signed bits")
        parts.append(struct.pack(">II", addr, len(words)))
        parts.append((words & 0xFFFF).astype(">u2").tobytes())
    return b"".join(parts)


def build_image(plan: Any) -> bytes:
    """The flash image of ``plan``'s host-loaded weights (empty runs list when none are needed)."""
    runs = image_runs(plan)
    payload = _payload(runs, plan.fmt.width)
    n_words = sum(len(w) for _, w in runs)
    header = MAGIC + struct.pack(">HHII", VERSION, len(runs), n_words, crc32_mpeg2(payload))
    return header + payload


def expected_header(plan: Any) -> bytes:
    """The 16 header bytes the core built for ``plan`` accepts."""
    return build_image(plan)[:HEADER_BYTES]


@dataclass(frozen=True)
class ImageHeader:
    version: int
    runs: int
    words: int
    crc: int


def parse_header(data: bytes) -> ImageHeader:
    """Check an image's magic, version, length and payload CRC; returns its header fields."""
    if len(data) < HEADER_BYTES:
        raise ImageError(f"{len(data)} bytes is shorter than the {HEADER_BYTES}-byte header")
    if data[:4] != MAGIC:
        raise ImageError(f"bad magic {data[:4]!r} (expected {MAGIC!r})")
    version, runs, words, crc = struct.unpack(">HHII", data[4:HEADER_BYTES])
    if version != VERSION:
        raise ImageError(f"format version {version} (this code reads version {VERSION})")
    size = HEADER_BYTES + 8 * runs + 2 * words
    if len(data) < size:
        raise ImageError(f"truncated: {len(data)} bytes for {runs} runs of {words} words in all")
    if crc32_mpeg2(data[HEADER_BYTES:size]) != crc:
        raise ImageError(f"payload CRC does not match the header's 0x{crc:08x} (corrupted)")
    return ImageHeader(version, runs, words, crc)


def write_image(plan: Any, path: str | Path) -> int:
    """Write :func:`build_image` of ``plan`` to ``path``; returns its size in bytes."""
    data = build_image(plan)
    Path(path).write_bytes(data)
    return len(data)


@dataclass(frozen=True)
class BootShape:
    """What a ``FlashBoot`` core is built with, from its plan (one definition for core and model).

    Attributes:
        header: the 16 header bytes of the plan's image.
        addr_bits: boot-port address width (``bank_bits + offset_bits``); run addresses
            are taken modulo ``2**addr_bits``.
        count_bits: width of the run-length counter (fits the longest run); run counts
            are taken modulo ``2**count_bits``, 0 meaning ``2**count_bits``.
        width: raw word width (words are taken modulo ``2**width``, signed).
        image_crc: CRC-32/MPEG-2 of the whole image (header and payload), what the
            core's CRC register must hold at the end.
    """

    header: bytes
    addr_bits: int
    count_bits: int
    width: int
    image_crc: int

    @property
    def runs(self) -> int:
        return struct.unpack(">H", self.header[6:8])[0]

    @property
    def payload_crc(self) -> int:
        return struct.unpack(">I", self.header[12:16])[0]

    @property
    def header_crc(self) -> int:
        return crc32_mpeg2(self.header)


def boot_shape(plan: Any) -> BootShape:
    """The :class:`BootShape` of ``plan``."""
    runs = image_runs(plan)
    longest = max((len(w) for _, w in runs), default=1)
    image = build_image(plan)
    return BootShape(image[:HEADER_BYTES], plan.bank_bits + plan.offset_bits,
                     max(1, longest.bit_length()), plan.fmt.width, crc32_mpeg2(image))


@dataclass
class BootResult:
    """What ``FlashBoot`` does with given flash contents (its software model).

    Attributes:
        writes: ``(load address, raw word)`` in the order the boot port writes them.
        done: ``boot_done`` is raised (header and payload CRC good).
        reason: why not, when ``done`` is false.
    """

    writes: list[tuple[int, int]] = field(default_factory=list)
    done: bool = False
    reason: str = ""


def boot_writes(flash: bytes, shape: BootShape) -> BootResult:
    """Model of ``FlashBoot``: the words it writes for flash contents ``flash`` (from the image offset).

    Reads past ``flash`` return ``0xFF`` (erased flash).  The core, in order: CRC of
    the 16 header bytes read must equal that of ``shape.header`` (the same as the
    bytes being equal, but for a 2**-32 chance), else it stops before any write;
    then ``shape.runs`` runs, each ``[address, count]`` then ``count`` words written
    at consecutive addresses (fields reduced as in :class:`BootShape`); then the CRC
    of everything read must equal ``shape.image_crc`` (one CRC register, never reset).
    """
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        chunk = bytes(flash[pos:pos + n])
        pos += n
        return chunk + b"\xff" * (n - len(chunk))

    result = BootResult()
    header = take(HEADER_BYTES)
    if crc32_mpeg2(header) != shape.header_crc:
        result.reason = f"header {header.hex()} is not {shape.header.hex()}"
        return result
    crc = crc32_mpeg2(header)
    amask, cmask, wmask = (1 << shape.addr_bits) - 1, (1 << shape.count_bits) - 1, (1 << shape.width) - 1
    sign = 1 << (shape.width - 1)
    for _ in range(shape.runs):
        raw = take(8)
        crc = crc32_mpeg2(raw, crc)
        addr, count = struct.unpack(">II", raw)
        addr &= amask
        count = (count & cmask) or cmask + 1
        for _ in range(count):
            raw = take(2)
            crc = crc32_mpeg2(raw, crc)
            word = int.from_bytes(raw, "big") & wmask
            result.writes.append((addr, word - 2 * sign if word & sign else word))
            addr = (addr + 1) & amask
    if crc != shape.image_crc:
        result.reason = f"image CRC 0x{crc:08x}, expected 0x{shape.image_crc:08x}"
    else:
        result.done = True
    return result
