"""``hw.cores.weight_bank``: one weight memory, in EBR (a layer's bank) or a UP5K SPRAM block (shared).

Both kinds have the same ports: a synchronous read (``raddr`` -> ``rdata`` one
cycle later) and a write port used by the host loader (``waddr``, ``wdata``,
``we``).  EBR banks start with the weights from the bitstream; SPRAM has no
power-up contents, so an SPRAM bank is valid only after the host has loaded it.
SPRAM is single-ported: a write takes the port for that cycle (loading only
happens while the engine is idle).

Software model: the bank is a plain array; ``rdata`` at cycle ``c+1`` equals
``words[raddr at c]`` (checked by the network tests through the whole engine).
"""

from __future__ import annotations

from amaranth import ClockSignal, Instance, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.cores.plan import SPRAM_DEPTH

__all__ = ["WeightBank", "SYNTH_COMMANDS"]

SYNTH_COMMANDS = r"setparam -set COLLISION_X_MASK 1 */t:$memrd_v2 */r:MEMID=\weight_mem %i"
"""Yosys commands (after ``read_rtlil``, before ``synth_ice40``) for the block-RAM banks: a read of
a word in the cycle it is written may return anything.  Writes come from the load port, which
``NetworkCore`` gates off while an inference runs, so no read that is used ever meets a write;
without this, yosys wraps every EBR bank in collision-bypass logic (16 data and the address in
flip-flops, a compare and a mux: ~40 FFs and ~40 LUTs a bank, measured on the digits build)."""


class WeightBank(wiring.Component):
    """A ``width``-bit signed weight memory.

    Parameters:
        width: word width (<= 16).
        depth: words.
        init: initial raw words (EBR only; ignored for SPRAM).
        spram: place in an ``SB_SPRAM256KA`` block (iCE40 UP) instead of block RAM.

    Attributes:
        raddr, rdata: synchronous read port.
        waddr, wdata, we: write port (host loading).
    """

    def __init__(self, width: int, depth: int, init=None, *, spram: bool = False) -> None:
        if spram and (depth > SPRAM_DEPTH or width > 16):
            raise ValueError(f"an SPRAM holds {SPRAM_DEPTH} x 16 bits; asked {depth} x {width}")
        self.width, self.depth, self.spram = width, depth, spram
        self.init = [] if (init is None or spram) else [int(v) for v in init]
        abits = max(1, (depth - 1).bit_length())
        super().__init__({
            "raddr": In(abits), "rdata": Out(signed(width)),
            "waddr": In(abits), "wdata": In(signed(width)), "we": In(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        if self.spram:
            addr = Signal(14)
            dout = Signal(16)
            m.d.comb += addr.eq(Mux(self.we, self.waddr, self.raddr))
            m.submodules.spram = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=addr, i_DATAIN=self.wdata.as_unsigned(), i_MASKWREN=0b1111,
                i_WREN=self.we, i_CHIPSELECT=1, i_CLOCK=ClockSignal("sync"),
                i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=dout)
            m.d.comb += self.rdata.eq(dout[:self.width].as_signed())
        else:
            # (the name is what SYNTH_COMMANDS selects)
            m.submodules.weight_mem = mem = Memory(shape=signed(self.width), depth=self.depth,
                                                   init=self.init)
            rd = mem.read_port()
            wr = mem.write_port()
            m.d.comb += [rd.addr.eq(self.raddr), self.rdata.eq(rd.data),
                         wr.addr.eq(self.waddr), wr.data.eq(self.wdata), wr.en.eq(self.we)]
        return m
