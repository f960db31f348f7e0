"""``hw.cores.network``: the network core -- runs a planned ``hw.ir.Network`` for T steps per sample.

Golden function: ``sim.golden.run_golden`` for one sample: the output layer's
spike counts over T steps and the predicted class (argmax, ties to the lowest
index).  Sequence of one inference (``start`` -> ``done``): compute the analog
first layer's static current once (``PREP``), then ``T + L - 1`` rounds in which
layer ``l`` computes step ``k - l`` of round ``k`` (``STEP``; a layer's first step
is ``FIRST``, which starts every state and count from 0, so no clear pass is
needed): the layers work on consecutive steps at once, each reading the spike
list its predecessor wrote in the round before (two list banks per layer, by the
step's parity), and a round ends when its slowest layer is done.  Then the
argmax over the counts.  Layers that read weights in their steps never share an
SPRAM block (``hw.cores.plan``).  ``cycles`` holds the clock cycles the inference took.
A rate/latency network (``plan.encoder``) has no PREP: the input encoder
(``hw.cores.encoder``) is the pipeline's first stage, listing step ``k``'s input spikes in
round ``k`` from the pixels in the input RAM, so layer ``l`` computes step ``k - l - 1``
and there are ``T + L`` rounds.

The sample is written beforehand into the input RAM (``x_*`` port, raw
fixed-point words); weights in SPRAM are written through the ``ld_*`` port
(``ld_addr = bank << offset_bits | offset``, see ``hw.cores.plan``).  With
``banks > 1`` the input RAM holds that many samples: ``x_rbank`` (sampled at
``start``) picks the one an inference reads, and the others (``x_wbank``) can be
written while it runs -- the input buffer ``hw.cores.host_io`` streams through.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring

from hw.cores.encoder import EncoderUnit
from hw.cores.engine import core_ports, input_ram
from hw.cores.layer import FIRST, PREP, STEP, LayerUnit
from hw.cores.plan import SPRAM_DEPTH, NetworkPlan
from hw.cores.weight_bank import WeightBank

__all__ = ["NetworkCore"]


class NetworkCore(wiring.Component):
    """All layers of a :class:`~hw.cores.plan.NetworkPlan` plus the inference sequencer.

    Attributes:
        x_waddr, x_wdata, x_we: input RAM write port (one raw word per input value).
        start: pulse to run one inference; ``busy`` is high until ``done`` pulses.
        cnt_raddr, cnt_rdata: output spike counts (read while idle, one cycle latency).
        pred: predicted class of the last inference.
        cycles: clock cycles of the last inference.
        ld_addr, ld_data, ld_en: weight load port (while idle).
        x_wbank, x_rbank: (only with ``banks > 1``) input bank written / read by the next
            inference; a write to the bank being computed is ignored.

    Parameters:
        plan: the network plan.
        banks: input RAM banks, a power of two (default 1; 2 = double buffer).
    """

    def __init__(self, plan: NetworkPlan, banks: int = 1) -> None:
        self.plan = plan
        self.banks = banks
        ports = core_ports(plan, banks)
        super().__init__(ports)
        # Trace (not a port): the round, 0 .. T + L - 2 (layer ``l`` computes step
        # ``round - l``; each layer's ``step`` trace holds its own).
        self.step = Signal(range(plan.timesteps + len(plan.layers) + 1), name="step")

    def elaborate(self, platform) -> Module:
        m = Module()
        plan = self.plan
        n_layers, T, n_out = len(plan.layers), plan.timesteps, plan.n_output

        x_rd, x_raddr = input_ram(m, self)

        encoder = None
        if plan.encoder is not None:
            m.submodules.encoder = encoder = EncoderUnit(plan.encoder, plan.fmt.width)
            m.d.comb += [x_raddr.eq(encoder.src_addr), encoder.src_data.eq(x_rd.data)]
        units = []
        for i in range(n_layers):
            unit = LayerUnit(plan, i)
            m.submodules[f"layer{i}"] = unit
            units.append(unit)
            m.d.comb += [unit.ld_bank.eq(self.ld_addr[plan.offset_bits:]),
                         unit.ld_addr.eq(self.ld_addr[:plan.offset_bits]),
                         unit.ld_data.eq(self.ld_data), unit.ld_en.eq(self.ld_en & ~self.busy)]
            if i == 0 and encoder is None:
                m.d.comb += [x_raddr.eq(unit.src_addr), unit.src_data.eq(x_rd.data),
                             unit.src_count.eq(plan.n_input)]
            else:
                prev = units[i - 1] if i else encoder
                m.d.comb += [prev.spk_raddr.eq(unit.src_addr), prev.spk_rbank.eq(unit.src_bank),
                             unit.src_data.eq(prev.spk_rdata), unit.src_count.eq(prev.n_spikes)]
        last = units[-1]

        # SPRAM blocks, shared by the layers' lanes placed in them (one of them reads at a time:
        # the analog layer only in PREP, which runs alone)
        for index, banks in plan.spram_blocks.items():
            block = WeightBank(plan.fmt.width, SPRAM_DEPTH, spram=True)
            m.submodules[f"spram{index}"] = block
            addrs = [getattr(units[b.layer], f"ext{b.lane}_addr") for b in banks]
            m.d.comb += block.raddr.eq(_or_all(addrs))
            for b in banks:
                m.d.comb += getattr(units[b.layer], f"ext{b.lane}_data").eq(block.rdata)
            m.d.comb += [block.waddr.eq(self.ld_addr[:plan.offset_bits]), block.wdata.eq(self.ld_data),
                         block.we.eq(self.ld_en & ~self.busy & (self.ld_addr[plan.offset_bits:] == index))]

        am_addr = Signal(range(n_out + 1))
        am_valid, am_idx = Signal(), Signal.like(self.pred)
        best = Signal(plan.count_bits)
        m.d.comb += last.cnt_raddr.eq(Mux(self.busy, am_addr, self.cnt_raddr)), \
            self.cnt_rdata.eq(last.cnt_rdata)
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        m.d.sync += self.done.eq(0)

        k = self.step                                   # the round
        stages = ([encoder] if encoder is not None else []) + units   # stage s: step k - s
        n_stages = len(stages)
        last_round = T + n_stages - 2
        runs = Signal(n_stages)                         # stages with a step in round k
        pend = Signal(n_stages)                         # started and not done yet
        for si, unit in enumerate(stages):
            m.d.comb += [unit.t.eq(k - si), runs[si].eq((k >= si) & (k < T + si)),
                         unit.mode.eq(Mux(k == si, FIRST, STEP))]
        left = Signal(n_stages)
        m.d.comb += left.eq(pend & ~Cat(*[u.done for u in stages]))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), self.cycles.eq(1), k.eq(0)]
                    m.next = "PREP_GO" if plan.layers[0].analog else "ROUND_GO"
            with m.State("PREP_GO"):
                m.d.comb += [units[0].start.eq(1), units[0].mode.eq(PREP)]
                m.next = "PREP_WAIT"
            with m.State("PREP_WAIT"):
                with m.If(units[0].done):
                    m.next = "ROUND_GO"
            with m.State("ROUND_GO"):
                m.d.comb += [u.start.eq(runs[si]) for si, u in enumerate(stages)]
                m.d.sync += pend.eq(runs)
                m.next = "ROUND_WAIT"
            with m.State("ROUND_WAIT"):
                m.d.sync += pend.eq(left)
                with m.If(left == 0):
                    with m.If(k == last_round):
                        m.d.sync += [am_addr.eq(0), best.eq(0), am_idx.eq(0)]
                        m.next = "ARGMAX"
                    with m.Else():
                        m.d.sync += k.eq(k + 1)
                        m.next = "ROUND_GO"
            with m.State("ARGMAX"):  # read address am_addr, compare its count one cycle later
                m.d.sync += [am_addr.eq(am_addr + 1), am_valid.eq(am_addr < n_out),
                             am_idx.eq(am_addr)]
                with m.If(am_valid & (last.cnt_rdata > best)):
                    m.d.sync += [best.eq(last.cnt_rdata), self.pred.eq(am_idx)]
                with m.If(am_addr == n_out):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.sync += [self.busy.eq(0), self.done.eq(1), am_valid.eq(0)]
                m.next = "IDLE"
        # class 0 when every count is 0 (ties go to the lowest index)
        with m.If(self.start & ~self.busy):
            m.d.sync += self.pred.eq(0)
        return m


def _or_all(values):
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out
