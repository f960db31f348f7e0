"""Random test vectors for compiled neurons (used by the RTL tests, the CLI testbench and benches).

Stimuli mix three populations so that every rule gets exercised:
typical values around the threshold scale, the format's extremes
(``min_raw``, ``max_raw`` and their neighbours, 0, ±1 LSB) which drive
every adder/multiplier into saturation, and uniform raws over the whole range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .compiled import CompiledNeuron

__all__ = ["random_raws", "datapath_vectors", "array_requests", "save_vectors"]


def random_raws(neuron: CompiledNeuron, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` raw values of ``neuron.fmt``: 50 % typical (|x| <~ 4), 20 % extremes, 30 % uniform."""
    fmt = neuron.fmt
    kind = rng.choice(3, size=n, p=[0.5, 0.2, 0.3])
    typical = fmt.quantize(np.clip(rng.normal(0.0, 1.5, size=n), fmt.min_value, fmt.max_value))
    extremes = np.array([fmt.min_raw, fmt.min_raw + 1, -1, 0, 1, fmt.max_raw - 1, fmt.max_raw], dtype=np.int64)
    extreme = rng.choice(extremes, size=n)
    uniform = rng.integers(fmt.min_raw, fmt.max_raw + 1, size=n, dtype=np.int64)
    return np.where(kind == 0, typical, np.where(kind == 1, extreme, uniform)).astype(np.int64)


def datapath_vectors(neuron: CompiledNeuron, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Port name -> raws for ``n`` datapath evaluations: ``in_*``/``st_*`` stimuli and the
    expected ``out_*``/``spike`` from :meth:`CompiledNeuron.step` (the golden step)."""
    rng = np.random.default_rng(seed)
    vec = {f"in_{k}": random_raws(neuron, n, rng) for k in neuron.inputs}
    vec.update({f"st_{k}": random_raws(neuron, n, rng) for k in neuron.states})
    spike, new = neuron.step({k: vec[f"st_{k}"] for k in neuron.states},
                             {k: vec[f"in_{k}"] for k in neuron.inputs})
    vec.update({f"out_{k}": new[k] for k in neuron.states})
    vec["spike"] = spike
    return vec


def array_requests(neuron: CompiledNeuron, n_neurons: int, n_cycles: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Cycle-by-cycle requests for a ``NeuronArray`` (``req_*``) and its expected outputs (``exp_*``).

    About 80 % of cycles carry a request; indices are random (so the same
    neuron is often updated back to back), ``first`` is set 5 % of the time.
    Inputs are typical values so that neurons integrate and fire.
    """
    from hw.cores.neuron import neuron_array_model

    rng = np.random.default_rng(seed)
    fmt = neuron.fmt
    req = {"req_valid": (rng.random(n_cycles) < 0.8).astype(np.int64),
           "req_index": rng.integers(0, n_neurons, size=n_cycles, dtype=np.int64),
           "req_first": (rng.random(n_cycles) < 0.05).astype(np.int64)}
    for k in neuron.inputs:
        raw = fmt.quantize(np.clip(rng.normal(0.3, 0.8, size=n_cycles), fmt.min_value, fmt.max_value))
        # a few extremes so saturation also happens inside the array
        ext = rng.random(n_cycles) < 0.05
        raw[ext] = rng.choice([fmt.min_raw, fmt.max_raw], size=int(ext.sum()))
        req[f"req_in_{k}"] = raw
    todo = [(int(req["req_index"][c]), int(req["req_first"][c]),
             {k: int(req[f"req_in_{k}"][c]) for k in neuron.inputs})
            for c in range(n_cycles) if req["req_valid"][c]]
    out = neuron_array_model(neuron, n_neurons, todo)
    req["exp_index"] = np.array([o[0] for o in out], dtype=np.int64)
    req["exp_spike"] = np.array([o[1] for o in out], dtype=np.int64)
    for s in neuron.states:
        req[f"exp_out_{s}"] = np.array([o[2][s] for o in out], dtype=np.int64)
    return req


def save_vectors(path: Path, vectors: dict[str, np.ndarray], **meta: str | int) -> Path:
    """Write vectors (+ scalar metadata such as ``width`` and ``mode``) to one ``.npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in vectors.items()}
    arrays.update({f"meta_{k}": np.asarray(v) for k, v in meta.items()})
    np.savez(path, **arrays)
    return path
