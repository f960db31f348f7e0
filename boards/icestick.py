"""Lattice iCEstick (iCE40HX1K-TQ144): 12 MHz clock, FTDI UART on pins 9 (rx) / 8 (tx)."""

from boards.base import Board, ResourceBudget

BOARD = Board(
    name="icestick",
    title="Lattice iCEstick (iCE40HX1K)",
    platform="amaranth_boards.icestick:ICEStickPlatform",
    nextpnr_device="--hx1k", nextpnr_package="tq144",
    budget=ResourceBudget(lcs=1280, ebr=16),
    clock_source="pll_core", clock_resource="clk12", clock_hz=12e6, target_hz=36e6,
    notes="UART is the FTDI's second channel (/dev/ttyUSB1 on Linux). Only small networks fit.",
)
