"""``SpikeProfiler``: record spikes, voltages and gradients per layer; diagnose.

Statistics are streaming (see :mod:`sw.profiling.accumulators`): memory is
O(neurons) per layer whatever the number of recorded steps.  Recording goes
into the current *epoch window*; :meth:`SpikeProfiler.end_epoch` closes the
window (keeping its report) and folds it into the run totals, so both a
whole-run and a per-epoch diagnosis are available, and a pathology that
only appears late is reported even when the run average hides it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from collections.abc import Iterable, Mapping
from typing import Any

from .accumulators import LayerAccumulator, check_trailing, is_torch_tensor, neuron_count
from .detectors import build_layer_stats, detect_all
from .report import NETWORK, Pathology, ProfileReport
from .thresholds import Thresholds

WINDOWS = ("all", "epoch")


class SpikeProfiler:
    """Per-layer spike statistics and automatic pathology detection for SNN training.

    Args:
        dead_threshold: firing rate below which a neuron is dead.
        saturated_threshold: firing rate above which a neuron is saturated.
        gradient_explosion_ratio: max per-step gradient norm over the mean of
            the other steps above which gradients explode.
        thresholds: a full :class:`Thresholds` (the three arguments above then
            override its fields only when given explicitly).
        keep_epochs: how many closed epoch reports to keep (oldest dropped).
        voltage_every: fold the voltages of every k-th recorded step of a layer
            (1: all).  Voltages cost four passes over the data against one for
            spikes; a sample of steps estimates their moments without bias,
            while firing rates and gradient norms always use every step.
        **more: any other :class:`Thresholds` field (``silent_threshold``, ...).

    Attributes:
        thresholds: the limits every detector uses.
    """

    def __init__(self, dead_threshold: float | None = None,
                 saturated_threshold: float | None = None,
                 gradient_explosion_ratio: float | None = None, *,
                 thresholds: Thresholds | None = None, keep_epochs: int = 1000,
                 voltage_every: int = 1, **more: float) -> None:
        base = (thresholds or Thresholds()).to_dict()
        given = {"dead_threshold": dead_threshold, "saturated_threshold": saturated_threshold,
                 "gradient_explosion_ratio": gradient_explosion_ratio, **more}
        unknown = set(given) - set(base)
        if unknown:
            raise TypeError(f"unknown threshold(s) {sorted(unknown)}; known: {sorted(base)}")
        base.update({k: v for k, v in given.items() if v is not None})
        self.thresholds = Thresholds(**base)
        if keep_epochs < 1:
            raise ValueError(f"keep_epochs must be >= 1, got {keep_epochs}")
        if isinstance(voltage_every, bool) or not isinstance(voltage_every, int) \
                or voltage_every < 1:
            raise ValueError(f"voltage_every must be an int >= 1, got {voltage_every!r}")
        self.voltage_every = voltage_every
        self._epoch_reports: deque[ProfileReport] = deque(maxlen=keep_epochs)
        self._params: dict[str, dict[str, float]] = {}
        self._fan_out: dict[str, int] = {}
        self._cells: dict[str, Any] = {}
        self._voltage_every: dict[str, int] = {}
        self._handles: list[Any] = []
        self.reset()

    # ------------------------------------------------------------------ recording
    def reset(self) -> None:
        """Forget every recorded statistic and epoch report (attachments stay)."""
        self._total: dict[str, LayerAccumulator] = {}
        self._window: dict[str, LayerAccumulator] = {}
        self._order: list[str] = []
        self._epochs_closed = 0
        self._epoch_reports.clear()

    def record_step(self, layer: str, spikes: Any, voltages: Any = None, gradients: Any = None,
                    *, time_major: bool = False,
                    params: Mapping[str, float] | None = None,
                    fan_out: int | None = None) -> None:
        """Fold one step of one layer into the statistics.

        Args:
            layer: layer name.
            spikes: 0/1 spikes, numpy array or torch tensor (any device), shape
                (batch, *neurons), or (T, batch, *neurons) with ``time_major``;
                a 1-D ``(n_neurons,)`` array is one unbatched sample (as in the seed).
            voltages: membrane voltages whose trailing axes are the neurons
                (same shape as ``spikes``, or a final state (batch, *neurons)).
            gradients: gradient (e.g. of the loss w.r.t. the spikes); its RMS
                is this step's gradient norm.
            time_major: spikes have a leading time axis.
            params: the layer's neuron parameters (e.g. ``{"threshold": 1.0}``),
                quoted in suggestions.
            fan_out: synapses each of the layer's spikes drives (for
                ``LayerStats.estimated_syn_ops``); see also :meth:`set_fan_out`.

        Raises:
            ValueError/TypeError: on a missing batch or neuron axis, a neuron
                count that differs from earlier steps, or non-numeric data.
        """
        if not isinstance(layer, str) or not layer:
            raise TypeError(f"layer must be a non-empty string, got {layer!r}")
        if spikes is None:
            raise TypeError(f"layer {layer!r}: spikes are required")
        shape = tuple(spikes.shape) if hasattr(spikes, "shape") else None
        if shape is None:
            raise TypeError(f"layer {layer!r}: spikes must be a numpy array or torch tensor, "
                            f"got {type(spikes).__name__}")
        if len(shape) == 1 and not time_major:  # unbatched (n_neurons,): one sample
            spikes = spikes.reshape(1, -1)
            if voltages is not None and len(tuple(getattr(voltages, "shape", ()))) == 1:
                voltages = voltages.reshape(1, -1)
            shape = tuple(spikes.shape)
        n = neuron_count(shape, time_major, f"layer {layer!r}: spikes")
        # Validate every argument before folding anything: no half-recorded steps.
        if voltages is not None:
            check_trailing(tuple(getattr(voltages, "shape", ())), n, "voltages", layer)
        if gradients is not None and 0 in tuple(getattr(gradients, "shape", (0,))):
            raise ValueError(f"layer {layer!r}: gradients are empty")
        acc = self._window.get(layer)
        if acc is None:
            acc = LayerAccumulator(layer, n, spikes)
            acc.add_spikes(spikes, time_major)
            self._window[layer] = acc
            if layer not in self._order:
                self._order.append(layer)
        else:
            acc.add_spikes(spikes, time_major)
        every = self._voltage_every.get(layer, self.voltage_every)
        if voltages is not None and (acc.n_steps - 1) % every == 0:
            acc.add_voltages(voltages)
        if gradients is not None:
            acc.add_gradients(gradients)
        if params is not None:
            self.set_layer_params(layer, params)
        if fan_out is not None:
            self.set_fan_out(layer, fan_out)

    def set_fan_out(self, layer: str, fan_out: int) -> None:
        """Synapses driven by each spike of ``layer`` (the next layer's inputs per neuron)."""
        if isinstance(fan_out, bool) or not isinstance(fan_out, int) or fan_out < 0:
            raise ValueError(f"fan_out must be an int >= 0, got {fan_out!r}")
        self._fan_out[layer] = fan_out

    def record_gradients(self, layer: str, gradients: Any) -> None:
        """Fold a gradient for a layer that already has recorded spikes (e.g. from a hook)."""
        acc = self._window.get(layer)
        if acc is None:
            total = self._total.get(layer)
            if total is None:
                raise ValueError(f"layer {layer!r}: record its spikes before its gradients")
            acc = LayerAccumulator(layer, total.n, total.spike_sum)
            self._window[layer] = acc
        acc.add_gradients(gradients)

    def set_layer_params(self, layer: str, params: Mapping[str, float]) -> None:
        """Tell the profiler a layer's neuron parameters (threshold, beta, ...)."""
        self._params[layer] = {str(k): float(v) for k, v in params.items()}

    def nbytes(self) -> int:
        """Bytes held by the running statistics (independent of the number of steps)."""
        return sum(a.nbytes() for a in (*self._total.values(), *self._window.values()))

    # ------------------------------------------------------------------ epochs
    @property
    def epoch_reports(self) -> list[ProfileReport]:
        """Reports of the closed epochs, oldest first (at most ``keep_epochs``)."""
        return list(self._epoch_reports)

    @property
    def epoch(self) -> int:
        """1-based number of the epoch window being recorded now."""
        return self._epochs_closed + 1

    def end_epoch(self) -> ProfileReport:
        """Close the current epoch window: return its report, keep it in ``epoch_reports``."""
        rep = self._build(self._window, window="epoch", epoch=self.epoch)
        self._epoch_reports.append(rep)
        for name, acc in self._window.items():
            total = self._total.get(name)
            if total is None:
                self._total[name] = acc
            else:
                total.merge(acc)
        self._window = {}
        self._epochs_closed += 1
        return rep

    # ------------------------------------------------------------------ reports
    def _current_params(self) -> dict[str, dict[str, float]]:
        params = {k: dict(v) for k, v in self._params.items()}
        for name, cell in self._cells.items():
            get = getattr(cell, "equation_params", None)
            if callable(get):
                params[name] = {**params.get(name, {}),
                                **{k: float(v) for k, v in get().items()}}
        return params

    def _build(self, accs: Mapping[str, LayerAccumulator], window: str,
               epoch: int | None) -> ProfileReport:
        params = self._current_params()
        stats = {}
        for name in self._order:
            acc = accs.get(name)
            if acc is not None and acc.n_steps:
                stats[name] = build_layer_stats(name, acc.snapshot(), self.thresholds,
                                                params.get(name), self._fan_out.get(name, 0))
        pathologies = detect_all(stats, self.thresholds)
        if epoch is not None:
            pathologies = [_with_epoch(p, epoch) for p in pathologies]
        return ProfileReport(stats, pathologies, self.thresholds, window=window, epoch=epoch,
                             epochs_closed=self._epochs_closed)

    def report(self, window: str = "all") -> ProfileReport:
        """Diagnose the recorded steps.

        Args:
            window: ``"all"``: everything since the last :meth:`reset`; it also
                lists, marked with their epoch, pathologies of the last closed
                epoch and of the open window that the run totals do not show
                (late-onset problems); and findings of the run totals or of
                earlier epochs that the latest window (the open one, else the
                last closed epoch) no longer shows move to ``report.resolved``.
                ``"epoch"``: the current epoch window, or the last closed one
                when nothing was recorded since :meth:`end_epoch`.
        """
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
        has_open = any(a.n_steps for a in self._window.values())
        if window == "epoch":
            if not has_open and self._epoch_reports:
                return self._epoch_reports[-1]
            return self._build(self._window, window="epoch", epoch=self.epoch)
        merged: dict[str, LayerAccumulator] = {n: a.copy() for n, a in self._total.items()}
        for name, acc in self._window.items():
            if name in merged:
                merged[name].merge(acc)
            else:
                merged[name] = acc
        rep = self._build(merged, window="all", epoch=None)
        if self._epochs_closed:
            recent = [self._epoch_reports[-1]]
            if has_open:
                recent.append(self._build(self._window, window="epoch", epoch=self.epoch))
            seen = {(p.category, p.layer): p.severity for p in rep.pathologies}
            for window_report in recent:
                for p in window_report.pathologies:
                    if p.severity > seen.get((p.category, p.layer), -1):
                        rep.pathologies.append(p)
                        seen[(p.category, p.layer)] = p.severity
            self._withdraw_resolved(rep, recent[-1])
            rep.pathologies.sort(key=lambda p: -int(p.severity))
        return rep

    def _withdraw_resolved(self, rep: ProfileReport, latest: ProfileReport) -> None:
        """Move findings that ``latest`` no longer shows from ``rep.pathologies`` to ``rep.resolved``.

        Only layers ``latest`` has data for can be judged (network-level
        findings: any layer); the last epoch a finding was seen in is kept.
        """
        now = {(p.category, p.layer) for p in latest.pathologies}
        judged = set(latest.layer_stats)

        def gone(p: Pathology) -> bool:
            covered = bool(judged) if p.layer == NETWORK else p.layer in judged
            return covered and (p.category, p.layer) not in now

        last_seen: dict[tuple[str, str], Pathology] = {}
        for past in self._epoch_reports:
            if past is latest:
                continue
            for p in past.pathologies:
                last_seen[(p.category, p.layer)] = p
        keep, resolved = [], {}
        for p in rep.pathologies:
            key = (p.category, p.layer)
            if gone(p):
                src = last_seen.get(key, p)
                resolved[key] = replace(src, resolved=True)
            else:
                keep.append(p)
        for key, p in last_seen.items():
            if key not in resolved and gone(p) and key not in {(q.category, q.layer) for q in keep}:
                resolved[key] = replace(p, resolved=True)
        rep.pathologies[:] = keep
        rep.resolved = sorted(resolved.values(), key=lambda p: -int(p.severity))

    # ------------------------------------------------------------------ model hooks
    def attach(self, model: Any, layers: Iterable[str] | None = None, *,
               gradients: bool = True, voltage_every: int = 4) -> SpikeProfiler:
        """Record every cell of ``model`` automatically (no ``record_step`` calls needed).

        Registers an observer on each module that has ``add_observer`` (the
        ``sw.training`` cells), named by ``model.named_modules()``; with
        ``gradients`` the gradient flowing into each cell's spikes is recorded
        on the backward pass.  The cells' ``equation_params()`` feed the
        suggestions.  ``voltage_every`` samples the membrane trajectory of
        every k-th forward per cell (1: all), which keeps the profiler under
        10 % of a digits training epoch; firing rates and gradients use every
        forward.  Returns ``self``; usable as a context manager that detaches.

        Raises:
            ValueError: when the model has no observable cell, or a named layer is missing.
        """
        if not hasattr(model, "named_modules"):
            raise TypeError(f"attach needs a torch.nn.Module, got {type(model).__name__}")
        cells = {(name or type(m).__name__): m for name, m in model.named_modules()
                 if callable(getattr(m, "add_observer", None))}
        if layers is not None:
            wanted = list(layers)
            missing = [n for n in wanted if n not in cells]
            if missing:
                raise ValueError(f"no observable cell named {missing}; cells are {sorted(cells)}")
            cells = {n: cells[n] for n in wanted}
        if not cells:
            raise ValueError(f"{type(model).__name__} has no cell with add_observer(); "
                             "attach works on sw.training cells")
        if isinstance(voltage_every, bool) or not isinstance(voltage_every, int) \
                or voltage_every < 1:
            raise ValueError(f"voltage_every must be an int >= 1, got {voltage_every!r}")
        twice = [n for n, c in cells.items() if any(c is mine for mine in self._cells.values())]
        if twice:
            raise ValueError(f"cells {twice} are already attached to this profiler "
                             "(their steps would count twice); detach() first")
        for name, cell in cells.items():
            self._handles.append(cell.add_observer(self._observer(name, gradients)))
            self._cells[name] = cell
            self._voltage_every[name] = voltage_every
        return self

    def _observer(self, name: str, gradients: bool):
        def observe(cell: Any, spikes: Any, states: Mapping[str, Any], time_major: bool) -> None:
            voltages = states.get("v") if states else None
            self.record_step(name, spikes, voltages, time_major=time_major)
            if gradients and is_torch_tensor(spikes) and spikes.requires_grad:
                spikes.register_hook(lambda g: self._hook_gradient(name, g))
        return observe

    def _hook_gradient(self, name: str, grad: Any) -> None:
        # A backward pass of a forward recorded before reset() must not break training.
        if name in self._window or name in self._total:
            self.record_gradients(name, grad)

    def detach(self) -> None:
        """Remove every observer registered by :meth:`attach` (statistics are kept)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        # Keep the cells' last parameters so reports still quote them.
        self._params.update(self._current_params())
        self._cells.clear()
        self._voltage_every.clear()

    def __enter__(self) -> SpikeProfiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()


def _with_epoch(p: Pathology, epoch: int) -> Pathology:
    return replace(p, epoch=epoch)
