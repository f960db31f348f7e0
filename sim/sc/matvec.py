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
"""

from __future__ import annotations

import numpy as np

from sim.sc.bitstream import MODES, _tail_mask, n_words, pack_bits, popcount
from sim.sc.sng import make_sng, thresholds

__all__ = ["SCMatVec"]

_CHUNK_ELEMENTS = 1 << 22  # bound on temporary array sizes (elements)


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
    """

    def __init__(self, w_prob: np.ndarray, *, length: int = 2048, sng: str = "lfsr", width: int = 16,
                 mode: str = "unipolar", base_seed: int | None = 0, key: tuple[int, ...] = (0,)) -> None:
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
        self._cached: tuple[int, np.ndarray, np.ndarray] | None = None

    # -- streams ------------------------------------------------------------
    def weight_streams(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Packed weight streams ``(n_out, n_in, W)`` of ``step`` and their popcounts ``(n_out, n_in)``."""
        if self._cached is not None and self._cached[0] == step:
            return self._cached[1], self._cached[2]
        total, words = self.n_out * self.n_in, n_words(self.length)
        out = np.empty((total, words), dtype=np.uint64)
        rows = max(1, _CHUNK_ELEMENTS // self.length)
        seeds = self.sng_w
        for lo in range(0, total, rows):
            hi = min(total, lo + rows)
            part = seeds.select(lo, hi).numbers(self.length, step * self.length)
            out[lo:hi] = pack_bits(part < self.w_thr[lo:hi, None])
        streams = out.reshape(self.n_out, self.n_in, words)
        self._cached = (step, streams, popcount(streams))
        return streams, self._cached[2]

    def input_streams(self, x_thr: np.ndarray, step: int) -> np.ndarray:
        """Packed input streams ``(..., n_in, W)`` for thresholds ``x_thr`` ``(..., n_in)``."""
        r = self.sng_x.numbers(self.length, step * self.length)  # (n_in, L)
        return pack_bits(r < np.asarray(x_thr)[..., None])

    # -- counts -------------------------------------------------------------
    def counts(self, x_prob: np.ndarray, step: int) -> np.ndarray:
        """``(B, n_out)`` int64 popcounts of the products for input probabilities ``(B, n_in)``."""
        x_prob = np.atleast_2d(np.asarray(x_prob, dtype=np.float64))
        if x_prob.shape[1] != self.n_in:
            raise ValueError(f"input has {x_prob.shape[1]} values per sample, the matrix takes {self.n_in}")
        x_thr = thresholds(x_prob, self.width)
        streams, pc = self.weight_streams(step)
        full = 1 << self.width
        if np.all((x_thr == 0) | (x_thr == full)):  # spikes: all-zero / all-one streams
            s = (x_thr == full).astype(np.int64)
            c = s @ pc.T
            return c + (1 - s) @ (self.length - pc).T if self.mode == "bipolar" else c
        levels, inverse = np.unique(x_thr, return_inverse=True)
        inverse = inverse.reshape(x_thr.shape)
        if levels.size < x_thr.shape[0]:
            table = self._level_table(levels, step, streams)  # (n_in, n_levels, n_out)
            return table[np.arange(self.n_in)[None, :], inverse].sum(axis=1)
        return self._direct(x_thr, step, streams)

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
            out[lo:lo + per] = popcount(self._product(xs[lo:lo + per, None], streams[None])).sum(axis=-1)
        return out

