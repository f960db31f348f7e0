"""``hw.cores.sc``: stochastic-computing number generators and the SC dot-product unit.

Golden functions (``sim.sc``), equal bit for bit (``tests/rtl/test_sc_rtl.py``):

* :class:`LFSRGen` -- ``sim.sc.sng.LFSR.reference`` / ``LFSR.numbers``;
* :class:`SobolGen` -- ``sim.sc.sng.Sobol.reference`` / ``Sobol.sequence``;
* :class:`SCDotProduct` -- ``sim.sc.bitstream.sc_dot_counts`` (vector ``k`` after a
  reseed uses stream positions ``[k L, (k + 1) L)``).

Dot-product pipeline, one clock per stream bit: generator registers ->
per-lane comparators ``r < thr`` -> AND / XNOR -> product register -> balanced
popcount adder tree -> accumulator.  LFSR lanes have their own registers
(seeds are constructor constants); Sobol lanes share one generator per operand
(dimension 0 for inputs, 1 for weights) and differ by a constant XOR shift.
"""

from __future__ import annotations

from typing import Sequence

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.cores.sc_numbers import MODES, LFSR, LFSR_TAPS, Sobol, make_sng, sobol_direction_numbers

__all__ = ["LFSRGen", "SobolGen", "SCDotProduct", "sc_unit_for"]


