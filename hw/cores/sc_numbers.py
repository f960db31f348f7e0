"""Stochastic number generators (SNGs): banks of LFSRs and Sobol sources.

The software model of the gateware in ``hw.cores.sc`` (``LFSRGen``,
``SobolGen``, ``SCDotProduct``), kept next to it in ``hw/`` so that the core
and the SC simulation (``sim.sc``, which re-exports every name from
``sim.sc.sng`` and ``MODES`` from ``sim.sc.bitstream``) share one definition.
Pure numpy, no Amaranth.

A generator yields one ``width``-bit unsigned integer ``r[n]`` per clock; a
bitstream of probability ``p`` is ``bit[n] = r[n] < thr`` with
``thr = round(p * 2**width)`` (:func:`thresholds`).  ``hw.cores.sc`` builds
the same generators in gateware; the register-level reference models here
(:meth:`LFSR.reference`, :meth:`Sobol.reference`) are what it must equal.

LFSR (Fibonacci, shift left): with state bits ``s[0..w-1]`` the next state is
``((s << 1) | f) & (2**w - 1)`` where ``f`` is the XOR of the state bits
``s[k-1]`` for every tap ``k`` of :data:`LFSR_TAPS` (maximal-length
polynomials, period ``2**w - 1``; the all-zero state is excluded, so
``r[n]`` lies in ``[1, 2**w - 1]``).  ``r[n]`` is the state after ``n`` steps
from the seed.

Sobol (Joe-Kuo direction numbers, Gray-code order, same as
``scipy.stats.qmc.Sobol(scramble=False)``): ``r[n] = shift XOR (XOR of V[j]
for every set bit j of n ^ (n >> 1))``, index taken modulo ``2**width``.
The per-generator ``shift`` (a digital shift, derived from the seed) keeps
the low-discrepancy net property and decorrelates lanes.

Everything is vectorised over a bank of generators and over time: the only
Python loops run over ``width`` or ``log(length)``, never over bits.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

__all__ = [
    "LFSR_TAPS", "SOBOL_DIMS", "LFSR", "Sobol", "SNG", "make_sng",
    "derive_seeds", "thresholds", "sobol_direction_numbers", "MODES", "sobol_block", "sobol_block_values",
]

MODES = ("unipolar", "bipolar")
"""Multiplier encodings: ``unipolar`` (AND) and ``bipolar`` (XNOR)."""

LFSR_TAPS: dict[int, tuple[int, ...]] = {
    3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4), 17: (17, 14),
    18: (18, 11), 19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21),
    23: (23, 18), 24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1),
    27: (27, 5, 2, 1), 28: (28, 25), 29: (29, 27), 30: (30, 6, 4, 1),
    31: (31, 28), 32: (32, 22, 2, 1),
}
"""Maximal-length tap sets (1-indexed state bits XORed into the feedback), per width."""

# Joe-Kuo "new-joe-kuo-6.21201": (degree s, coefficients a, initial m_1..m_s);
# dimension 0 is the van der Corput sequence (all m = 1).
SOBOL_DIMS: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (0, 0, ()),
    (1, 0, (1,)),
    (2, 1, (1, 3)),
    (3, 1, (1, 3, 1)),
    (3, 2, (1, 1, 1)),
    (4, 1, (1, 1, 3, 3)),
    (4, 4, (1, 3, 5, 13)),
    (5, 2, (1, 1, 5, 5, 17)),
)
"""Sobol dimensions available to :class:`Sobol` (index = ``dim``)."""

_TABLE_MAX_WIDTH = 20  # below this, one cached full period serves every seed


def thresholds(p: np.ndarray | float, width: int) -> np.ndarray:
    """Comparator thresholds ``round(p * 2**width)`` (int64 in ``[0, 2**width]``) for probabilities ``p``.

    Raises ``ValueError`` if any ``p`` is NaN or outside ``[0, 1]``.
    """
    p = np.asarray(p, dtype=np.float64)
    if np.any(~np.isfinite(p)) or np.any(p < 0.0) or np.any(p > 1.0):
        raise ValueError("probabilities must lie in [0, 1]")
    return np.floor(p * (1 << width) + 0.5).astype(np.int64)


def derive_seeds(base_seed: int | None, key: Sequence[int], count: int, width: int) -> np.ndarray:
    """``count`` deterministic non-zero ``width``-bit seeds for the generator group ``key``.

    Uses ``numpy.random.SeedSequence`` (a stable algorithm), so the same
    ``(base_seed, key)`` gives the same seeds on every machine; ``None`` draws
    fresh entropy.
    """
    _check_width(width)
    seq = np.random.SeedSequence(entropy=base_seed, spawn_key=tuple(int(k) for k in key))
    raw = seq.generate_state(max(count, 1), dtype=np.uint64)[:count]
    return (raw % np.uint64((1 << width) - 1)).astype(np.int64) + 1


def _check_width(width: int) -> None:
    if not isinstance(width, (int, np.integer)) or not 3 <= width <= 32:
        raise ValueError(f"width must be an int in [3, 32], got {width!r}")


# -- LFSR ---------------------------------------------------------------------
def _lfsr_bits(width: int, taps: tuple[int, ...], seeds: np.ndarray, n_bits: int) -> np.ndarray:
    """The output bit sequences ``b`` (rows per seed, uint8) of length ``n_bits``.

    ``b[0:width]`` is the seed read MSB first; then ``b[n] = XOR_k b[n - k]``.
    Squaring the characteristic polynomial over GF(2) shows ``b[n] = XOR_k
    b[n - k * 2**j]`` too, so each numpy step fills ``min(taps) * 2**j`` bits.
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    b = np.zeros((seeds.size, max(n_bits, width)), dtype=np.uint8)
    for j in range(width):
        b[:, j] = (seeds >> (width - 1 - j)) & 1
    cur, low = width, min(taps)
    while cur < n_bits:
        step = 1 << max(0, (cur // width).bit_length() - 1)
        block = min(low * step, n_bits - cur)
        acc = np.zeros((seeds.size, block), dtype=np.uint8)
        for k in taps:
            lo = cur - k * step
            acc ^= b[:, lo:lo + block]
        b[:, cur:cur + block] = acc
        cur += block
    return b[:, :n_bits]


def _bits_to_states(b: np.ndarray, width: int, n: int) -> np.ndarray:
    """States ``s_t = sum_i b[t + w - 1 - i] 2**i`` for ``t < n`` (uint32)."""
    out = np.zeros((b.shape[0], n), dtype=np.uint32)
    for j in range(width):
        out |= b[:, j:j + n].astype(np.uint32) << np.uint32(width - 1 - j)
    return out


@lru_cache(maxsize=8)
def _lfsr_period_table(width: int, taps: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(states over one period from seed 1, state -> position) for small widths."""
    period = (1 << width) - 1
    bits = _lfsr_bits(width, taps, np.array([1]), period + width - 1)
    states = _bits_to_states(bits, width, period)[0]
    position = np.full(1 << width, -1, dtype=np.int64)
    position[states] = np.arange(period)
    if np.any(position[1:] < 0):
        raise ValueError(f"taps {taps} are not maximal-length for width {width}")
    states.setflags(write=False)
    position.setflags(write=False)
    return states, position


class LFSR:
    """A bank of Fibonacci LFSRs sharing width and polynomial, one per seed.

    Parameters:
        width: register width in bits (3..32).
        seeds: one non-zero seed per generator (int or array).
        taps: feedback taps (1-indexed); default :data:`LFSR_TAPS` ``[width]``.

    Attributes:
        period: ``2**width - 1``.
    """

    kind = "lfsr"

    def __init__(self, width: int = 16, seeds: int | Sequence[int] | np.ndarray = 1,
                 taps: Sequence[int] | None = None) -> None:
        _check_width(width)
        self.width = int(width)
        self.taps = tuple(int(t) for t in (taps if taps is not None else LFSR_TAPS[self.width]))
        if not self.taps or max(self.taps) != self.width or min(self.taps) < 1:
            raise ValueError(f"taps must be in [1, width] and include width={self.width}, got {self.taps}")
        self.seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64)).ravel()
        if np.any(self.seeds <= 0) or np.any(self.seeds >= (1 << self.width)):
            raise ValueError(f"LFSR seeds must be non-zero {self.width}-bit values")
        self.period = (1 << self.width) - 1

    def __len__(self) -> int:
        return int(self.seeds.size)

    def select(self, lo: int, hi: int) -> "LFSR":
        """Generators ``lo:hi`` of this bank."""
        return LFSR(self.width, self.seeds[lo:hi], self.taps)

    def numbers(self, n: int, start: int = 0) -> np.ndarray:
        """States ``r[start : start + n]`` of every generator, shape ``(len(self), n)``, uint32."""
        if n < 0 or start < 0:
            raise ValueError("n and start must be >= 0")
        if self.width <= _TABLE_MAX_WIDTH:
            states, position = _lfsr_period_table(self.width, self.taps)
            first = (position[self.seeds] + start) % self.period
            # a gather from the one-period table: O(generators * n), whatever start is
            return states[(first[:, None] + np.arange(n)) % self.period]
        start %= self.period
        bits = _lfsr_bits(self.width, self.taps, self.seeds, start + n + self.width - 1)
        return _bits_to_states(bits[:, start:], self.width, n)

    def reference(self, seed: int, n: int) -> list[int]:
        """Register-level model: the first ``n`` states of one LFSR, one Python step per clock."""
        mask, state, out = (1 << self.width) - 1, int(seed), []
        for _ in range(n):
            out.append(state)
            fb = 0
            for k in self.taps:
                fb ^= (state >> (k - 1)) & 1
            state = ((state << 1) | fb) & mask
        return out


# -- Sobol --------------------------------------------------------------------
@lru_cache(maxsize=64)
def sobol_direction_numbers(dim: int, width: int) -> tuple[int, ...]:
    """Direction numbers ``V[0..width-1]`` (``width``-bit ints) of Sobol dimension ``dim``."""
    _check_width(width)
    if not 0 <= dim < len(SOBOL_DIMS):
        raise ValueError(f"Sobol dim must be in [0, {len(SOBOL_DIMS) - 1}], got {dim}")
    s, a, m_init = SOBOL_DIMS[dim]
    m = [1] * width if s == 0 else list(m_init)
    for i in range(len(m), width):  # Joe-Kuo recurrence on m (0-indexed)
        value = m[i - s] ^ (m[i - s] << s)
        for k in range(1, s):
            if (a >> (s - 1 - k)) & 1:
                value ^= m[i - k] << k
        m.append(value)
    return tuple(m[j] << (width - 1 - j) for j in range(width))


class Sobol:
    """A bank of digitally shifted generators on one Sobol dimension.

    Parameters:
        width: output width in bits (3..32); the index wraps at ``2**width``.
        dim: Sobol dimension (0 = van der Corput), see :data:`SOBOL_DIMS`.
        shifts: one ``width``-bit XOR shift per generator (int or array).
    """

    kind = "sobol"

    def __init__(self, width: int = 16, dim: int = 0,
                 shifts: int | Sequence[int] | np.ndarray = 0) -> None:
        _check_width(width)
        self.width, self.dim = int(width), int(dim)
        self.directions = sobol_direction_numbers(self.dim, self.width)
        self.shifts = np.atleast_1d(np.asarray(shifts, dtype=np.int64)).ravel()
        if np.any(self.shifts < 0) or np.any(self.shifts >= (1 << self.width)):
            raise ValueError(f"Sobol shifts must be {self.width}-bit values")
        self.period = 1 << self.width

    def __len__(self) -> int:
        return int(self.shifts.size)

    def select(self, lo: int, hi: int) -> "Sobol":
        """Generators ``lo:hi`` of this bank."""
        return Sobol(self.width, self.dim, self.shifts[lo:hi])

    def sequence(self, n: int, start: int = 0) -> np.ndarray:
        """Unshifted values ``r[start : start + n]`` (uint32)."""
        idx = (start + np.arange(n, dtype=np.int64)) % self.period
        gray = idx ^ (idx >> 1)
        out = np.zeros(n, dtype=np.uint32)
        for j, v in enumerate(self.directions):
            out ^= (((gray >> j) & 1) * v).astype(np.uint32)
        return out

    def numbers(self, n: int, start: int = 0) -> np.ndarray:
        """Values ``r[start : start + n]`` of every generator, shape ``(len(self), n)``, uint32."""
        if n < 0 or start < 0:
            raise ValueError("n and start must be >= 0")
        return self.sequence(n, start)[None, :] ^ self.shifts.astype(np.uint32)[:, None]

    def reference(self, shift: int, n: int) -> list[int]:
        """Register-level model: ``x ^= V[ctz(~i)]`` once per clock, output ``x ^ shift``."""
        x, out = 0, []
        for i in range(n):
            out.append(x ^ int(shift))
            low_zero = ((~i) & (i + 1)).bit_length() - 1
            x ^= self.directions[low_zero] if low_zero < self.width else 0
        return out


SNG = LFSR | Sobol


def make_sng(kind: str, width: int, count: int, base_seed: int | None,
             key: Sequence[int], dim: int = 0) -> SNG:
    """A bank of ``count`` independent generators for one operand group.

    ``kind`` is ``"lfsr"`` (seeds from :func:`derive_seeds`) or ``"sobol"``
    (dimension ``dim``, digital shifts from :func:`derive_seeds`).
    """
    if kind == "lfsr":
        return LFSR(width, derive_seeds(base_seed, key, count, width))
    if kind == "sobol":
        return Sobol(width, dim, derive_seeds(base_seed, key, count, width) - 1)
    raise ValueError(f"unknown SNG kind {kind!r}; known: 'lfsr', 'sobol'")


def sobol_block(dim: int, width: int, p: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The Sobol sequence of ``dim`` cut into aligned blocks of ``2**p`` points, ``1 <= p < width``.

    For ``n = m * 2**p + k`` (``0 <= k < 2**p``) the Gray code splits as
    ``g(n) = (g(m) << p) ^ ((m & 1) << (p - 1)) ^ g(k)``, so::

        sequence[n] = low[k] ^ XOR_j (bit j of m ^ (m >> 1)) * high[j] ^ (m & 1) * carry

    Returns ``(low, high, carry)``: ``low[k]`` (``2**p`` values) is the sequence's first block,
    ``high[j] = V[j + p]`` and ``carry = V[p - 1]``.  Gateware that emits ``2**p`` stream bits
    a clock (``hw.cores.sc_stream``) computes the block term from the block index ``m`` and
    XORs the constants ``low[k]`` into each bit's comparator; :func:`sobol_block_values`
    is its numpy twin.
    """
    _check_width(width)
    if not (isinstance(p, (int, np.integer)) and 1 <= p < width):
        raise ValueError(f"block bits p must be an int in [1, {width - 1}], got {p!r}")
    v = sobol_direction_numbers(dim, width)
    low = tuple(int(s) for s in Sobol(width, dim).sequence(1 << p))
    return low, tuple(v[p:]), int(v[p - 1])


def sobol_block_values(dim: int, width: int, p: int, m: np.ndarray | int) -> np.ndarray:
    """``sequence[m * 2**p + k]`` for every block index ``m`` and ``k``, ``(len(m), 2**p)`` uint32,
    computed the way the gateware does (:func:`sobol_block`); equal to :meth:`Sobol.sequence`."""
    low, high, carry = sobol_block(dim, width, p)
    m = np.atleast_1d(np.asarray(m, dtype=np.int64)) % (1 << (width - p))
    gray = m ^ (m >> 1)
    block = np.where(m & 1, carry, 0).astype(np.int64)
    for j, h in enumerate(high):
        block ^= ((gray >> j) & 1) * h
    return (block[:, None] ^ np.asarray(low, dtype=np.int64)[None, :]).astype(np.uint32)
