"""``sim.tb.random_nets``: random-network differential testing of the engine against ``sim.golden``.

A hypothesis strategy, :func:`random_nets`, draws small networks over the space the
engine accepts (``hw.cores.plan``): dense layers only; direct encoding (an analog
first layer: real-valued input through ``fmt.mac``) or, half the time, rate or
latency encoding on chip (``hw.encoding``, drawn LFSR seed or tau; layer 0 then a spike
layer fed by the encoder), followed by 0-2 spike layers,
every neuron kind of :data:`sim.tb.engine_cases.ACCEPTED` with random parameters,
1-12 inputs, hidden layers of 1-10, 1-6 outputs, T = 1..8, weights and biases at
drawn scales from 0.25 up to 1000 (clipped by ``hw.quantize``: currents saturate),
random inputs (out-of-range ones included), and random plan options (lanes per
layer, weight packing, neuron pipeline stages, overlapped accumulation where the plan
offers it, host load of the banks).

:func:`check` runs one: quantise -> plan -> the engine in Amaranth's simulator
(``sim.tb.network.simulate_core``, traced) and compares every layer's spike train
per step, the counts, the class and the cycle count with ``sim.golden`` through
``sim.tb.engine_cases.check_against_golden``.  On a mismatch it writes the case
as a reproducible artifact (:func:`save_failure`: the ``hw.ir`` network ``.npz``,
the inputs and plan options, the message) into :data:`FAILURES` and raises an
``AssertionError`` naming that folder.  Replay one with

    python -m sim.tb.random_nets build/random_failures/<id>

``check(rn, rtl=True)`` runs the engine's Verilog on the RTL simulator instead (Verilator, or
Icarus with ``SIM=icarus``; ``tests/rtl/test_random_networks_rtl.py``), and ``--rtl`` replays there.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hw.fixed import Q8_8
from hw.ir import Conv2d, Dense, Network
from hw.quantize import QuantizedNetwork, quantize_network
from sim.golden import GoldenResult
from sim.tb.engine_cases import ACCEPTED, RECURRENT, Case, check_against_golden, neuron, run_case
from sim.tb.network import RTLResult

__all__ = ["RandomNet", "FAILURES", "PARAMS", "random_nets", "make_case", "run", "check",
           "save_failure", "load_failure", "main"]

FAILURES = Path(os.environ.get("SNN_RANDOM_FAILURES",
                               Path(__file__).resolve().parents[2] / "build" / "random_failures"))
"""Where :func:`check` writes failing cases (``$SNN_RANDOM_FAILURES`` overrides)."""

WEIGHT_SCALES = (0.25, 0.484375, 1.0, 4.0, 32.0, 127.0, 1000.0)
"""A layer's weights and bias lie in ``[-scale, scale]``: the first two fit 8-bit raws (the plan
packs two lanes per word); Q8.8 holds [-128, 128), so the last one is clipped at quantisation
and the big ones saturate the currents."""


def _raw(lo: int, hi: int) -> st.SearchStrategy[float]:
    """A value on the Q8.8 grid, ``lo/256 .. hi/256`` (exact in the format: no precision warning)."""
    return st.integers(lo, hi).map(lambda r: r / 256.0)


_FRACTION = _raw(0, 320)                    # decays: 0 .. 1.25 (above 1: growing, saturating)
_THRESHOLD = st.one_of(_raw(-64, 2048), st.sampled_from([0.0, 127.99609375, -128.0]))
PARAMS: dict[str, dict[str, st.SearchStrategy[float]]] = {
    "lif": {"beta": _FRACTION, "threshold": _THRESHOLD},
    "if": {"threshold": _THRESHOLD},
    "synaptic": {"alpha": _FRACTION, "beta": _FRACTION, "threshold": _THRESHOLD},
    "alif": {"beta": _FRACTION, "threshold": _THRESHOLD, "rho": _FRACTION, "beta_adapt": _raw(0, 1024)},
    "expif": {"beta": _FRACTION, "threshold": _THRESHOLD, "delta_t": _raw(26, 512), "v_rh": _raw(-256, 512)},
    "adex": {"beta": _FRACTION, "threshold": _THRESHOLD, "delta_t": _raw(26, 512), "v_rh": _raw(-256, 512),
             "a": _raw(0, 128), "b": _raw(0, 256), "rho": _FRACTION, "v_rest": _raw(-256, 256)},
    # dt / tau >= 1/128: a smaller step underflows Q8.8 and the compiler refuses it
    "lapicque": {"tau": st.integers(1, 32).map(float), "r": _raw(0, 1024), "dt": _raw(64, 512),
                 "threshold": _THRESHOLD, "v_rest": _raw(-256, 256)},
    "second_order_lif": {"alpha": _FRACTION, "beta": _FRACTION, "threshold": _THRESHOLD},
    "alpha": {"alpha_exc": _FRACTION, "alpha_inh": _FRACTION, "beta": _FRACTION, "threshold": _THRESHOLD},
    "recurrent_lif": {"beta": _FRACTION, "threshold": _THRESHOLD},
}
"""Parameter strategies of every accepted kind (values on the Q8.8 grid)."""


@dataclass
class RandomNet:
    """One drawn network with its inputs and plan options.

    Attributes:
        network: the ``hw.ir`` network (dense; direct, rate or latency encoding).
        x: ``(batch, n_input)`` real-valued inputs.
        lanes: lanes per layer (``plan_network(lanes=...)``; ``None``: the plan's choice).
        pack: pack two lanes per word where the raws allow it.
        neuron_stages: pipeline stages of the neuron datapaths (``None``: automatic).
        load: write every bank through the load port before the first sample.
        overlap: per layer, the spike layer accumulates its next group while the last one
            is updated (``plan_network(overlap=...)``; ``None``: the plan's default).
    """

    network: Network
    x: np.ndarray
    lanes: list[int] | None
    pack: bool
    neuron_stages: int | None
    load: bool
    overlap: list[bool] | None = None

    def describe(self) -> str:
        """One line: sizes, kinds, T, batch and plan options."""
        sizes = "-".join(str(n) for n in [self.network.n_input] + [l.n_out for l in self.network.layers])
        kinds = ",".join((f"conv/{l.pool}:" if l.op == "conv2d" else "") + l.neuron.kind
                         for l in self.network.layers)
        return (f"{sizes} [{kinds}] {self.network.encoding} T={self.network.timesteps} batch={len(self.x)} "
                f"lanes={self.lanes} "
                f"pack={self.pack} stages={self.neuron_stages} load={self.load} overlap={self.overlap}")


def _matrix(draw: Callable[..., Any], shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Finite floats in ``[-scale, scale]``, the bounds themselves often (hypothesis likes edges)."""
    elements = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=32)
    return draw(hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing()))


