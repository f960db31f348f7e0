"""``hw.encoding``: the on-chip input encoders (rate, latency) -- THE definition.

The host sends a sample's pixels once, as the raw fixed-point words it sends for
direct encoding (``x_raw = fmt.quantize(x)``); the board turns them into spike
trains step by step (``hw.cores.encoder.EncoderUnit``) and ``sim.golden`` uses
:meth:`InputEncoder.spikes`, the same function in numpy, so both see the same trains.

* ``rate``: one ``LFSR_WIDTH``-bit Fibonacci LFSR (the SC generator,
  ``hw.cores.sc_numbers.LFSR``), restarted from ``seed`` at the start of every
  sample, advances once per pixel per step in scan order, so pixel ``i`` at step
  ``t`` draws number ``n = t * n_input + i``.  Its top ``frac_bits`` bits ``r``
  give a spike when ``r < clip(x_raw, 0, 2**frac_bits)``: a pixel spikes with
  probability ``x`` (``x >= 1``: every step, ``x <= 0``: never), as the training's
  ``sw.training.encoders.rate_encode`` draws Bernoulli(x) (other random numbers,
  the same distribution).
* ``latency``: pixel ``i`` spikes once, at step ``round(tau * ln(1 / x_q))`` with
  ``x_q = clip(x_raw, 0, 2**frac_bits) / 2**frac_bits`` (numpy's round, half to
  even, as ``torch.round`` in ``sw.training.encoders.latency_encode``); never when
  ``x_q = 0`` or the step is ``>= T``.  The board looks the step up in a table of
  ``2**frac_bits + 1`` entries (:meth:`InputEncoder.latency_table`).

Parameters come from the artifact's ``metadata["encoder"]`` (``{"seed": .., "tau": ..}``),
defaulting to :data:`DEFAULT_SEED` and :data:`DEFAULT_TAU` (the training's default tau).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ENCODER_KINDS", "DEFAULT_SEED", "DEFAULT_TAU", "LFSR_WIDTH", "InputEncoder", "encoder_for"]

ENCODER_KINDS = ("rate", "latency")
"""Encodings the board computes from pixels."""

LFSR_WIDTH = 16
"""Width of the rate encoder's LFSR (period 65535: T * n_input numbers a sample)."""

DEFAULT_SEED = 0xACE1
"""The rate encoder's LFSR seed unless the artifact gives one."""

DEFAULT_TAU = 5.0
"""Latency code time constant (steps) unless the artifact gives one (``latency_encode``'s default)."""


@dataclass(frozen=True)
class InputEncoder:
    """One network's on-chip encoder.

    Attributes:
        kind: ``"rate"`` or ``"latency"``.
        n_input: pixels a sample; ``timesteps``: T; ``frac_bits``: the pixel words' fraction bits.
        seed: the rate LFSR's non-zero seed (< ``2**LFSR_WIDTH``); ``tau``: the latency time constant.
    """

    kind: str
    n_input: int
    timesteps: int
    frac_bits: int
    seed: int = DEFAULT_SEED
    tau: float = DEFAULT_TAU

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_KINDS:
            raise ValueError(f"unknown on-chip encoding {self.kind!r}; known: {', '.join(ENCODER_KINDS)}")
        if not 0 < int(self.seed) < (1 << LFSR_WIDTH):
            raise ValueError(f"encoder seed must be a non-zero {LFSR_WIDTH}-bit value, got {self.seed!r}")
        if not (np.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"latency tau must be a finite number > 0, got {self.tau!r}")
        if not 1 <= self.frac_bits <= LFSR_WIDTH:
            raise ValueError(f"the pixels' fraction bits must be 1..{LFSR_WIDTH}, got {self.frac_bits}")

    @property
    def one(self) -> int:
        """Raw value of 1.0 (the largest probability)."""
        return 1 << self.frac_bits

    def clip(self, x_raw: np.ndarray) -> np.ndarray:
        """Pixel words as probabilities ``0 .. 2**frac_bits``."""
        return np.clip(np.asarray(x_raw, dtype=np.int64), 0, self.one)

    def rate_numbers(self) -> np.ndarray:
        """``(T, n_input)`` the numbers ``r`` each pixel is compared with (the same every sample)."""
        from hw.cores.sc_numbers import LFSR

        states = LFSR(LFSR_WIDTH, [self.seed]).numbers(self.timesteps * self.n_input)[0]
        return (states >> (LFSR_WIDTH - self.frac_bits)).reshape(self.timesteps, self.n_input)

    def latency_table(self) -> np.ndarray:
        """``(2**frac_bits + 1,)`` the step of a pixel's spike per clipped raw value (``T``: never)."""
        v = np.arange(self.one + 1, dtype=np.float64)
        with np.errstate(divide="ignore"):
            t = np.round(self.tau * np.log(self.one / v))
        t = np.where((v > 0) & (t < self.timesteps), t, self.timesteps)
        return t.astype(np.int64)

    def spikes(self, x_raw: Any) -> np.ndarray:
        """``(batch, T, n_input)`` uint8 spike trains of raw pixel words ``(batch, n_input)``."""
        x = self.clip(x_raw).reshape(-1, self.n_input)
        if self.kind == "rate":
            return (self.rate_numbers()[None] < x[:, None, :]).astype(np.uint8)
        step = self.latency_table()[x]                                   # (batch, n_input)
        return (np.arange(self.timesteps)[None, :, None] == step[:, None, :]).astype(np.uint8)

    def describe(self) -> dict[str, Any]:
        """The parameters, for reports."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "rate":
            out.update(lfsr_width=LFSR_WIDTH, seed=int(self.seed))
        else:
            out["tau"] = float(self.tau)
        return out


def encoder_for(network: Any, frac_bits: int) -> InputEncoder | None:
    """The on-chip encoder of a ``hw.ir.Network`` (``None`` for direct encoding).

    Raises ``ValueError`` for bad ``metadata["encoder"]`` values.
    """
    if network.encoding == "direct":
        return None
    params = dict(network.metadata.get("encoder", {}) or {})
    unknown = set(params) - {"seed", "tau"}
    if unknown:
        raise ValueError(f"metadata['encoder'] has unknown keys {sorted(unknown)}; known: seed, tau")
    return InputEncoder(network.encoding, int(network.n_input), int(network.timesteps), int(frac_bits),
                        seed=int(params.get("seed", DEFAULT_SEED)), tau=float(params.get("tau", DEFAULT_TAU)))
