"""NIR neuron nodes -> ``hw.ir.Neuron`` plus a per-neuron input gain and drive.

Discretisation (the one documented choice, see docs/nir.md): forward Euler
with step ``dt`` (default 1e-4 s, the ``dt`` snnTorch's and SpikingJelly's
exporters assume), currents before voltages within a step, then threshold
``v > v_threshold``, then reset::

    LIF      tau dv/dt = (v_leak - v) + r I
             v <- (1 - dt/tau) v + (dt/tau) r I + (dt/tau) v_leak
    IF       dv/dt = r I                      ->  v <- v + dt r I
    CubaLIF  tau_syn di/dt = -i + w_in S      ->  i <- (1 - dt/tau_syn) i + (dt/tau_syn) w_in S
             tau_mem dv/dt = (v_leak - v) + r i  ->  v <- (1 - dt/tau_mem) v + (dt/tau_mem) r i
    Threshold                                 ->  spike = I > threshold, no state

The hardware cells (``sw.training.equations.NEURON_EQUATIONS``) have unit input
gain, one decay and one threshold per layer, so the importer moves
everything else into the layer's weights: the input gain (``dt r / tau``,
``dt w_in / tau_syn * dt r / tau_mem``) scales each weight row, the constant
drive ``(dt/tau) v_leak`` joins the bias, and per-neuron thresholds are
normalised to 1 by dividing the row (exact in float).  Decays must be equal
across a population.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from hw.ir import NEURON_KINDS, Neuron
from sw.training.equations import NEURON_EQUATIONS

from .errors import NIRImportError

NEURON_NODES = (nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold)
"""NIR node types imported as a spiking population."""

NON_SPIKING_NODES = (nir.LI, nir.I, nir.CubaLI)
"""NIR neuron types without spikes; the engine's output is spike counts."""

RESETS = ("subtract", "zero", "delayed")
"""``subtract``: v <- v - threshold right after the spike (our cells; snnTorch with
``reset_delay=False``).  ``zero``: v <- v_reset (the NIR specification;
SpikingJelly, Norse).  ``delayed``: the threshold is subtracted one step later
(snnTorch's default ``reset_delay=True``)."""

HARD_RESET_KINDS = {"lif": "lif_hard", "if": "if_hard", "synaptic": "synaptic_hard"}
"""NEURON_EQUATIONS entries used for ``reset="zero"`` (reset to ``v_reset``)."""

DELAYED_RESET_KINDS = {"lif": "lif_delayed", "synaptic": "synaptic_delayed"}
"""NEURON_EQUATIONS entries used for ``reset="delayed"`` (snnTorch's default neurons)."""

_VARIANTS = {"zero": (HARD_RESET_KINDS, "v <- v_reset, the NIR definition"),
             "delayed": (DELAYED_RESET_KINDS, "snnTorch's default reset_delay=True")}

_RTOL = 1e-6


@dataclass
class Population:
    """A neuron population ready to become the neuron part of an IR layer.

    Attributes:
        neuron: the IR neuron (kind, equation text and parameters).
        row_scale: per-neuron gain applied to the incoming current.
        row_offset: per-neuron constant current added every step.
    """

    neuron: Neuron
    row_scale: np.ndarray
    row_offset: np.ndarray


def _param(name: str, node: nir.NIRNode, attr: str, n: int) -> np.ndarray:
    value = getattr(node, attr, None)
    if value is None:
        raise NIRImportError(name, f"{type(node).__name__}.{attr} is missing")
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.full(n, arr[0])
    if arr.size != n:
        raise NIRImportError(name, f"{type(node).__name__}.{attr} has {arr.size} values "
                                   f"for a population of {n} neurons")
    if not np.all(np.isfinite(arr)):
        raise NIRImportError(name, f"{type(node).__name__}.{attr} contains NaN or inf")
    return arr


def _uniform(name: str, what: str, arr: np.ndarray) -> float:
    ref = float(np.mean(arr))
    if not np.allclose(arr, ref, rtol=_RTOL, atol=1e-12):
        raise NIRImportError(name, f"{what} differs between neurons "
                                   f"(min {arr.min():.6g}, max {arr.max():.6g}); the hardware "
                                   "runs one value per layer")
    return ref


def _decay(name: str, what: str, tau: np.ndarray, dt: float) -> float:
    if np.any(tau <= 0):
        raise NIRImportError(name, f"{what} must be > 0")
    k = _uniform(name, f"dt/{what}", dt / tau)
    if k > 1.0 + _RTOL:
        raise NIRImportError(name, f"dt/{what} = {k:.6g} > 1 makes forward Euler unstable; "
                                   f"check dt (={dt:g} s): the exporting library's time step")
    return min(1.0, max(0.0, 1.0 - k))


def _entry(name: str, kind: str, reset: str) -> str:
    if reset == "subtract":
        return kind
    table, what = _VARIANTS[reset]
    variant = table.get(kind)
    if variant is None:
        raise NIRImportError(name, f"reset={reset!r} is not defined for {kind!r} neurons; "
                                   f"it exists for {', '.join(table)}")
    if variant not in NEURON_EQUATIONS or variant not in NEURON_KINDS:
        raise NIRImportError(name, f"reset={reset!r} ({what}) needs the neuron kind "
                                   f"{variant!r} (NEURON_EQUATIONS and hw.ir.NEURON_KINDS), which "
                                   "this installation lacks; import with reset='subtract' if the "
                                   "model was trained with an immediate subtractive reset")
    return variant


