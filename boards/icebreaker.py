"""iCEBreaker (iCE40UP5K-SG48): 12 MHz clock on the PLL pin, FTDI UART on pins 6 (rx) / 9 (tx)."""

from boards.base import Board, ResourceBudget

BOARD = Board(
    name="icebreaker",
    title="1BitSquared iCEBreaker (iCE40UP5K)",
    platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
    nextpnr_device="--up5k", nextpnr_package="sg48",
    budget=ResourceBudget(lcs=5280, ebr=30, spram=4, dsp=8),
    clock_source="pll_pad", clock_resource="clk12", clock_hz=12e6, target_hz=24e6,
    synth_opts=("-dsp",),
    notes="UART is the FTDI's second channel (/dev/ttyUSB1 on Linux).",
)
