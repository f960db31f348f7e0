"""``hw.cores.host_io``: UART command interface around the network core.

Protocol (8N1 bytes; multi-byte numbers little-endian; ``sw.host`` implements the host side,
``hw.cores.link`` holds the frame sizes and the throughput model):

==========  =========================================  ==========================================
command     host sends                                 device replies
==========  =========================================  ==========================================
info        ``'I'``                                    ``'I'``, n_in u16, n_out u16, T u16,
                                                       needs_load u8, loaded u8, banks u8
load        ``'W'``, addr u24, count u16, count x i16  ``'K'`` (``loaded`` becomes 1)
sample      ``'S'``, n_in x i16 raw input words        ``'R'``, n_out x u16 spike counts,
                                                       class u16, cycles u32
pixels      ``'P'``, n_in x u8 codes (``hw.pixels``)   as ``'S'``
compact     ``'s'`` / ``'p'``: as ``'S'`` / ``'P'``    ``'r'``, n_out x count, class (count: u8
                                                       if T < 256 else u16; class: u8 if
                                                       n_out <= 256 else u16)
other       any other byte                             ``'?'``
==========  =========================================  ==========================================

A sample command is answered ``'E'`` instead when the plan needs host-loaded
weights that were never loaded (by ``'W'`` or the boot port), and ``'O'`` when
it arrived while every input bank was taken (the host broke the flow-control
rule; its inputs are dropped).  ``'P'``/``'p'`` answer ``'?'`` when the format has
no 8-bit mapping (``hw.pixels.supports``), and ``'W'`` answers ``'?'`` on an interface
built without weight writes (``weight_writes=False``: every weight is in the bitstream;
``boards.Board.lc_bound`` builds drop the command's logic).

Streaming: the input RAM has ``banks`` banks (default 2, reported by info), so
the parser fills one while the core computes another, and samples may be sent
back to back without waiting for their replies.  Replies come in sample order.
Flow-control rule: at most ``banks`` samples in flight -- the host sends sample
``k + banks`` only once the first byte of sample ``k``'s reply has arrived (that
byte leaves after sample ``k``'s bank was freed).  The reply's first byte is the
credit, so a stream needs no per-sample round trip: the core never waits as
long as one frame, one reply byte and the host's reaction take less than
``banks - 1`` inferences (``hw.cores.link`` models the rates).  ``'I'`` and
``'W'`` are for an idle link (no sample in flight): their replies are not
ordered with sample replies, and the core ignores weight writes while it runs.

Boot port (``boot_*``, e.g. a flash loader at power-up): ``boot_en`` writes
``boot_data`` at ``boot_addr`` like a load-command word (it wins over a host load
in the same cycle), ``boot_done`` marks the weights loaded as ``'W'`` does.  Left
at 0 they change nothing.

Golden function: ``sw.host.protocol`` encodes/decodes exactly these frames
(the host-driver test runs it against this gateware in simulation); the
replies' counts and class equal ``sim.golden.run_golden``.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.cores.link import INFO_REPLY_BYTES, SAMPLE_COMMANDS, WINDOW, class_bytes, count_bytes
from hw.cores.engine import core_for
from hw.cores.plan import NetworkPlan
from hw.cores.uart import UARTRx, UARTTx
from hw.pixels import hdl_code_to_raw, supports

__all__ = ["HostInterface"]


class HostInterface(wiring.Component):
    """Network core (two input banks) + UART + command parser + reply sender.

    Parameters:
        plan: the network plan.
        divisor: UART clock cycles per bit.
        banks: input banks, a power of two >= 2 (the flow-control window).
        weight_writes: the ``'W'`` load command and the boot port exist (default); without them
            the weights are those of the bitstream (the plan must need no load).

    Attributes:
        rx, tx: the serial lines (idle high).
        busy: an inference is running (e.g. for an LED).
        boot_addr, boot_data, boot_en, boot_done: boot-time weight writes (see module docstring).
    """

    def __init__(self, plan: NetworkPlan, divisor: int, banks: int = WINDOW, weight_writes: bool = True) -> None:
        if banks < 2 or banks & (banks - 1) or banks > 128:
            raise ValueError(f"banks must be a power of two in 2..128, got {banks}")
        if not weight_writes and plan.needs_load:
            raise ValueError("a plan with weights the host loads needs weight_writes")
        self.weight_writes = weight_writes
        self.plan = plan
        self.divisor = divisor
        self.banks = banks
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1),
            "boot_addr": In(plan.bank_bits + plan.offset_bits), "boot_data": In(signed(plan.fmt.width)),
            "boot_en": In(1), "boot_done": In(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        plan = self.plan
        m.submodules.core = core = core_for(plan, banks=self.banks)
        m.submodules.uart_rx = rx = UARTRx(self.divisor)
        m.submodules.uart_tx = tx = UARTTx(self.divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), self.busy.eq(core.busy)]

        # weights: boot port first, then the load command
        host_ld = Signal()
        host_addr = Signal.like(core.ld_addr)
        host_data = Signal.like(core.ld_data)
        if self.weight_writes:
            m.d.comb += [core.ld_en.eq(self.boot_en | host_ld),
                         core.ld_addr.eq(Mux(self.boot_en, self.boot_addr, host_addr)),
                         core.ld_data.eq(Mux(self.boot_en, self.boot_data, host_data))]
        loaded = Signal()
        with m.If(self.boot_done):
            m.d.sync += loaded.eq(1)

        # the input banks: a ring written at wbank, computed at rbank
        nbanks = self.banks
        full, err, compact = Signal(nbanks), Signal(nbanks), Signal(nbanks)
        wbank, rbank = Signal(range(nbanks)), Signal(range(nbanks))
        put, put_err, put_compact, take = Signal(), Signal(), Signal(), Signal()
        for b in range(nbanks):
            with m.If(put & (wbank == b)):
                m.d.sync += [full[b].eq(1), err[b].eq(put_err), compact[b].eq(put_compact)]
            with m.Elif(take & (rbank == b)):
                m.d.sync += full[b].eq(0)
        with m.If(put):
            m.d.sync += wbank.eq(wbank + 1)   # wraps: banks is a power of two
        with m.If(take):
            m.d.sync += rbank.eq(rbank + 1)

        # the latched reply (filled by the scheduler, emptied by the sender)
        m.submodules.res = res = Memory(shape=plan.count_bits, depth=plan.n_output, init=[])
        res_wr, res_rd = res.write_port(), res.read_port()
        res_valid, res_err, res_compact = Signal(), Signal(), Signal()
        res_pred, res_cycles = Signal.like(core.pred), Signal.like(core.cycles)

        # single-byte and info replies asked for by the parser
        byte_req, byte_pend, info_req = Signal(8), Signal(), Signal()

        self._parser(m, rx, core, host_ld, host_addr, host_data, loaded, full, wbank,
                     put, put_err, put_compact, byte_req, byte_pend, info_req)
        self._scheduler(m, core, full, err, compact, rbank, take, res_wr, res_valid, res_err,
                        res_compact, res_pred, res_cycles)
        self._sender(m, tx, res_rd, res_valid, res_err, res_compact, res_pred, res_cycles,
                     byte_req, byte_pend, info_req, loaded)
        return m

    # -- receive side ---------------------------------------------------------
    def _parser(self, m, rx, core, host_ld, host_addr, host_data, loaded, full, wbank,
                put, put_err, put_compact, byte_req, byte_pend, info_req) -> None:
        plan = self.plan
        byte, got = rx.data, rx.valid
        lo = Signal(8)
        half = Signal()                     # low byte of a word already received
        hdr_n = Signal(range(6))
        addr = Signal(24)       # the 'W' header shifts into Cat(addr, count) (no header register)
        count = Signal(16)
        idx = Signal(range(2 * plan.n_input + 1))
        pix, cmp = Signal(), Signal()
        word_in = (byte << 8) | lo
        ready = loaded if plan.needs_load else 1
        pixels_ok = supports(plan.fmt)

        def reply(code: str) -> None:
            m.d.sync += [byte_req.eq(ord(code)), byte_pend.eq(1)]

        with m.FSM(name="parser"):
            with m.State("IDLE"):
                m.d.sync += [half.eq(0), idx.eq(0), hdr_n.eq(0)]
                with m.If(got):
                    with m.Switch(byte):
                        with m.Case(ord("I")):
                            m.d.sync += info_req.eq(1)
                        if self.weight_writes:
                            with m.Case(ord("W")):
                                m.next = "W_HDR"
                        for cmd in SAMPLE_COMMANDS.values():
                            if cmd.pixel and not pixels_ok:
                                continue
                            with m.Case(ord(cmd.code)):
                                m.d.sync += [pix.eq(cmd.pixel), cmp.eq(cmd.compact)]
                                with m.If(full.bit_select(wbank, 1)):
                                    m.next = "S_SKIP"
                                with m.Else():
                                    m.next = "S_DATA"
                        with m.Default():
                            reply("?")
            if self.weight_writes:  # weight load
                with m.State("W_HDR"):
                    with m.If(got):
                        m.d.sync += [Cat(addr, count).eq(Cat(addr[8:], count, byte)), hdr_n.eq(hdr_n + 1)]
                        with m.If(hdr_n == 4):
                            m.next = "W_START"
                with m.State("W_START"):
                    with m.If(count == 0):
                        reply("K")
                        m.d.sync += loaded.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "W_DATA"
                with m.State("W_DATA"):
                    m.d.comb += [host_addr.eq(addr), host_data.eq(word_in)]
                    with m.If(got):
                        m.d.sync += [lo.eq(byte), half.eq(~half)]
                        with m.If(half):
                            m.d.comb += host_ld.eq(1)
                            m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                            with m.If(count == 1):
                                reply("K")
                                m.d.sync += loaded.eq(1)
                                m.next = "IDLE"
            # sample into the free bank
            with m.State("S_DATA"):
                m.d.comb += [core.x_wbank.eq(wbank), core.x_waddr.eq(idx),
                             core.x_wdata.eq(Mux(pix, hdl_code_to_raw(byte), word_in))]
                last = Signal()
                with m.If(got):
                    m.d.sync += [lo.eq(byte), half.eq(~half)]
                    with m.If(pix | half):
                        m.d.comb += [core.x_we.eq(1), last.eq(idx == plan.n_input - 1)]
                        m.d.sync += idx.eq(idx + 1)
                with m.If(last):
                    m.d.comb += [put.eq(1), put_err.eq(~ready), put_compact.eq(cmp)]
                    m.next = "IDLE"
            # both banks taken: drop the frame, answer 'O'
            with m.State("S_SKIP"):
                with m.If(got):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == Mux(pix, plan.n_input - 1, 2 * plan.n_input - 1)):
                        reply("O")
                        m.next = "IDLE"

    # -- compute side ---------------------------------------------------------
    def _scheduler(self, m, core, full, err, compact, rbank, take, res_wr, res_valid, res_err,
                   res_compact, res_pred, res_cycles) -> None:
        n_out = self.plan.n_output
        li = Signal(range(n_out + 1))
        with m.FSM(name="scheduler"):
            with m.State("IDLE"):
                with m.If(full.bit_select(rbank, 1)):
                    with m.If(err.bit_select(rbank, 1)):
                        m.next = "POST_E"
                    with m.Else():
                        m.d.comb += [core.start.eq(1), core.x_rbank.eq(rbank)]
                        m.next = "RUN"
            with m.State("RUN"):
                with m.If(core.done):
                    m.next = "LATCH_WAIT"
            with m.State("LATCH_WAIT"):
                m.d.sync += li.eq(0)
                with m.If(~res_valid):
                    m.next = "LATCH"
            with m.State("LATCH"):  # read count li, write count li - 1 (one cycle latency)
                m.d.comb += [core.cnt_raddr.eq(li), res_wr.addr.eq(li - 1), res_wr.data.eq(core.cnt_rdata),
                             res_wr.en.eq(li != 0)]
                m.d.sync += li.eq(li + 1)
                with m.If(li == n_out):
                    m.d.comb += take.eq(1)
                    m.d.sync += [res_valid.eq(1), res_err.eq(0), res_compact.eq(compact.bit_select(rbank, 1)),
                                 res_pred.eq(core.pred), res_cycles.eq(core.cycles)]
                    m.next = "IDLE"
            with m.State("POST_E"):
                with m.If(~res_valid):
                    m.d.comb += take.eq(1)
                    m.d.sync += [res_valid.eq(1), res_err.eq(1)]
                    m.next = "IDLE"

    # -- transmit side --------------------------------------------------------
    def _sender(self, m, tx, res_rd, res_valid, res_err, res_compact, res_pred, res_cycles,
                byte_req, byte_pend, info_req, loaded) -> None:
        """Each state stages its field's next byte straight from the latched reply (no reply
        shift register: on the smallest devices every LC counts)."""
        plan = self.plan
        n_out = plan.n_output
        tx_byte, tx_have = Signal(8), Signal()
        m.d.comb += [tx.data.eq(tx_byte), tx.valid.eq(tx_have)]
        with m.If(tx.ready & tx_have):
            m.d.sync += tx_have.eq(0)
        free = ~tx_have | tx.ready            # a byte staged now is the next to leave

        def emit(value) -> None:
            m.d.sync += [tx_byte.eq(value), tx_have.eq(1)]

        bi = Signal(range(INFO_REPLY_BYTES))  # byte of the field being sent
        ti = Signal(range(n_out + 1))
        m.d.comb += res_rd.addr.eq(ti)
        cw, pw = count_bytes(plan.timesteps), class_bytes(n_out)
        count16 = Signal(16)
        m.d.comb += count16.eq(res_rd.data)
        tail = Signal(48)                     # class u16, cycles u32 (the compact reply: class only)
        m.d.comb += tail.eq(Cat(res_pred, Const(0, 16 - len(res_pred)), res_cycles))
        info = [ord("I"), *_le(plan.n_input, 2), *_le(n_out, 2), *_le(plan.timesteps, 2),
                int(plan.needs_load), None, self.banks]      # None: ``loaded``
        with m.FSM(name="sender"):
            with m.State("IDLE"):
                m.d.sync += [ti.eq(0), bi.eq(0)]
                with m.If(free):
                    with m.If(res_valid):
                        emit(Mux(res_err, ord("E"), Mux(res_compact, ord("r"), ord("R"))))
                        with m.If(res_err):
                            m.d.sync += res_valid.eq(0)
                        with m.Else():
                            m.next = "CNT_RD"
                    with m.Elif(byte_pend):
                        emit(byte_req)
                        m.d.sync += byte_pend.eq(0)
                    with m.Elif(info_req):
                        emit(info[0])
                        m.d.sync += [info_req.eq(0), bi.eq(1)]
                        m.next = "INFO"
            with m.State("INFO"):
                with m.If(free):
                    with m.Switch(bi):
                        for i, value in enumerate(info[1:], start=1):
                            with m.Case(i):
                                emit(loaded if value is None else value)
                    m.d.sync += bi.eq(bi + 1)
                    with m.If(bi == len(info) - 1):
                        m.next = "IDLE"
            with m.State("CNT_RD"):  # res_rd.data follows ti one cycle later
                m.next = "CNT"
            with m.State("CNT"):
                with m.If(free):
                    emit(Mux(bi[0], count16[8:], count16[:8]))
                    m.d.sync += bi.eq(bi + 1)
                    with m.If(bi == Mux(res_compact, cw - 1, 1)):
                        m.d.sync += [bi.eq(0), ti.eq(ti + 1)]
                        with m.If(ti == n_out - 1):
                            m.next = "TAIL"
                        with m.Else():
                            m.next = "CNT_RD"
            with m.State("TAIL"):
                with m.If(free):
                    emit(tail.word_select(bi, 8))
                    m.d.sync += bi.eq(bi + 1)
                    with m.If(bi == Mux(res_compact, pw - 1, 5)):
                        m.d.sync += res_valid.eq(0)     # the reply buffer is free again
                        m.next = "IDLE"


def _le(value: int, nbytes: int) -> list[int]:
    """``value`` as ``nbytes`` little-endian bytes."""
    return [(value >> (8 * i)) & 0xFF for i in range(nbytes)]
