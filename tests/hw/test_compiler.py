"""hw.compiler: parsing, typing, errors, the ODE form, and step() vs a float evaluation of the text.

The float reference below evaluates the equation text with Python/numpy
floats, independently of the compiler's graph.
"""

from __future__ import annotations

import ast
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw.compiler import CompileError, PrecisionWarning, compile_cell, compile_equations, compile_neuron, compile_ode
from hw.compiler.exp_pwl import exp_table
from hw.fixed import Q8_8, FixedOverflowError, QFormat
from hw.ir import Neuron
from sw.training.equations import CELL_EQUATIONS

_FUNCS = {"exp": np.exp, "min": np.minimum, "max": np.maximum, "clip": np.clip}
EXP_CELLS = {"expif", "adex"}
TOL_LINEAR_LSB = 4    # stated tolerance, one step, cells without exp
TOL_EXP_LSB = 12      # with exp: PWL table (~0.2 %) + quantized (1-beta)*delta_t (1.6 %) on exp <= e^4


def float_step(text: str, env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate the statements with floats (comparisons give 0.0 / 1.0)."""
    env = dict(env)
    for stmt in ast.parse(text).body:
        value = eval(compile(ast.Expression(stmt.value), "<eq>", "eval"), {"__builtins__": {}, **_FUNCS}, env)
        env[stmt.targets[0].id] = np.asarray(value, dtype=np.float64)
    return env


@pytest.fixture(autouse=True)
def _quiet_precision_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        yield


@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_every_cell_tracks_float_text(kind: str) -> None:
    eq = CELL_EQUATIONS[kind]
    neuron = compile_cell(kind)
    fmt = neuron.fmt
    rng = np.random.default_rng(0)
    n = 20_000
    state = {s: fmt.quantize(rng.normal(0, 1, n)) for s in eq.states}
    inputs = {i: fmt.quantize(rng.normal(0, 1, n)) for i in eq.inputs}
    spike, new = neuron.step(state, inputs)
    env = {**{k: fmt.to_float(v) for k, v in {**state, **inputs}.items()}, **eq.params}
    ref = float_step(eq.text, env)
    same_spike = (ref["spike"] > 0.5).astype(int) == spike
    assert same_spike.mean() > 0.995  # only near-threshold values may decide differently
    tol = (TOL_EXP_LSB if kind in EXP_CELLS else TOL_LINEAR_LSB) * fmt.resolution
    for s in eq.states:
        err = np.abs(fmt.to_float(new[s]) - ref[s])[same_spike]
        assert err.max() <= tol, f"{kind}.{s}: max error {err.max():.4f} > {tol:.4f}"


def test_lif_trajectory_tracks_float() -> None:
    """Over 300 steps the spike count of Q8.8 LIF stays within 2 of the float LIF.

    Currents start at 0.15: near I = (1 - beta) * threshold = 0.1 the neuron sits at the
    firing bifurcation and the 0.2 % quantization of beta decides whether it ever fires.
    """
    eq = CELL_EQUATIONS["lif"]
    neuron = compile_cell("lif")
    currents = np.linspace(0.15, 0.6, 12)
    state = neuron.initial_state(len(currents))
    v = np.zeros(len(currents))
    counts_q = np.zeros(len(currents), dtype=int)
    counts_f = np.zeros(len(currents), dtype=int)
    raw_i = Q8_8.quantize(currents)
    for _ in range(300):
        spike, state = neuron.step(state, {"I": raw_i})
        counts_q += spike
        out = float_step(eq.text, {"v": v, "I": Q8_8.to_float(raw_i), **eq.params})
        v = out["v"]
        counts_f += out["spike"].astype(int)
    assert counts_f.max() > 50
    assert np.abs(counts_q - counts_f).max() <= 2


def test_constant_folding_and_op_choice() -> None:
    lif = compile_cell("lif")
    ops = lif.op_counts()
    assert ops["mul"] == 1 and ops["select"] == 1  # spike * threshold is a select, not a multiplier
    # (v - v_rh) / delta_t with delta_t = 0.5 becomes an exact shift
    assert compile_cell("expif").op_counts()["shl"] == 1
    lap = compile_cell("lapicque", {"dt": 1.0, "tau": 4.0})  # dt/tau folded: one constant, 0.25 = shift
    assert "mul" not in lap.op_counts() and lap.op_counts().get("shr") == 1


def _hdl_multiplies(component) -> int:
    """Number of Amaranth ``*`` operators in the elaborated (flat) component."""
    from amaranth.hdl import Fragment
    from amaranth.hdl._ast import Operator, Value

    count, seen = 0, set()
    stack = [st.rhs for st in Fragment.get(component, None).statements.get("comb", [])]
    while stack:
        v = stack.pop()
        if id(v) in seen or not isinstance(v, Value):
            continue
        seen.add(id(v))
        if isinstance(v, Operator):
            count += v.operator == "*"
            stack.extend(v.operands)
        for attr in ("value", "test"):  # Slice, SwitchValue
            if hasattr(v, attr):
                stack.append(getattr(v, attr))
        stack.extend(getattr(v, "parts", ()))  # Concat
        stack.extend(val for _, val in getattr(v, "cases", ()))
    return count


@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_constant_products_use_no_multiplier(kind: str) -> None:
    neuron = compile_cell(kind)
    assert neuron.dsp_multipliers() == 0
    assert _hdl_multiplies(neuron.datapath()) == 0


def test_run_time_products_are_counted_as_dsps() -> None:
    both = compile_equations("v = beta * v + v * I\nw = 0.75 * w + I * w\nspike = v > 1\nv = v - spike",
                             states=("v", "w"), params={"beta": 0.9})
    assert both.op_counts()["mul"] == 4 and both.dsp_multipliers() == 2  # two by constants
    assert _hdl_multiplies(both.datapath()) == 2


def test_compile_neuron_from_ir() -> None:
    eq = CELL_EQUATIONS["alif"]
    nrn = Neuron(kind="alif", equations=eq.text, states=eq.states, inputs=eq.inputs, params=dict(eq.params))
    c = compile_neuron(nrn)
    assert c.kind == "alif" and c.states == ("v", "a")
    assert c.params_raw["beta"] == int(Q8_8.quantize(0.9))


def test_step_is_vectorised_and_validates_inputs() -> None:
    c = compile_cell("recurrent_lif")
    st = c.initial_state(4)
    spike, new = c.step(st, {"I": np.array([0, 100, 300, 32767]), "R": np.int64(0)})
    assert spike.tolist() == [0, 0, 1, 1] and new["v"].shape == (4,)
    assert new["v"][3] == 32767 - 256  # saturated at +max, then minus threshold
    with pytest.raises(ValueError, match="missing \\['R'\\]"):
        c.step(st, {"I": np.zeros(4, int)})
    with pytest.raises(ValueError, match="raw integers"):
        c.step(st, {"I": np.zeros(4), "R": np.zeros(4, int)})
    with pytest.raises(ValueError, match="outside Q8.8"):
        c.step(st, {"I": np.full(4, 40000), "R": np.zeros(4, int)})


def test_overflow_modes_reach_step() -> None:
    text = "v = v + I\nspike = v > threshold\n"
    kw = dict(states=("v",), params={"threshold": 1.0})
    big = {"v": np.array([30000])}, {"I": np.array([10000])}
    assert compile_equations(text, **kw).step(*big)[1]["v"][0] == 32767
    wrapped = compile_equations(text, fmt=QFormat(overflow="wrap"), **kw).step(*big)[1]["v"][0]
    assert wrapped == 40000 - 65536
    with pytest.raises(FixedOverflowError, match="v \\+ I"):
        compile_equations(text, fmt=QFormat(overflow="trap"), **kw).step(*big)


def test_rounding_modes_reach_step() -> None:
    text = "v = 0.5 * v + 0.75 * I\nspike = v > 1\n"  # 0.5 is a shift, 0.75 a multiply
    st, inp = {"v": np.array([3, -3, 1, -1])}, {"I": np.array([1, 1, 1, -1])}
    got = {r: compile_equations(text, states=("v",), params={}, fmt=QFormat(rounding=r)).step(st, inp)[1]["v"]
           for r in ("nearest", "truncate", "banker")}
    # 0.5*3 = 1.5 LSB; 0.75*1 = 0.75 LSB
    assert got["nearest"].tolist() == [2 + 1, -1 + 1, 1 + 1, 0 - 1]
    assert got["truncate"].tolist() == [1 + 0, -2 + 0, 0 + 0, -1 - 1]
    assert got["banker"].tolist() == [2 + 1, -2 + 1, 0 + 1, 0 - 1]


def test_exp_table_is_accurate_and_monotone() -> None:
    table = exp_table(Q8_8)
    x = np.arange(Q8_8.min_raw, Q8_8.max_raw + 1)
    y = table.eval_np(x)
    assert np.all(np.diff(y) >= 0)
    xf = Q8_8.to_float(x)
    live = xf < np.log(Q8_8.max_value)
    err = np.abs(Q8_8.to_float(y[live]) - np.exp(xf[live]))
    assert np.all(err <= 1.0 * Q8_8.resolution + 0.003 * np.exp(xf[live]))
    assert np.all(y[~live] == Q8_8.max_raw)
    assert y[0] == 0 and y[-1] == Q8_8.max_raw
    assert table is exp_table(Q8_8)  # one table, shared by step() and the HDL


# -- the continuous form -------------------------------------------------------------------
LIF_ODE = "dv/dt = -(v - E_L)/tau_m + I/C"


def test_ode_compiles_and_matches_float_euler() -> None:
    params = {"E_L": -65.0, "tau_m": 10.0, "C": 2.0}
    neuron = compile_ode(LIF_ODE, threshold="v > -50", reset="v = -65", params=params, dt=0.5)
    state = {"v": Q8_8.quantize(np.full(3, -65.0))}
    current = Q8_8.quantize(np.array([0.0, 2.0, 4.0]))
    v = np.full(3, -65.0)
    spikes_q = np.zeros(3, int)
    spikes_f = np.zeros(3, int)
    for _ in range(400):
        spike, state = neuron.step(state, {"I": current})
        spikes_q += spike
        v = v + 0.5 * (-(v - params["E_L"]) / params["tau_m"] + Q8_8.to_float(current) / params["C"])
        fired = v > -50
        spikes_f += fired
        v = np.where(fired, -65.0, v)
    assert spikes_q[0] == 0 and spikes_f[1] == 0 and spikes_q[1] == 0  # I/C*tau = 10 mV: below threshold
    assert spikes_f[2] > 5 and abs(spikes_q[2] - spikes_f[2]) <= max(2, spikes_f[2] // 10)
    assert Q8_8.to_float(state["v"][0]) == -65.0


def test_ode_two_states_use_old_values() -> None:
    """Forward Euler updates all states from the old values (w sees the old v)."""
    n = compile_ode("dv/dt = -v + I\ndw/dt = v - w", threshold="v > 10", reset="v = 0; w = w + 1",
                    params={}, dt=0.5)
    spike, new = n.step({"v": Q8_8.quantize(np.array([2.0, 40.0])), "w": Q8_8.quantize(np.array([0.0, 1.0]))},
                        {"I": Q8_8.quantize(np.array([0.0, 0.0]))})
    assert Q8_8.to_float(new["v"]).tolist() == [1.0, 0.0]
    assert Q8_8.to_float(new["w"]).tolist() == [1.0, 20.5 + 1.0]
    assert spike.tolist() == [0, 1]


def test_ode_dt_underflow_suggests_more_fraction_bits() -> None:
    with pytest.raises(CompileError, match=r"underflows Q8.8.*fraction bits") as info:
        compile_ode(LIF_ODE, threshold="v > -50", reset="v = -65",
                    params={"E_L": -65.0, "tau_m": 10.0, "C": 200.0}, dt=0.001)
    assert "I/C" in str(info.value)
    # with enough fraction bits the same model compiles
    compile_ode("dv/dt = -(v - E_L)/tau_m + I/C", threshold="v > -50", reset="v = -65",
                params={"E_L": -65.0, "tau_m": 10.0, "C": 200.0}, dt=0.001, fmt=QFormat(9, 20))


def test_precision_warning_for_coarse_constants() -> None:
    with pytest.warns(PrecisionWarning, match="17 % off"):
        warnings.simplefilter("always", PrecisionWarning)
        compile_ode(LIF_ODE, threshold="v > -50", reset="v = -65",
                    params={"E_L": -65.0, "tau_m": 10.0, "C": 1.0}, dt=0.1)


# -- errors point at the term ---------------------------------------------------------------
LIF_TEXT = CELL_EQUATIONS["lif"].text


@pytest.mark.parametrize("text,match", [
    ("v = beta * u + I\nspike = v > threshold", r"line 1, column 12: unknown name `u`"),
    ("v = v / I\nspike = v > threshold", r"column 9: division is only allowed by a parameter"),
    ("v = v + 0.001\nspike = v > threshold", r"0.001 underflows Q8.8 .*at least 9 fraction bits"),
    ("v = v + 300\nspike = v > threshold", r"outside the Q8.8 range"),
    ("v = beta * v + I", r"never assign `spike`"),
    ("v = v + I\nspike = v + threshold", r"`spike` must be assigned a comparison"),
    ("v = v +* I\nspike = v > 1", r"syntax error"),
    ("beta = v\nspike = v > 1", r"cannot assign to parameter `beta`"),
    ("I = v\nspike = v > 1", r"cannot assign to input `I`"),
    ("v = tanh(v)\nspike = v > 1", r"unknown function `tanh`"),
    ("v = min(v)\nspike = v > 1", r"min\(\) takes 2 arguments"),
    ("v = v >> I\nspike = v > 1", r"shift amounts must be non-negative integer"),
    ("v = v ** 2\nspike = v > 1", r"operator Pow is not supported"),
    ("spike = 0 < v < 1", r"chained comparisons"),
    ("v = v / (beta - 0.9)\nspike = v > 1", r"division by zero"),
    ("v += I\nspike = v > 1", r"each line must be `name = expression`"),
    ("v = clip(v, 2, 1)\nspike = v > 1", r"lower bound 2 is above upper bound 1"),
])
def test_errors_point_at_the_term(text: str, match: str) -> None:
    with pytest.raises(CompileError, match=match):
        compile_equations(text, states=("v",), params={"beta": 0.9, "threshold": 1.0})


def test_error_message_shows_caret_under_term() -> None:
    with pytest.raises(CompileError) as info:
        compile_equations("v = beta * u + I\nspike = v > 1", states=("v",), params={"beta": 0.9})
    lines = str(info.value).splitlines()
    assert lines[-2].strip() == "v = beta * u + I"
    assert lines[-1].index("^") == lines[-2].index("u")
    assert info.value.line == 1 and info.value.col == 12 and info.value.snippet == "u"


@pytest.mark.parametrize("kwargs,match", [
    (dict(states=()), "at least one state"),
    (dict(states=("v",), inputs=("v",)), "used twice"),
    (dict(states=("spike",)), "`spike` is the output"),
    (dict(states=("v",), params={"beta": float("nan")}), "finite number"),
])
def test_bad_declarations(kwargs, match) -> None:
    kwargs.setdefault("params", {})
    with pytest.raises(CompileError, match=match):
        compile_equations("spike = 1 > 0", **kwargs)


def test_compile_cell_rejects_unknown() -> None:
    with pytest.raises(CompileError, match="unknown cell"):
        compile_cell("hodgkin_huxley")
    with pytest.raises(CompileError, match="no parameter 'gamma'"):
        compile_cell("lif", {"gamma": 1.0})


# -- the HDL twin, quickly, with Amaranth's Python simulator (Icarus runs in tests/rtl) ------------
@pytest.mark.parametrize("kind", ["alif", "expif"])
def test_datapath_equals_step_in_amaranth_sim(kind: str) -> None:
    from amaranth.sim import Simulator

    from hw.compiler.vectors import datapath_vectors

    neuron = compile_cell(kind)
    vec = datapath_vectors(neuron, 300, seed=5)
    dp = neuron.datapath()
    outs = [f"out_{s}" for s in neuron.states] + ["spike"]
    got = {k: [] for k in outs}

    async def bench(ctx):
        for i in range(300):
            for k in vec:
                if k.startswith(("in_", "st_")):
                    ctx.set(getattr(dp, k), int(vec[k][i]))
            for k in outs:
                got[k].append(ctx.get(getattr(dp, k)))

    sim = Simulator(dp)
    sim.add_testbench(bench)
    sim.run()
    for k in outs:
        assert got[k] == vec[k].tolist(), k


def test_a_constant_no_format_holds_is_a_compile_error() -> None:
    """A constant below the LSB of the widest (32-bit) format: a CompileError, not a ValueError
    from building a 33-bit format (found by the fuzz test below)."""
    with pytest.raises(CompileError, match=r"underflows Q8.8 .*not even Q8.24 \(32 bits\) holds it"):
        compile_equations("v = 0.0001 * 0.0001 * v\nspike = v > 1", states=("v",), params={})
    with pytest.raises(CompileError, match=r"use at least 13 fraction bits \(e.g. Q8.13\)"):
        compile_equations("v = 0.0001 * v\nspike = v > 1", states=("v",), params={})


# -- fuzz: any text either compiles (and steps) or raises CompileError ---------------------------
_TOKENS = ["v", "w", "I", "beta", "spike", "tmp", "0.5", "1", "300", "0.0001", "+", "-", "*", "/", ">>", "<<",
           ">", "<=", "==", "(", ")", ",", "exp(", "min(", "max(", "clip(", "tanh(", "**", "and", "=", "\n", "#"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=14),
       st.sampled_from(["v", "w", "spike", "tmp", "beta"]))
def test_fuzz_only_compile_errors(tokens: list[str], target: str) -> None:
    text = f"{target} = " + " ".join(tokens) + "\nspike = v > 1"
    try:
        neuron = compile_equations(text, states=("v", "w"), params={"beta": 0.9})
    except CompileError:
        return
    spike, new = neuron.step(neuron.initial_state(3), {"I": np.array([-32768, 0, 32767])})
    assert set(spike.tolist()) <= {0, 1}
    for s in ("v", "w"):
        assert new[s].min() >= Q8_8.min_raw and new[s].max() <= Q8_8.max_raw
