"""``SCMatVec``: counts of an SC matrix-vector product, for a batch, one timestep at a time.

Structure (what a hardware array of SC dot-product units would have):
one input SNG per input lane (its stream fans out to every neuron) and one
weight SNG per synapse.  For timestep ``step`` every generator supplies the
stream positions ``[step * length, (step + 1) * length)``: generators start
at their seeds for each sample and run free across the timesteps, so each
step draws fresh bits.

``counts(p_x, step)[b, j] = sum_i popcount(X_i(p_x[b, i]) op W_ji)`` with
``op`` AND (unipolar) or XNOR (bipolar).  Exact shortcuts, not
approximations: inputs that are all 0 or 1 (spikes: the stream is all zeros
or all ones) reduce to a matrix product with the weight streams' popcounts,
and a batch with few distinct input levels counts each level once.

Weight streams of an LFSR bank (width <= 20) are cut out of packed full
periods: an LFSR with seed ``s`` is the one period table started at
``position[s]``, so the stream of a synapse with threshold ``thr`` is ``L``
bits of the packed period ``table < thr`` read from a bit offset (two word
shifts per output word).  One period is packed per distinct threshold, once;
each step then costs ``O(n_out * n_in * L / 64)`` word operations instead of
generating ``n_out * n_in * L`` numbers.  The bits are the same as
:meth:`SCMatVec.weight_streams_reference`.
"""

from __future__ import annotations

import numpy as np

from sim.sc.bitstream import MODES, _tail_mask, n_words, pack_bits, popcount
from sim.sc.sng import _TABLE_MAX_WIDTH, LFSR, _lfsr_period_table, make_sng, thresholds

__all__ = ["SCMatVec"]

_CHUNK_ELEMENTS = 1 << 22  # bound on temporary array sizes (elements)
_PERIOD_TABLE_WORDS = 1 << 23  # bound on the packed full-period tables (64 MiB)
_SHIFTED_TABLE_WORDS = 1 << 23  # bound on the 64-shift copies of them
_PRODUCT_PERIOD_WORDS = 1 << 24  # bound on a layer's packed product period (128 MiB)


def _shift_words(words: np.ndarray, r: np.ndarray | int) -> np.ndarray:
    """Bits of ``words (..., W + 1)`` advanced by ``r`` (0..63) bits -> ``(..., W)``."""
    ru = np.asarray(r, dtype=np.uint64)[..., None]
    # x << 64 is undefined for numpy uint64: shift in two steps so r = 0 gives 0
    hi = np.left_shift(words[..., 1:], np.uint64(63) - ru)
    hi <<= np.uint64(1)
    hi |= words[..., :-1] >> ru
    return hi


