"""``hw.cores.spike_list``: the double-banked spike list every pipeline stage writes.

A stage (``LayerUnit``, ``EncoderUnit``) lists the indices (+ 1) of its spikes of step ``t``
in bank ``t % 2`` while the next stage reads step ``t - 1``'s bank, so consecutive stages
work on consecutive steps at once.
"""

from __future__ import annotations

from typing import Any

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib.memory import Memory

__all__ = ["addr_bits", "spike_lists"]


def addr_bits(n: int) -> int:
    """Address bits for ``n`` entries (at least 1)."""
    return max(1, (n - 1).bit_length())


def spike_lists(m: Module, unit: Any, n: int) -> tuple[Memory, Any, list[Signal]]:
    """The two spike-list banks of ``unit`` (``n`` neurons or pixels) as submodule ``spikes``,
    its read side wired to ``unit.spk_raddr / spk_rbank / spk_rdata / n_spikes``.

    Returns ``(memory, write port, [length of bank 0, length of bank 1])``; a stage that reads
    its own list too (recurrent layers) takes another read port of ``memory``."""
    bits = addr_bits(n)
    m.submodules.spikes = mem = Memory(shape=addr_bits(n + 1), depth=2 << bits, init=[])
    rd, wr = mem.read_port(), mem.write_port()
    n_spk = [Signal(range(n + 1), name=f"n_spikes{k}") for k in range(2)]
    m.d.comb += [rd.addr.eq(Cat(unit.spk_raddr, unit.spk_rbank)), unit.spk_rdata.eq(rd.data),
                 unit.n_spikes.eq(Mux(unit.spk_rbank, n_spk[1], n_spk[0]))]
    return mem, wr, n_spk
