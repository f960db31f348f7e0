"""``exp`` cut into parts (``hw.compiler.exp_pwl``) and pipelined inside (``hw.cores.pipeline``).

Golden function: the piecewise-linear formula of the ``exp_pwl`` docstring (written out here
independently of the parts) and :meth:`hw.compiler.CompiledNeuron.step`.  The Amaranth
simulator runs the pipelined ExpIF / AdEx datapaths at their automatic stage count on
random full-range raws (so every clamp and saturation fires) and ``exp`` alone, several
stage counts (combinational ROMs in one stage, block RAM reads in more), on every raw of its
live range plus both ends of the format.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hw.compiler import compile_cell, compile_equations
from hw.compiler.exp_pwl import EXP_PARTS, exp_table, signed_width
from hw.compiler.graph import evaluate, hdl_width, lower_exp, topo_order
from hw.cores.pipeline import (EXP_LEVELS_PER_STAGE, ROM_PARTS, PipelinedDatapath, _budget_cut,
                               _op_levels, _registered_roms, auto_stages, levels, stage_of)
from hw.fixed import Q8_8, QFormat
from sim.tb.datapath_sim import simulate_datapath

FORMATS = [Q8_8, QFormat(6, 10, "saturate", "banker"), QFormat(8, 8, "wrap", "truncate"),
           QFormat(4, 12), QFormat(10, 6, "saturate", "banker"), QFormat(8, 2), QFormat(4, 4, "saturate", "truncate")]


def _cell(kind: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PrecisionWarning of AdEx's `a`
        return compile_cell(kind)


def _reference_exp(fmt: QFormat, x: np.ndarray) -> np.ndarray:
    """The formula of the module docstring, one rounding of ``delta * r``, then ``fit``."""
    t = exp_table(fmt)
    d = np.clip(x, t.x_lo, t.x_hi) - t.x_lo
    k, r = d >> t.seg_shift, d & ((1 << t.seg_shift) - 1)
    base, delta = np.asarray(t.base)[k], np.asarray(t.delta)[k]
    return fmt.fit(base + fmt.shift_round(delta * r, t.seg_shift))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f"{f}-{f.overflow}-{f.rounding}")
def test_parts_compose_to_the_formula_for_every_raw(fmt: QFormat) -> None:
    raws = np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)
    assert (exp_table(fmt).eval_np(raws) == _reference_exp(fmt, raws)).all()


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f"{f}-{f.overflow}-{f.rounding}")
def test_part_values_fit_their_registers(fmt: QFormat) -> None:
    """Every part's value over every input raw lies in its range, so its register width holds it."""
    t = exp_table(fmt)
    full = (fmt.min_raw, fmt.max_raw)
    raws = np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)
    seen: list[str] = []

    def part(op, attr, *args):
        values = [a[0] for a in args]
        ranges = [a[1] for a in args]
        v = t.part_np(op, attr, values)
        lo, hi = t.part_range(op, attr, ranges)
        assert lo <= v.min() and v.max() <= hi, (op, attr, v.min(), v.max(), lo, hi)
        w = t.part_width(op, attr, ranges)
        assert -(1 << (w - 1)) <= v.min() and v.max() < (1 << (w - 1)), (op, w)
        seen.append(op)
        return v, (lo, hi)

    t.compose((raws, full), part)
    assert seen[0] == "exp_off" and seen[-1] == "exp_fit"
    assert set(seen) <= set(EXP_PARTS)
    assert signed_width(0, 0) == 1 and signed_width(-1, 0) == 1 and signed_width(0, 1) == 2
    assert signed_width(-129, 127) == 9 and signed_width(0, 255) == 9


@pytest.mark.parametrize("kind", ["expif", "adex"])
def test_lowered_graph_evaluates_like_the_step(kind: str) -> None:
    nrn = _cell(kind)
    rng = np.random.default_rng(3)
    n = 20_000
    fmt = nrn.fmt
    names = list(nrn.states) + list(nrn.inputs)
    env = {k: rng.integers(fmt.min_raw, fmt.max_raw + 1, n) for k in names}
    env["v"][:100] = rng.integers(-300, 600, 100)   # around v_rh, where exp is live
    roots = [nrn.program.outputs[s] for s in nrn.states] + [nrn.program.spike]
    lowered = lower_exp(roots, fmt)
    ops = {node.op for node in topo_order(lowered)}
    assert "exp" not in ops and {"exp_off", "exp_pp", "exp_fit"} <= ops
    want = evaluate(roots, env, fmt)
    got = evaluate(lowered, env, fmt)
    for a, b in zip(want, got):
        assert (a == b).all()


def test_graphs_without_exp_are_not_touched() -> None:
    for kind in ("lif", "synaptic", "alif", "second_order_lif"):
        nrn = _cell(kind)
        roots = [nrn.program.outputs[s] for s in nrn.states] + [nrn.program.spike]
        assert all(a is b for a, b in zip(lower_exp(roots, nrn.fmt), roots))


