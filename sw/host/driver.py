"""``sw.host.driver``: pyserial driver for the UART protocol of ``hw.cores.host_io``.

Example::

    from sw.host import SNNDevice
    with SNNDevice("/dev/ttyUSB1") as dev:
        dev.load_weights(plan)            # only needed when the plan uses SPRAM
        reply = dev.infer(x, fmt)         # x: one sample of real values
        print(reply.prediction, reply.spike_counts)
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from sw.host.protocol import (INFO_REPLY_SIZE, MAX_LOAD_WORDS, DeviceInfo, ProtocolError,
                              SampleReply, info_request, load_request, parse_info,
                              parse_sample_reply, sample_reply_size, sample_request)

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

    def classify(self, xs: Iterable[np.ndarray], fmt: Any, progress: bool = True) -> np.ndarray:
        """Predicted class of every sample (progress bar when ``progress``)."""
        xs = list(xs)
        if progress:
            from tqdm import tqdm

            xs = tqdm(xs, desc="board inference", unit="sample")
        return np.array([self.infer(x, fmt).prediction for x in xs], dtype=np.int64)
