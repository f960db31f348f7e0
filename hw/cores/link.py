"""``hw.cores.link``: the host link's frame sizes and its throughput model (pure Python).

The byte counts of every frame of the UART protocol (``hw.cores.host_io`` has the
table; ``sw.host.protocol`` builds the frames) are defined here once, next to
the model of how fast a stream of samples goes through the device:

* :func:`stream_schedule` replays the streaming protocol cycle by cycle at the
  level of events (host sends a frame, the parser has it, the core starts, is
  done, the reply is latched, the reply leaves), with the exact cycle offsets of
  the gateware's state machines (the constants below; ``tests/rtl/test_host_link.py``
  measures the RTL against it).
* :func:`throughput` gives the steady-state rates the build report shows:
  compute only (``f_clk / cycles``) and end to end (the streaming mode's period).

Flow control (the rule the host follows, see ``hw.cores.host_io``): at most
``window`` = the device's input banks (default :data:`WINDOW` = 2) samples in
flight -- the host sends sample ``k + window`` once the first byte of sample
``k``'s reply has arrived (that byte leaves only after sample ``k``'s input bank
is free again).

Example (what ``hw.build``'s report shows)::

    from hw.cores.link import throughput
    throughput(plan, 24e6, 8, cycles_mean=20300, cycles_worst=plan.cycles())
    # {"compute": {"mean": 1182.3, ...}, "end_to_end": {"mean": 1181.5, ...}, "baud": 3000000, ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["SampleCommand", "SAMPLE_COMMANDS", "INFO_REPLY_BYTES", "BITS_PER_BYTE", "WINDOW",
           "count_bytes", "class_bytes", "sample_frame_bytes", "reply_bytes", "load_frame_bytes",
           "Schedule", "stream_schedule", "steady_period", "throughput", "bench_react"]

BITS_PER_BYTE = 10
"""8N1: start bit, eight data bits, stop bit."""

INFO_REPLY_BYTES = 10
"""``'I'``, n_in u16, n_out u16, T u16, needs_load u8, loaded u8, banks u8."""

WINDOW = 2
"""Default input banks = samples the host may have in flight (one computing, one buffered)."""


@dataclass(frozen=True)
class SampleCommand:
    """One sample command of the protocol.

    Attributes:
        code: the command byte.
        pixel: inputs are 8-bit codes (``hw.pixels``) rather than 16-bit raw words.
        compact: the reply is the compact one (``'r'``: counts and class only).
    """

    code: str
    pixel: bool
    compact: bool

    @property
    def input_bytes(self) -> int:
        return 1 if self.pixel else 2


SAMPLE_COMMANDS: dict[str, SampleCommand] = {c.code: c for c in (
    SampleCommand("S", pixel=False, compact=False), SampleCommand("P", pixel=True, compact=False),
    SampleCommand("s", pixel=False, compact=True), SampleCommand("p", pixel=True, compact=True))}
"""``S``/``P``: raw i16 / 8-bit inputs, full reply; ``s``/``p``: the same with the compact reply."""


def count_bytes(timesteps: int) -> int:
    """Bytes of one spike count in the compact reply (a count is at most T)."""
    return 1 if timesteps < 256 else 2


def class_bytes(n_output: int) -> int:
    """Bytes of the class in the compact reply."""
    return 1 if n_output <= 256 else 2


def sample_frame_bytes(n_input: int, command: str = "S") -> int:
    """Bytes the host sends for one sample with ``command``."""
    return 1 + n_input * SAMPLE_COMMANDS[command].input_bytes


def reply_bytes(n_output: int, timesteps: int, command: str = "S") -> int:
    """Bytes of the device's answer to one sample with ``command`` (its weights loaded)."""
    if SAMPLE_COMMANDS[command].compact:
        return 1 + n_output * count_bytes(timesteps) + class_bytes(n_output)
    return 1 + 2 * n_output + 2 + 4


def load_frame_bytes(words: int) -> int:
    """Bytes of one ``'W'`` frame carrying ``words`` weight words."""
    return 1 + 3 + 2 + 2 * words


# -- cycle offsets of hw.cores.host_io (derived from its state machines; the RTL test measures them) --
RX_SAMPLE = 2
"""The receiver samples bit ``i`` at ``div // 2 + RX_SAMPLE + i * div`` cycles after the start edge."""
RX_TO_START = 2
"""Cycles from the last input byte's stop-bit sample to the core's ``start`` (parser, scheduler)."""
DONE_TO_LATCH = 2
"""Cycles from the core's ``done`` to the first count being latched (``LATCH_WAIT``)."""
LATCH_TO_TX = 2
"""Cycles from the reply being latched (bank freed) to its first start bit (stage, shift)."""
TAIL_LEAD = 2
"""The reply buffer is released when the reply's last byte is staged: ``TAIL_LEAD`` bytes before the end."""


def bench_react(divisor: int) -> int:
    """Host reaction of ``sim.tb.stream_tb`` (cycles after a reply's first byte ends, may be < 0)."""
    return divisor // 2 - divisor + 1


@dataclass
class Schedule:
    """Event times (clock cycles; 0 = first start bit of the stream) of a simulated stream.

    Attributes:
        send: each sample frame's first start bit on ``rx``.
        start, done: the core's ``start`` / ``done`` for each sample.
        reply: each reply's first start bit on ``tx``.
        end: the end of each reply's last stop bit.
    """

    send: list[float]
    start: list[float]
    done: list[float]
    reply: list[float]
    end: list[float]

    @property
    def total(self) -> float:
        """First start bit of the stream to the end of the last reply byte."""
        return self.end[-1]


