"""``python -m sim.verify``: float vs Q8.8 golden vs SC vs RTL on the digits test set.

One table: the accuracy of each model of the same network on the 360 test
samples of scikit-learn digits (``sw.training.load_digits_data``), the RTL
(the network core on Verilator or, with ``SIM=icarus``, Icarus: ``sim.tb.network.run_rtl``, every sample back to back in
one simulation) on a subset -- or on every sample with ``--rtl-samples all`` -- with the
percentage of samples whose output spike counts equal the golden model's bit for bit,
and the agreement (same predicted class) of every pair.  The golden model is
vectorised over samples: all 360 take well under a second.

Goals checked (from the issue): Q8.8 within 0.5 points of float, SC at the
chosen length within 2 points of float, RTL == golden on 100 % of the subset,
and every model better than chance (a model at chance level, or one that
predicts the same class for every sample, meets nothing, however small its
drop against float).  Saturation is reported: weights/biases clipped by Q8.8
(``hw.quantize``) and the golden model's currents and states at the Q8.8
limits (``sim.golden``), per layer.

    python -m sim.verify [--model ARTIFACT] [--weight-bits 16|8|4|8,4,8|auto] [--sc-length 2048]
                         [--sc-sng sobol] [--rtl-samples 20|all] [--sc-rtl-samples 0|N|all]
                         [--samples N] [--json]

``--weight-bits`` sets the weight precision of the golden model and the RTL (one value or
one per layer, ``hw.quantize``; default: the artifact's own, 16 unless it says otherwise);
``--sc-rtl-samples N`` also runs the SC engine (``python -m hw.build --arith sc``) on the RTL
and checks it bit for bit against its model (the ``SC engine model`` row, ``sim.sc.fixed``).
``auto`` takes the narrowest one whose golden accuracy stays within 0.5 points of float
(:func:`choose_weight_bits`, the same choice as ``python -m hw.build --weight-bits auto``).
The report always lists the golden accuracy of every uniform precision (16, 8, 4).

Exit status: 0 when every goal that was measured holds, 1 when one does not (or the run
fails), 2 on bad arguments or a missing/invalid model file.
"""

from __future__ import annotations

import json
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["verify", "format_table", "main", "GOALS", "precision_accuracy", "choose_weight_bits",
           "parse_weight_bits"]

GOALS = {"golden_vs_float_points": 0.5, "sc_vs_float_points": 2.0, "rtl_bit_exact_pct": 100.0,
         "chance_margin_points": 5.0}
"""Tolerances: accuracy drop (percentage points) vs float, RTL bit-exact share, and how far above
chance (1/classes) a model must be (at least this many points, and three standard errors of a
chance-level guesser on the samples used)."""