def test_stage_counts() -> None:
    """ExpIF / AdEx get their budget cut; every other kind keeps the count it was measured with."""
    want = {"lif": 2, "if": 1, "synaptic": 2, "alif": 3, "lapicque": 3, "alpha": 3,
            "second_order_lif": 2, "recurrent_lif": 2, "expif": 7, "adex": 9}
    assert {k: auto_stages(_cell(k)) for k in want} == want
    assert levels(_cell("lif")) == pytest.approx(9.5)


@pytest.mark.parametrize("kind", ["expif", "adex"])
def test_balanced_cut_keeps_every_stage_within_its_budget(kind: str) -> None:
    nrn = _cell(kind)
    roots = lower_exp([nrn.program.outputs[s] for s in nrn.states] + [nrn.program.spike], nrn.fmt)
    order = topo_order(roots)
    for stages in (1, 3, auto_stages(nrn), auto_stages(nrn) + 2):
        st = stage_of(roots, stages)
        depth: dict[int, float] = {}
        for node in order:
            assert all(st[id(a)] <= st[id(node)] for a in node.args)
            depth[id(node)] = _op_levels(node) + max(
                (depth[id(a)] for a in node.args if st[id(a)] == st[id(node)]), default=0.0)
        assert max(st.values()) < stages
        worst = max(depth.values())
        if stages == auto_stages(nrn):
            assert worst <= EXP_LEVELS_PER_STAGE
        # no cut with the same stage count has a smaller budget (0.25-level steps)
        tighter = _budget_cut(order, worst - 0.25)[1]
        assert tighter > stages or worst - 0.25 < max(_op_levels(n) for n in order)


_simulate = simulate_datapath


@pytest.mark.parametrize("kind", ["expif", "adex"])
def test_pipelined_datapath_is_bit_exact(kind: str) -> None:
    nrn = _cell(kind)
    fmt = nrn.fmt
    rng = np.random.default_rng(11)
    n = 1000
    names = list(nrn.states) + list(nrn.inputs)
    env = {k: rng.integers(fmt.min_raw, fmt.max_raw + 1, n) for k in names}
    env["v"][:500] = rng.integers(-400, 700, 500)   # exp live and partly saturated
    env["v"][500:504] = [fmt.min_raw, fmt.max_raw, 0, 205]
    spike, new = nrn.step({s: env[s] for s in nrn.states}, {i: env[i] for i in nrn.inputs})
    got, dp = _simulate(nrn, auto_stages(nrn), env)
    assert dp.latency == auto_stages(nrn) - 1
    # both ROMs end their stage: block RAM reads
    roms = _registered_roms(topo_order(dp.roots), dp.stage)
    assert len(roms) == 2 == sum(1 for n in topo_order(dp.roots) if n.op in ROM_PARTS)
    # registers inside exp: some stage boundary carries a part of exp
    carried = {n.op for n in topo_order(dp.roots)
               if n.op in EXP_PARTS and any(dp.stage[id(u)] > dp.stage[id(n)]
                                            for u in topo_order(dp.roots) if n in u.args)}
    assert {"exp_off", "exp_pp"} <= carried
    assert got["spike"] == [int(v) for v in spike]
    for s in nrn.states:
        assert got[s] == [int(v) for v in new[s]], s
    outs = np.concatenate([new[s] for s in nrn.states])
    top = fmt.max_raw - nrn.params_raw["threshold"]   # saturated, then the reset subtracted
    assert (outs >= top).any() and (outs == fmt.min_raw).any()  # saturation ran both ways
    assert 0 < spike.sum() < n


@pytest.mark.parametrize("fmt", [Q8_8, QFormat(6, 10, "saturate", "banker")], ids=str)
def test_pipelined_exp_alone_every_stage_count(fmt: QFormat) -> None:
    """``v = exp(I)`` over every raw of the live range and both ends, registers between any parts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nrn = compile_equations("v = exp(I)\nspike = v > 2", states=("v",), inputs=("I",), params={}, fmt=fmt)
    t = exp_table(fmt)
    live = np.arange(max(fmt.min_raw, t.x_lo - 3), min(fmt.max_raw, t.x_hi + 3) + 1, dtype=np.int64)
    x = np.concatenate([live[::3] if fmt.frac_bits > 8 else live, [fmt.min_raw, fmt.max_raw, t.x_lo, t.x_hi]])
    env = {"v": np.zeros_like(x), "I": x}
    want = t.eval_np(x)
    assert (want == _reference_exp(fmt, x)).all()
    n_parts = sum(1 for n in topo_order(PipelinedDatapath(nrn, 1).roots) if n.op in EXP_PARTS)
    for stages in ((1, 2, 3, n_parts) if fmt == Q8_8 else (n_parts,)):
        got, dp = _simulate(nrn, stages, env)
        assert got["v"] == [int(v) for v in want], stages
        # one stage: combinational ROMs; more: block RAM reads
        assert len(_registered_roms(topo_order(dp.roots), dp.stage)) == (0 if stages == 1 else 2)
        widths = [hdl_width(n, fmt) for n in topo_order(dp.roots) if n.op in EXP_PARTS]
        assert max(widths) > fmt.width  # the partial sums are wider than the format