def _sizes(n_input: int, n_output: int, timesteps: int, divisor: int, command: str) -> tuple[int, int, int]:
    byte = BITS_PER_BYTE * divisor
    return byte, sample_frame_bytes(n_input, command) * byte, reply_bytes(n_output, timesteps, command) * byte


def stream_schedule(n_input: int, n_output: int, timesteps: int, divisor: int, cycles: Sequence[float],
                    command: str = "p", window: int = WINDOW, host_react: float = 0) -> Schedule:
    """Replay a stream of ``len(cycles)`` samples (``cycles[k]``: compute cycles of sample ``k``).

    The host sends frames back to back, keeping at most ``window`` (the device's banks) in
    flight; it starts frame ``k + window`` ``host_react`` cycles after the first byte of
    reply ``k`` ended.
    """
    byte, rx, tx = _sizes(n_input, n_output, timesteps, divisor, command)
    sched = Schedule([], [], [], [], [])
    latched = released = ended = -math.inf
    for k, c in enumerate(cycles):
        h = 0.0 if k == 0 else sched.send[-1] + rx
        if k >= window:
            h = max(h, sched.reply[k - window] + byte + host_react)
        stop = h + rx - divisor + divisor // 2 + RX_SAMPLE          # last byte's stop-bit sample
        s = max(stop + RX_TO_START, latched + 1)
        d = s + c - 1
        latched = max(d + DONE_TO_LATCH, released + 1) + n_output + 1
        t = max(latched + LATCH_TO_TX, ended)
        ended = t + tx
        released = ended - TAIL_LEAD * byte
        for lst, v in zip((sched.send, sched.start, sched.done, sched.reply, sched.end), (h, s, d, t, ended)):
            lst.append(v)
    return sched


def steady_period(n_input: int, n_output: int, timesteps: int, divisor: int, cycles: float,
                  command: str = "p", window: int = WINDOW, host_react: float = 0) -> float:
    """Steady-state cycles per sample of the stream with ``cycles`` compute cycles per sample.

    The largest of the four loops of :func:`stream_schedule`: the core (compute, latch,
    restart), the rx line (one frame), the tx line (one reply) and the credit loop (one
    frame, one reply byte, the host's reaction, compute and the fixed offsets, shared by
    the ``window`` samples in flight).
    """
    byte, rx, tx = _sizes(n_input, n_output, timesteps, divisor, command)
    latch = DONE_TO_LATCH + n_output + 1
    core = cycles + latch
    credit = (byte + host_react + rx - divisor + divisor // 2 + RX_SAMPLE + RX_TO_START + cycles - 1
              + latch + LATCH_TO_TX) / window
    # the reply buffer: latch k waits for reply k-1's release, reply k starts after the latch
    buffer = tx - TAIL_LEAD * byte + 1 + n_output + 1 + LATCH_TO_TX
    return max(core, rx, tx, credit, buffer)


def throughput(plan: Any, f_clk_hz: float, divisor: int, cycles_mean: float, cycles_worst: float,
               command: str = "p", window: int = WINDOW, host_latency_s: float = 0.0) -> dict[str, Any]:
    """Compute-only and end-to-end inferences/s of ``plan`` on the host link.

    Parameters:
        plan: a ``hw.cores.plan.NetworkPlan`` (``n_input``, ``n_output``, ``timesteps``).
        f_clk_hz: the core clock.
        divisor: UART clock cycles per bit (``baud = f_clk / divisor``).
        cycles_mean, cycles_worst: compute cycles per inference (``plan.cycles``).
        command: the sample command the stream uses (default ``'p'``: 8-bit inputs, compact reply).
        window: the device's input banks (``HostInterface(banks=...)``).
        host_latency_s: the host's reaction to a reply byte (0: an ideal host; a USB UART
            adds its latency timer, e.g. 1 ms for an FTDI chip set to 1).

    Returns:
        ``{"compute": {"mean", "worst_case"}, "end_to_end": {"mean", "worst_case"}, "baud",
        "divisor", "command", "bytes_per_sample": {"rx", "tx"}}`` (rates in inferences/s).
    """
    if divisor < 4:
        raise ValueError(f"the UART receiver needs divisor >= 4, got {divisor}")
    n_in, n_out, T = plan.n_input, plan.n_output, plan.timesteps

    react = host_latency_s * f_clk_hz

    def e2e(c: float) -> float:
        return f_clk_hz / steady_period(n_in, n_out, T, divisor, c, command, window, react)

    return {
        "compute": {"mean": round(f_clk_hz / cycles_mean, 1), "worst_case": round(f_clk_hz / cycles_worst, 1)},
        "end_to_end": {"mean": round(e2e(cycles_mean), 1), "worst_case": round(e2e(cycles_worst), 1)},
        "baud": round(f_clk_hz / divisor),
        "divisor": divisor,
        "command": command,
        "window": window,
        "host_latency_s": host_latency_s,
        "bytes_per_sample": {"rx": sample_frame_bytes(n_in, command), "tx": reply_bytes(n_out, T, command)},
    }