def _make(kind: str, params: dict[str, float]) -> Neuron:
    eq = NEURON_EQUATIONS[kind]
    missing = set(eq.params) - set(params)
    if missing:  # pragma: no cover - guards against an equation table change
        raise KeyError(f"no value for {sorted(missing)} of {kind!r}")
    return Neuron(kind=kind, equations=eq.text, states=tuple(eq.states),
                  inputs=tuple(eq.inputs), params={k: float(params[k]) for k in eq.params})


def _threshold_and_reset(name: str, node: nir.NIRNode, n: int, reset: str,
                         scale: np.ndarray, offset: np.ndarray
                         ) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Normalise per-neuron thresholds into the row gain; returns (params, scale, offset)."""
    th = _param(name, node, "v_threshold", n)
    if np.any(th <= 0):
        raise NIRImportError(name, "v_threshold must be > 0")
    v_reset = _param(name, node, "v_reset", n) if getattr(node, "v_reset", None) is not None \
        else np.zeros(n)
    if np.allclose(th, th[0], rtol=_RTOL, atol=0):
        threshold = float(np.mean(th))
    else:  # divide each row by its threshold: v/th has threshold 1
        scale, offset, v_reset = scale / th, offset / th, v_reset / th
        threshold = 1.0
    params = {"threshold": threshold}
    if reset == "zero":
        params["v_reset"] = _uniform(name, "v_reset", v_reset)
    elif not np.allclose(v_reset, 0.0, atol=1e-12):
        raise NIRImportError(name, "v_reset != 0 cannot be a subtractive reset; "
                                   "import with reset='zero'")
    return params, scale, offset


def population(name: str, node: nir.NIRNode, n: int, *, dt: float, reset: str,
               recurrent: bool = False) -> Population:
    """Map one NIR neuron node of ``n`` neurons to a ``Population``."""
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if isinstance(node, NON_SPIKING_NODES):
        raise NIRImportError(name, f"{type(node).__name__} is a non-spiking neuron; the engine "
                                   "outputs spike counts, so a population must spike (LIF, IF, "
                                   "CubaLIF or Threshold); a leaky-integrator readout needs a "
                                   "non-spiking kind in NEURON_EQUATIONS")
    if isinstance(node, nir.Threshold):
        th = _param(name, node, "threshold", n)
        if np.any(th <= 0):
            raise NIRImportError(name, "threshold must be > 0")
        scale = np.ones(n)
        if np.allclose(th, th[0], rtol=_RTOL, atol=0):
            threshold = float(np.mean(th))
        else:
            scale, threshold = 1.0 / th, 1.0
        # beta = 0 erases the state every step: spike = I > threshold, stateless.
        return Population(_make("lif", {"beta": 0.0, "threshold": threshold}),
                          scale, np.zeros(n))
    if isinstance(node, nir.LIF):
        tau = _param(name, node, "tau", n)
        beta = _decay(name, "tau", tau, dt)
        k = dt / tau
        scale = k * _param(name, node, "r", n)
        offset = k * _param(name, node, "v_leak", n)
        params, scale, offset = _threshold_and_reset(name, node, n, reset, scale, offset)
        kind = "lif"
        if recurrent:
            if reset != "subtract":
                raise NIRImportError(name, f"a recurrent population with reset={reset!r} has "
                                           "no neuron kind; only 'recurrent_lif' (immediate "
                                           "subtractive reset) exists")
            kind = "recurrent_lif"
        else:
            kind = _entry(name, kind, reset)
        return Population(_make(kind, {"beta": beta, **params}), scale, offset)
    if recurrent:
        raise NIRImportError(name, f"recurrent connections are supported around LIF only, "
                                   f"not {type(node).__name__}")
    if isinstance(node, nir.IF):
        scale = dt * _param(name, node, "r", n)
        params, scale, offset = _threshold_and_reset(name, node, n, reset, scale, np.zeros(n))
        return Population(_make(_entry(name, "if", reset), params), scale, offset)
    if isinstance(node, nir.CubaLIF):
        tau_syn = _param(name, node, "tau_syn", n)
        tau_mem = _param(name, node, "tau_mem", n)
        alpha = _decay(name, "tau_syn", tau_syn, dt)
        beta = _decay(name, "tau_mem", tau_mem, dt)
        if not np.allclose(_param(name, node, "v_leak", n), 0.0, atol=1e-12):
            raise NIRImportError(name, "CubaLIF with v_leak != 0 is not supported (the constant "
                                       "drive would pass through the synaptic filter)")
        scale = (dt / tau_syn) * _param(name, node, "w_in", n) * (dt / tau_mem) \
            * _param(name, node, "r", n)
        params, scale, offset = _threshold_and_reset(name, node, n, reset, scale, np.zeros(n))
        return Population(_make(_entry(name, "synaptic", reset),
                                {"alpha": alpha, "beta": beta, **params}), scale, offset)
    raise NIRImportError(name, f"{type(node).__name__} is not a neuron node")
