"""hw.cores.uart against its software model (Amaranth simulator): every byte value at
divisors 8 and 208, line clocks off by +-2 %, framing errors, back-to-back frames, and the
transmitter's exact frame timing."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.cores.uart import UARTModel, UARTRx, UARTTx, divisor_for, frame_bits

PERIOD = 1e-6  # simulated clock period (s)


def _line(frames: list[list[int]], divisor: int, error: float = 0.0, idle_bits: int = 2) -> list[tuple[float, int]]:
    """(time in clock cycles, level) transitions of ``frames`` (bit lists) sent back to back by a
    sender whose bit clock is ``error`` fast (> 0) or slow (< 0)."""
    bit = divisor / (1 + error)
    out, t, level = [], idle_bits * bit, 1
    for bits in frames:
        for b in bits:
            if b != level:
                out.append((t, b))
                level = b
            t += bit
    out.append((t + 3 * bit, level))  # end marker (level unchanged)
    return out


def _per_cycle(transitions: list[tuple[float, int]]) -> list[int]:
    """The line as sampled by the receiver's first flip-flop at each clock edge."""
    end = int(transitions[-1][0]) + 1
    levels, level, i = [], 1, 0
    for n in range(end):
        while i < len(transitions) - 1 and transitions[i][0] <= n:
            level = transitions[i][1]
            i += 1
        levels.append(level)
    return levels


def _receive(divisor: int, transitions: list[tuple[float, int]]) -> list[tuple[int, bool]]:
    """Run UARTRx on the line; (byte, True) per valid strobe and (-1, False) per error strobe."""
    m = Module()
    m.submodules.rx = rx = UARTRx(divisor)
    events: list[tuple[int, bool]] = []

    async def drive(ctx) -> None:
        now = 0.0
        await ctx.delay(PERIOD / 2)     # change the line between clock edges
        for t, level in transitions[:-1]:
            await ctx.delay((t - now) * PERIOD)
            now = t
            ctx.set(rx.rx, level)

    async def watch(ctx) -> None:
        async for valid, error, data in ctx.changed(rx.valid, rx.error).sample(rx.data):
            if valid:
                events.append((data, True))
            if error:
                events.append((-1, False))

    sim = Simulator(m)
    sim.add_clock(PERIOD)
    sim.add_testbench(drive)
    sim.add_process(watch)
    sim.run_until((transitions[-1][0] + 2 * divisor) * PERIOD)
    return events


def _as_events(decoded: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    return [(b, True) if ok else (-1, False) for b, ok in decoded]


@pytest.mark.parametrize("error", [0.0, 0.02, -0.02])
def test_rx_every_byte_back_to_back_divisor_8(error):
    data = list(range(256))
    line = _line([frame_bits(b) for b in data], 8, error)
    got = _receive(8, line)
    assert got == [(b, True) for b in data]
    if error == 0.0:  # the software model decodes the same line the same way
        assert _as_events(UARTModel(8).decode(_per_cycle(line))) == got


PATTERNS = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80, 0x7F, 0xFE, 0x0F, 0xF0, 0x3C, 0xC3, 0x5A, 0xA5, 0x11, 0xEE]


def test_rx_divisor_208_patterns():
    line = _line([frame_bits(b) for b in PATTERNS], 208, 0.02)
    got = _receive(208, line)
    assert got == [(b, True) for b in PATTERNS]


@pytest.mark.slow
def test_rx_every_byte_divisor_208():
    """(slow: 532 000 cycles in Amaranth's Python simulator)"""
    data = list(range(256))
    line = _line([frame_bits(b) for b in data], 208)
    got = _receive(208, line)
    assert got == [(b, True) for b in data] == _as_events(UARTModel(208).decode(_per_cycle(line)))


@pytest.mark.parametrize("divisor", [8, 208])
def test_rx_framing_error_is_flagged_and_the_next_byte_survives(divisor):
    bad = [0] + [(0xC5 >> i) & 1 for i in range(8)] + [0]       # stop bit low
    frames = [frame_bits(0x3A), bad, [1, 1], frame_bits(0x96), frame_bits(0x00), [0] * 10, [1] * 2,
              frame_bits(0x42)]
    line = _line(frames, divisor)
    got = _receive(divisor, line)
    assert got == [(0x3A, True), (-1, False), (0x96, True), (0x00, True), (-1, False), (0x42, True)]
    assert _as_events(UARTModel(divisor).decode(_per_cycle(line))) == got


def _transmit(divisor: int, data: list[int]) -> tuple[list[int], list[int]]:
    """Run UARTTx on ``data`` fed as fast as it takes bytes; (tx level per cycle, cycles of acceptance)."""
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    cycle = Signal(32)
    m.d.sync += cycle.eq(cycle + 1)
    edges: list[tuple[int, int]] = []
    accepted: list[int] = []

    async def feed(ctx) -> None:
        for b in data:
            ctx.set(tx.data, b)
            ctx.set(tx.valid, 1)
            await ctx.tick().until(tx.ready)
            accepted.append(ctx.get(cycle))
        ctx.set(tx.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    async def watch(ctx) -> None:
        async for level, now in ctx.changed(tx.tx).sample(cycle):
            edges.append((now, level))

    sim = Simulator(m)
    sim.add_clock(PERIOD)
    sim.add_testbench(feed)
    sim.add_process(watch)
    sim.run()
    levels, level, i = [], 1, 0
    for n in range(edges[-1][0] + 12 * divisor):
        while i < len(edges) and edges[i][0] <= n:
            level = edges[i][1]
            i += 1
        levels.append(level)
    return levels, accepted


@pytest.mark.parametrize("divisor,data", [(8, list(range(256))), (208, PATTERNS[:6])])
def test_tx_frames_match_the_model_back_to_back(divisor, data):
    levels, accepted = _transmit(divisor, data)
    assert UARTModel(divisor).decode(levels) == [(b, True) for b in data]
    # back to back: exactly 10 bits per frame, no idle cycles between frames
    assert np.all(np.diff(accepted) == 10 * divisor)
    first = levels.index(0)
    assert levels[first:first + 10 * divisor * len(data)] == UARTModel(divisor).encode(data, idle=0)


def test_divisor_for():
    assert divisor_for(24e6, 3_000_000) == 8
    assert divisor_for(24e6, 115200) == 208
    with pytest.raises(ValueError):
        divisor_for(24e6, 7_000_000)          # divisor 3: too few samples per bit
    with pytest.raises(ValueError, match="off by"):
        divisor_for(24e6, 2_500_000)          # divisor 10 is 4 % off
    with pytest.raises(ValueError, match="4"):
        UARTRx.__init__(object.__new__(UARTRx), 3)
