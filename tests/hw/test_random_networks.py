"""Random-network differential testing: the engine (Amaranth's simulator) equals ``sim.golden``.

Networks drawn by ``sim.tb.random_nets.random_nets`` (every accepted neuron kind, random
sizes, parameters, saturating weights, T, inputs, on-chip rate/latency encoding and plan
options) are quantised, planned
and run; every layer's spike train per step, the counts, class and cycles must equal the
golden model's.  A failure shrinks (hypothesis) and the minimal case is written to
``build/random_failures/<id>/`` (named in the assertion message; replay with
``python -m sim.tb.random_nets <folder>``).

Default suite: a fixed (derandomised) sample of 40 networks, 4 with a layer of each accepted
kind.  Slow suite: 250, 25 per kind (``SNN_RANDOM_NETS_SEED=<int>`` draws a different sample).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, seed, settings

from hw.compiler.errors import CompileError
from sim.tb import random_nets as rn_mod
from sim.tb.engine_cases import ACCEPTED, saturated_currents
from sim.tb.random_nets import RandomNet, check, load_failure, main, random_nets, save_failure

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def _stats(rn: RandomNet) -> dict[str, Any]:
    """Run one network (raises on a mismatch) and say what it exercised."""
    try:
        case, rtl, golden = check(rn)
    except CompileError:  # parameters the compiler refuses are not a network the engine accepts
        reject()
    active = sum(int(ls.sum()) for ls in golden.layer_spikes)
    total = sum(ls.size for ls in golden.layer_spikes)
    return {"kinds": {l.neuron.kind for l in rn.network.layers}, "encoding": rn.network.encoding,
            "conv": sum(l.op == "conv2d" for l in rn.network.layers),
            "pooled": sum(l.op == "conv2d" and l.pool > 1 for l in rn.network.layers),
            "layers": len(rn.network.layers),
            "saturated": sum(saturated_currents(case.qnet, case.x, golden)),
            "clipped": case.qnet.saturated,
            "nontrivial": 0 < active < total,
            "packed": any(l.pack == 2 for l in case.plan.layers),
            "staged": any(l.neuron_stages > 1 for l in case.plan.layers)}


def _run_sample(per_kind: int, fixed_seed: int | None, kinds: tuple[str, ...] = ACCEPTED
                ) -> list[dict[str, Any]]:
    """``per_kind`` random networks with a layer of each accepted kind (the other layers of any
    kind) through :func:`_stats`; on a failure keeps only the minimal case's artifact."""
    seen: list[dict[str, Any]] = []
    folder = rn_mod.FAILURES
    for kind in kinds:
        @settings(max_examples=per_kind, derandomize=fixed_seed is None, deadline=None, database=None,
                  suppress_health_check=_HEALTH, print_blob=True)
        @given(rn=random_nets(kind))
        def prop(rn: RandomNet) -> None:
            seen.append(_stats(rn))

        test: Callable[[], None] = prop if fixed_seed is None else seed(fixed_seed)(prop)
        before = set(folder.iterdir()) if folder.is_dir() else set()
        try:
            test()
        except AssertionError as err:  # shrinking wrote one artifact per failing try: keep the last
            named = re.search(r"artifact: (\S+)", str(err))
            for path in (set(folder.iterdir()) if folder.is_dir() else set()) - before:
                if named is None or path != Path(named.group(1)):
                    shutil.rmtree(path, ignore_errors=True)
            raise
    return seen


def _assert_coverage(seen: list[dict[str, Any]], n: int, packed: bool = True) -> None:
    """The sample ran ``n`` networks and exercised what it claims to (else the test lost its point).
    ``packed``: some layer packed two lanes per word (rare in a small sample; test_engine has its own)."""
    print(f"\n{len(seen)} random networks, engine == golden on all: {sum(s['layers'] for s in seen)} layers, "
          f"{sum(s['saturated'] > 0 for s in seen)} with saturated currents, "
          f"{sum(s['clipped'] > 0 for s in seen)} with clipped weights, {sum(s['nontrivial'] for s in seen)} "
          f"with non-trivial spike trains, {sum(s['packed'] for s in seen)} packed, "
          f"{sum(s['staged'] for s in seen)} pipelined, encodings "
          f"{ {e: sum(s['encoding'] == e for s in seen) for e in ('direct', 'rate', 'latency')} }, "
          f"{sum(s['conv'] > 0 for s in seen)} with conv layers ({sum(s['pooled'] > 0 for s in seen)} max-pooled)")
    assert len(seen) >= n, f"only {len(seen)} networks ran"
    kinds = set().union(*(s["kinds"] for s in seen))
    assert kinds == set(ACCEPTED), f"kinds never drawn: {set(ACCEPTED) - kinds}"
    assert {s["layers"] for s in seen} == {1, 2, 3}
    assert {s["encoding"] for s in seen} == {"direct", "rate", "latency"}, "an encoding never drawn"
    assert sum(s["conv"] > 0 for s in seen) >= n // 10, "too few networks with a conv2d layer"
    # max-pooled conv layers are rare in small drawn geometries: the slow sample must have one
    # (the fixed networks of tests/hw/test_conv_engine.py cover pooling in the default suite).
    # Not 3: the fixed-seed draw differs with and without xdist, and one process gets only 2.
    assert n < 100 or sum(s["pooled"] > 0 for s in seen) >= 1, "no max-pooled conv2d layer drawn"
    # (half the networks take 0/1 encoder spikes into layer 0, which saturate less often)
    # >= 1 in 8 (conv layers with few taps saturate less often than dense ones; the 250-net
    # sample had 66)
    assert sum(s["saturated"] > 0 for s in seen) >= n // 8, "too few networks saturate a current"
    assert sum(s["clipped"] > 0 for s in seen) >= 1, "no weight was clipped at quantisation"
    assert sum(s["nontrivial"] for s in seen) >= n // 3, "too few networks with non-trivial spike trains"
    assert any(s["staged"] for s in seen), "no pipelined neuron datapath"
    assert not packed or any(s["packed"] for s in seen), "no packed layer"


