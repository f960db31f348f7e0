"""Packed bitstreams and SC arithmetic: encode, multiply (AND / XNOR), popcount.

Bit ``n`` of a stream lives in bit ``n % 64`` of word ``n // 64`` of a
``np.uint64`` array; unused bits of the last word are zero.  Counting uses
``np.bitwise_count``, so no Python loop ever runs per bit.

Encodings of a value ``v`` in ``[lo, hi]``: both use the probability
``p = (v - lo) / (hi - lo)``; *unipolar* reads a stream back as
``lo + (hi - lo) * mean``, *bipolar* treats the range as ``[-1, 1]``
(``u = 2 p - 1``).  Products: unipolar AND gives ``p_a * p_b``; bipolar XNOR
gives ``u_a * u_b``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.cores.sc_numbers import MODES
from sim.sc.sng import SNG, thresholds

__all__ = [
    "MODES", "pack_bits", "unpack_bits", "n_words", "popcount", "Bitstream",
    "to_probability", "generate", "sc_dot_counts", "scc",
]

# MODES (``unipolar`` AND, ``bipolar`` XNOR) is defined in hw.cores.sc_numbers, beside the
# gateware that implements both multipliers; re-exported here unchanged.


def n_words(length: int) -> int:
    """64-bit words needed for ``length`` bits."""
    return -(-int(length) // 64)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bits ``(..., L)`` (bool / 0-1) -> words ``(..., ceil(L / 64))`` uint64."""
    bits = np.asarray(bits)
    length = bits.shape[-1]
    packed = np.packbits(bits.astype(bool, copy=False), axis=-1, bitorder="little")
    pad = n_words(length) * 8 - packed.shape[-1]
    if pad:
        packed = np.concatenate([packed, np.zeros((*packed.shape[:-1], pad), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, length: int) -> np.ndarray:
    """Words ``(..., W)`` -> bits ``(..., length)`` uint8."""
    raw = np.ascontiguousarray(np.asarray(words, dtype="<u8")).view(np.uint8)
    return np.unpackbits(raw, axis=-1, count=length, bitorder="little")


def popcount(words: np.ndarray) -> np.ndarray:
    """Ones per stream: popcount summed over the last (word) axis, int64."""
    return np.bitwise_count(np.asarray(words, dtype=np.uint64)).sum(axis=-1, dtype=np.int64)


def _tail_mask(length: int) -> np.ndarray:
    """Per-word mask of the valid bits of a ``length``-bit stream."""
    mask = np.full(n_words(length), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    if length % 64:
        mask[-1] = np.uint64((1 << (length % 64)) - 1)
    return mask


def to_probability(values: np.ndarray | float, lo: float, hi: float, name: str = "value") -> np.ndarray:
    """``(v - lo) / (hi - lo)``; ``ValueError`` if ``hi <= lo`` or a value leaves ``[lo, hi]``."""
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"{name} range must satisfy lo < hi, got [{lo}, {hi}]")
    v = np.asarray(values, dtype=np.float64)
    if np.any(~np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf")
    tol = 1e-9 * (hi - lo)
    if np.any(v < lo - tol) or np.any(v > hi + tol):
        bad = v[(v < lo - tol) | (v > hi + tol)].flat[0]
        raise ValueError(f"{name} {bad:g} is outside its range [{lo:g}, {hi:g}]")
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def generate(sng: SNG, p: np.ndarray, length: int, start: int = 0) -> np.ndarray:
    """Packed streams ``(len(sng), W)``: generator ``i`` compared with threshold of ``p[i]``."""
    thr = thresholds(np.broadcast_to(np.asarray(p, dtype=np.float64), (len(sng),)), sng.width)
    return pack_bits(sng.numbers(length, start) < thr[:, None])


@dataclass
class Bitstream:
    """One or more packed bitstreams of equal length.

    Attributes:
        words: uint64 array ``(..., ceil(length / 64))``.
        length: bits per stream.
    """

    words: np.ndarray
    length: int

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> "Bitstream":
        bits = np.asarray(bits)
        return cls(pack_bits(bits), int(bits.shape[-1]))

    @classmethod
    def from_probability(cls, p: np.ndarray | float, sng: SNG, length: int, start: int = 0) -> "Bitstream":
        """Encode ``p`` (one per generator of ``sng``) as ``length``-bit streams."""
        return cls(generate(sng, p, length, start), int(length))

    def _same(self, other: "Bitstream") -> None:
        if self.length != other.length:
            raise ValueError(f"bitstream lengths differ: {self.length} vs {other.length}")

    def __and__(self, other: "Bitstream") -> "Bitstream":
        """Unipolar multiply."""
        self._same(other)
        return Bitstream(self.words & other.words, self.length)

    def xnor(self, other: "Bitstream") -> "Bitstream":
        """Bipolar multiply (invalid tail bits stay zero)."""
        self._same(other)
        return Bitstream(~(self.words ^ other.words) & _tail_mask(self.length), self.length)

    def multiply(self, other: "Bitstream", mode: str = "unipolar") -> "Bitstream":
        if mode == "unipolar":
            return self & other
        if mode == "bipolar":
            return self.xnor(other)
        raise ValueError(f"unknown mode {mode!r}; known: {MODES}")

    def popcount(self) -> np.ndarray:
        return popcount(self.words)

    def probability(self) -> np.ndarray:
        return self.popcount() / self.length

    def value(self, mode: str = "unipolar") -> np.ndarray:
        """Decoded value: ``p`` (unipolar) or ``2 p - 1`` (bipolar)."""
        p = self.probability()
        return p if mode == "unipolar" else 2.0 * p - 1.0

    def to_bits(self) -> np.ndarray:
        return unpack_bits(self.words, self.length)


def scc(a: Bitstream, b: Bitstream) -> np.ndarray:
    """Stochastic cross-correlation (Alaghi & Hayes 2013): 0 independent, +1 max overlap, -1 min."""
    pa, pb, pab = a.probability(), b.probability(), (a & b).probability()
    delta = pab - pa * pb
    pos = np.minimum(pa, pb) - pa * pb
    neg = pa * pb - np.maximum(pa + pb - 1.0, 0.0)
    denom = np.where(delta > 0, pos, neg)
    return np.where(denom == 0, 0.0, delta / np.where(denom == 0, 1.0, denom))


def sc_dot_counts(x_thr: np.ndarray, w_thr: np.ndarray, *, sng_x: SNG, sng_w: SNG,
                  length: int, start: int = 0, mode: str = "unipolar") -> np.ndarray:
    """What the SC dot-product unit (``hw.cores.sc.SCDotProduct``) counts, for K vectors back to back.

    Lane ``i`` compares generator ``i`` of ``sng_x`` / ``sng_w`` with the
    thresholds ``x_thr[k, i]`` / ``w_thr[k, i]`` (ints in ``[0, 2**width]``),
    multiplies the two bits (AND or XNOR) and the unit adds the popcount of
    all lanes each clock.  Vector ``k`` uses stream positions
    ``[start + k * length, start + (k + 1) * length)`` (generators run free).

    Returns:
        int64 counts ``(K,)``.
    """
    x_thr = np.atleast_2d(np.asarray(x_thr, dtype=np.int64))
    w_thr = np.atleast_2d(np.asarray(w_thr, dtype=np.int64))
    if x_thr.shape != w_thr.shape:
        raise ValueError(f"x and w thresholds differ in shape: {x_thr.shape} vs {w_thr.shape}")
    k, lanes = x_thr.shape
    if len(sng_x) != lanes or len(sng_w) != lanes:
        raise ValueError(f"need one generator per lane ({lanes}), got {len(sng_x)} and {len(sng_w)}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
    rx = sng_x.numbers(k * length, start).reshape(lanes, k, length)
    rw = sng_w.numbers(k * length, start).reshape(lanes, k, length)
    xs = pack_bits(rx < x_thr.T[:, :, None])
    ws = pack_bits(rw < w_thr.T[:, :, None])
    prod = xs & ws if mode == "unipolar" else ~(xs ^ ws) & _tail_mask(length)
    return popcount(prod).sum(axis=0)