class LFSRGen(wiring.Component):
    """Fibonacci LFSR (shift left, feedback = XOR of the tap bits), as ``sim.sc.sng.LFSR``.

    Parameters:
        width: register width; seed: non-zero reset / reseed value; taps: default ``LFSR_TAPS[width]``.

    Attributes:
        en: advance one state this cycle; reseed: load the seed (wins over ``en``).
        value: the current state ``r[n]``.
    """

    def __init__(self, width: int = 16, seed: int = 1, taps: Sequence[int] | None = None) -> None:
        LFSR(width, [seed], taps)  # validates width, seed and taps
        self.width, self.seed = width, int(seed)
        self.taps = tuple(taps) if taps is not None else LFSR_TAPS[width]
        super().__init__({"en": In(1), "reseed": In(1), "value": Out(width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        state = Signal(self.width, init=self.seed)
        feedback = state[self.taps[0] - 1]
        for k in self.taps[1:]:
            feedback = feedback ^ state[k - 1]
        with m.If(self.reseed):
            m.d.sync += state.eq(self.seed)
        with m.Elif(self.en):
            m.d.sync += state.eq(Cat(feedback, state[:-1]))
        m.d.comb += self.value.eq(state)
        return m


class SobolGen(wiring.Component):
    """Sobol dimension ``dim`` in Gray-code order, as ``sim.sc.sng.Sobol`` (before the shift).

    Each enabled cycle: ``x ^= V[index of the lowest zero bit of i]; i += 1``.

    Attributes:
        en: advance one point; reseed: back to point 0 (wins over ``en``); value: ``x``.
    """

    def __init__(self, width: int = 16, dim: int = 0) -> None:
        self.width, self.dim = width, dim
        self.directions = sobol_direction_numbers(dim, width)
        super().__init__({"en": In(1), "reseed": In(1), "value": Out(width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        w = self.width
        index = Signal(w)
        x = Signal(w)
        lowest_zero = Signal(w)  # one-hot
        m.d.comb += lowest_zero.eq(~index & (index + 1)[:w])
        delta = Signal(w)
        # V is constant: delta bit b is the OR of the one-hot bits j whose V[j] has bit b
        for b in range(w):
            js = [j for j in range(w) if (self.directions[j] >> b) & 1]
            if js:
                m.d.comb += delta[b].eq(Cat(*(lowest_zero[j] for j in js)).any())
        with m.If(self.reseed):
            m.d.sync += [index.eq(0), x.eq(0)]
        with m.Elif(self.en):
            m.d.sync += [index.eq(index + 1), x.eq(x ^ delta)]
        m.d.comb += self.value.eq(x)
        return m


def _popcount(bits: list) -> object:
    """Balanced adder tree over single bits (returns an Amaranth value)."""
    level = [b for b in bits]
    while len(level) > 1:
        nxt = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0] if level else Const(0, 1)


class SCDotProduct(wiring.Component):
    """``n_lanes`` SC multipliers feeding one popcount accumulator.

    Parameters:
        n_lanes: products per clock.
        width: SNG width; thresholds are ``width + 1`` bits (``0 .. 2**width``).
        sng: ``"lfsr"`` or ``"sobol"``.
        mode: ``"unipolar"`` (AND) or ``"bipolar"`` (XNOR).
        x_seeds, w_seeds: per lane, the LFSR seeds or the Sobol XOR shifts.
        max_length: longest stream the ``length`` port can ask for.

    Attributes:
        x_thr, w_thr: per-lane thresholds (``sim.sc.sng.thresholds``), held while busy.
        length: stream length, sampled with ``start`` (>= 1).
        start: begin a dot product when ``ready`` (clears ``count``).
        reseed: all generators back to their seeds (sample boundary); only while ready.
        ready: idle and able to take ``start``.
        busy: streaming.
        done: one-cycle strobe: ``count`` holds the finished result (until the next ``start``).
        count: popcount of all products over the stream.
    """

    def __init__(self, n_lanes: int, width: int = 16, sng: str = "lfsr", mode: str = "unipolar",
                 x_seeds: Sequence[int] | None = None, w_seeds: Sequence[int] | None = None,
                 max_length: int = 4096) -> None:
        try:
            self._configure(n_lanes, width, sng, mode, x_seeds, w_seeds, max_length)
        except ValueError:
            self._MustUse__used = True  # a rejected unit is not an "unused elaboratable"
            raise
        thr = data.ArrayLayout(unsigned(width + 1), n_lanes)
        super().__init__({
            "x_thr": In(thr), "w_thr": In(thr), "length": In(max_length.bit_length()),
            "start": In(1), "reseed": In(1),
            "ready": Out(1), "busy": Out(1), "done": Out(1), "count": Out(self.count_width),
        })

    def _configure(self, n_lanes, width, sng, mode, x_seeds, w_seeds, max_length) -> None:
        if not isinstance(n_lanes, int) or n_lanes < 1:
            raise ValueError(f"n_lanes must be an int >= 1, got {n_lanes!r}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
        if sng not in ("lfsr", "sobol"):
            raise ValueError(f"unknown SNG kind {sng!r}; known: 'lfsr', 'sobol'")
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
        defaults = make_sng(sng, width, 2 * n_lanes, 0, (0,))
        seeds = defaults.seeds if sng == "lfsr" else defaults.shifts
        self.x_seeds = [int(s) for s in (x_seeds if x_seeds is not None else seeds[:n_lanes])]
        self.w_seeds = [int(s) for s in (w_seeds if w_seeds is not None else seeds[n_lanes:])]
        if len(self.x_seeds) != n_lanes or len(self.w_seeds) != n_lanes:
            raise ValueError(f"need {n_lanes} x_seeds and w_seeds")
        self.n_lanes, self.width, self.sng, self.mode = n_lanes, width, sng, mode
        # validate seeds through the software models
        self.sng_x = LFSR(width, self.x_seeds) if sng == "lfsr" else Sobol(width, 0, self.x_seeds)
        self.sng_w = LFSR(width, self.w_seeds) if sng == "lfsr" else Sobol(width, 1, self.w_seeds)
        self.max_length = max_length
        self.count_width = (max_length * n_lanes).bit_length()

    def _generators(self, m: Module, en, reseed) -> tuple[list, list]:
        values = ([], [])
        if self.sng == "lfsr":
            for role, seeds in enumerate((self.x_seeds, self.w_seeds)):
                for i, s in enumerate(seeds):
                    gen = LFSRGen(self.width, s)
                    m.submodules[f"lfsr_{'xw'[role]}{i}"] = gen
                    m.d.comb += [gen.en.eq(en), gen.reseed.eq(reseed)]
                    values[role].append(gen.value)
        else:
            for role, shifts in enumerate((self.x_seeds, self.w_seeds)):
                gen = SobolGen(self.width, dim=role)
                m.submodules[f"sobol_{'xw'[role]}"] = gen
                m.d.comb += [gen.en.eq(en), gen.reseed.eq(reseed)]
                values[role].extend(gen.value ^ Const(s, self.width) for s in shifts)
        return values

    def elaborate(self, platform) -> Module:
        m = Module()
        busy = Signal()
        prod_valid = Signal()  # the product register holds a bit-column to accumulate
        remaining = Signal(self.max_length.bit_length())
        acc = Signal(self.count_width)
        prod = Signal(self.n_lanes)
        ready = ~busy & ~prod_valid

        rx, rw = self._generators(m, busy, self.reseed & ready)
        bits = []
        for i in range(self.n_lanes):
            xb = rx[i] < self.x_thr[i]
            wb = rw[i] < self.w_thr[i]
            bits.append(xb & wb if self.mode == "unipolar" else ~(xb ^ wb))
        m.d.sync += [prod.eq(Cat(*bits)), prod_valid.eq(busy), self.done.eq(prod_valid & ~busy)]

        with m.If(self.start & ready & (self.length != 0)):
            m.d.sync += [acc.eq(0), remaining.eq(self.length), busy.eq(1)]
        with m.If(busy):
            m.d.sync += remaining.eq(remaining - 1)
            with m.If(remaining == 1):
                m.d.sync += busy.eq(0)
        with m.If(prod_valid):
            m.d.sync += acc.eq(acc + _popcount([prod[i] for i in range(self.n_lanes)]))
        m.d.comb += [self.ready.eq(ready), self.busy.eq(busy), self.count.eq(acc)]
        return m


def sc_unit_for(n_lanes: int, *, width: int = 16, sng: str = "lfsr", mode: str = "unipolar",
                base_seed: int | None = 0, key: Sequence[int] = (0,), max_length: int = 4096) -> SCDotProduct:
    """An :class:`SCDotProduct` whose generators are ``sim.sc.sng.make_sng(...)`` for ``key``.

    Input lanes use group ``(*key, 0)``, weight lanes ``(*key, 1)`` -- the same
    seeds ``sim.sc.matvec.SCMatVec`` derives for its input generators.
    """
    gx = make_sng(sng, width, n_lanes, base_seed, (*key, 0), dim=0)
    gw = make_sng(sng, width, n_lanes, base_seed, (*key, 1), dim=1)
    pick = (lambda g: g.seeds) if sng == "lfsr" else (lambda g: g.shifts)
    return SCDotProduct(n_lanes, width, sng, mode, pick(gx).tolist(), pick(gw).tolist(), max_length)