def test_random_networks_fixed_sample() -> None:
    """40 derandomised networks (4 per kind): engine == golden per layer and step; the sample
    covers kinds, depths, encodings, saturation and pipelining."""
    seen = _run_sample(4, None)
    _assert_coverage(seen, 40, packed=False)


@pytest.mark.slow
def test_random_networks_many() -> None:
    """250 random networks, 25 per kind (a fixed sample; ``SNN_RANDOM_NETS_SEED`` picks another)."""
    env = os.environ.get("SNN_RANDOM_NETS_SEED")
    seen = _run_sample(25, None if env is None else int(env))
    _assert_coverage(seen, 25 * len(ACCEPTED))


def _small_net() -> RandomNet:
    """A fixed 3-4-2 lif/alif network with big first-layer weights (it spikes in layer 0)."""
    from hw.ir import Dense, Network
    from sim.tb.engine_cases import neuron

    rng = np.random.default_rng(3)
    layers = [Dense("l0", rng.uniform(0, 8, (4, 3)), None, neuron("lif")),
              Dense("l1", rng.normal(0, 2, (2, 4)), rng.normal(0, 1, 2), neuron("alif"))]
    return RandomNet(Network(layers, (3,), timesteps=4, name="random"), rng.uniform(0, 1, (2, 3)),
                     lanes=[2, 1], pack=True, neuron_stages=2, load=True, overlap=[False, True])


def test_failure_is_saved_and_replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A mismatch (one spike of the engine moved) raises naming an artifact that reloads the case."""
    rn = _small_net()
    real = rn_mod.run_case

    def broken(case, **options):
        rtl, golden = real(case, **options)
        train = rtl.layer_spikes[0]
        train[0, 0, 0] ^= 1          # the hardware 'spiked' differently in layer 0, step 0
        return rtl, golden

    monkeypatch.setattr(rn_mod, "run_case", broken)
    with pytest.raises(AssertionError, match=r"(?s)layer 0 .*artifact: ") as info:
        check(rn, tmp_path)
    folder = Path(re.search(r"artifact: (\S+)", str(info.value)).group(1))
    assert folder.parent == tmp_path
    assert {p.name for p in folder.iterdir()} == {"network.npz", "inputs.npz", "failure.txt"}
    assert "layer 0" in (folder / "failure.txt").read_text()
    back = load_failure(folder)
    assert back.describe() == rn.describe()
    assert np.array_equal(back.x, rn.x)
    for a, b in zip(back.network.layers, rn.network.layers):
        assert np.array_equal(a.weight, b.weight) and a.neuron.params == b.neuron.params
    assert main([str(folder)]) == 1                     # still broken
    monkeypatch.setattr(rn_mod, "run_case", real)
    assert main([str(folder)]) == 0                     # the real engine passes
    assert "engine == golden" in capsys.readouterr().out
    assert save_failure(rn, tmp_path, "again") == folder   # same case, same folder


def _golden_as_engine(case, **_):
    """A stand-in engine: golden's own trains, counts, classes and the plan's cycles."""
    from sim.golden import run_golden
    from sim.tb.network import RTLResult

    golden = run_golden(case.qnet, case.x, record=True, progress=False)
    trains = [ls.transpose(1, 0, 2).astype(np.int64) for ls in golden.layer_spikes]
    x_raw = case.qnet.fmt.quantize(case.x)
    cycles = np.array(case.plan.activity_cycles(golden.layer_spikes, x_raw))
    return RTLResult(golden.spike_counts.copy(), golden.predictions.copy(), cycles, trains, x_raw), golden


def test_a_planted_bug_shrinks_to_a_minimal_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An 'engine' that is wrong only for alif layers of >= 3 neurons from step 2 on: the property
    fails, shrinks to the smallest such network, and only that case is left on disk."""
    def buggy(case, **_):
        rtl, golden = _golden_as_engine(case)
        for li, q in enumerate(case.qnet.layers):
            if q.layer.neuron.kind == "alif" and q.n_out >= 3 and case.plan.timesteps >= 3:
                rtl.layer_spikes[li][0, 2, 2] ^= 1
        return rtl, golden

    monkeypatch.setattr(rn_mod, "FAILURES", tmp_path)
    monkeypatch.setattr(rn_mod, "run_case", _golden_as_engine)
    assert len(_run_sample(10, None, kinds=("alif",))) == 10          # the stand-in itself passes
    monkeypatch.setattr(rn_mod, "run_case", buggy)
    with pytest.raises(AssertionError, match=r"(?s)engine != golden.*artifact: ") as info:
        _run_sample(200, None, kinds=("alif",))
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and str(left[0]) in str(info.value)
    rn = load_failure(left[0])
    # T and the batch always shrink to the bug's floor (T = 3, one sample). Left alone, hypothesis
    # goes on to one alif layer of 3 with zero weights; under load its shrinker may stop earlier
    # (it is heuristic and budgeted), so the widths are bounded rather than pinned
    # (the input width stays wherever the shrinker left it).
    assert rn.network.timesteps == 3 and len(rn.x) == 1, rn.describe()
    assert any(l.neuron.kind == "alif" and l.n_out >= 3 for l in rn.network.layers), rn.describe()
    assert sum(l.n_out for l in rn.network.layers) <= 10, rn.describe()
