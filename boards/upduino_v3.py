"""UPduino v3 (iCE40UP5K-SG48): internal 48 MHz oscillator; UART on header pins 28 (rx) / 38 (tx).

The UPduino's FTDI only programs the flash, so the UART needs a 3.3 V USB-serial
adapter: adapter TX -> FPGA pin 28, adapter RX -> FPGA pin 38, GND -> GND.
"""

from boards.base import Board, ResourceBudget


def _uart():
    from amaranth.build import Attrs
    from amaranth_boards.resources import UARTResource

    return [UARTResource(0, rx="28", tx="38", attrs=Attrs(IO_STANDARD="SB_LVCMOS", PULLUP=1))]


BOARD = Board(
    name="upduino_v3",
    title="tinyVision UPduino v3 (iCE40UP5K)",
    platform="amaranth_boards.upduino_v3:UpduinoV3Platform",
    nextpnr_device="--up5k", nextpnr_package="sg48",
    budget=ResourceBudget(lcs=5280, ebr=30, spram=4, dsp=8),
    clock_source="hfosc", clock_resource=None, clock_hz=48e6, target_hz=24e6,
    extra_resources=_uart, synth_opts=("-dsp",),
    notes="Wire a 3.3 V USB-UART: adapter TX -> pin 28, adapter RX -> pin 38.",
)
