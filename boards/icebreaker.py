"""iCEBreaker (iCE40UP5K-SG48): 12 MHz clock on the PLL pin, FTDI UART on pins 6 (rx) / 9 (tx).

Flash: W25Q128JV (16 MiB) on pins 14-17, IO2/IO3 (WP#/HOLD#) on 12/13; the bitstream
(~104 kB) sits at 0, the weight image at 1 MiB.  UART: the FT2232H's channel B, which runs
at 3 Mbaud (its 48 MHz / 16 rate; 8 cycles per bit at the 24 MHz core clock).
"""

from boards.base import Board, ResourceBudget

BOARD = Board(
    name="icebreaker",
    title="1BitSquared iCEBreaker (iCE40UP5K)",
    platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
    nextpnr_device="--up5k", nextpnr_package="sg48",
    budget=ResourceBudget(lcs=5280, ebr=30, spram=4, dsp=8),
    clock_source="pll_pad", clock_resource="clk12", clock_hz=12e6, target_hz=24e6,
    baud=3_000_000,
    flash_bytes=16 << 20, flash_offset=1 << 20, flash_wp_hold=True,
    synth_opts=("-dsp",),
    notes="UART is the FTDI's second channel (/dev/ttyUSB1 on Linux) at 3 Mbaud. "
          "--program writes the bitstream and the weight image to the flash: the weights load "
          "themselves at power-up.",
)
