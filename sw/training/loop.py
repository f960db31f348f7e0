"""Training loop: ``train_epoch``, ``evaluate``, ``auto_device`` and the multi-epoch ``fit``."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sw.training.distributed import all_reduce_sum, is_main_process, unwrap
from sw.training.losses import spike_count_loss


def _cuda_usable() -> bool:
    """Run one tiny kernel: a present GPU can still be unusable (architecture not in this
    torch build, "no kernel image is available", driver too old)."""
    try:
        x = torch.ones(2, device="cuda")
        return bool((x + x).sum().item() == 4.0)
    except (RuntimeError, AssertionError) as exc:  # AssertionError: torch built without CUDA
        warnings.warn(f"a CUDA device is present but unusable ({str(exc).splitlines()[0]}); "
                      "falling back to the CPU", RuntimeWarning, stacklevel=3)
        return False


def auto_device() -> torch.device:
    """CUDA if available and usable, then Apple MPS, then CPU.

    A CUDA device that ``torch.cuda.is_available()`` reports but that cannot
    run a kernel gives a ``RuntimeWarning`` and the next choice.
    """
    if torch.cuda.is_available() and _cuda_usable():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def prepare_input(model: nn.Module, x: Tensor, n_timesteps: int,
                  flatten_input: bool = True) -> Tensor:
    """Turn a batch into the ``(T, batch, *sample)`` tensor the model takes.

    A static batch ``(batch, *sample)`` is repeated over ``n_timesteps`` with
    ``expand`` (no copy; the network then computes its first layer once).  A
    pre-encoded ``(T, batch, *sample)`` batch is passed through.  When the model
    declares ``input_shape`` the sample is reshaped to it (so flat 784-vectors
    feed a conv net and 28x28 images a dense one); otherwise 2-D input is
    static and higher-rank input pre-encoded, flattened to features when
    ``flatten_input``.
    """
    if n_timesteps < 1:
        raise ValueError(f"n_timesteps must be >= 1, got {n_timesteps}")
    shape = getattr(unwrap(model), "input_shape", None)
    if shape is not None:
        shape = tuple(shape)
        n = math.prod(shape)
        k = len(shape)
        if x.dim() == k + 1 and tuple(x.shape[1:]) == shape:
            static = x
        elif x.dim() == k + 2 and tuple(x.shape[2:]) == shape:
            return x
        elif x.dim() == 2 and x.shape[1] == n:
            static = x.reshape(x.shape[0], *shape)
        elif x.dim() == 3 and x.shape[2] == n:
            return x.reshape(x.shape[0], x.shape[1], *shape)
        elif x.dim() >= 2 and x[0].numel() == n:
            static = x.reshape(x.shape[0], *shape)
        else:
            raise ValueError(f"input batch {tuple(x.shape)} matches neither (batch, {shape}) "
                             f"nor (T, batch, {shape}) for {type(unwrap(model)).__name__}")
    elif x.dim() == 2:
        static = x
    else:
        return x.flatten(2) if flatten_input else x
    if flatten_input and shape is None:
        static = static.flatten(1)
    return static.unsqueeze(0).expand(n_timesteps, *static.shape)


class StopTraining(Exception):
    """Raised by ``train_epoch`` when its ``on_batch`` callback returns ``False``."""


def _loss_and_scores(loss_fn: Callable, counts: Tensor, mem: Tensor, y: Tensor,
                     T: int) -> tuple[Tensor, Tensor]:
    scores = mem if getattr(loss_fn, "output", "counts") == "membrane" else counts
    if getattr(loss_fn, "needs_timesteps", False):
        return loss_fn(scores, y, T), scores
    return loss_fn(scores, y), scores


def _batches(loader: Iterable, progress: bool | str):
    if progress and is_main_process():
        return tqdm(loader, desc=progress if isinstance(progress, str) else None,
                    leave=False, unit="batch")
    return loader


def train_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                n_timesteps: int, loss_fn: Callable = spike_count_loss,
                device: str | torch.device = "cpu", max_grad_norm: float | None = None,
                flatten_input: bool = True, progress: bool | str = False,
                on_batch: Callable[[int, float, float], bool | None] | None = None,
                encoder: Callable[[Tensor, int], Tensor] | None = None
                ) -> tuple[float, float]:
    """One pass over ``loader`` of ``(x, y)`` batches; returns ``(mean loss, accuracy)``.

    ``x`` is either ``(batch, features...)`` (repeated over ``n_timesteps``) or
    pre-encoded ``(T, batch, ...)``.  ``encoder(x, n_timesteps) -> (T, batch, ...)`` (e.g.
    ``sw.training.encoders.rate_encode``), when given, encodes every batch first (a fresh
    draw each time for a random code).  Under DDP the figures are over all ranks.
    ``on_batch(index, loss, accuracy)`` is called after every optimizer step;
    returning ``False`` raises ``StopTraining``.
    """
    model.train()
    tot_loss = tot_correct = tot_n = 0.0
    n_batches = 0
    for x, y in _batches(loader, progress):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if encoder is not None:
            x = encoder(x, n_timesteps)
        xs = prepare_input(model, x, n_timesteps, flatten_input)
        counts, mem = model(xs)
        loss, scores = _loss_and_scores(loss_fn, counts, mem, y, xs.shape[0])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        n = y.shape[0]
        batch_loss = float(loss.detach())
        batch_correct = float((scores.argmax(1) == y).sum())
        tot_loss += batch_loss * n
        tot_correct += batch_correct
        tot_n += n
        if on_batch is not None and on_batch(n_batches, batch_loss, batch_correct / n) is False:
            raise StopTraining(f"stopped by on_batch after batch {n_batches}")
        n_batches += 1
    tot_loss, tot_correct, tot_n = all_reduce_sum([tot_loss, tot_correct, tot_n], device)
    if tot_n == 0:
        raise ValueError("train_epoch: the loader yielded no batches")
    return tot_loss / tot_n, tot_correct / tot_n


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, n_timesteps: int,
             loss_fn: Callable = spike_count_loss, device: str | torch.device = "cpu",
             flatten_input: bool = True,
             encoder: Callable[[Tensor, int], Tensor] | None = None) -> tuple[float, float]:
    """Loss and accuracy of ``model`` on ``loader`` (prediction = argmax of spike counts,
    or of the accumulated membrane for ``membrane_loss``); ``encoder`` as in ``train_epoch``."""
    model.eval()
    tot_loss = tot_correct = tot_n = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if encoder is not None:
            x = encoder(x, n_timesteps)
        xs = prepare_input(model, x, n_timesteps, flatten_input)
        counts, mem = model(xs)
        loss, scores = _loss_and_scores(loss_fn, counts, mem, y, xs.shape[0])
        n = y.shape[0]
        tot_loss += float(loss) * n
        tot_correct += float((scores.argmax(1) == y).sum())
        tot_n += n
    if tot_n == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    return tot_loss / tot_n, tot_correct / tot_n


def _long(loader: Iterable) -> bool:
    """Per-batch bars only for long epochs (short ones just clutter the output)."""
    try:
        return len(loader) >= 100  # type: ignore[arg-type]
    except TypeError:
        return True


@dataclass
class FitResult:
    """What ``fit`` did.

    Attributes:
        history: one dict per finished epoch (epoch, train_loss, train_acc,
            val_loss, val_acc, seconds).
        interrupted: True if Ctrl-C stopped training (the last finished epoch is kept).
        stopped: True if the callback asked to stop.
        checkpoint: path of the last saved checkpoint, if any.
    """

    history: list[dict] = field(default_factory=list)
    interrupted: bool = False
    stopped: bool = False
    checkpoint: Path | None = None

    @property
    def final_val_acc(self) -> float | None:
        return self.history[-1].get("val_acc") if self.history else None


def fit(model: nn.Module, train_loader: Iterable, optimizer: torch.optim.Optimizer,
        n_timesteps: int, epochs: int = 10, val_loader: Iterable | None = None,
        loss_fn: Callable = spike_count_loss, device: str | torch.device = "cpu",
        max_grad_norm: float | None = None, flatten_input: bool = True,
        checkpoint_path: str | Path | None = None,
        callback: Callable[[dict], bool | None] | None = None,
        batch_callback: Callable[[dict], bool | None] | None = None,
        progress: bool = True, encoder: Callable[[Tensor, int], Tensor] | None = None,
        **checkpoint_extra) -> FitResult:
    """Train for ``epochs`` epochs with a progress bar.

    After each finished epoch the model is evaluated on ``val_loader`` (if
    given), the checkpoint is written atomically to ``checkpoint_path`` (rank 0
    only) and ``callback(record)`` is called; a callback returning ``False``
    stops training.  ``batch_callback({"epoch", "batch", "loss", "accuracy"})``
    is called after every optimizer step; returning ``False`` stops at once
    (the unfinished epoch is neither recorded nor checkpointed).  Ctrl-C stops
    cleanly: the checkpoint of the last finished epoch stays on disk and the
    history so far is returned.  ``encoder(x, n_timesteps)`` encodes every training and
    validation batch (``train_epoch``).  Extra keyword arguments are stored in the
    checkpoint.
    """
    from sw.training.checkpoint import save_checkpoint

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    result = FitResult()
    bar = tqdm(range(1, epochs + 1), desc="epochs", unit="epoch",
               disable=not (progress and is_main_process()))
    try:
        for epoch in bar:
            sampler = getattr(train_loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            t0 = time.perf_counter()
            on_batch = None
            if batch_callback is not None:
                def on_batch(i: int, loss: float, acc: float, epoch: int = epoch):
                    return batch_callback({"epoch": epoch, "batch": i, "loss": loss,
                                           "accuracy": acc})
            loss, acc = train_epoch(model, train_loader, optimizer, n_timesteps, loss_fn,
                                    device, max_grad_norm, flatten_input,
                                    progress=f"epoch {epoch}" if progress and _long(train_loader)
                                    else False, on_batch=on_batch, encoder=encoder)
            record = {"epoch": epoch, "train_loss": loss, "train_acc": acc,
                      "seconds": time.perf_counter() - t0}
            if val_loader is not None:
                record["val_loss"], record["val_acc"] = evaluate(
                    unwrap(model), val_loader, n_timesteps, loss_fn, device, flatten_input,
                    encoder=encoder)
            result.history.append(record)
            bar.set_postfix({k: f"{record[k]:.3f}" for k in ("train_acc", "val_acc")
                             if k in record})
            if checkpoint_path is not None and is_main_process():
                result.checkpoint = save_checkpoint(
                    unwrap(model), checkpoint_path, epoch=epoch, history=list(result.history),
                    n_timesteps=n_timesteps, **checkpoint_extra)
            if callback is not None and callback(record) is False:
                result.stopped = True
                break
    except StopTraining:
        result.stopped = True
    except KeyboardInterrupt:
        result.interrupted = True
        if is_main_process():
            where = f"; checkpoint of epoch {len(result.history)} kept at {result.checkpoint}" \
                if result.checkpoint else ""
            tqdm.write(f"interrupted after {len(result.history)} finished epoch(s){where}")
    finally:
        bar.close()
    return result
