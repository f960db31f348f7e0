"""Lattice iCE40-HX8K breakout board (iCE40HX8K-CT256): 12 MHz clock, FTDI UART B10 (rx) / B12 (tx).

Flash: N25Q032 (4 MiB; bitstream ~135 kB at 0).  No SPRAM: the weights are in the
bitstream.  UART: FT2232H channel B, 3 Mbaud (12 cycles per bit at 36 MHz).
"""

from boards.base import Board, ResourceBudget

BOARD = Board(
    name="hx8k",
    title="Lattice iCE40-HX8K breakout (iCE40HX8K)",
    platform="amaranth_boards.ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform",
    nextpnr_device="--hx8k", nextpnr_package="ct256",
    budget=ResourceBudget(lcs=7680, ebr=32),
    clock_source="pll_core", clock_resource="clk12", clock_hz=12e6, target_hz=36e6,
    baud=3_000_000,
    flash_bytes=4 << 20, flash_offset=1 << 20,
    default_model="digits-small",   # the 64-128-128-10 weights need 81 EBR (no SPRAM here)
    notes="--program writes the SPI flash: set the board's jumpers for flash programming "
          "(for SRAM configuration instead, move them and run `iceprog -S snn_top.bin`). "
          "UART is the FTDI's second channel at 3 Mbaud.",
)
