"""Non-spiking leaky state modules: ``ExpSynapse`` (exponential synapse) and ``LeakyReadout``.

Both follow one recurrence per step (``SYNAPSE_EQUATIONS`` in
``sw.training.equations``)::

    g = decay * g + I            # ExpSynapse, decay = exp(-dt / tau)
    v = beta * v + scale * I     # LeakyReadout (scale = 1, or 1 - beta with ``normalize``)

The single-step API matches the cells: ``forward(x, state=None) ->
(out, state)`` (the output *is* the state), and ``forward_sequence(x (T,
batch, ...), state=None) -> (outputs (T, batch, ...), final_state)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sw.training.equations import SYNAPSE_EQUATIONS
from sw.training.fused import fused_enabled
from sw.training.fused_linear import LinearScan

__all__ = ["ExpSynapse", "LeakyReadout"]


def _check_positive(cls: str, name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{cls}: {name} must be a finite number > 0, got {value}")
    return value


class _LeakyState(nn.Module):
    """``state = a * state + b * x`` per step (``a``: the ``decay_value()``, ``b``: ``scale``)."""

    def __init__(self) -> None:
        super().__init__()
        self.input_scale = 1.0

    def decay_value(self) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step: ``(out, new_state)`` with ``out == new_state``."""
        a = self.decay_value()
        g = self.input_scale * x if state is None else a * state + self.input_scale * x
        return g, g

    def forward_sequence(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps of ``x (T, batch, ...)``: ``(outputs (T, batch, ...), final_state)``."""
        if not isinstance(x, Tensor) or x.dim() < 2:
            raise ValueError(f"{type(self).__name__}.forward_sequence: x must be (T, batch, ...)")
        a = self.decay_value()
        T = x.shape[0]
        if fused_enabled():  # one autograd node, hand-written backward (fused_linear.LinearScan)
            g0 = None if state is None else state.expand(x.shape[1:])
            scale = self.input_scale
            out = LinearScan.apply(x if isinstance(scale, float) and scale == 1.0 else scale * x,
                                   a, g0)
            return out, out[-1]
        outs = []
        g = state
        for i in range(T):
            g = self.input_scale * x[i] if g is None else a * g + self.input_scale * x[i]
            outs.append(g)
        return torch.stack(outs), outs[-1]


class ExpSynapse(_LeakyState):
    """Exponential synapse: the conductance jumps by its input and decays with ``tau``.

    ``g[t] = exp(-dt / tau) * g[t-1] + I[t]`` (brainpy's ``Expon``, exact
    exponential-Euler solution of ``dg/dt = -g / tau`` between inputs).

    Args:
        tau: time constant (same unit as ``dt``, e.g. ms).
        dt: step.
        learn_tau: make ``tau`` trainable (stored as ``log tau``).
    """

    EQUATIONS = SYNAPSE_EQUATIONS["expon"]

    def __init__(self, tau: float = 10.0, dt: float = 1.0, learn_tau: bool = False) -> None:
        super().__init__()
        tau = _check_positive("ExpSynapse", "tau", tau)
        self.dt = _check_positive("ExpSynapse", "dt", dt)
        log_tau = torch.tensor(math.log(tau), dtype=torch.float32)
        if learn_tau:
            self.log_tau = nn.Parameter(log_tau)
        else:
            self.register_buffer("log_tau", log_tau)

    @property
    def tau(self) -> Tensor:
        return self.log_tau.exp()

    def decay_value(self) -> Tensor:
        return torch.exp(-self.dt / self.tau)

    def equation_params(self) -> dict[str, float]:
        return {"decay": float(self.decay_value().detach())}

    def extra_repr(self) -> str:
        return f"tau={float(self.tau):.4g}, dt={self.dt:g}"


class LeakyReadout(_LeakyState):
    """Non-spiking leaky-integrator readout: ``v[t] = beta * v[t-1] + scale * I[t]``.

    Give ``beta`` directly or as ``tau`` (``beta = exp(-dt / tau)``).  With
    ``normalize=True`` the input is scaled by ``1 - beta`` (a low-pass filter
    whose steady state equals a constant input).  The output is the membrane
    itself, to be read by a loss (mean or max over time).

    Args:
        beta: decay in [0, 1] (ignored when ``tau`` is given).
        tau, dt: time constant and step.
        learn_beta: make ``beta`` trainable (as ``sigmoid(raw)``).
        normalize: scale the input by ``1 - beta``.
    """

    EQUATIONS = SYNAPSE_EQUATIONS["leaky_readout"]

    def __init__(self, beta: float = 0.9, tau: float | None = None, dt: float = 1.0,
                 learn_beta: bool = False, normalize: bool = False) -> None:
        super().__init__()
        if tau is not None:
            beta = math.exp(-_check_positive("LeakyReadout", "dt", dt)
                            / _check_positive("LeakyReadout", "tau", tau))
        beta = float(beta)
        if not 0.0 <= beta <= 1.0 or (learn_beta and not 0.0 < beta < 1.0):
            raise ValueError(f"LeakyReadout: beta must be in [0, 1] ((0, 1) if learned), got {beta}")
        self.normalize = bool(normalize)
        if learn_beta:
            self.beta_raw = nn.Parameter(torch.tensor(math.log(beta / (1.0 - beta))))
        else:
            self.register_buffer("beta_fixed", torch.tensor(beta))

    @property
    def beta(self) -> Tensor:
        raw = self._parameters.get("beta_raw")
        return torch.sigmoid(raw) if raw is not None else self._buffers["beta_fixed"]

    def decay_value(self) -> Tensor:
        return self.beta

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.input_scale = (1.0 - self.beta) if self.normalize else 1.0
        return super().forward(x, state)

    def forward_sequence(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.input_scale = (1.0 - self.beta) if self.normalize else 1.0
        return super().forward_sequence(x, state)

    def equation_params(self) -> dict[str, float]:
        b = float(self.beta.detach())
        return {"beta": b, "scale": (1.0 - b) if self.normalize else 1.0}

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):.4g}, normalize={self.normalize}"