MAX_CONV_OUT = 16
"""Most neurons a drawn conv layer may have (else the layer is dense): keeps the runs short."""


def _conv_geometry(draw: Callable[..., Any], n_in: int
                   ) -> tuple[tuple[int, int, int], int, int, int, int, int] | None:
    """``(in_shape, c_out, kh, kw, stride, padding, pool)`` of a conv layer over ``n_in`` inputs
    read as ``(c, h, w)`` (a drawn factorisation; ``pool`` 1 or 2, a max-pool of the current),
    or ``None`` when it would exceed :data:`MAX_CONV_OUT` neurons."""
    h = draw(st.sampled_from([d for d in range(1, n_in + 1) if n_in % d == 0]))
    w = draw(st.sampled_from([d for d in range(1, n_in // h + 1) if (n_in // h) % d == 0]))
    c = n_in // (h * w)
    padding, stride = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, h + 2 * padding)), draw(st.integers(1, w + 2 * padding))
    c_out = draw(st.integers(1, 3))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    pool = draw(st.sampled_from((2, 1))) if min(ho, wo) >= 2 else 1
    n_out = c_out * (ho // pool) * (wo // pool)
    return None if n_out > MAX_CONV_OUT else ((c, h, w), c_out, kh, kw, stride, padding, pool)


@st.composite
def random_nets(draw: Callable[..., Any], kind: str | None = None, max_batch: int = 3) -> RandomNet:
    """Strategy: a small network the engine accepts, its inputs and plan options.

    ``kind``: one layer (drawn) is of that kind, the others of any accepted kind.
    Shrinks towards fewer and smaller layers, shorter runs, one sample and zero weights.
    """
    n_hidden = draw(st.sampled_from((0, 1, 2)))
    widths = [draw(st.integers(1, 12))] + [draw(st.integers(1, 10)) for _ in range(n_hidden)] \
        + [draw(st.integers(1, 6))]
    n_layers = len(widths) - 1
    kinds = [draw(st.sampled_from(ACCEPTED)) for _ in range(n_layers)]
    if kind is not None:
        if kind not in PARAMS:
            raise ValueError(f"kind {kind!r} is not one the engine accepts ({', '.join(ACCEPTED)})")
        kinds[draw(st.integers(0, n_layers - 1))] = kind
    encoding = draw(st.sampled_from(("direct", "direct", "rate", "latency")))
    if kinds[0] in RECURRENT and encoding == "direct":   # the analog first layer has no recurrence
        encoding = draw(st.sampled_from(("rate", "latency")))
    layers, lanes = [], []
    n_in = widths[0]
    input_shape: tuple[int, ...] = (n_in,)
    for i, (k, n_out) in enumerate(zip(kinds, widths[1:])):
        base = neuron(k)
        base = replace(base, params={**base.params, **{n: draw(s) for n, s in PARAMS[k].items()}})
        scale = draw(st.sampled_from(WEIGHT_SCALES))
        conv = _conv_geometry(draw, n_in) if k not in RECURRENT and draw(st.integers(0, 5)) == 0 else None
        if conv is not None:   # a conv2d layer without pooling (the engine unrolls it)
            in_shape, c_out, kh, kw, stride, padding, pool = conv
            w = _matrix(draw, (c_out, in_shape[0], kh, kw), scale)
            b = _matrix(draw, (c_out,), scale) if draw(st.booleans()) else None
            layer = Conv2d(f"l{i}", w, b, base, in_shape=in_shape, stride=stride, padding=padding,
                           pool=pool)
            if i == 0:
                input_shape = in_shape
        else:
            w = _matrix(draw, (n_out, n_in), scale)
            b = _matrix(draw, (n_out,), scale) if draw(st.booleans()) else None
            rec = _matrix(draw, (n_out, n_out), scale) if k in RECURRENT else None
            layer = Dense(f"l{i}", w, b, base, recurrent_weight=rec)
        layers.append(layer)
        pooled = isinstance(layer, Conv2d) and layer.pool > 1
        lanes.append(layer.pool ** 2 if pooled else draw(st.integers(1, layer.n_out)))   # pooled: the window
        n_in = layer.n_out
    timesteps = draw(st.sampled_from(range(1, 9)))
    metadata: dict[str, Any] = {}
    if encoding == "rate":
        metadata["encoder"] = {"seed": draw(st.integers(1, (1 << 16) - 1))}
    elif encoding == "latency":
        metadata["encoder"] = {"tau": draw(st.floats(0.125, 10.0, width=32))}
    net = Network(layers, input_shape, timesteps=timesteps, encoding=encoding, name="random",
                  metadata=metadata)
    batch = draw(st.integers(1, max_batch))
    inputs = st.one_of(st.floats(0.0, 1.0, width=32),      # 0 often: the analog layer skips zeros
                       st.sampled_from([0.0, -200.0, -128.0, -1.0, 2.0, 127.99609375, 500.0]))
    x = draw(hnp.arrays(np.float64, (batch, widths[0]), elements=inputs, fill=st.nothing()))
    stages = draw(st.one_of(st.none(), st.integers(1, 4)))
    pack, load = draw(st.booleans()), draw(st.booleans())
    if draw(st.booleans()):
        lanes = None                                        # the plan's defaults (and balancing)
    overlap = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n_layers, max_size=n_layers)))
    return RandomNet(net, x, lanes, pack, stages, load, overlap)


