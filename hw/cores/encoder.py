"""``hw.cores.encoder``: the on-chip input encoder -- pixels in the input RAM to one step's spike list.

Golden function: ``hw.encoding.InputEncoder.spikes`` (rate: LFSR numbers against the
clipped pixel words; latency: a table of each raw value's spike step).  The unit sits
in front of layer 0 in the network core's pipeline: in round ``k`` it lists step ``k``'s
input spikes while layer 0 accumulates step ``k - 1`` from the other list bank, so it
has the spike-list side of a ``hw.cores.layer.LayerUnit`` (two banks, entries
``pixel + 1``: the weight column).

One command (``start`` with ``t``; ``mode`` ``FIRST`` restarts the rate LFSR from its
seed) scans the ``n_input`` pixels, one a clock: issue the address -> the pixel word
(rate: compare with the LFSR's top bits, which then advance; latency: read the table)
-> registered spike (latency: the table's step equals ``t``) -> list write.
Its cycles are ``hw.cores.plan.EncoderPlan.command_cycles``.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.cores.sc import LFSRGen
from hw.cores.spike_list import addr_bits, spike_lists
from hw.encoding import LFSR_WIDTH, InputEncoder

__all__ = ["EncoderUnit", "encoder_bits"]

FIRST = 3  # the layer command codes (``hw.cores.layer``): FIRST starts a sample


encoder_bits = addr_bits   # (the name the encoder's users know)


class EncoderUnit(wiring.Component):
    """Rate or latency encoder of ``encoder.n_input`` pixel words (``width`` bits, signed).

    Attributes:
        start, mode, t, done: the command (as a ``LayerUnit``'s; ``mode`` is only tested for FIRST).
        src_addr, src_data: reads the input RAM (data one cycle later).
        spk_raddr, spk_rbank, spk_rdata, n_spikes: the two spike-list banks (``LayerUnit``'s).
    """

    def __init__(self, encoder: InputEncoder, width: int) -> None:
        self.encoder, self.width = encoder, int(width)
        n = encoder.n_input
        super().__init__({
            "start": In(1), "mode": In(2), "t": In(range(encoder.timesteps + 1)), "done": Out(1),
            "src_addr": Out(encoder_bits(n)), "src_data": In(self.width),
            "spk_raddr": In(encoder_bits(n)), "spk_rbank": In(1), "spk_rdata": Out(encoder_bits(n + 1)),
            "n_spikes": Out(range(n + 1)),
        })
        # Trace (not ports), as a LayerUnit's: pixel ``spike_index`` listed for step ``step``
        self.spike_valid = Signal(name="spike_valid")
        self.spike_index = Signal(encoder_bits(n), name="spike_index")
        self.step = Signal(range(encoder.timesteps + 1), name="step")

    def elaborate(self, platform) -> Module:
        m = Module()
        enc = self.encoder
        n, F = enc.n_input, enc.frac_bits
        ibits = encoder_bits(n)

        _, spk_wr, n_spk = spike_lists(m, self, n)
        par = self.step[0]

        scan = Signal(range(n + 1))
        scanning = Signal()
        m.d.comb += self.src_addr.eq(scan)

        # stage 1: the pixel word, clipped to 0 .. 2**F
        sv1, sj1 = Signal(), Signal(ibits)
        m.d.sync += [sv1.eq(scanning), sj1.eq(scan)]
        x = self.src_data.as_signed()
        clipped = Signal(F + 1)
        m.d.comb += clipped.eq(Mux(x < 0, 0, Mux(x > enc.one, enc.one, x[:F + 1])))
        sv2, sj2, hit2 = Signal(), Signal(ibits), Signal()
        m.d.sync += [sv2.eq(sv1), sj2.eq(sj1)]
        if enc.kind == "rate":
            m.submodules.lfsr = lfsr = LFSRGen(LFSR_WIDTH, enc.seed)
            r = lfsr.value[LFSR_WIDTH - F:]
            m.d.comb += lfsr.en.eq(sv1)
            m.d.sync += hit2.eq(r < clipped)
            with m.If(self.start & (self.mode == FIRST)):
                m.d.comb += lfsr.reseed.eq(1)
        else:
            table = [int(v) for v in enc.latency_table()]
            m.submodules.table = tab = Memory(shape=range(enc.timesteps + 1), depth=len(table), init=table)
            tab_rd = tab.read_port()
            m.d.comb += [tab_rd.addr.eq(clipped), hit2.eq(tab_rd.data == self.step)]
        spike2 = Signal()
        m.d.comb += spike2.eq(sv2 & hit2)

        n_cur = Mux(par, n_spk[1], n_spk[0])
        m.d.comb += [spk_wr.addr.eq(Cat(n_cur[:ibits], par)), spk_wr.data.eq(sj2 + 1), spk_wr.en.eq(spike2),
                     self.spike_valid.eq(spike2), self.spike_index.eq(sj2)]
        with m.If(spike2):
            with m.If(par):
                m.d.sync += n_spk[1].eq(n_spk[1] + 1)
            with m.Else():
                m.d.sync += n_spk[0].eq(n_spk[0] + 1)

        m.d.sync += self.done.eq(0)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.step.eq(self.t), scan.eq(0)]
                    with m.If(self.t[0]):
                        m.d.sync += n_spk[1].eq(0)
                    with m.Else():
                        m.d.sync += n_spk[0].eq(0)
                    m.next = "SCAN"
            with m.State("SCAN"):
                m.d.sync += scan.eq(scan + 1)
                with m.If(scan == n - 1):
                    m.next = "DRAIN1"
            with m.State("DRAIN1"):     # the last pixel's word
                m.next = "DRAIN2"
            with m.State("DRAIN2"):     # its list write
                m.next = "FINISH"
            with m.State("FINISH"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += scanning.eq(fsm.ongoing("SCAN"))
        return m
