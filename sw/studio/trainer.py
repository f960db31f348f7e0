"""One training job: data, ``SpikingNet``, batch loop, metrics, profiler diagnoses.

This is the only Studio module that touches ``sw.training`` and
``sw.profiling``.  It runs its own batch loop (the same loss and optimizer
calls as ``sw.training.train_epoch``) so that it can publish ``batch`` events
and honour a stop request between any two batches.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import load_dataset
from .jobs import JobContext
from .settings import StudioSettings


class _Stopped(Exception):
    """Raised inside the loops when the job was asked to stop."""


class _RateMeter:
    """Mean firing rate per spiking layer, fed by the cells' observers."""

    def __init__(self, model: Any) -> None:
        self.names = [f"lifs.{i}" for i in range(len(model.lifs))]
        self.enabled = False
        self._sum = dict.fromkeys(self.names, 0.0)
        self._count = dict.fromkeys(self.names, 0)
        self._handles = [cell.add_observer(self._observer(name))
                         for name, cell in zip(self.names, model.lifs)]

    def _observer(self, name: str):
        def observe(cell: Any, spikes: Any, states: Any, time_major: bool) -> None:
            if self.enabled:
                self._sum[name] += float(spikes.detach().sum())
                self._count[name] += int(spikes.numel())
        return observe

    def take(self) -> dict[str, float]:
        """Rates since the last call (fraction of neuron-timesteps that spiked)."""
        rates = {n: (self._sum[n] / self._count[n] if self._count[n] else 0.0) for n in self.names}
        self._sum = dict.fromkeys(self.names, 0.0)
        self._count = dict.fromkeys(self.names, 0)
        return rates

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def param_snapshot(model: Any, learn_beta: bool, learn_threshold: bool) -> dict[str, float]:
    """Current learnable β / θ of every spiking layer, keyed ``"lifs.<i>.<name>"``."""
    wanted = [name for name, on in (("beta", learn_beta), ("threshold", learn_threshold)) if on]
    snap: dict[str, float] = {}
    for i, cell in enumerate(model.lifs):
        params = cell.equation_params()
        for name in wanted:
            if name in params:
                snap[f"lifs.{i}.{name}"] = float(params[name])
    return snap


def _build_model(training: Any, n_input: int, n_output: int, config: dict[str, Any]) -> Any:
    """``SpikingNet`` with ``len(hidden)`` hidden layers of the requested widths."""
    import torch

    hidden = list(config["hidden"])
    model = training.SpikingNet(
        n_input, hidden[0], n_output, n_layers=len(hidden),
        surrogate_fn=getattr(training, config["surrogate"]),
        learn_beta=config["learn_beta"], learn_threshold=config["learn_threshold"],
    )
    if len(set(hidden)) > 1:
        # SpikingNet takes one width; its cells hold scalar parameters, so only the Linear
        # layers depend on the widths and can be resized in place.
        sizes = [n_input, *hidden, n_output]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            model.fcs[i] = torch.nn.Linear(a, b)
        model.config["hidden_sizes"] = hidden
    return model


def _pathology_dict(p: Any) -> dict[str, Any]:
    return {**p.to_dict(), "profiler_epoch": p.epoch, "severity_level": int(p.severity)}


class _Diagnoser:
    """Turns the profiler's per-epoch pathologies into ``diagnosis`` events when they appear or worsen."""

    def __init__(self, model: Any) -> None:
        from sw.profiling import SpikeProfiler

        self._profiler = SpikeProfiler().attach(model)
        self._seen: dict[tuple[str, str], int] = {}
        # Of the epoch just closed: per-layer dead / saturated neuron fractions and the
        # findings it shows ("category@layer"), so a client can tell active from resolved.
        self.dead: dict[str, float] = {}
        self.saturated: dict[str, float] = {}
        self.active: list[str] = []

    def epoch_end(self, epoch: int) -> list[dict[str, Any]]:
        report = self._profiler.end_epoch()
        self.dead = {n: float(s.dead_neuron_fraction) for n, s in report.layer_stats.items()}
        self.saturated = {n: float(s.saturated_neuron_fraction) for n, s in report.layer_stats.items()}
        self.active = sorted({f"{p.category}@{p.layer}" for p in report.pathologies})
        fresh = []
        for p in report.pathologies:
            key = (str(p.category), str(p.layer))
            if self._seen.get(key, -1) < int(p.severity):
                self._seen[key] = int(p.severity)
                fresh.append({**_pathology_dict(p), "epoch": epoch})
        return fresh

    def close(self) -> None:
        self._profiler.detach()


def _batches(x: Any, y: Any, batch_size: int, shuffle: bool, gen: Any):
    import torch

    order = torch.randperm(len(x), generator=gen) if shuffle else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def _evaluate(training: Any, model: Any, x: Any, y: Any, config: dict[str, Any],
              ctx: JobContext) -> tuple[float, float]:
    import torch

    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in _batches(x, y, config["batch_size"], False, None):
            if ctx.should_stop():
                raise _Stopped
            counts, _ = model(xb.unsqueeze(0).expand(config["timesteps"], -1, -1))
            loss_sum += float(training.spike_count_loss(counts, yb)) * len(yb)
            correct += int((counts.argmax(dim=1) == yb).sum())
    return loss_sum / len(x), correct / len(x)