def quantize(rn: RandomNet) -> QuantizedNetwork:
    """``hw.quantize`` of the network (PrecisionWarnings of parameters silenced).

    Raises ``hw.compiler.errors.CompileError`` for parameters the compiler refuses
    (a constant expression that underflows Q8.8, e.g. ``dt / tau``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_network(rn.network, Q8_8)


def _plan_has(option: str) -> bool:
    """Whether ``hw.cores.plan.plan_network`` takes ``option`` (the plan space grows)."""
    import inspect

    from hw.cores.plan import plan_network

    return option in inspect.signature(plan_network).parameters


def make_case(rn: RandomNet) -> Case:
    """Quantise and plan (EBR only: Amaranth's simulator has no SPRAM)."""
    from hw.cores.plan import plan_quantized

    qnet = quantize(rn)
    options: dict[str, Any] = dict(lanes=rn.lanes, pack=rn.pack, neuron_stages=rn.neuron_stages,
                                   spram_blocks=0)
    if rn.overlap is not None and _plan_has("overlap"):
        options["overlap"] = rn.overlap
    plan = plan_quantized(qnet, **options)
    return Case(qnet, plan, np.asarray(rn.x, dtype=np.float64), load=rn.load)


def run(rn: RandomNet, rtl: bool = False) -> tuple[Case, RTLResult, GoldenResult]:
    """The case, the traced engine run (``rtl``: on the RTL simulator) and the recorded golden run."""
    case = make_case(rn)
    result, golden = run_case(case, rtl=rtl)
    return case, result, golden


def check(rn: RandomNet, folder: str | Path | None = None, rtl: bool = False
          ) -> tuple[Case, RTLResult, GoldenResult]:
    """Run ``rn`` (``rtl``: its Verilog on the RTL simulator, not Amaranth's) and compare with
    golden; on any mismatch (or crash of the engine run) save the case under ``folder``
    (default :data:`FAILURES`) and raise ``AssertionError`` naming it."""
    case = make_case(rn)
    try:
        result, golden = run_case(case, rtl=rtl)
        check_against_golden(case.plan, case.qnet, result, golden)
    except Exception as err:  # a mismatch, or the simulation itself failed
        path = save_failure(rn, FAILURES if folder is None else folder, err)
        raise AssertionError(f"engine != golden on {rn.describe()}: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}\n"
                             f"  artifact: {path}  (replay: python -m sim.tb.random_nets "
                             f"{'--rtl ' if rtl else ''}{path})") from err
    return case, result, golden


def _digest(rn: RandomNet) -> str:
    h = hashlib.sha256()
    for layer in rn.network.layers:
        h.update(layer.neuron.kind.encode())
        h.update(json.dumps(layer.neuron.params, sort_keys=True).encode())
        h.update(np.ascontiguousarray(layer.weight).tobytes())
        h.update(b"-" if layer.bias is None else np.ascontiguousarray(layer.bias).tobytes())
    h.update(np.ascontiguousarray(rn.x).tobytes())
    h.update(repr((rn.network.timesteps, rn.lanes, rn.pack, rn.neuron_stages, rn.load, rn.overlap)).encode())
    return h.hexdigest()[:12]


def save_failure(rn: RandomNet, folder: str | Path, error: BaseException | str) -> Path:
    """Write ``rn`` to ``folder/<digest>/``: ``network.npz`` (``hw.ir``), ``inputs.npz`` (``x`` and
    the plan options) and ``failure.txt`` (the case and the error). Returns that folder."""
    path = Path(folder) / _digest(rn)
    path.mkdir(parents=True, exist_ok=True)
    rn.network.save(path / "network.npz")
    np.savez(path / "inputs.npz", x=rn.x, lanes=np.asarray(rn.lanes or [], dtype=np.int64),
             lanes_given=rn.lanes is not None, pack=rn.pack,
             neuron_stages=-1 if rn.neuron_stages is None else rn.neuron_stages, load=rn.load,
             overlap=np.asarray([] if rn.overlap is None else rn.overlap, dtype=bool),
             overlap_given=rn.overlap is not None)
    (path / "failure.txt").write_text(f"{rn.describe()}\n{error}\n\nreplay: python -m sim.tb.random_nets {path}\n")
    return path


def load_failure(path: str | Path) -> RandomNet:
    """Read a case written by :func:`save_failure`."""
    path = Path(path)
    net = Network.load(path / "network.npz")
    with np.load(path / "inputs.npz") as f:
        stages = int(f["neuron_stages"])
        overlap = [bool(v) for v in f["overlap"]] if "overlap_given" in f and bool(f["overlap_given"]) else None
        lanes = [int(v) for v in f["lanes"]] if bool(f.get("lanes_given", True)) else None
        return RandomNet(net, f["x"].astype(np.float64), lanes, bool(f["pack"]),
                         None if stages < 0 else stages, bool(f["load"]), overlap)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.tb.random_nets [--rtl] FOLDER...``: replay saved cases (``--rtl``: on the
    RTL simulator, not Amaranth's); 0 when all now pass."""
    args = sys.argv[1:] if argv is None else list(argv)
    on_rtl = "--rtl" in args
    args = [a for a in args if a != "--rtl"]
    if not args:
        print("usage: python -m sim.tb.random_nets [--rtl] FOLDER...", file=sys.stderr)
        return 2
    failed = 0
    for arg in args:
        rn = load_failure(arg)
        case = make_case(rn)
        rtl, golden = run_case(case, rtl=on_rtl)
        try:
            check_against_golden(case.plan, case.qnet, rtl, golden)
            print(f"{arg}: {rn.describe()}: engine == golden")
        except AssertionError as err:
            failed += 1
            print(f"{arg}: {rn.describe()}: MISMATCH {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
