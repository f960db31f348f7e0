"""``sim.tb.flash``: run ``hw.cores.flash_boot.FlashBoot`` in the RTL simulator against a SPI flash model.

``run_flash_boot(plan, cases)`` writes the core's Verilog (top ``snn_flash_boot``)
and runs every case -- the bytes a flash holds at the image offset -- in one
simulation (``sim.tb.flash_tb``: reset, boot, record).  The caller compares the
result with :func:`hw.flash_image.boot_writes` and the plan's load image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["FlashBootRun", "run_flash_boot", "run_flash_host", "TOPLEVEL", "HOST_TOPLEVEL", "CLOCK_NS"]

TOPLEVEL = "snn_flash_boot"
CLOCK_NS = 40.0
"""Simulated clock period (25 MHz, near the iCEBreaker's 24 MHz)."""


@dataclass
class FlashBootRun:
    """What the core did with one flash content.

    Attributes:
        name: the case name.
        writes: ``(address, raw word)`` boot-port writes, in order.
        done, error: ``boot_done`` / ``boot_error`` at the end.
        ignored: commands the flash model ignored (asleep, or within tRES1 of the wake-up).
        mode_errors: CS# fell with SCK high.
        long_pulses: ``boot_en`` pulses longer than one cycle.
        commands: command bytes the flash received.
        end_ns: simulated time when the case ended.
    """

    name: str
    writes: list[tuple[int, int]]
    done: bool
    error: bool
    ignored: int
    mode_errors: int
    long_pulses: int
    commands: list[int]
    end_ns: int


def run_flash_boot(plan: Any, cases: Sequence[tuple[str, bytes]], *, offset: int = 0x100000,
                   build_dir: str | Path | None = None, half_period: int = 1) -> list[FlashBootRun]:
    """Run ``FlashBoot(plan)`` once per ``(name, flash bytes at offset)`` case in the RTL simulator."""
    from hw.cores.flash_boot import FlashBoot, wake_cycles_for
    from sim.tb.runner import run_cocotb, work_folder
    from sim.tb.verilog_cache import component_verilog

    with work_folder(build_dir, "snn_flash_") as build_dir:
        top = build_dir / f"{TOPLEVEL}.v"
        top.write_text(component_verilog(FlashBoot, plan, offset, wake_cycles_for(1e9 / CLOCK_NS), half_period,
                                         name=TOPLEVEL))
        data, out = build_dir / "flash_cases.npz", build_dir / "flash_out.npz"
        out.unlink(missing_ok=True)
        arrays = {f"flash_{i}": np.frombuffer(bytes(b), dtype=np.uint8) for i, (_, b) in enumerate(cases)}
        np.savez(data, names=np.array([n for n, _ in cases]), **arrays)
        run_cocotb(verilog_sources=[top], toplevel=TOPLEVEL, test_module="sim.tb.flash_tb",
                   ports_only=True, build_dir=build_dir / "sim",
                   extra_env={"SNN_FLASH_CASES": str(data.resolve()), "SNN_FLASH_OUT": str(out.resolve()),
                              "SNN_FLASH_OFFSET": str(offset), "SNN_FLASH_CLOCK_NS": str(CLOCK_NS)})
        runs = []
        with np.load(out) as res:
            for i, (name, _) in enumerate(cases):
                st = res[f"status_{i}"].tolist()
                runs.append(FlashBootRun(name, [tuple(w) for w in res[f"writes_{i}"].tolist()],
                                         bool(st[0]), bool(st[1]), st[2], st[3], st[4],
                                         res[f"commands_{i}"].tolist(), st[5]))
        return runs


HOST_TOPLEVEL = "snn_flash_host"


def _flash_host_top(plan: Any, divisor: int, offset: int) -> Any:
    """``HostInterface`` with a ``FlashBoot`` on its boot port, as ``BoardTop`` wires them (no pins, no PLL)."""
    from amaranth import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from hw.cores.flash_boot import FlashBoot, wake_cycles_for
    from hw.cores.host_io import HostInterface

    class FlashHost(wiring.Component):
        def __init__(self) -> None:
            super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "sck": Out(1), "cs": Out(1),
                              "copi": Out(1), "cipo": In(1), "boot_done": Out(1), "boot_error": Out(1)})

        def elaborate(self, platform) -> Module:
            m = Module()
            m.submodules.host = host = HostInterface(plan, divisor)
            m.submodules.boot = boot = FlashBoot(plan, offset, wake_cycles_for(1e9 / CLOCK_NS))
            m.d.comb += [*boot.connect(host), host.rx.eq(self.rx), self.tx.eq(host.tx),
                         self.sck.eq(boot.sck), self.cs.eq(boot.cs), self.copi.eq(boot.copi),
                         boot.cipo.eq(self.cipo), self.boot_done.eq(boot.boot_done),
                         self.boot_error.eq(boot.boot_error)]
            return m

    return FlashHost()


def run_flash_host(plan: Any, cases: Sequence[tuple[str, bytes, Sequence[tuple[bytes, int]]]], *,
                   offset: int = 0x100000, divisor: int = 8,
                   build_dir: str | Path | None = None) -> list[list[bytes]]:
    """Boot ``HostInterface`` + ``FlashBoot`` from each case's flash, then talk to it over the UART.

    Each case is ``(name, flash bytes at offset, [(bytes to send, reply bytes to read), ...])``;
    returns, per case, the replies (``sim.tb.flash_host_tb``).
    """
    from sim.tb.network import spram_model
    from sim.tb.runner import run_cocotb, work_folder
    from sim.tb.verilog_cache import component_verilog

    with work_folder(build_dir, "snn_flash_host_") as build_dir:
        top = build_dir / f"{HOST_TOPLEVEL}.v"
        top.write_text(component_verilog(_flash_host_top, plan, divisor, offset, name=HOST_TOPLEVEL))
        sources = [top] + ([spram_model(build_dir / "sb_spram256ka.v")] if plan.uses_spram else [])
        data, out = build_dir / "host_cases.npz", build_dir / "host_out.npz"
        out.unlink(missing_ok=True)
        arrays: dict[str, Any] = {"names": np.array([c[0] for c in cases])}
        for i, (_, flash, talk) in enumerate(cases):
            arrays[f"flash_{i}"] = np.frombuffer(bytes(flash), dtype=np.uint8)
            arrays[f"n_talk_{i}"] = np.array(len(talk))
            for j, (send, n_reply) in enumerate(talk):
                arrays[f"send_{i}_{j}"] = np.frombuffer(bytes(send), dtype=np.uint8)
                arrays[f"reply_len_{i}_{j}"] = np.array(n_reply)
        np.savez(data, **arrays)
        run_cocotb(verilog_sources=sources, toplevel=HOST_TOPLEVEL, test_module="sim.tb.flash_host_tb",
                   ports_only=True, build_dir=build_dir / "sim",
                   extra_env={"SNN_FLASH_CASES": str(data.resolve()), "SNN_FLASH_OUT": str(out.resolve()),
                              "SNN_FLASH_OFFSET": str(offset), "SNN_FLASH_CLOCK_NS": str(CLOCK_NS),
                              "SNN_UART_DIVISOR": str(divisor)})
        with np.load(out) as res:
            return [[res[f"reply_{i}_{j}"].tobytes() for j in range(len(talk))]
                    for i, (_, _, talk) in enumerate(cases)]
