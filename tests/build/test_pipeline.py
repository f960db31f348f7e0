"""``hw.cores.pipeline``: the neuron datapath cut into stages equals ``CompiledNeuron.step``.

Random raws (full 16-bit range, so saturation paths run) go in one per clock; each result
must come out exactly ``stages - 1`` cycles later, for every stage count up to the graph depth.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.compiler import compile_neuron
from hw.cores.pipeline import auto_stages, levels, stage_of
from hw.fixed import Q8_8
from hw.ir import Neuron
from sim.tb.datapath_sim import simulate_datapath
from sw.training.equations import CELL_EQUATIONS

N = 40


def _compiled(kind: str):
    e = CELL_EQUATIONS[kind]
    return compile_neuron(Neuron(kind, e.text, e.states, e.inputs, dict(e.params)), Q8_8)


def _run(nrn, stages: int, env_raw: dict[str, np.ndarray]):
    return simulate_datapath(nrn, stages, env_raw)[0]


@pytest.mark.parametrize("kind", ["lif", "synaptic", "adex"])
def test_every_stage_count_is_bit_exact(kind: str) -> None:
    nrn = _compiled(kind)
    rng = np.random.default_rng(1)
    names = list(nrn.states) + list(nrn.inputs)
    env = {n: rng.integers(-(1 << 15), 1 << 15, N) for n in names}
    spike, new = nrn.step({s: env[s] for s in nrn.states}, {i: env[i] for i in nrn.inputs})
    for stages in sorted({1, 2, auto_stages(nrn)}):
        got = _run(nrn, stages, env)
        assert got["spike"] == [int(v) for v in spike], (kind, stages)
        for s in nrn.states:
            assert got[s] == [int(v) for v in new[s]], (kind, stages, s)


def test_stages_follow_the_delay_estimate() -> None:
    lif = _compiled("lif")
    assert levels(lif) == pytest.approx(9.5) and auto_stages(lif) == 2
    assert auto_stages(_compiled("adex")) > auto_stages(lif)
    roots = [lif.program.outputs["v"], lif.program.spike]
    st = stage_of(roots, 2)
    assert set(st.values()) == {0, 1}
    with pytest.raises(ValueError):
        stage_of(roots, 0)
