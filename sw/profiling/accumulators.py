"""Streaming per-layer statistics: O(neurons) memory, no history kept.

A :class:`LayerAccumulator` folds each recorded step into running sums,
maxima and counts, on the backend of the first array it sees (numpy, or
torch on that tensor's device), so GPU tensors are reduced on the GPU and
nothing is synchronised until :meth:`LayerAccumulator.snapshot` is called.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np


def is_torch_tensor(x: Any) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class _NumpyOps:
    """Array operations of the numpy backend."""

    def coerce(self, x: Any) -> np.ndarray:
        if is_torch_tensor(x):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"expected a numeric array, got dtype {x.dtype}")
        return x

    def zeros(self, n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float64)

    def scalar(self, value: float) -> np.ndarray:
        return np.array(value, dtype=np.float64)

    def f64(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64, copy=False)

    def work(self, x: np.ndarray) -> np.ndarray:
        return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)

    def norm(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(np.sum(np.square(x, dtype=np.float64)))

    def stack(self, xs: list[Any]) -> np.ndarray:
        return np.asarray(xs, dtype=np.float64)

    def vector(self, values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    def cast(self, x: np.ndarray, dtype: Any) -> np.ndarray:
        return x.astype(dtype)

    isfinite = staticmethod(np.isfinite)
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)


class _TorchOps:
    """Array operations of the torch backend, on one device."""

    def __init__(self, device: Any) -> None:
        import torch

        self.torch = torch
        self.device = device
        # MPS has no float64; everything else accumulates in double precision.
        self.dtype = torch.float32 if device.type == "mps" else torch.float64

    def coerce(self, x: Any) -> Any:
        torch = self.torch
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        x = x.detach()
        if x.is_complex():
            raise TypeError(f"expected a real tensor, got dtype {x.dtype}")
        if x.device != self.device:
            x = x.to(self.device)
        return x

    def zeros(self, n: int) -> Any:
        return self.torch.zeros(n, dtype=self.dtype, device=self.device)

    def scalar(self, value: float) -> Any:
        return self.torch.tensor(value, dtype=self.dtype, device=self.device)

    def f64(self, x: Any) -> Any:
        return x.to(self.dtype)

    def work(self, x: Any) -> Any:
        keep = (self.torch.float32, self.dtype)
        return x if x.dtype in keep else x.to(self.torch.float32)

    def norm(self, x: Any) -> Any:
        # In the input precision: a float64 norm of float32 data costs 3x, and
        # float32 holds RMS values from ~1e-19 to ~1e19 (beyond: 0 or inf,
        # which still read as vanishing or exploding).
        return self.torch.linalg.vector_norm(self.work(x))

    def stack(self, xs: list[Any]) -> Any:
        return self.torch.stack(xs).to(self.dtype)

    def vector(self, values: list[int]) -> Any:
        return self.torch.tensor(values, dtype=self.dtype, device=self.device)

    def cast(self, x: Any, dtype: Any) -> Any:
        return x.to(dtype)

    def isfinite(self, x: Any) -> Any:
        return self.torch.isfinite(x)

    def where(self, cond: Any, x: Any, other: float) -> Any:
        return self.torch.where(cond, x, other)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.torch.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.torch.minimum(a, b)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().to(self.torch.float64).numpy()


def _ops_for(x: Any) -> _NumpyOps | _TorchOps:
    if is_torch_tensor(x):
        return _TorchOps(x.device)
    return _NumpyOps()


def neuron_count(shape: tuple[int, ...], time_major: bool, what: str) -> int:
    """Number of neurons in an array of ``shape``: the product of the axes after batch.

    Raises:
        ValueError: when the array has no batch axis (and time axis when
            ``time_major``) followed by at least one neuron axis.
    """
    lead = 2 if time_major else 1
    if len(shape) < lead + 1:
        layout = "(T, batch, *neurons)" if time_major else "(batch, *neurons)"
        raise ValueError(f"{what} must have shape {layout}, got shape {tuple(shape)}")
    n = 1
    for d in shape[lead:]:
        n *= int(d)
    if n == 0:
        raise ValueError(f"{what} has no neurons: shape {tuple(shape)}")
    return n


def check_trailing(shape: tuple[int, ...], n: int, what: str, layer: str) -> None:
    """Check that ``shape`` is (samples..., *neurons) with ``n`` neurons after >= 1 sample axis."""
    trailing, i = 1, len(shape)
    while trailing < n and i > 0:
        i -= 1
        trailing *= int(shape[i])
    if trailing != n or i == 0 or 0 in shape:
        raise ValueError(
            f"layer {layer!r}: {what} of shape {shape} does not end in the layer's "
            f"{n} neurons after a batch axis (the spikes fixed the neuron count)")


def _rows(x: Any, n: int, what: str, layer: str) -> Any:
    """View ``x`` as (samples, n), checking its trailing axes hold ``n`` neurons."""
    check_trailing(tuple(x.shape), n, what, layer)
    return x.reshape(-1, n)


@dataclass
class Snapshot:
    """Plain-numpy view of a :class:`LayerAccumulator` (taken at report time)."""

    n_neurons: int
    n_samples: int
    n_steps: int
    firing_rates: np.ndarray
    voltage_samples: int
    voltage_mean: float
    voltage_std: float
    neuron_voltage_mean: np.ndarray | None
    neuron_voltage_std: np.ndarray | None
    gradient_steps: int
    gradient_nonfinite: int
    gradient_norm: float | None
    gradient_norm_max: float | None
    gradient_explosion_ratio: float | None
    total_spikes: float = 0.0
    voltage_min: float = float("nan")
    voltage_max: float = float("nan")


_GRAD_BUFFER = 256
"""Per-step gradient norms waiting to be folded, at most (fixed memory)."""


class LayerAccumulator:
    """Running statistics of one layer.

    Per neuron: spike sum, and shifted voltage sum and sum of squares.  Per
    layer: sample-timesteps, recorded steps, and the sum, maximum and count of
    the per-step gradient RMS.  Memory is O(neurons), independent of how many
    steps are recorded.  Sums run in the input precision (float32 or
    float64) per step and accumulate in float64.
    """

    def __init__(self, layer: str, n_neurons: int, example: Any) -> None:
        self.layer = layer
        self.n = n_neurons
        self.ops = _ops_for(example)
        ops = self.ops
        self.n_samples = 0
        self.n_steps = 0
        self.spike_sum = ops.zeros(n_neurons)
        self.v_samples = 0
        self.v_shift = ops.zeros(n_neurons)
        self._shift_work = self.v_shift
        self.v_sum = ops.zeros(n_neurons)
        self.v_sumsq = ops.zeros(n_neurons)
        self.v_min = ops.scalar(float("inf"))
        self.v_max = ops.scalar(float("-inf"))
        self.g_steps = 0
        self.g_sum = ops.scalar(0.0)
        self.g_max = ops.scalar(0.0)
        self.g_finite = ops.scalar(0.0)
        self._g_norms: list[Any] = []
        self._g_sizes: list[int] = []

    @property
    def backend(self) -> str:
        """``"numpy"`` or ``"torch:<device>"``."""
        if isinstance(self.ops, _TorchOps):
            return f"torch:{self.ops.device}"
        return "numpy"

    def nbytes(self) -> int:
        """Bytes held by the running statistics (for memory checks)."""
        total = 0
        for value in vars(self).values():
            if isinstance(value, (np.ndarray, np.generic)):
                total += value.nbytes
            elif is_torch_tensor(value):
                total += value.element_size() * value.nelement()
        return total

    def add_spikes(self, spikes: Any, time_major: bool) -> None:
        """Fold one step of spikes, shape (batch, *neurons) or (T, batch, *neurons)."""
        x = self.ops.coerce(spikes)
        n = neuron_count(tuple(x.shape), time_major, f"layer {self.layer!r}: spikes")
        if n != self.n:
            raise ValueError(
                f"layer {self.layer!r}: spikes have {n} neurons per sample, earlier steps had "
                f"{self.n} (shape {tuple(x.shape)}, time_major={time_major})")
        # float32 sums of 0/1 values are exact up to 2**24 rows per step
        rows = self.ops.work(x.reshape(-1, n))
        if self.n_steps == 0:
            # Checked once per layer (a full check every step costs a pass over
            # the data); the report re-checks that every rate lies in [0, 1].
            lo, hi = float(rows.min()), float(rows.max())
            if lo < 0 or hi > 1:
                raise ValueError(f"layer {self.layer!r}: spikes must lie in [0, 1], got values "
                                 f"in [{lo}, {hi}]")
        self.spike_sum += rows.sum(0)
        self.n_samples += rows.shape[0]
        self.n_steps += 1

    def add_voltages(self, voltages: Any) -> None:
        """Fold membrane voltages whose trailing axes are the layer's neurons."""
        ops = self.ops
        rows = ops.work(_rows(ops.coerce(voltages), self.n, "voltages", self.layer))
        if self.v_samples == 0:
            # Shifted sums, shift = the first sample of each neuron: the variance
            # stays exact for a constant voltage and free of cancellation when
            # |v| >> std, while the bulk arithmetic runs in the input precision.
            self._shift_work = rows[0] * 1  # a copy, in the input dtype
            self.v_shift = ops.f64(self._shift_work)
        k = rows.shape[0]
        self.v_min = ops.minimum(self.v_min, ops.f64(rows.min()))
        self.v_max = ops.maximum(self.v_max, ops.f64(rows.max()))
        if rows.dtype == self._shift_work.dtype:
            d = rows - self._shift_work  # a fresh array: squared in place below
            self.v_sum += d.sum(0)
            d *= d
            self.v_sumsq += d.sum(0)
        else:  # other precision: the cast shift differs from v_shift by delta
            shift = ops.cast(self.v_shift, rows.dtype)
            d = rows - shift
            s1 = ops.f64(d.sum(0))
            d *= d
            delta = ops.f64(shift) - self.v_shift
            self.v_sum += s1 + k * delta
            self.v_sumsq += ops.f64(d.sum(0)) + 2 * delta * s1 + k * delta * delta
        self.v_samples += k

    def add_gradients(self, gradients: Any) -> None:
        """Fold one step of gradients: their root-mean-square magnitude."""
        x = self.ops.coerce(gradients)
        size = x.size if isinstance(x, np.ndarray) else x.numel()
        if size == 0:
            raise ValueError(f"layer {self.layer!r}: gradients are empty")
        # Park the raw norm (a 0-d array, not yet read: no device sync) and fold
        # the buffer in bulk; per-step scalar arithmetic would cost more than the norm.
        self._g_norms.append(self.ops.norm(x))
        self._g_sizes.append(size)
        self.g_steps += 1
        if len(self._g_norms) == _GRAD_BUFFER:
            self._fold_gradients()

    def _fold_gradients(self) -> None:
        if not self._g_norms:
            return
        ops = self.ops
        vals = ops.stack(self._g_norms) / ops.vector(self._g_sizes) ** 0.5
        finite = ops.isfinite(vals)
        vals = ops.where(finite, vals, 0.0)
        self.g_sum += vals.sum()
        self.g_max = ops.maximum(self.g_max, vals.max())
        self.g_finite += ops.f64(finite).sum()
        self._g_norms.clear()
        self._g_sizes.clear()

    def merge(self, other: LayerAccumulator) -> None:
        """Add another accumulator of the same layer (e.g. a closed epoch) into this one."""
        if other.n != self.n:
            raise ValueError(f"layer {self.layer!r}: cannot merge {other.n} neurons into {self.n}")
        self._fold_gradients()
        other._fold_gradients()
        ops = self.ops
        c = ops.coerce
        self.n_samples += other.n_samples
        self.n_steps += other.n_steps
        self.spike_sum += c(other.spike_sum)
        if other.v_samples:
            if self.v_samples == 0:
                self._shift_work = c(other._shift_work) * 1
                self.v_shift = ops.f64(self._shift_work)
            delta = c(other.v_shift) - self.v_shift
            s1 = c(other.v_sum)
            self.v_sum += s1 + other.v_samples * delta
            self.v_sumsq += c(other.v_sumsq) + 2 * delta * s1 + other.v_samples * delta * delta
        self.v_samples += other.v_samples
        self.v_min = ops.minimum(self.v_min, c(other.v_min))
        self.v_max = ops.maximum(self.v_max, c(other.v_max))
        self.g_steps += other.g_steps
        self.g_sum += c(other.g_sum)
        self.g_max = ops.maximum(self.g_max, c(other.g_max))
        self.g_finite += c(other.g_finite)

    def copy(self) -> LayerAccumulator:
        """An independent accumulator with the same statistics."""
        clone = LayerAccumulator(self.layer, self.n, self.spike_sum)
        clone.merge(self)
        return clone

    def snapshot(self) -> Snapshot:
        """Convert the running statistics to numpy (synchronises a GPU once)."""
        self._fold_gradients()
        t = self.ops.to_numpy
        rates = t(self.spike_sum) / max(self.n_samples, 1)
        if self.v_samples:
            k = self.v_samples
            s1, s2 = t(self.v_sum), t(self.v_sumsq)
            neuron_mean = t(self.v_shift) + s1 / k
            neuron_m2 = np.maximum(s2 - s1 * s1 / k, 0.0)
            mean = float(neuron_mean.mean())
            between = float(((neuron_mean - mean) ** 2).sum()) * k
            var = (float(neuron_m2.sum()) + between) / (k * self.n)
            std = float(np.sqrt(var)) if np.isfinite(var) else float("nan")
            neuron_std = np.sqrt(neuron_m2 / k)
        else:
            mean, std = float("nan"), float("nan")
            neuron_mean = neuron_std = None
        g_finite = int(round(float(t(self.g_finite))))
        g_sum, g_max = float(t(self.g_sum)), float(t(self.g_max))
        g_norm = g_sum / g_finite if g_finite else None
        ratio = None
        if g_finite >= 2:
            rest = (g_sum - g_max) / (g_finite - 1)
            if rest > 0:
                ratio = g_max / rest
        return Snapshot(
            n_neurons=self.n,
            n_samples=self.n_samples,
            n_steps=self.n_steps,
            firing_rates=rates,
            voltage_samples=self.v_samples,
            voltage_mean=mean,
            voltage_std=std,
            neuron_voltage_mean=neuron_mean,
            neuron_voltage_std=neuron_std,
            gradient_steps=self.g_steps,
            gradient_nonfinite=self.g_steps - g_finite,
            gradient_norm=g_norm,
            gradient_norm_max=g_max if g_finite else None,
            gradient_explosion_ratio=ratio,
            total_spikes=float(t(self.spike_sum).sum()),
            voltage_min=float(t(self.v_min)) if self.v_samples else float("nan"),
            voltage_max=float(t(self.v_max)) if self.v_samples else float("nan"),
        )