class _PackedPeriods:
    """Packed full periods of an LFSR bank's streams, one per distinct threshold.

    ``streams(start, n_bits)`` returns the same bits as
    ``pack_bits(sng.numbers(n_bits, start) < thr[:, None])`` for any
    ``n_bits <= max_bits``.  When memory allows, each period is stored at all
    64 bit shifts, so a window is one contiguous word slice; otherwise
    windows are shifted word by word.
    """

    def __init__(self, sng: LFSR, thr: np.ndarray, max_bits: int, shifted: bool = True) -> None:
        states, position = _lfsr_period_table(sng.width, sng.taps)
        self.period, self.max_bits = int(sng.period), int(max_bits)
        self.first = position[sng.seeds]  # period position of each generator's seed
        levels, self.level = np.unique(thr, return_inverse=True)
        n_bits = _PackedPeriods.table_bits(self.period, self.max_bits)  # wrap-around appended
        ext = np.tile(states, -(-n_bits // self.period))[:n_bits]
        self.row = n_words(n_bits)
        base = np.empty((levels.size, self.row + 1), dtype=np.uint64)
        base[:, -1] = 0
        per = max(1, _CHUNK_ELEMENTS // n_bits)
        for lo in range(0, levels.size, per):
            base[lo:lo + per, :-1] = pack_bits(ext[None, :] < levels[lo:lo + per, None])
        self.shifted = shifted and levels.size * 64 * self.row <= _SHIFTED_TABLE_WORDS
        if self.shifted:  # copy r holds the period advanced by r bits
            table = np.empty((levels.size, 64, self.row), dtype=np.uint64)
            for r in range(64):
                table[:, r] = _shift_words(base, r)
        else:
            table = base[:, None, :]
        self.flat = table.reshape(-1)
        self.base = self.level * (table.shape[1] * table.shape[2])
        self._views: dict[int, np.ndarray] = {}

    @staticmethod
    def table_bits(period: int, max_bits: int) -> int:
        return period + max_bits + 128

    @staticmethod
    def fits(sng: object, thr: np.ndarray, max_bits: int) -> bool:
        if not isinstance(sng, LFSR) or sng.width > _TABLE_MAX_WIDTH:
            return False
        words = n_words(_PackedPeriods.table_bits(sng.period, max_bits))
        return np.unique(thr).size * words <= _PERIOD_TABLE_WORDS

    def _windows(self, w: int) -> np.ndarray:
        if w not in self._views:
            self._views[w] = np.lib.stride_tricks.sliding_window_view(self.flat, w)
        return self._views[w]

    def streams(self, start: int, n_bits: int, which: np.ndarray | None = None) -> np.ndarray:
        """Packed streams ``(n_generators, ceil(n_bits / 64))`` of bits ``[start, start + n_bits)``
        (of the generators ``which`` only, if given)."""
        if not 0 < n_bits <= self.max_bits:
            raise ValueError(f"n_bits must be in [1, {self.max_bits}], got {n_bits}")
        first, base = (self.first, self.base) if which is None else (self.first[which], self.base[which])
        offset = (first + start) % self.period  # (G,)
        q, r = offset // 64, offset % 64
        w = n_words(n_bits)
        if self.shifted:
            out = self._windows(w)[base + r * self.row + q]
        else:
            out = _shift_words(self._windows(w + 1)[base + q], r)
        if n_bits % 64:
            out &= _tail_mask(n_bits)
        return out


class _ProductPeriod:
    """One period of every synapse's product stream, for one input vector.

    Input and weight LFSRs share the period ``P``, so the product stream
    ``R_ji[n] = X_i[n] op W_ji[n]`` of each synapse is periodic in ``n``
    with period ``P``.  Stored packed for ``n < P + length`` with cumulative
    word popcounts, the count of step ``t`` (bits ``[tL, tL + L)``) is two
    prefix counts at ``n0 = tL mod P``, the same column for every synapse.
    """

    def __init__(self, matvec: "SCMatVec", x_thr: np.ndarray) -> None:
        L, P = matvec.length, matvec.sng_w.period
        self.length, self.period, self.n_out, self.n_in = L, P, matvec.n_out, matvec.n_in
        n_bits = P + L
        wp = _PackedPeriods(matvec.sng_w, matvec.w_thr, n_bits, shifted=False)
        xp = _PackedPeriods(matvec.sng_x, x_thr, n_bits, shifted=False)
        xs = xp.streams(0, n_bits)  # (n_in, nw)
        G, nw = matvec.n_out * matvec.n_in, n_words(n_bits)
        # stored word-major so a step reads one contiguous row per array
        self.R = np.empty((nw, G), dtype=np.uint64)
        self.cw = np.zeros((nw + 1, G), dtype=np.int32)
        rows = max(matvec.n_in, (1024 // matvec.n_in) * matvec.n_in)  # small slabs: cache-friendly transpose
        sub = np.arange(G)
        for lo in range(0, G, rows):
            hi = min(G, lo + rows)
            ws = wp.streams(0, n_bits, sub[lo:hi])
            xi = xs[sub[lo:hi] % matvec.n_in]
            prod = xi & ws if matvec.mode == "unipolar" else ~(xi ^ ws) & _tail_mask(n_bits)
            self.R[:, lo:hi] = prod.T
            self.cw[1:, lo:hi] = np.cumsum(np.bitwise_count(prod), axis=1, dtype=np.int32).T

    @staticmethod
    def fits(matvec: "SCMatVec") -> bool:
        return (isinstance(matvec.sng_w, LFSR) and matvec.sng_w.width <= _TABLE_MAX_WIDTH
                and matvec.n_out * matvec.n_in * n_words(matvec.sng_w.period + matvec.length)
                <= _PRODUCT_PERIOD_WORDS)

    def _before(self, x: np.ndarray) -> np.ndarray:
        """Ones in bits ``[0, x)`` of every synapse, ``(len(x), G)``."""
        q, r = x // 64, (x % 64).astype(np.uint64)
        mask = (np.uint64(1) << r) - np.uint64(1)
        return self.cw[q] + np.bitwise_count(self.R[q] & mask[:, None])

    def counts(self, step: int, n_steps: int) -> np.ndarray:
        """``(n_steps, n_out)`` counts of steps ``step .. step + n_steps - 1``."""
        n0 = (np.arange(step, step + n_steps, dtype=np.int64) * self.length) % self.period
        c = self._before(n0 + self.length) - self._before(n0)  # (k, G)
        return c.reshape(n_steps, self.n_out, self.n_in).sum(axis=2, dtype=np.int64)


class SCMatVec:
    """SC product of a fixed probability matrix with a batch of probability vectors.

    Parameters:
        w_prob: ``(n_out, n_in)`` weight probabilities in ``[0, 1]``.
        length: bits per stream and timestep.
        sng: ``"lfsr"`` or ``"sobol"`` (inputs on Sobol dim 0, weights on dim 1).
        width: generator width (bits); thresholds have ``width`` fraction bits.
        mode: ``"unipolar"`` (AND) or ``"bipolar"`` (XNOR).
        base_seed: seeds every generator (``sim.sc.sng.derive_seeds``).
        key: distinguishes the generator groups of different layers.
        period_tables: cut LFSR streams out of packed full periods (module
            docstring); ``False`` generates every number (same bits, slower).
    """

    def __init__(self, w_prob: np.ndarray, *, length: int = 2048, sng: str = "lfsr", width: int = 16,
                 mode: str = "unipolar", base_seed: int | None = 0, key: tuple[int, ...] = (0,),
                 period_tables: bool = True) -> None:
        w_prob = np.asarray(w_prob, dtype=np.float64)
        if w_prob.ndim != 2 or 0 in w_prob.shape:
            raise ValueError(f"w_prob must be a non-empty 2-D array, got shape {w_prob.shape}")
        if not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"length must be an int >= 1, got {length!r}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
        self.n_out, self.n_in = w_prob.shape
        self.length, self.width, self.mode, self.kind = int(length), int(width), mode, sng
        self.w_thr = thresholds(w_prob, self.width).reshape(-1)
        self.sng_x = make_sng(sng, self.width, self.n_in, base_seed, (*key, 0), dim=0)
        self.sng_w = make_sng(sng, self.width, self.n_out * self.n_in, base_seed, (*key, 1), dim=1)
        self._cached: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self.period_tables = bool(period_tables)
        # steps per block of counts_steps: weight windows of about 2**22 words in all
        self.block_steps = max(1, min(64, (1 << 22) // (self.n_out * self.n_in * n_words(self.length))))
        self._block_bits = self.block_steps * self.length
        self._periods: _PackedPeriods | None | bool = None  # built on first use; False = unusable
        self._x_periods: tuple[bytes, _PackedPeriods] | None = None  # for one repeated input vector
        self._product_period: tuple[bytes, _ProductPeriod] | None = None

    # -- streams ------------------------------------------------------------
    def weight_streams(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Packed weight streams ``(n_out, n_in, W)`` of ``step`` and their popcounts ``(n_out, n_in)``."""
        streams = self._weight_streams(step)
        return streams, self._weight_popcounts(step)

    def _weight_popcounts(self, step: int) -> np.ndarray:
        streams = self._weight_streams(step)
        if self._cached[2] is None:
            self._cached = (step, streams, popcount(streams))
        return self._cached[2]

    def _weight_streams(self, step: int) -> np.ndarray:
        if self._cached is not None and self._cached[0] == step:
            return self._cached[1]
        if self._periods is None and not self.period_tables:
            self._periods = False
        if self._periods is None:
            fits = _PackedPeriods.fits(self.sng_w, self.w_thr, self._block_bits)
            self._periods = _PackedPeriods(self.sng_w, self.w_thr, self._block_bits) if fits else False
        if self._periods is False:
            out = self.weight_streams_reference(step)
        else:
            out = self._periods.streams(step * self.length, self.length)
        streams = out.reshape(self.n_out, self.n_in, n_words(self.length))
        self._cached = (step, streams, None)
        return streams

    def weight_streams_reference(self, step: int) -> np.ndarray:
        """Packed weight streams ``(n_out * n_in, W)`` of ``step``, generated number by number."""
        total, words = self.n_out * self.n_in, n_words(self.length)
        out = np.empty((total, words), dtype=np.uint64)
        rows = max(1, _CHUNK_ELEMENTS // self.length)
        seeds = self.sng_w
        for lo in range(0, total, rows):
            hi = min(total, lo + rows)
            part = seeds.select(lo, hi).numbers(self.length, step * self.length)
            out[lo:hi] = pack_bits(part < self.w_thr[lo:hi, None])
        return out

    def input_streams(self, x_thr: np.ndarray, step: int) -> np.ndarray:
        """Packed input streams ``(..., n_in, W)`` for thresholds ``x_thr`` ``(..., n_in)``."""
        x_thr = np.asarray(x_thr)
        if x_thr.ndim == 2 and x_thr.shape[0] == 1:  # one vector, usually repeated every step
            periods = self._input_periods(x_thr[0])
            if periods is not None:
                return periods.streams(step * self.length, self.length)[None]
        return self.input_streams_reference(x_thr, step)

    def _input_periods(self, x_thr: np.ndarray) -> _PackedPeriods | None:
        """Period tables of the input SNGs for one threshold vector (cached for the last one)."""
        if not self.period_tables:
            return None
        key = x_thr.tobytes()
        if self._x_periods is None or self._x_periods[0] != key:
            if not _PackedPeriods.fits(self.sng_x, x_thr, self._block_bits):
                return None
            self._x_periods = (key, _PackedPeriods(self.sng_x, x_thr, self._block_bits))
        return self._x_periods[1]

    def _weight_periods(self) -> _PackedPeriods | None:
        if self._periods is None:
            self._weight_streams(0)
        return self._periods or None

    def input_streams_reference(self, x_thr: np.ndarray, step: int) -> np.ndarray:
        """:meth:`input_streams` generated number by number."""
        r = self.sng_x.numbers(self.length, step * self.length)  # (n_in, L)
        return pack_bits(r < np.asarray(x_thr)[..., None])

    # -- counts -------------------------------------------------------------
    def counts(self, x_prob: np.ndarray, step: int) -> np.ndarray:
        """``(B, n_out)`` int64 popcounts of the products for input probabilities ``(B, n_in)``."""
        x_prob = np.atleast_2d(np.asarray(x_prob, dtype=np.float64))
        if x_prob.shape[1] != self.n_in:
            raise ValueError(f"input has {x_prob.shape[1]} values per sample, the matrix takes {self.n_in}")
        x_thr = thresholds(x_prob, self.width)
        streams = self._weight_streams(step)
        full = 1 << self.width
        if np.all((x_thr == 0) | (x_thr == full)):  # spikes: all-zero / all-one streams
            pc = self._weight_popcounts(step)
            s = (x_thr == full).astype(np.int64)
            c = s @ pc.T
            return c + (1 - s) @ (self.length - pc).T if self.mode == "bipolar" else c
        levels, inverse = np.unique(x_thr, return_inverse=True)
        inverse = inverse.reshape(x_thr.shape)
        if levels.size < x_thr.shape[0]:
            table = self._level_table(levels, step, streams)  # (n_in, n_levels, n_out)
            return table[np.arange(self.n_in)[None, :], inverse].sum(axis=1)
        return self._direct(x_thr, step, streams)

    def counts_steps(self, x_prob: np.ndarray, step: int, n_steps: int) -> np.ndarray:
        """``(n_steps, n_out)`` counts of one input vector ``(n_in,)`` for steps ``step ..``.

        Equal to stacking ``counts(x_prob, s)[0]``.  With LFSR period tables it
        reads one stored period of the product streams (:class:`_ProductPeriod`)
        or, for a layer too large for that and ``length % 64 == 0``, cuts a
        block of steps as one window per stream.
        """
        x_prob = np.asarray(x_prob, dtype=np.float64).reshape(-1)
        if x_prob.size != self.n_in:
            raise ValueError(f"input has {x_prob.size} values, the matrix takes {self.n_in}")
        x_thr = thresholds(x_prob, self.width)
        if self.period_tables and _ProductPeriod.fits(self):
            key = x_thr.tobytes()
            if self._product_period is None or self._product_period[0] != key:
                self._product_period = (key, _ProductPeriod(self, x_thr))
            return self._product_period[1].counts(step, n_steps)
        wp = self._weight_periods() if self.length % 64 == 0 else None
        xp = self._input_periods(x_thr) if wp is not None else None
        if xp is None:
            return np.stack([self.counts(x_prob[None], s)[0] for s in range(step, step + n_steps)]
                            ).reshape(n_steps, self.n_out)
        out = np.empty((n_steps, self.n_out), dtype=np.int64)
        w = n_words(self.length)
        for lo in range(0, n_steps, self.block_steps):
            k = min(self.block_steps, n_steps - lo)
            start = (step + lo) * self.length
            ws = wp.streams(start, k * self.length).reshape(self.n_out, self.n_in, k, w)
            xs = xp.streams(start, k * self.length).reshape(self.n_in, k, w)
            prod = self._product(xs[None], ws)  # (n_out, n_in, k, W)
            per_lane = np.bitwise_count(prod).sum(axis=-1, dtype=np.int64)  # (n_out, n_in, k)
            out[lo:lo + k] = per_lane.sum(axis=1).T
        return out

    def _product(self, xs: np.ndarray, ws: np.ndarray) -> np.ndarray:
        if self.mode == "unipolar":
            return xs & ws
        return ~(xs ^ ws) & _tail_mask(self.length)

    def _level_table(self, levels: np.ndarray, step: int, streams: np.ndarray) -> np.ndarray:
        """``table[i, u, j] = popcount(X_i(level u) op W_ji)``."""
        xs = self.input_streams(np.broadcast_to(levels[:, None], (levels.size, self.n_in)), step)
        table = np.empty((self.n_in, levels.size, self.n_out), dtype=np.int64)
        per = max(1, _CHUNK_ELEMENTS // streams.size)
        for lo in range(0, levels.size, per):
            part = self._product(xs[lo:lo + per, None], streams[None])  # (u, n_out, n_in, W)
            table[:, lo:lo + per, :] = popcount(part).transpose(2, 0, 1)
        return table

    def _direct(self, x_thr: np.ndarray, step: int, streams: np.ndarray) -> np.ndarray:
        xs = self.input_streams(x_thr, step)  # (B, n_in, W)
        out = np.empty((x_thr.shape[0], self.n_out), dtype=np.int64)
        per = max(1, _CHUNK_ELEMENTS // streams.size)
        for lo in range(0, x_thr.shape[0], per):
            prod = self._product(xs[lo:lo + per, None], streams[None])  # (b, n_out, n_in, W)
            out[lo:lo + per] = np.bitwise_count(prod).reshape(*prod.shape[:2], -1).sum(axis=-1, dtype=np.int64)
        return out

