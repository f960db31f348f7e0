"""Lattice iCE40-HX8K breakout board (iCE40HX8K-CT256): 12 MHz clock, FTDI UART B10 (rx) / B12 (tx)."""

from boards.base import Board, ResourceBudget

BOARD = Board(
    name="hx8k",
    title="Lattice iCE40-HX8K breakout (iCE40HX8K)",
    platform="amaranth_boards.ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform",
    nextpnr_device="--hx8k", nextpnr_package="ct256",
    budget=ResourceBudget(lcs=7680, ebr=32),
    clock_source="pll_core", clock_resource="clk12", clock_hz=12e6, target_hz=36e6,
    programmers=(("iceprog", "-S", "{bitstream}"),
                 ("openFPGALoader", "-b", "ice40_generic", "{bitstream}")),
    notes="Program to SRAM (iceprog -S): set the board's jumpers for SRAM configuration. "
          "UART is the FTDI's second channel.",
)
