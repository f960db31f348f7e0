"""``hw.cores.rom``: a small ROM that never brings a constant clock into the timing sign-off."""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Const, Elaboratable, Instance, Module, Signal, signed
from amaranth.lib.memory import Memory

from hw.compiler.exp_pwl import signed_width

__all__ = ["Rom"]


class Rom(Elaboratable):
    """A ROM with a synchronous read port (``addr`` -> ``data`` a clock later).

    On an iCE40 platform it is an ``SB_RAM40_4K`` (256 x 16) instantiated directly, with its
    unused write clock on the core clock: yosys maps a write-less memory with the write clock
    tied to 0, which nextpnr then times as a clock of its own (``hw.timing`` refuses that).
    Elsewhere (simulation, plain Verilog) it is an ``amaranth.lib.memory.Memory``.
    """

    def __init__(self, values: tuple[int, ...]) -> None:
        self.values = tuple(int(v) for v in values)
        self.width = signed_width(min(self.values), max(self.values))
        self.addr = Signal(range(max(2, len(self.values))))
        self.data = Signal(signed(self.width))

    def elaborate(self, platform) -> Module:
        m = Module()
        ice40 = str(getattr(platform, "device", "")).lower().startswith("ice40")
        if ice40 and len(self.values) <= 256 and self.width <= 16:
            words = [v & 0xFFFF for v in self.values] + [0] * (256 - len(self.values))
            init = {f"p_INIT_{i:X}": Const(sum(w << (16 * j) for j, w in enumerate(words[16 * i:16 * i + 16])), 256)
                    for i in range(16)}
            rdata = Signal(16)
            m.submodules.ram = Instance(
                "SB_RAM40_4K", p_READ_MODE=0, p_WRITE_MODE=0, **init,
                i_RCLK=ClockSignal("sync"), i_RCLKE=1, i_RE=1, i_RADDR=Cat(self.addr, Const(0, 11))[:11],
                o_RDATA=rdata,
                i_WCLK=ClockSignal("sync"), i_WCLKE=0, i_WE=0, i_WADDR=Const(0, 11), i_WDATA=Const(0, 16),
                i_MASK=Const(0, 16))
            m.d.comb += self.data.eq(rdata[:self.width].as_signed())
        else:
            m.submodules.mem = mem = Memory(shape=signed(self.width), depth=len(self.values), init=list(self.values))
            rd = mem.read_port()
            m.d.comb += [rd.addr.eq(self.addr), self.data.eq(rd.data)]
        return m
