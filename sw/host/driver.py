"""``sw.host.driver``: pyserial driver for the UART protocol of ``hw.cores.host_io``.

Example::

    from sw.host import SNNDevice
    with SNNDevice("/dev/ttyUSB1") as dev:
        dev.load_weights(plan)            # only needed when the plan uses SPRAM
        reply = dev.infer(x, fmt)         # x: one sample of real values
        print(reply.prediction, reply.spike_counts)
        replies = dev.infer_batch(xs)     # a stream: 8-bit pixels, compact replies, no round trips
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from sw.host.protocol import (INFO_REPLY_SIZE, MAX_LOAD_WORDS, DeviceInfo, ProtocolError,
                              SampleReply, info_request, load_request, parse_info, parse_reply,
                              parse_sample_reply, pixel_request, reply_size, sample_reply_size,
                              sample_request)

__all__ = ["SNNDevice"]

DEFAULT_BAUD = 115200


class SNNDevice:
    """A board (or its simulation behind a pseudo-terminal) running the network top.

    Parameters:
        port: serial port name or pyserial URL (``/dev/ttyUSB1``, ``/dev/pts/5``, ``loop://``).
        baud: line rate; must match the bitstream (``report.json`` has it).
        timeout: seconds to wait for each reply.
        serial: an already open pyserial object to use instead of opening ``port``.
    """

    def __init__(self, port: str | None = None, baud: int = DEFAULT_BAUD, timeout: float = 5.0,
                 *, serial: Any = None) -> None:
        if serial is None:
            if port is None:
                raise ValueError("give a serial port name or an open serial object")
            import serial as pyserial

            serial = pyserial.serial_for_url(port, baudrate=baud, timeout=timeout)
        self.serial = serial
        self.timeout = timeout
        self._info: DeviceInfo | None = None

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> "SNNDevice":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.serial.close()

    # -- commands ----------------------------------------------------------
    def _exchange(self, request: bytes, size: int) -> bytes:
        self.serial.write(request)
        self.serial.flush()
        first = self.serial.read(1)
        if not first:
            raise ProtocolError(f"no reply from the device within {self.timeout} s "
                                "(wrong port or baud rate, or the board is not configured)")
        if first in (b"E", b"?"):
            return first
        rest = self.serial.read(size - 1)
        reply = first + rest
        if len(reply) != size:
            raise ProtocolError(f"short reply: {len(reply)} of {size} bytes")
        return reply

    def _drain(self) -> None:
        """Drop what the device still sends after an error (stale replies of a stream)."""
        reset = getattr(self.serial, "reset_input_buffer", None)
        if reset is not None:
            import time

            time.sleep(0.05)
            reset()

    def info(self) -> DeviceInfo:
        """Network shape the device runs and whether its host-loaded weights are loaded."""
        self._info = parse_info(self._exchange(info_request(), INFO_REPLY_SIZE))
        return self._info

    def load_weights(self, plan: Any, *, all_banks: bool = False) -> int:
        """Send the weight banks the bitstream lacks (or every bank) to the device; returns words sent."""
        sent = 0
        for address, words in plan.load_image(only_needed=not all_banks):
            for start in range(0, len(words), MAX_LOAD_WORDS):
                chunk = words[start:start + MAX_LOAD_WORDS]
                reply = self._exchange(load_request(address + start, chunk), 1)
                if reply != b"K":
                    raise ProtocolError(f"load at address {address + start} answered {reply!r}")
                sent += len(chunk)
        self._info = None
        return sent

    def infer_raw(self, x_raw: np.ndarray) -> SampleReply:
        """Run one sample given as raw fixed-point input words."""
        info = self._info or self.info()
        request = sample_request(x_raw, info.n_input)
        return parse_sample_reply(self._exchange(request, sample_reply_size(info.n_output)),
                                  info.n_output)

    def infer(self, x: np.ndarray, fmt: Any) -> SampleReply:
        """Quantise one sample of real values with ``fmt`` (as the golden model does) and run it."""
        return self.infer_raw(fmt.quantize(np.asarray(x, dtype=np.float64).reshape(-1)))

    def infer_pixels(self, x: np.ndarray) -> SampleReply:
        """Run one sample of values in [0, 1] sent as 8-bit codes (``hw.pixels``; full reply).

        The device computes ``sim.golden.run_golden(qnet, hw.pixels.decode(hw.pixels.encode(x)))``.
        """
        info = self._info or self.info()
        return parse_sample_reply(self._exchange(pixel_request(x, info.n_input), sample_reply_size(info.n_output)),
                                  info.n_output)

    def infer_batch(self, xs: Iterable[np.ndarray], fmt: Any = None, *, pixels: bool = True,
                    compact: bool = True, progress: bool = False) -> list[SampleReply]:
        """Stream samples back to back and return every reply, in order.

        Keeps as many samples in flight as the device has input banks (``info().banks``):
        sample ``k + banks`` goes out as soon as the first byte of reply ``k`` arrives, so
        the link never waits for a whole round trip.

        Parameters:
            xs: samples (each ``n_input`` values).
            fmt: fixed-point format for ``pixels=False`` (raw words, e.g. ``hw.fixed.Q8_8``).
            pixels: send 8-bit codes (values in [0, 1], ``hw.pixels.encode``); else raw 16-bit words.
            compact: ask for compact replies (counts and class, no cycle count).
            progress: show a tqdm progress bar.
        """
        info = self._info or self.info()
        if not pixels and fmt is None:
            raise ValueError("raw samples (pixels=False) need the fixed-point format fmt")
        xs = [np.asarray(x, dtype=np.float64).reshape(-1) for x in xs]
        if pixels:
            frames = [pixel_request(x, info.n_input, compact=compact) for x in xs]
        else:
            frames = [sample_request(fmt.quantize(x), info.n_input, compact=compact) for x in xs]
        command = ("p" if compact else "P") if pixels else ("s" if compact else "S")
        size = reply_size(info.n_output, info.timesteps, command)
        window = max(1, info.banks)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(frames), desc="board stream", unit="sample")
        replies: list[SampleReply] = []
        sent = 0
        try:
            while sent < min(window, len(frames)):
                self.serial.write(frames[sent])
                sent += 1
            self.serial.flush()
            for _ in range(len(frames)):
                first = self.serial.read(1)
                if not first:
                    raise ProtocolError(f"no reply from the device within {self.timeout} s "
                                        f"({len(replies)} of {len(frames)} samples answered)")
                if sent < len(frames):  # the reply's first byte is the credit for the next frame
                    self.serial.write(frames[sent])
                    self.serial.flush()
                    sent += 1
                if first != (b"r" if compact else b"R"):
                    self._drain()
                    if first == b"?":
                        raise ProtocolError(f"the device does not know the sample command {command!r}")
                    parse_reply(first, info.n_output, info.timesteps)  # raises for 'E' / 'O'
                    raise ProtocolError(f"unexpected reply byte {first!r}")
                rest = self.serial.read(size - 1)
                if len(rest) != size - 1:
                    raise ProtocolError(f"short reply: {1 + len(rest)} of {size} bytes")
                replies.append(parse_reply(first + rest, info.n_output, info.timesteps))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return replies

    def classify(self, xs: Iterable[np.ndarray], fmt: Any = None, progress: bool = True, *,
                 pixels: bool = False) -> np.ndarray:
        """Predicted class of every sample, streamed (progress bar when ``progress``).

        ``pixels``: send 8-bit codes (inputs in [0, 1]); else raw words quantised with ``fmt``.
        """
        replies = self.infer_batch(xs, fmt, pixels=pixels, compact=True, progress=progress)
        return np.array([r.prediction for r in replies], dtype=np.int64)