def chance_check(preds: np.ndarray, labels: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Whether a model is better than chance: accuracy above ``1/n_classes`` by the margin of
    :data:`GOALS`, and not one class for every sample (when the labels hold more than one)."""
    p = 1.0 / n_classes
    n = max(len(labels), 1)
    margin = max(GOALS["chance_margin_points"] / 100.0, 3.0 * float(np.sqrt(p * (1 - p) / n)))
    acc = float(np.mean(preds == labels)) if len(labels) else float("nan")
    constant = len(labels) > 1 and len(np.unique(preds)) == 1 and len(np.unique(labels)) > 1
    why = None
    if constant:
        why = f"predicts class {int(preds[0])} for every sample"
    elif not acc > p + margin:
        why = f"accuracy {100 * acc:.2f} % is not above chance ({100 * p:.1f} % + {100 * margin:.1f} points)"
    return {"accuracy": acc, "chance": p, "margin": margin, "constant": constant, "met": why is None,
            "why": why}


def saturation_report(qnet: Any, golden: Any) -> list[dict[str, Any]]:
    """Per layer: weights/biases clipped at quantisation, golden currents and states at the limits."""
    rows = []
    for i, q in enumerate(qnet.layers):
        rows.append({"layer": q.name, "clipped": int(q.saturated), "values": int(q.n_values),
                     "currents_at_limit": int(golden.current_saturations[i]),
                     "currents": int(golden.current_values[i]),
                     "states_at_limit": int(golden.state_saturations[i]),
                     "states": int(golden.state_values[i])})
    return rows


def _load_network(model: str | Path | None) -> Any:
    from hw.build import BuildError, load_model

    try:
        return load_model(model)
    except (BuildError, FileNotFoundError) as err:
        raise ValueError(str(err)) from None


def _digits_test_set() -> tuple[np.ndarray, np.ndarray]:
    from sw.training.data import load_digits_data

    _, x_test, _, y_test = load_digits_data()
    return x_test.numpy().astype(np.float64), y_test.numpy().astype(np.int64)


def _check_digits(network: Any) -> None:
    if network.n_input != 64 or network.n_output != 10:
        raise ValueError(f"the digits test set needs a 64-input, 10-output network; "
                         f"{network.name} has {network.n_input} inputs, {network.n_output} outputs")


def parse_weight_bits(text: str | None) -> int | list[int] | str | None:
    """``--weight-bits``: ``"8"`` -> 8, ``"8,4,8"`` -> ``[8, 4, 8]``, ``"auto"``; ``None`` stays."""
    from hw.ir import WEIGHT_BITS

    if text is None:
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        bits = [int(v) for v in text.split(",")]
    except ValueError:
        bits = []
    if not bits or any(b not in WEIGHT_BITS for b in bits):
        raise ValueError(f"--weight-bits takes {', '.join(map(str, WEIGHT_BITS))} (one for every layer, "
                         f"or one per layer separated by commas, e.g. 8,4,8) or auto, got {text!r}")
    return bits[0] if len(bits) == 1 else bits


def apply_weight_bits(network: Any, bits: int | list[int] | None) -> Any:
    """``network`` with ``bits`` set (``None``: unchanged); ``ValueError`` on a wrong count."""
    from hw.quantize import set_weight_bits

    if bits is None:
        return network
    if isinstance(bits, list) and len(bits) != len(network.layers):
        raise ValueError(f"--weight-bits gives {len(bits)} precisions, {network.name} has "
                         f"{len(network.layers)} layers")
    return set_weight_bits(network, bits)


def precision_accuracy(network: Any, x: np.ndarray, y: np.ndarray,
                       options: tuple[int, ...] = (16, 8, 4)) -> dict[int, float]:
    """Golden accuracy with every layer at each of ``options`` bits."""
    from hw.quantize import quantize_network
    from sim.golden import run_golden

    return {b: float(np.mean(run_golden(quantize_network(network, weight_bits=b), x,
                                        progress=False).predictions == y)) for b in options}


def choose_weight_bits(network: Any, *, limit_points: float | None = None,
                       samples: int | None = None) -> dict[str, Any]:
    """The narrowest uniform weight precision (4, then 8, then 16) whose golden accuracy on the
    digits test set is within ``limit_points`` (default :data:`GOALS`, 0.5) of float.

    Returns ``{"bits", "float_accuracy", "accuracy": {"16": .., "8": .., "4": ..}, "limit_points",
    "samples", "why"}``; 16 when none is within the limit (``why`` says so).
    """
    from sim.golden import simulate_float

    _check_digits(network)
    limit = GOALS["golden_vs_float_points"] if limit_points is None else float(limit_points)
    x, y = _digits_test_set()
    if samples is not None:
        x, y = x[:samples], y[:samples]
    f = float(np.mean(simulate_float(network, x, progress=False).predictions == y))
    acc = precision_accuracy(network, x, y)
    ok = [b for b in (4, 8, 16) if 100.0 * (f - acc[b]) <= limit]
    bits = ok[0] if ok else 16
    parts = ", ".join(f"{b}-bit {100 * acc[b]:.2f} %" for b in (16, 8, 4))
    why = (f"float {100 * f:.2f} %, golden {parts} on {len(x)} digits test samples: "
           + (f"{bits} bits is the narrowest within {limit:g} points of float"
              if ok else f"none within {limit:g} points of float, kept 16 bits"))
    return {"bits": bits, "float_accuracy": f, "accuracy": {str(b): acc[b] for b in (16, 8, 4)},
            "limit_points": limit, "samples": len(x), "why": why}


def _simulator_name() -> str:
    """The cocotb simulator the RTL column runs on (``sim.tb.runner.default_simulator``: ``$SIM``)."""
    from sim.tb.runner import default_simulator

    return {"icarus": "Icarus", "verilator": "Verilator"}[default_simulator()]


def _run_rtl(network: Any, x: np.ndarray, progress: bool) -> tuple[Any, str | None]:
    """RTL result, or ``None`` and the reason it could not run."""
    try:
        from sim.tb.network import run_rtl
    except ImportError as err:
        return None, f"RTL runner not available ({err})"
    try:
        if progress:
            print(f"running {len(x)} samples on the RTL ({_simulator_name()})...", file=sys.stderr, flush=True)
        return run_rtl(network, x), None
    except Exception as err:  # simulator missing, unsupported network, failed simulation
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"RTL run failed: {first[:200]}"


def verify(model: str | Path | None = None, *, sc_length: int = 2048, sc_sng: str = "sobol",
           sc_mode: str = "unipolar", rtl_samples: int | str = 20, samples: int | None = None,
           base_seed: int = 0, progress: bool = True,
           weight_bits: int | list[int] | str | None = None, sc_rtl_samples: int | str = 0,
           sc_bits_per_cycle: int = 64) -> dict[str, Any]:
    """Measure float / Q8.8 golden / SC / RTL on the digits test set; returns the report dict.

    Parameters:
        model: a ``hw.ir`` ``.npz`` (or ``.nir``) artifact; ``None`` = the built-in digits model.
        sc_length, sc_sng, sc_mode, base_seed: the SC run (``sim.sc.run_sc``).
        rtl_samples: first N test samples run on the RTL (0 skips it; ``"all"``: every sample used).
        samples: use only the first N test samples (default: all 360).
        weight_bits: weight precision of golden and RTL (one value, one per layer, ``"auto"``
            for :func:`choose_weight_bits`, ``None``: the artifact's own).
        sc_rtl_samples: first N test samples run on the SC engine's RTL (``python -m hw.build
            --arith sc``; 0 skips it, ``"all"``: every sample), compared bit for bit with its
            model ``sim.sc.fixed.run_sc_fixed`` (the ``sc_q88`` row: SC currents, Q8.8 neurons).
        sc_bits_per_cycle: the SC engine's stream bits a clock (as ``--sc-bits-per-cycle``).
    """
    from hw.encoding import encoder_for
    from hw.fixed import Q8_8
    from hw.quantize import quantize_network
    from sim.golden import run_golden, simulate_float
    from sim.sc import run_sc

    if not (isinstance(sc_length, int) and sc_length >= 1):
        raise ValueError(f"--sc-length must be an int >= 1, got {sc_length!r}")
    for flag, value in (("--rtl-samples", rtl_samples), ("--sc-rtl-samples", sc_rtl_samples)):
        if not (value == "all" or (isinstance(value, int) and value >= 0)):
            raise ValueError(f"{flag} must be an int >= 0 or 'all', got {value!r}")
    network = _load_network(model)
    _check_digits(network)
    chosen = None
    if weight_bits == "auto":
        chosen = choose_weight_bits(network, samples=samples)
        weight_bits = chosen["bits"]
    network = apply_weight_bits(network, weight_bits)
    encoder = encoder_for(network, Q8_8.frac_bits)   # rate/latency: every model sees the board's trains
    x, y = _digits_test_set()
    if samples is not None:
        if not (isinstance(samples, int) and samples >= 1):
            raise ValueError(f"--samples must be an int >= 1, got {samples!r}")
        x, y = x[:samples], y[:samples]
    preds: dict[str, np.ndarray] = {}
    preds["float"] = simulate_float(network, x, progress=progress).predictions
    qnet = quantize_network(network, Q8_8)
    precisions = precision_accuracy(network, x, y)
    golden = run_golden(qnet, x, progress=progress)
    preds["golden"] = golden.predictions
    preds["sc"] = run_sc(network, x, length=sc_length, sng=sc_sng, mode=sc_mode, base_seed=base_seed,
                         progress=progress).predictions
    sc_fixed, sc_status = _run_sc_fixed(qnet, x, sc_length, base_seed, progress)
    if sc_fixed is not None:
        preds["sc_q88"] = sc_fixed.predictions
    n_rtl = len(x) if rtl_samples == "all" else min(rtl_samples, len(x))
    rtl, rtl_status = (None, "skipped (--rtl-samples 0)") if n_rtl == 0 else _run_rtl(network, x[:n_rtl], progress)
    n_sc_rtl = len(x) if sc_rtl_samples == "all" else min(sc_rtl_samples, len(x))
    if sc_fixed is None:
        sc_rtl, sc_rtl_status = None, sc_status
    elif n_sc_rtl == 0:
        sc_rtl, sc_rtl_status = None, "skipped (--sc-rtl-samples 0)"
    else:
        sc_rtl, sc_rtl_status = _run_sc_rtl(qnet, x[:n_sc_rtl], sc_length, sc_bits_per_cycle, base_seed)

    def acc(p: np.ndarray, n: int | None = None) -> float:
        return float(np.mean(p[:n] == y[:n])) if len(p) else float("nan")

    models: dict[str, dict[str, Any]] = {
        "float": {"accuracy": acc(preds["float"]), "samples": len(x)},
        "golden": {"accuracy": acc(preds["golden"]), "samples": len(x)},
        "sc": {"accuracy": acc(preds["sc"]), "samples": len(x)},
        "sc_q88": {"accuracy": None if sc_fixed is None else acc(preds["sc_q88"]),
                   "samples": 0 if sc_fixed is None else len(x), "status": sc_status or "ok"},
        "rtl": {"accuracy": None, "samples": 0, "status": rtl_status or "ok", "simulator": _simulator_name()},
        "sc_rtl": {"accuracy": None, "samples": 0, "status": sc_rtl_status or "ok",
                   "simulator": _simulator_name()},
    }
    agreement = {f"{a}-{b}": float(np.mean(preds[a] == preds[b])) for a, b in combinations(preds, 2)}
    if rtl is not None:
        preds_rtl = np.asarray(rtl.predictions)
        exact = np.all(np.asarray(rtl.spike_counts) == golden.spike_counts[:n_rtl], axis=1)
        models["rtl"].update(accuracy=acc(preds_rtl, n_rtl) if n_rtl else None, samples=n_rtl,
                             bit_exact_pct=100.0 * float(np.mean(exact)),
                             golden_accuracy_on_subset=acc(preds["golden"], n_rtl))
        for other in ("float", "golden", "sc"):
            agreement[f"{other}-rtl"] = float(np.mean(preds[other][:n_rtl] == preds_rtl))
    if sc_rtl is not None:
        preds_sc = np.asarray(sc_rtl.predictions)
        exact = np.all(np.asarray(sc_rtl.spike_counts) == sc_fixed.spike_counts[:n_sc_rtl], axis=1)
        models["sc_rtl"].update(accuracy=acc(preds_sc, n_sc_rtl), samples=n_sc_rtl,
                                bit_exact_pct=100.0 * float(np.mean(exact)),
                                model_accuracy_on_subset=acc(preds["sc_q88"], n_sc_rtl),
                                cycles_mean=float(np.mean(sc_rtl.cycles)))
        for other in ("float", "golden", "sc_q88"):
            agreement[f"{other}-sc_rtl"] = float(np.mean(preds[other][:n_sc_rtl] == preds_sc))
    drop = lambda m: 100.0 * (models["float"]["accuracy"] - models[m]["accuracy"])  # noqa: E731
    goals = {
        "golden_vs_float": {"points": drop("golden"), "limit": GOALS["golden_vs_float_points"]},
        "sc_vs_float": {"points": drop("sc"), "limit": GOALS["sc_vs_float_points"]},
    }
    for g in goals.values():
        g["met"] = g["points"] <= g["limit"]
    if sc_fixed is not None:
        goals["sc_q88_vs_float"] = {"points": drop("sc_q88"), "limit": GOALS["sc_vs_float_points"]}
        goals["sc_q88_vs_float"]["met"] = goals["sc_q88_vs_float"]["points"] <= GOALS["sc_vs_float_points"]
    chance = {k: chance_check(preds[k], y, network.n_output) for k in ("float", "golden", "sc", "sc_q88")
              if k in preds}
    goals["better_than_chance"] = {"models": chance, "met": all(c["met"] for c in chance.values())}
    if rtl is not None:
        goals["rtl_equals_golden"] = {"bit_exact_pct": models["rtl"]["bit_exact_pct"],
                                      "limit": GOALS["rtl_bit_exact_pct"],
                                      "met": models["rtl"]["bit_exact_pct"] >= GOALS["rtl_bit_exact_pct"]}
    if sc_rtl is not None:
        goals["sc_rtl_equals_sc_model"] = {"bit_exact_pct": models["sc_rtl"]["bit_exact_pct"],
                                           "limit": GOALS["rtl_bit_exact_pct"],
                                           "met": models["sc_rtl"]["bit_exact_pct"] >= GOALS["rtl_bit_exact_pct"]}
    return {
        "model": network.name, "samples": len(x), "dataset": "sklearn digits test split (20 %, seed 42)",
        "encoding": network.encoding, "encoder": None if encoder is None else encoder.describe(),
        "sc": {"length": sc_length, "sng": sc_sng, "mode": sc_mode, "base_seed": base_seed,
               "engine_bits_per_cycle": sc_bits_per_cycle},
        "models": models, "agreement": agreement, "goals": goals,
        "quantisation": qnet.saturation_summary(), "saturation": saturation_report(qnet, golden),
        "weight_bits": [q.weight_bits for q in qnet.layers],
        "weight_shift": [q.weight_shift for q in qnet.layers],
        "weight_precisions": {str(b): {"accuracy": a, "points_below_float":
                                       100.0 * (models["float"]["accuracy"] - a)}
                              for b, a in precisions.items()},
        "weight_bits_auto": chosen,
        "all_goals_met": all(g["met"] for g in goals.values()),
    }


def _pct(n: int, total: int) -> str:
    return f"({100 * n / total:6.2f} %)" if total else "(   -    )"


def format_table(report: dict[str, Any]) -> str:
    """The human-readable table of a :func:`verify` report."""
    m, sc = report["models"], report["sc"]
    enc = report.get("encoder")
    how = "" if enc is None else "; input encoded on chip: " + ", ".join(f"{k} {v}" for k, v in enc.items())
    lines = [f"{report['model']} on {report['dataset']}: {report['samples']} samples{how}", ""]
    lines.append(f"{'model':<28}{'samples':>8}{'accuracy':>10}   note")
    bits = report.get("weight_bits") or []
    prec = "" if all(b == 16 for b in bits) else (
        f" ({bits[0]}-bit w)" if len(set(bits)) == 1 else f" ({','.join(map(str, bits))}-bit w)")
    names = {"float": "float64", "golden": f"Q8.8 golden{prec}",
             "sc": f"SC ({sc['sng']}, {sc['mode']}, L={sc['length']})",
             "sc_q88": f"SC engine model (L={sc['length']})",
             "rtl": f"RTL ({_simulator_name()})", "sc_rtl": f"SC engine RTL ({_simulator_name()})"}
    for key in ("float", "golden", "sc", "sc_q88", "rtl", "sc_rtl"):
        if key not in m:
            continue
        row = m[key]
        if row["accuracy"] is None:
            lines.append(f"{names[key]:<28}{'-':>8}{'-':>10}   {row.get('status', '')}")
            continue
        note = ""
        if key == "rtl":
            note = (f"bit-exact with golden on {row['bit_exact_pct']:.1f} % of samples "
                    f"(golden on this subset: {100 * row['golden_accuracy_on_subset']:.2f} %)")
        elif key == "sc_rtl":
            note = (f"bit-exact with the SC engine model on {row['bit_exact_pct']:.1f} % of samples "
                    f"(model on this subset: {100 * row['model_accuracy_on_subset']:.2f} %; "
                    f"{row['cycles_mean']:.0f} cycles/inference)")
        elif key == "sc_q88":
            note = "Sobol AND popcount currents, Q8.8 neurons: what the SC engine computes"
        lines.append(f"{names[key]:<28}{row['samples']:>8}{100 * row['accuracy']:>9.2f}%   {note}")
    if report.get("weight_precisions"):
        lines += ["", "golden accuracy per weight precision (every layer):"]
        for b, row in report["weight_precisions"].items():
            lines.append(f"  {b + '-bit':<8}{100 * row['accuracy']:>7.2f} %   "
                         f"{-row['points_below_float']:+.2f} points vs float")
        if report.get("weight_bits_auto"):
            lines.append(f"  auto: {report['weight_bits_auto']['why']}")
    lines += ["", "agreement (same predicted class):"]
    for pair, value in report["agreement"].items():
        n = (m["rtl"]["samples"] if pair.endswith("-rtl") else
             m["sc_rtl"]["samples"] if pair.endswith("-sc_rtl") else report["samples"])
        lines.append(f"  {pair:<16}{100 * value:>7.2f} %   ({n} samples)")
    lines += ["", report["quantisation"], "Q8.8 golden run, values at the format's limits "
              "(-128 / 127.996: saturated) per layer:"]
    for row in report["saturation"]:
        lines.append(f"  {row['layer']:<12} currents {row['currents_at_limit']:>8} of {row['currents']:<10}"
                     f"{_pct(row['currents_at_limit'], row['currents'])}   states {row['states_at_limit']:>8} "
                     f"of {row['states']:<10}{_pct(row['states_at_limit'], row['states'])}")
    lines += ["", "goals:"]
    for name, g in report["goals"].items():
        status = "met" if g["met"] else "NOT MET"
        if name == "better_than_chance":
            bad = {k: c for k, c in g["models"].items() if not c["met"]}
            lines.append(f"  {name:<23} {status}" + ("" if not bad else ": " + "; ".join(
                f"{names[k]} {c['why']}" for k, c in bad.items())))
        elif "points" in g:
            lines.append(f"  {name:<23} {g['points']:+.2f} points (limit {g['limit']}) {status}")
        else:
            lines.append(f"  {name:<23} {g['bit_exact_pct']:.1f} % bit-exact (need {g['limit']:.0f} %) {status}")
    if "sc_rtl" in m and "sc_rtl_equals_sc_model" not in report["goals"]:
        lines.append(f"  {'sc_rtl_equals_sc_model':<23} not measured: {m['sc_rtl'].get('status')}")
    if "rtl_equals_golden" not in report["goals"]:
        lines.append(f"  {'rtl_equals_golden':<23} not measured: {m['rtl'].get('status')}")
    failed = [name for name, g in report["goals"].items() if not g["met"]]
    lines.append("result: every measured goal met" if not failed
                 else "result: goals NOT met: " + ", ".join(failed))
    return "\n".join(lines)


def _run_sc_fixed(qnet: Any, x: np.ndarray, length: int, base_seed: int, progress: bool
                  ) -> tuple[Any, str | None]:
    """The SC engine's model on ``x``, or ``(None, why)`` when the SC layers cannot take the network."""
    from hw.sc_map import SCMapError
    from sim.sc.fixed import run_sc_fixed

    try:
        return run_sc_fixed(qnet, x, length=length, base_seed=base_seed, progress=progress), None
    except SCMapError as err:
        return None, f"not run: {err}"


def _run_sc_rtl(qnet: Any, x: np.ndarray, length: int, bits_per_cycle: int, base_seed: int
                ) -> tuple[Any, str | None]:
    """The SC engine's RTL (``hw.cores.sc_network``) on ``x``, or ``(None, why)``."""
    from hw.cores.plan import PlanError
    from hw.cores.sc_plan import plan_sc
    from hw.fixed import Q8_8
    from sim.tb.network import run_plan_rtl

    try:
        plan = plan_sc(qnet, length=length, bits_per_cycle=bits_per_cycle, base_seed=base_seed)
    except PlanError as err:
        return None, f"not run: {err}"
    return run_plan_rtl(plan, Q8_8.quantize(x)), None


def _rtl_count(text: str) -> int | str:
    """``--rtl-samples``: a count or ``all``."""
    import argparse

    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or 'all', got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    from hw.cli import FAILURE, INTERRUPTED, USAGE, ArgumentParser, error

    parser = ArgumentParser(prog="python -m sim.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="hw.ir .npz (or .nir) artifact; default: built-in digits model")
    parser.add_argument("--sc-length", type=int, default=2048, help="SC bitstream length (default 2048)")
    parser.add_argument("--sc-sng", choices=("sobol", "lfsr"), default="sobol", help="SC number generator")
    parser.add_argument("--sc-mode", choices=("unipolar", "bipolar"), default="unipolar", help="SC encoding")
    parser.add_argument("--rtl-samples", type=_rtl_count, default=20,
                        help="test samples run on the RTL (0: skip; 'all': every sample)")
    parser.add_argument("--sc-rtl-samples", type=_rtl_count, default=0,
                        help="test samples run on the SC engine's RTL (python -m hw.build --arith sc), "
                             "checked bit for bit against its model (default 0: skip; 'all': every sample)")
    parser.add_argument("--sc-bits-per-cycle", type=int, default=64,
                        help="the SC engine's stream bits a clock (as hw.build --sc-bits-per-cycle)")
    parser.add_argument("--samples", type=int, default=None, help="use only the first N test samples")
    parser.add_argument("--weight-bits", default=None,
                        help="weight precision: 16, 8 or 4 for every layer, one per layer (8,4,8), or auto "
                             "(the narrowest within 0.5 points of float); default: the artifact's")
    parser.add_argument("--seed", type=int, default=0, help="SC base seed")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = verify(args.model, sc_length=args.sc_length, sc_sng=args.sc_sng, sc_mode=args.sc_mode,
                        rtl_samples=args.rtl_samples, samples=args.samples, base_seed=args.seed,
                        progress=not args.json, weight_bits=parse_weight_bits(args.weight_bits),
                        sc_rtl_samples=args.sc_rtl_samples, sc_bits_per_cycle=args.sc_bits_per_cycle)
    except ValueError as err:
        return error(str(err), USAGE)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0 if report["all_goals_met"] else FAILURE


if __name__ == "__main__":
    sys.exit(main())
