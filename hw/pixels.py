"""``hw.pixels``: the one definition of 8-bit input codes (pixels) and their Q8.8 raws.

A code ``c`` in 0..255 stands for the real value ``c / 255`` (:func:`decode`).
Its Q8.8 raw is ``round(c * 256 / 255)``, which equals ``c + (c >> 7)`` exactly
(no ties occur: ``c * 256 / 255`` is never ``k + 1/2``); ``tests/hw/test_pixels.py``
checks this identity and ``Q8_8.quantize(decode(c)) == code_to_raw(c)`` for every
code.  So a sample sent as codes runs on the device exactly as
``sim.golden.run_golden(qnet, decode(codes))`` does.

* host side: :func:`encode` turns values in [0, 1] into codes (``round(x * 255)``,
  clipped; NaN/inf refused);
* golden side: :func:`decode` (code -> float) and :func:`code_to_raw` (code -> raw);
* HDL side: :func:`hdl_code_to_raw`, the Amaranth twin of :func:`code_to_raw`
  (one adder: ``c + c[7]``), used by ``hw.cores.host_io`` for the 8-bit sample commands.

Only formats with 8 fraction bits (Q8.8 and other Qm.8 with m >= 2) have this
mapping (:func:`supports`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CODE_MAX", "supports", "encode", "decode", "code_to_raw", "hdl_code_to_raw"]

CODE_MAX = 255
"""Largest code; it stands for the value 1.0."""


def supports(fmt: Any) -> bool:
    """Whether ``fmt`` (a ``hw.fixed.QFormat``) can hold the codes' raws (8 fraction bits, 1.0 in range)."""
    return fmt.frac_bits == 8 and fmt.max_raw >= code_to_raw(CODE_MAX)


def encode(x: Any) -> np.ndarray:
    """Values in [0, 1] -> uint8 codes ``round(x * 255)``, halves up (values outside are clipped).

    Raises:
        ValueError: a value is NaN or infinite (it has no pixel code).
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("pixel values must be finite (got NaN or inf)")
    return np.floor(np.clip(x, 0.0, 1.0) * CODE_MAX + 0.5).astype(np.uint8)


def decode(codes: Any) -> np.ndarray:
    """Codes -> the float64 values ``c / 255`` they stand for (feed these to the golden model)."""
    return np.asarray(codes, dtype=np.float64) / CODE_MAX


def code_to_raw(codes: Any) -> np.ndarray:
    """Codes -> Q8.8 raws ``c + (c >> 7)`` (= ``round(c * 256 / 255)``); int64."""
    c = np.asarray(codes, dtype=np.int64)
    if np.any((c < 0) | (c > CODE_MAX)):
        raise ValueError("pixel codes are 0..255")
    return c + (c >> 7)


def hdl_code_to_raw(byte: Any) -> Any:
    """Amaranth twin of :func:`code_to_raw`: a 9-bit unsigned raw from an 8-bit code."""
    from amaranth.hdl import Value

    byte = Value.cast(byte)
    return byte[:8] + byte[7]
