"""``hw.cores.sc_stream``: ``2**p`` SC product bits a clock and their popcount.

Golden function: ``sim.sc.SCMatVec`` on the Sobol generators of ``hw.sc_map`` --
for block index ``m`` (stream positions ``[m 2**p, (m + 1) 2**p)``) the output is
``popcount_k( W[k] AND X[k] )`` with ``W[k] = (seq1[m 2**p + k] ^ w_shift) < w_thr`` and
``X[k] = (seq0[m 2**p + k] ^ x_shift) < x_thr`` (or 1 when ``use_x`` is 0: a spike).
The Sobol sequences are split as ``hw.cores.sc_numbers.sobol_block``: one block term
per operand from ``m`` (a few XORs), XORed with bit ``k``'s constant inside its
comparator, so the ``2**p`` comparators share everything but a constant.

Pipeline (``LATENCY`` = 4 clocks from ``valid`` to ``out_valid``): block terms XOR the
shifts -> comparators and AND -> popcounts of 16-bit groups -> their sum.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.cores.sc_numbers import sobol_block
from hw.sc_map import SC_WIDTH

__all__ = ["SCStream", "WEIGHT_DIM", "INPUT_DIM"]

WEIGHT_DIM, INPUT_DIM = 1, 0   # Sobol dimensions of the weight and input streams (sim.sc.SCMatVec)


def _block_term(m_index: Signal, dim: int, p: int):
    """The block term of Sobol dimension ``dim`` for block index ``m_index`` (see ``sobol_block``)."""
    _, high, carry = sobol_block(dim, SC_WIDTH, p)
    gray = m_index ^ (m_index >> 1)
    term = Mux(m_index[0], Const(carry, SC_WIDTH), 0)
    for j, h in enumerate(high):
        term = term ^ Mux(gray[j], Const(h, SC_WIDTH), 0)
    return term


def _popcount(bits: list) -> object:
    if len(bits) == 1:
        return bits[0]
    half = len(bits) // 2
    return _popcount(bits[:half]) + _popcount(bits[half:])


class SCStream(wiring.Component):
    """``bits_per_cycle`` product bits of one synapse a clock, popcounted.

    Parameters:
        bits_per_cycle: ``2**p`` (8 .. 128).
        with_inputs: build the input-stream comparators (a direct-encoded layer reads pixels).

    Attributes:
        valid, m: a block to compute and its index (``SC_WIDTH - p`` bits, wraps like the sequence).
        w_shift, w_thr: the synapse's weight-stream shift and threshold.
        use_x, x_shift, x_thr: AND with the input stream (threshold up to ``2**16``) or not.
        out_valid, count: ``LATENCY`` clocks later, the block's popcount.
    """

    LATENCY = 4

    def __init__(self, bits_per_cycle: int, with_inputs: bool = True) -> None:
        p = bits_per_cycle.bit_length() - 1
        if bits_per_cycle != 1 << p or not 3 <= p <= 7:
            raise ValueError(f"bits_per_cycle must be a power of two in [8, 128], got {bits_per_cycle}")
        self.p, self.n_bits, self.with_inputs = p, bits_per_cycle, with_inputs
        super().__init__({
            "valid": In(1), "m": In(SC_WIDTH - p),
            "w_shift": In(SC_WIDTH), "w_thr": In(SC_WIDTH),
            "use_x": In(1), "x_shift": In(SC_WIDTH), "x_thr": In(SC_WIDTH + 1),
            "out_valid": Out(1), "count": Out(p + 1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        p, n = self.p, self.n_bits
        v1, v2, v3 = Signal(), Signal(), Signal()
        m.d.sync += [v1.eq(self.valid), v2.eq(v1), v3.eq(v2), self.out_valid.eq(v3)]

        # stage 1: block terms XOR the shifts
        yw, w_thr = Signal(SC_WIDTH), Signal(SC_WIDTH)
        m.d.sync += [yw.eq(_block_term(self.m, WEIGHT_DIM, p) ^ self.w_shift), w_thr.eq(self.w_thr)]
        low_w = sobol_block(WEIGHT_DIM, SC_WIDTH, p)[0]
        if self.with_inputs:
            yx, x_thr, use_x = Signal(SC_WIDTH), Signal(SC_WIDTH + 1), Signal()
            m.d.sync += [yx.eq(_block_term(self.m, INPUT_DIM, p) ^ self.x_shift), x_thr.eq(self.x_thr),
                         use_x.eq(self.use_x)]
            low_x = sobol_block(INPUT_DIM, SC_WIDTH, p)[0]

        # stage 2: one comparator per bit (and its input comparator), AND
        bits = Signal(n)
        for k in range(n):
            w_bit = (yw ^ Const(low_w[k], SC_WIDTH)) < w_thr
            if self.with_inputs:
                x_bit = (yx ^ Const(low_x[k], SC_WIDTH)) < x_thr
                m.d.sync += bits[k].eq(w_bit & (x_bit | ~use_x))
            else:
                m.d.sync += bits[k].eq(w_bit)

        # stage 3: popcounts of 16-bit groups; stage 4: their sum
        group = min(16, n)
        parts = [Signal(range(group + 1), name=f"pc{g}") for g in range(n // group)]
        for g, part in enumerate(parts):
            m.d.sync += part.eq(_popcount([bits[i] for i in range(g * group, (g + 1) * group)]))
        m.d.sync += self.count.eq(_popcount(parts))
        return m
