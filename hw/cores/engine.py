"""``hw.cores.engine``: the network core a plan runs on (Q8.8 engine or SC engine)."""

from __future__ import annotations

from typing import Any

from amaranth import Cat, Module, Signal, signed
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["core_for", "core_ports", "cycle_bits", "input_ram"]


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def cycle_bits(plan: Any) -> int:
    """Width of the ``cycles`` counter: enough for the plan's worst case (``plan.cycles()``,
    every neuron spiking every step), at most the protocol's u32."""
    return min(32, max(1, plan.cycles().bit_length()))


def core_ports(plan: Any, banks: int) -> dict[str, Any]:
    """The ports every network core has (``hw.cores.network.NetworkCore`` documents them;
    ``cycles`` is :func:`cycle_bits` wide)."""
    if banks < 1 or banks & (banks - 1):
        raise ValueError(f"the input RAM's banks are a power of two, got {banks}")
    w = plan.fmt.width
    ports = {
        "x_waddr": In(_bits(plan.n_input)), "x_wdata": In(signed(w)), "x_we": In(1),
        "start": In(1), "busy": Out(1), "done": Out(1),
        "cnt_raddr": In(_bits(plan.n_output)), "cnt_rdata": Out(plan.count_bits),
        "pred": Out(_bits(plan.n_output)), "cycles": Out(cycle_bits(plan)),
        "ld_addr": In(plan.bank_bits + plan.offset_bits), "ld_data": In(signed(w)), "ld_en": In(1),
    }
    if banks > 1:
        bank_bits = (banks - 1).bit_length()
        ports.update({"x_wbank": In(bank_bits), "x_rbank": In(bank_bits)})
    return ports


def input_ram(m: Module, core: Any) -> tuple[Any, Signal]:
    """The core's input RAM (submodule ``x``) behind its ``x_*`` write port: ``banks`` sample
    banks, ``x_rbank`` sampled at ``start``, writes to the bank being computed ignored.
    Returns ``(read port, read address)``: the address is the word within the sample."""
    plan, banks = core.plan, core.banks
    n = plan.n_input
    x_raddr = Signal(_bits(n), name="x_raddr")
    m.submodules.x = x_mem = Memory(shape=signed(plan.fmt.width), depth=banks << _bits(n) if banks > 1
                                    else max(2, n), init=[])
    x_rd, x_wr = x_mem.read_port(), x_mem.write_port()
    if banks == 1:
        m.d.comb += [x_wr.addr.eq(core.x_waddr), x_wr.en.eq(core.x_we & ~core.busy), x_rd.addr.eq(x_raddr)]
    else:
        rbank = Signal.like(core.x_rbank)
        with m.If(core.start & ~core.busy):
            m.d.sync += rbank.eq(core.x_rbank)
        m.d.comb += [x_wr.addr.eq(Cat(core.x_waddr, core.x_wbank)), x_rd.addr.eq(Cat(x_raddr, rbank)),
                     x_wr.en.eq(core.x_we & (~core.busy | (core.x_wbank != rbank)))]
    m.d.comb += x_wr.data.eq(core.x_wdata)
    return x_rd, x_raddr


def core_for(plan: Any, banks: int = 1) -> Any:
    """``hw.cores.sc_network.SCNetworkCore`` for an ``SCPlan`` (``plan.arith == "sc"``),
    ``hw.cores.network.NetworkCore`` otherwise; both have the same ports."""
    if getattr(plan, "arith", "q8.8") == "sc":
        from hw.cores.sc_network import SCNetworkCore

        return SCNetworkCore(plan, banks=banks)
    from hw.cores.network import NetworkCore

    return NetworkCore(plan, banks=banks)
