"""The seed's training utilities: ``SpikeMonitor``, ``population_decode``, ``reset_states``."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from sw.training.cells.base import SpikingCell

__all__ = ["SpikeMonitor", "population_decode", "reset_states"]


class SpikeMonitor:
    """Record the spikes and membranes of a model's spiking layers through hooks.

    Each cell's observer (``SpikingCell.add_observer``) sees both its single
    steps and its whole-sequence runs, so recording works for ``SpikingNet``
    (fused multi-step path) and for models that step cells by hand.

        monitor = SpikeMonitor(model)            # every cell, or layers=["lifs.0"]
        counts, mem = model(x)
        raster = monitor.get("lifs.0")           # (T, batch, n) spikes
        v = monitor.get_membrane("lifs.0")       # (T, batch, n), post-reset membrane
        monitor.reset(); monitor.remove()

    Args:
        model: any ``nn.Module`` containing ``SpikingCell``s.
        layers: module names (as ``model.named_modules()`` gives them) to record;
            ``None`` records every spiking cell.
        membrane: also record the membrane (the state ``v`` of each cell).

    Recorded tensors are detached copies.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str] | None = None,
                 membrane: bool = True) -> None:
        self.model = model
        self.membrane = bool(membrane)
        cells = {name: m for name, m in model.named_modules() if isinstance(m, SpikingCell)}
        wanted = list(cells) if layers is None else list(layers)
        unknown = [n for n in wanted if n not in cells]
        if unknown:
            raise ValueError(f"SpikeMonitor: {unknown} are not spiking layers of the model; "
                             f"known: {sorted(cells)}")
        self._spikes: dict[str, list[Tensor]] = {n: [] for n in wanted}
        self._mem: dict[str, list[Tensor]] = {n: [] for n in wanted}
        self._hooks: list[RemovableHandle] = [cells[n].add_observer(self._observer(n)) for n in wanted]

    def _observer(self, name: str):
        def observe(cell: SpikingCell, spikes: Tensor, states: dict, time_major: bool) -> None:
            s = spikes.detach()
            self._spikes[name].extend(s.unbind(0) if time_major else [s])
            if self.membrane and "v" in states:
                v = states["v"].detach()
                self._mem[name].extend(v.unbind(0) if time_major else [v])
        return observe

    @property
    def layer_names(self) -> list[str]:
        """Names of the recorded layers."""
        return list(self._spikes)

    def get(self, name: str) -> Tensor | None:
        """Recorded spikes of ``name``, ``(T, *shape)``, or ``None`` before any step."""
        steps = self._spikes.get(name)
        return torch.stack(steps) if steps else None

    def get_membrane(self, name: str) -> Tensor | None:
        """Recorded membrane ``v`` of ``name``, ``(T, *shape)``, or ``None``."""
        steps = self._mem.get(name)
        return torch.stack(steps) if steps else None

    def reset(self) -> None:
        """Clear the records; the hooks stay attached."""
        for rec in (*self._spikes.values(), *self._mem.values()):
            rec.clear()

    def remove(self) -> None:
        """Detach the hooks and clear the records."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        self.reset()


def population_decode(spike_counts: Tensor, preferred_values: Tensor | None = None) -> Tensor:
    """Population-vector readout: the count-weighted mean of the neurons' preferred values.

    Args:
        spike_counts: ``(batch, n_neurons)``.
        preferred_values: ``(n_neurons,)`` or ``(n_neurons, d)``; ``None`` = the
            neuron indices.

    Returns:
        ``(batch,)`` or ``(batch, d)``; a sample without spikes decodes to 0.
    """
    if spike_counts.dim() != 2:
        raise ValueError(f"population_decode: spike_counts must be (batch, n_neurons), "
                         f"got {tuple(spike_counts.shape)}")
    n = spike_counts.shape[1]
    if preferred_values is None:
        preferred_values = torch.arange(n, dtype=spike_counts.dtype, device=spike_counts.device)
    if preferred_values.shape[0] != n or preferred_values.dim() not in (1, 2):
        raise ValueError(f"population_decode: preferred_values must be ({n},) or ({n}, d), "
                         f"got {tuple(preferred_values.shape)}")
    weights = spike_counts / spike_counts.sum(dim=1, keepdim=True).clamp(min=1e-8)
    pv = preferred_values.to(weights.dtype)
    return weights @ pv


def reset_states(target: nn.Module | Iterable[Any] | None = None) -> None:
    """Reset recorded or internal state.

    * a list of ``SpikeMonitor`` (the seed's form): clear their records;
    * a model: call ``reset_state()`` on every submodule that has one (cells
      that keep state between calls, such as ``RecurrentLIFCell``, and the
      ``SpikingSequential`` containers);
    * ``None``: nothing.
    """
    if target is None:
        return
    if isinstance(target, nn.Module):
        for m in target.modules():
            fn = getattr(m, "reset_state", None)
            if callable(fn):
                fn()
        return
    for item in target:
        if isinstance(item, nn.Module):
            reset_states(item)
        elif callable(getattr(item, "reset", None)):
            item.reset()
