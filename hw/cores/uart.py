"""``hw.cores.uart``: a small 8N1 UART (receiver and transmitter) with its software model.

Amaranth 0.5 ships no UART in ``amaranth.lib`` and PyPI has no maintained
Amaranth UART (``amaranth-stdio`` there is a name placeholder), so this module
carries its own.  The software model next to the gateware is what the
hardware must equal: :func:`frame_bits` gives the line levels of one byte,
:class:`UARTModel` decodes a sampled line exactly as :class:`UARTRx` does
(start-bit edge, sample in the middle of each bit, stop bit checked).
The tests drive every byte value through both and compare.
"""



from collections.abc import Iterable

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "UARTModel", "frame_bits", "divisor_for"]


def divisor_for(clk_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_hz`` (>= 4); raises if the rate error exceeds 2 %.

    The receiver samples each bit ``divisor // 2`` cycles after its start (to within one cycle
    of synchroniser delay), so at divisor 8 a sender whose clock is off by 2 % drifts 0.19 bit
    over a frame and every sample still lands inside its bit (``tests/hw/test_uart.py``).
    """
    if baud <= 0 or clk_hz <= 0:
        raise ValueError(f"clock ({clk_hz}) and baud ({baud}) must be positive")
    div = round(clk_hz / baud)
    if div < 4:
        raise ValueError(f"clock {clk_hz:g} Hz is too slow for {baud} baud (the receiver needs >= 4 "
                         f"cycles per bit; 24 MHz allows up to 6 Mbaud, the iCEBreaker's FTDI 3 Mbaud)")
    error = abs(clk_hz / div - baud) / baud
    if error > 0.02:
        raise ValueError(f"{baud} baud at {clk_hz:g} Hz is off by {error:.1%} (> 2 %)")
    return div


def frame_bits(byte: int) -> list[int]:
    """Line levels of one 8N1 frame: start (0), eight data bits LSB first, stop (1)."""
    if not 0 <= byte <= 255:
        raise ValueError(f"a byte is 0..255, got {byte}")
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


class UARTModel:
    """Software twin of :class:`UARTRx`: decode a line sampled once per clock cycle.

    Parameters:
        divisor: clock cycles per bit.
    """

    def __init__(self, divisor: int) -> None:
        if divisor < 2:
            raise ValueError(f"divisor must be >= 2, got {divisor}")
        self.divisor = divisor

    def encode(self, data: Iterable[int], idle: int = 2) -> list[int]:
        """Per-cycle line levels sending ``data`` back to back, with ``idle`` idle bits first."""
        line = [1] * (idle * self.divisor)
        for byte in data:
            for bit in frame_bits(byte):
                line += [bit] * self.divisor
        return line

    def decode(self, line: Iterable[int]) -> list[tuple[int, bool]]:
        """(byte, framing_ok) for each frame found in per-cycle ``line`` levels."""
        out: list[tuple[int, bool]] = []
        levels = list(line)
        t, prev = 0, 1
        while t < len(levels):
            if prev == 1 and levels[t] == 0:  # falling edge: start bit begins at t
                mid = t + self.divisor // 2
                samples = [mid + k * self.divisor for k in range(10)]
                if samples[-1] >= len(levels):
                    break
                if levels[samples[0]] != 0:  # glitch, not a start bit
                    prev, t = levels[t], t + 1
                    continue
                byte = sum(levels[samples[1 + i]] << i for i in range(8))
                out.append((byte, levels[samples[9]] == 1))
                t, prev = samples[9] + 1, levels[samples[9]]
                continue
            prev, t = levels[t], t + 1
        return out


class UARTRx(wiring.Component):
    """8N1 receiver; ``valid`` pulses one cycle with ``data`` when a frame with a good stop bit ends.

    Parameters:
        divisor: clock cycles per bit (see :func:`divisor_for`).

    Attributes:
        rx: the serial line (idle high); synchronised inside.
        data: received byte.
        valid: one-cycle strobe, a new byte is in ``data``.
        error: one-cycle strobe, a frame ended with a bad stop bit (byte dropped).
    """

    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)
    error: Out(1)

    def __init__(self, divisor: int) -> None:
        if divisor < 4:
            raise ValueError(f"the receiver needs divisor >= 4 cycles per bit, got {divisor}")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform) -> Module:
        m = Module()
        sync0 = Signal(init=1)
        line = Signal(init=1)
        prev = Signal(init=1)
        m.d.sync += [sync0.eq(self.rx), line.eq(sync0), prev.eq(line)]

        timer = Signal(range(self.divisor * 2))
        bit = Signal(range(10))
        shreg = Signal(8)
        m.d.sync += [self.valid.eq(0), self.error.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(prev & ~line):
                    # first sample half a bit after the edge (the edge was seen one cycle late)
                    m.d.sync += [timer.eq(self.divisor // 2 - 2), bit.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(bit + 1)]
                    with m.If(bit == 0):
                        with m.If(line):  # start bit gone: a glitch
                            m.next = "IDLE"
                    with m.Elif(bit == 9):
                        with m.If(line):
                            m.d.sync += [self.data.eq(shreg), self.valid.eq(1)]
                        with m.Else():
                            m.d.sync += self.error.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += shreg.eq((line << 7) | (shreg >> 1))
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter; takes ``data`` when ``valid & ready``.

    Parameters:
        divisor: clock cycles per bit.

    Attributes:
        data, valid: byte to send (stream input).
        ready: the transmitter is idle and takes a byte this cycle.
        tx: the serial line (idle high).
    """

    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def __init__(self, divisor: int) -> None:
        if divisor < 2:
            raise ValueError(f"divisor must be >= 2, got {divisor}")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform) -> Module:
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        # ready in the stop bit's last cycle too, so back-to-back frames are exactly 10 bits apart
        m.d.comb += [self.ready.eq((bits == 0) | ((bits == 1) & (timer == 0))), self.tx.eq(shreg[0])]
        with m.If(self.ready & self.valid):
            m.d.sync += [shreg.eq((1 << 9) | (self.data << 1)), bits.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits == 0):
            pass
        with m.Elif(timer == 0):
            m.d.sync += [shreg.eq((1 << 9) | (shreg >> 1)), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
