"""Lattice iCEstick (iCE40HX1K-TQ144): 12 MHz clock, FTDI UART on pins 9 (rx) / 8 (tx).

Flash: N25Q032 (4 MiB; bitstream ~32 kB at 0).  No SPRAM, so the weights are in the
bitstream and no weight image is written.  UART: FT2232H channel B, 3 Mbaud
(12 cycles per bit at 36 MHz).
"""

from boards.base import Board, ResourceBudget

BOARD = Board(
    name="icestick",
    title="Lattice iCEstick (iCE40HX1K)",
    platform="amaranth_boards.icestick:ICEStickPlatform",
    nextpnr_device="--hx1k", nextpnr_package="tq144",
    budget=ResourceBudget(lcs=1280, ebr=16),
    clock_source="pll_core", clock_resource="clk12", clock_hz=12e6, target_hz=36e6,
    baud=3_000_000,
    flash_bytes=4 << 20, flash_offset=1 << 20,
    default_model="digits-tiny",    # 64 -> 10 IF, rate-encoded on chip: the LCs hold no larger engine
    lc_bound=True,                  # 1280 LCs against 16 mostly idle EBR
    notes="UART is the FTDI's second channel (/dev/ttyUSB1 on Linux) at 3 Mbaud. "
          "Only small networks fit.",
)
