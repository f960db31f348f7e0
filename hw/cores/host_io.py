"""``hw.cores.host_io``: UART command interface around the network core.

Protocol (8N1 bytes; multi-byte numbers little-endian; ``sw.host`` implements the host side):

==========  =========================================  ==========================================
command     host sends                                 device replies
==========  =========================================  ==========================================
info        ``'I'``                                    ``'I'``, n_in u16, n_out u16, T u16,
                                                       needs_load u8, loaded u8
load        ``'W'``, addr u24, count u16, count x u16  ``'K'`` (``loaded`` becomes 1)
sample      ``'S'``, n_in x i16 raw input words        ``'R'``, n_out x u16 spike counts,
                                                       class u16, cycles u32  -- or ``'E'`` when
                                                       host-loaded weights were never loaded
other       any other byte                             ``'?'``
==========  =========================================  ==========================================

Golden function: ``sw.host.protocol`` encodes/decodes exactly these frames
(the host-driver test runs it against this gateware in simulation).
"""



from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.cores.network import NetworkCore
from hw.cores.plan import NetworkPlan
from hw.cores.uart import UARTRx, UARTTx

__all__ = ["HostInterface"]


class HostInterface(wiring.Component):
    """Network core + UART + command parser.

    Parameters:
        plan: the network plan.
        divisor: UART clock cycles per bit.

    Attributes:
        rx, tx: the serial lines (idle high).
        busy: an inference is running (e.g. for an LED).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, plan: NetworkPlan, divisor: int) -> None:
        self.plan = plan
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform) -> Module:  # noqa: C901 - one protocol FSM
        m = Module()
        plan = self.plan
        m.submodules.core = core = NetworkCore(plan)
        m.submodules.uart_rx = rx = UARTRx(self.divisor)
        m.submodules.uart_tx = tx = UARTTx(self.divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), self.busy.eq(core.busy)]

        byte = rx.data
        got = rx.valid
        lo = Signal(8)
        half = Signal()                     # low byte of a word already received
        hdr = Signal(40)
        hdr_n = Signal(range(6))
        addr = Signal(24)
        count = Signal(16)
        idx = Signal(range(max(plan.n_input, plan.n_output) + 1))
        word = Signal(40)
        nb = Signal(range(6))
        loaded = Signal()
        word_in = (byte << 8) | lo

        def send(name: str, nbytes: int, then: str) -> None:
            """State ``name`` sends the low ``nbytes`` of ``word``, then goes to ``then``."""
            with m.State(name):
                m.d.comb += [tx.data.eq(word[:8]), tx.valid.eq(1)]
                with m.If(tx.ready):
                    m.d.sync += [word.eq(word >> 8), nb.eq(nb + 1)]
                    with m.If(nb == nbytes - 1):
                        m.d.sync += nb.eq(0)
                        m.next = then

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [half.eq(0), nb.eq(0), idx.eq(0), hdr_n.eq(0)]
                with m.If(got):
                    with m.Switch(byte):
                        with m.Case(ord("I")):
                            m.d.sync += word.eq(ord("I") | (plan.n_input << 8) | (plan.n_output << 24))
                            m.next = "INFO_A"
                        with m.Case(ord("W")):
                            m.next = "W_HDR"
                        with m.Case(ord("S")):
                            m.next = "S_DATA"
                        with m.Default():
                            m.d.sync += word.eq(ord("?"))
                            m.next = "REPLY1"
            send("REPLY1", 1, "IDLE")
            # info: 'I' n_in n_out, then T needs_load loaded
            send("INFO_A", 5, "INFO_B_LOAD")
            with m.State("INFO_B_LOAD"):
                m.d.sync += word.eq(plan.timesteps | (int(plan.needs_load) << 16) | (loaded << 24))
                m.next = "INFO_B"
            send("INFO_B", 4, "IDLE")
            # weight load
            with m.State("W_HDR"):
                with m.If(got):
                    m.d.sync += [hdr.eq((byte << 32) | (hdr >> 8)), hdr_n.eq(hdr_n + 1)]
                    with m.If(hdr_n == 4):
                        m.next = "W_START"
            with m.State("W_START"):
                m.d.sync += [addr.eq(hdr[:24]), count.eq(hdr[24:])]
                with m.If(hdr[24:] == 0):
                    m.d.sync += [word.eq(ord("K")), loaded.eq(1)]
                    m.next = "REPLY1"
                with m.Else():
                    m.next = "W_DATA"
            with m.State("W_DATA"):
                m.d.comb += [core.ld_addr.eq(addr), core.ld_data.eq(word_in)]
                with m.If(got):
                    m.d.sync += [lo.eq(byte), half.eq(~half)]
                    with m.If(half):
                        m.d.comb += core.ld_en.eq(1)
                        m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                        with m.If(count == 1):
                            m.d.sync += [word.eq(ord("K")), loaded.eq(1)]
                            m.next = "REPLY1"
            # sample
            with m.State("S_DATA"):
                m.d.comb += [core.x_waddr.eq(idx), core.x_wdata.eq(word_in)]
                with m.If(got):
                    m.d.sync += [lo.eq(byte), half.eq(~half)]
                    with m.If(half):
                        m.d.comb += core.x_we.eq(1)
                        m.d.sync += idx.eq(idx + 1)
                        with m.If(idx == plan.n_input - 1):
                            m.next = "S_GO"
            with m.State("S_GO"):
                if plan.needs_load:
                    with m.If(~loaded):
                        m.d.sync += word.eq(ord("E"))
                        m.next = "REPLY1"
                    with m.Else():
                        m.d.comb += core.start.eq(1)
                        m.next = "S_RUN"
                else:
                    m.d.comb += core.start.eq(1)
                    m.next = "S_RUN"
            with m.State("S_RUN"):
                with m.If(core.done):
                    m.d.sync += [word.eq(ord("R")), idx.eq(0)]
                    m.next = "R_HDR"
            send("R_HDR", 1, "R_CNT_RD")
            with m.State("R_CNT_RD"):
                m.d.comb += core.cnt_raddr.eq(idx)
                m.next = "R_CNT_LAT"
            with m.State("R_CNT_LAT"):
                m.d.sync += [word.eq(core.cnt_rdata), idx.eq(idx + 1)]
                m.next = "R_CNT"
            send("R_CNT", 2, "R_CNT_NEXT")
            with m.State("R_CNT_NEXT"):
                with m.If(idx == plan.n_output):
                    m.d.sync += word.eq(core.pred)
                    m.next = "R_PRED"
                with m.Else():
                    m.next = "R_CNT_RD"
            send("R_PRED", 2, "R_CYC_LOAD")
            with m.State("R_CYC_LOAD"):
                m.d.sync += word.eq(core.cycles)
                m.next = "R_CYC"
            send("R_CYC", 4, "IDLE")
        return m
