"""``boards.base``: what the build needs to know about one iCE40 board."""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Board", "ResourceBudget"]


@dataclass(frozen=True)
class ResourceBudget:
    """Resources of the board's FPGA.

    Attributes:
        lcs: logic cells (LUT4 + flip-flop).
        ebr: 4-kbit block RAMs.
        spram: 256-kbit single-port RAMs (iCE40 UP only).
        dsp: 16x16 multiply-accumulate blocks (iCE40 UP only).
    """

    lcs: int
    ebr: int
    spram: int = 0
    dsp: int = 0


@dataclass(frozen=True)
class Board:
    """One supported board.

    Attributes:
        name: CLI name (``--board``).
        title: human-readable name.
        platform: ``"module:Class"`` of the amaranth-boards platform.
        nextpnr_device, nextpnr_package: ``nextpnr-ice40`` device flag and package.
        budget: FPGA resources.
        clock_source: ``"pll_pad"``, ``"pll_core"``, ``"hfosc"`` or ``"direct"`` (see
            ``hw.cores.clocking.ClockGen``); ``clock_resource``/``clock_hz``: the board clock.
        target_hz: default core clock the build asks the PLL for.
        baud: default UART rate.
        extra_resources: callable adding resources the amaranth-boards entry lacks.
        programmers: commands tried in order by ``--program`` (``{bitstream}`` is replaced).
        notes: wiring/usage notes printed with the report.
    """

    name: str
    title: str
    platform: str
    nextpnr_device: str
    nextpnr_package: str
    budget: ResourceBudget
    clock_source: str
    clock_resource: str | None
    clock_hz: float
    target_hz: float
    baud: int = 115200
    extra_resources: Any = None
    programmers: tuple[tuple[str, ...], ...] = (("iceprog", "{bitstream}"),
                                                 ("openFPGALoader", "-b", "ice40_generic", "{bitstream}"))
    notes: str = ""
    synth_opts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_dsp(self) -> bool:
        return self.budget.dsp > 0

    def make_platform(self) -> Any:
        """A fresh amaranth-boards platform object for this board (with extra resources)."""
        module, cls = self.platform.split(":")
        platform = getattr(importlib.import_module(module), cls)()
        if self.extra_resources is not None:
            platform.add_resources(self.extra_resources())
        return platform

    def plan(self, qnet: Any, lanes: Any = None) -> Any:
        """Lay a ``hw.quantize.QuantizedNetwork`` out for this board (``hw.cores.plan``).

        Analog layers get 4 lanes when the FPGA has DSPs (1 otherwise: LUT multipliers
        are large), spike layers 4 banks (8 lanes when the weights pack into 8 bits);
        weight banks move to SPRAM, largest first, while block RAM is short.
        """
        from hw.cores.plan import plan_quantized

        return plan_quantized(qnet, lanes=lanes, analog_lanes=4 if self.has_dsp else 1, spike_lanes=4,
                              spram_blocks=self.budget.spram, ebr_budget=self.budget.ebr)

    def program_command(self, bitstream: str) -> list[str] | None:
        """The first programmer command whose tool is installed, or ``None``."""
        for cmd in self.programmers:
            if shutil.which(cmd[0]):
                return [part.replace("{bitstream}", bitstream) for part in cmd]
        return None

    def install_hint(self) -> str:
        tools = ", ".join(sorted({cmd[0] for cmd in self.programmers}))
        return (f"no programmer found (tried {tools}); install one, e.g. "
                "`apt-get install fpga-icestorm` (iceprog) or `apt-get install openfpgaloader`, "
                "then rerun with --program (or run the command yourself on the .bin file)")