def artifact_path(settings: StudioSettings, job_id: str) -> Path:
    """Where a finished run's hardware artifact (``hw.ir`` ``.npz``) lives: next to the database."""
    return Path(settings.db_path).parent / "artifacts" / f"{job_id}.npz"


def export_artifact(model: Any, config: dict[str, Any], job_id: str, dataset: str,
                    settings: StudioSettings) -> Path:
    """Write the trained ``model`` as a ``hw.ir.Network`` file (``sw.export.to_ir``), atomically."""
    from sw.export import to_ir

    model = model.to("cpu").eval()
    network = to_ir(model, timesteps=int(config["timesteps"]), encoding="direct", name=job_id,
                    metadata={"studio": {"job_id": job_id, "dataset": dataset, "seed": config.get("seed")}})
    path = artifact_path(settings, job_id)
    tmp = network.save(path.with_name(f"{job_id}.tmp.npz"))
    os.replace(tmp, path)
    return path


def preload() -> None:
    """Import what a job needs (torch, ``sw.training``, ``sw.profiling``) ahead of the first job."""
    import torch  # noqa: F401

    import sw.profiling  # noqa: F401
    import sw.training  # noqa: F401


def run_training(config: dict[str, Any], ctx: JobContext, settings: StudioSettings) -> None:
    """Train one job described by ``config`` (a validated ``TrainConfig`` dump)."""
    import torch

    from sw import training

    torch.manual_seed(config["seed"])
    data = load_dataset(config["dataset"], settings.mnist_dir, config["seed"])
    device = torch.device("cpu") if config.get("device") == "cpu" else torch.device(str(training.auto_device()))
    x_tr, y_tr = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    x_va, y_va = torch.from_numpy(data.x_val).to(device), torch.from_numpy(data.y_val).to(device)
    model = _build_model(training, data.n_input, data.n_classes, config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    meter = _RateMeter(model)
    diagnoser = _Diagnoser(model)
    n_batches = math.ceil(len(x_tr) / config["batch_size"])
    every = max(1, math.ceil(n_batches / settings.batch_events_per_epoch))
    learn = (config["learn_beta"], config["learn_threshold"])
    gen = torch.Generator().manual_seed(config["seed"])

    ctx.set_running(str(device), data.note)
    ctx.emit("config", {
        **config, "job_id": ctx.job_id, "device": str(device), "requested_dataset": config["dataset"],
        "dataset": data.name, "note": data.note, "n_input": data.n_input, "n_output": data.n_classes,
        "n_train": len(x_tr), "n_val": len(x_va), "batches_per_epoch": n_batches,
        "layers": meter.names, "n_params": sum(p.numel() for p in model.parameters()),
        "param_snapshot": param_snapshot(model, *learn),
    })
    history: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        for epoch in range(config["epochs"]):
            model.train()
            meter.enabled = True
            loss_sum, correct, seen = 0.0, 0, 0
            for b, (xb, yb) in enumerate(_batches(x_tr, y_tr, config["batch_size"], True, gen)):
                if ctx.should_stop():
                    raise _Stopped
                counts, _ = model(xb.unsqueeze(0).expand(config["timesteps"], -1, -1))
                loss = training.spike_count_loss(counts, yb)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {float(loss)} in epoch {epoch}, batch {b}; "
                                             "lower the learning rate")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                batch_loss = float(loss.detach())
                batch_correct = int((counts.detach().argmax(dim=1) == yb).sum())
                loss_sum += batch_loss * len(yb)
                correct += batch_correct
                seen += len(yb)
                if (b + 1) % every == 0 or b + 1 == n_batches:
                    ctx.emit("batch", {"epoch": epoch, "batch": b + 1, "batches": n_batches,
                                       "loss": batch_loss, "accuracy": batch_correct / len(yb)})
            meter.enabled = False
            rates = meter.take()
            val_loss, val_acc = _evaluate(training, model, x_va, y_va, config, ctx)
            row = {"epoch": epoch, "train_loss": loss_sum / seen, "val_loss": val_loss,
                   "train_accuracy": correct / seen, "val_accuracy": val_acc,
                   "layer_spike_rates": rates, "param_snapshot": param_snapshot(model, *learn),
                   "elapsed_s": round(time.monotonic() - t0, 3)}
            diagnoses = diagnoser.epoch_end(epoch)
            row.update(layer_dead_fraction=diagnoser.dead, layer_saturated_fraction=diagnoser.saturated,
                       active_findings=diagnoser.active)
            history.append(row)
            ctx.emit("epoch", row)
            for diagnosis in diagnoses:
                ctx.emit("diagnosis", diagnosis)
    except _Stopped:
        ctx.finish("stopped", {"epochs_done": len(history), **_summary(history),
                               "elapsed_s": round(time.monotonic() - t0, 3)})
        return
    finally:
        meter.remove()
        diagnoser.close()
    artifact: dict[str, Any] = {}
    try:  # the hardware panel's input; a run that cannot be exported still completes
        artifact["artifact"] = export_artifact(model, config, ctx.job_id, data.name, settings).name
    except Exception as exc:  # noqa: BLE001
        artifact["artifact_error"] = f"{type(exc).__name__}: {exc}"
    ctx.finish("completed", {"epochs_done": len(history), **_summary(history),
                             "elapsed_s": round(time.monotonic() - t0, 3), **artifact})


def _summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    if not history:
        return {}
    last = history[-1]
    return {k: last[k] for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")} | {
        "best_val_accuracy": float(np.max([h["val_accuracy"] for h in history]))}
