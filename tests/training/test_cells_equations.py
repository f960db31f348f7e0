"""Every cell implements exactly the text of its ``EQUATIONS`` (contract 2).

The text is evaluated by an independent ``ast`` evaluator (``eqeval``) with
the parameter values given to the constructor (non-default ones, so swapped
names would show), and the trajectories are compared with the cell's
single-step and multi-step paths.
"""

import pytest
import torch

from sw.training import CELL_EQUATIONS, CELLS, AlphaCell, RecurrentLIFCell
from . import eqeval

T, B, N = 40, 3, 16

# constructor kwargs (non-default values) per kind, and the input scale that makes it spike
CASES = {
    "lif": (dict(beta=0.85, threshold=0.9), 0.5),
    "if": (dict(threshold=1.1), 0.4),
    "synaptic": (dict(alpha=0.7, beta=0.75, threshold=1.2), 0.4),
    "alif": (dict(beta=0.8, threshold=0.8, rho=0.95, beta_adapt=0.6), 0.6),
    "expif": (dict(beta=0.88, threshold=1.0, delta_t=0.4, v_rh=0.7), 0.4),
    "adex": (dict(beta=0.87, threshold=1.0, delta_t=0.45, v_rh=0.75, a=0.05, b=0.2,
                  rho=0.93, v_rest=-0.1), 0.5),
    "lapicque": (dict(tau=8.0, r=1.5, dt=1.0, threshold=0.7, v_rest=0.05), 1.0),
    "alpha": (dict(alpha_exc=0.8, alpha_inh=0.7, beta=0.85, threshold=1.0), 0.5),
    "second_order_lif": (dict(alpha=0.6, beta=0.8, threshold=1.0), 0.3),
    "recurrent_lif": (dict(n_neurons=N, beta=0.85, threshold=1.0), 0.5),
}


def _make(kind):
    kwargs, scale = CASES[kind]
    torch.manual_seed(1)
    return CELLS[kind](**kwargs), kwargs, scale


def _inputs(cell, scale):
    g = torch.Generator().manual_seed(7)
    return [torch.rand(T, B, N, generator=g) * scale for _ in cell.input_names]


def _reference(cell, kwargs, inputs):
    """Evaluate the equation text; returns (spikes (T,...), {state: trajectory})."""
    eq = cell.EQUATIONS
    prog = eqeval.parse(eq.text)
    params = {k: torch.tensor(float(kwargs.get(k, eq.params[k])), dtype=torch.float32)
              for k in eq.params}
    env = {s: torch.zeros(B, N) for s in eq.states}
    spikes, traj = [], {s: [] for s in eq.states}
    spike_prev = torch.zeros(B, N)
    for t in range(T):
        step_in = dict(zip(eq.inputs, [x[t] for x in inputs]))
        if isinstance(cell, RecurrentLIFCell):  # R = W_rec @ spike[t-1]
            step_in["R"] = spike_prev @ cell.recurrent.weight.detach().T
        env = eqeval.step(prog, {**params, **{s: env[s] for s in eq.states}, **step_in})
        spikes.append(env["spike"])
        spike_prev = env["spike"]
        for s in eq.states:
            traj[s].append(env[s])
    return torch.stack(spikes), {s: torch.stack(v) for s, v in traj.items()}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_kind_has_a_case(kind):
    assert kind in CELLS and CELLS[kind].EQUATIONS is CELL_EQUATIONS[kind]


def test_all_kinds_covered():
    assert set(CASES) == set(CELL_EQUATIONS) == set(CELLS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_single_step_matches_equation_text(kind):
    cell, kwargs, scale = _make(kind)
    inputs = _inputs(cell, scale)
    ref_spk, ref_states = _reference(cell, kwargs, inputs)
    assert 0 < ref_spk.mean() < 0.9, "test inputs must make the neuron spike sometimes"
    states = [None] * len(cell.state_names)
    with torch.no_grad():
        for t in range(T):
            spike, *states = cell(*[x[t] for x in inputs], *states)
            assert torch.equal(spike, ref_spk[t]), f"{kind}: spikes differ at t={t}"
            for name, val in zip(cell.state_names, states):
                if name in ref_states:
                    torch.testing.assert_close(val, ref_states[name][t], rtol=1e-6, atol=1e-6,
                                               msg=f"{kind}: state {name} differs at t={t}")


@pytest.mark.parametrize("kind", sorted(CASES))
def test_sequence_matches_equation_text(kind):
    cell, kwargs, scale = _make(kind)
    inputs = _inputs(cell, scale)
    ref_spk, ref_states = _reference(cell, kwargs, inputs)
    with torch.no_grad():
        seq_in = inputs[0] if len(inputs) == 1 else tuple(inputs)
        spikes, final = cell.forward_sequence(seq_in)
    assert torch.equal(spikes, ref_spk)
    for name, val in zip(cell.state_names, final):
        if name in ref_states:
            torch.testing.assert_close(val, ref_states[name][-1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_equation_params_reports_constructor_values(kind):
    cell, kwargs, _ = _make(kind)
    got = cell.equation_params()
    assert set(got) == set(cell.EQUATIONS.params)
    for k, default in cell.EQUATIONS.params.items():
        assert got[k] == pytest.approx(kwargs.get(k, default), rel=1e-6)


@pytest.mark.parametrize("kind", ["lif", "synaptic", "alif", "expif", "adex", "alpha",
                                  "second_order_lif", "recurrent_lif"])
def test_learned_beta_stays_in_unit_interval_and_gets_gradient(kind):
    kwargs, scale = CASES[kind]
    cell = CELLS[kind](**kwargs, learn_beta=True, learn_threshold=True)
    assert cell.equation_params()["beta"] == pytest.approx(kwargs["beta"], rel=1e-5)
    inputs = _inputs(cell, scale)
    spikes, final = cell.forward_sequence(inputs[0] if len(inputs) == 1 else tuple(inputs))
    (spikes.sum() + final[-1].sum()).backward()
    trainable = dict(cell.named_parameters())
    assert trainable["beta_raw"].grad is not None and trainable["threshold"].grad is not None
    with torch.no_grad():
        trainable["beta_raw"].fill_(50.0)
    assert 0.0 < cell.equation_params()["beta"] <= 1.0
    with torch.no_grad():
        trainable["beta_raw"].fill_(-50.0)
    assert 0.0 <= cell.equation_params()["beta"] < 1.0


def test_signatures_and_defaults_match_the_issue():
    lif = CELLS["lif"]()
    assert lif.equation_params() == pytest.approx({"beta": 0.9, "threshold": 1.0})
    for kind, eq in CELL_EQUATIONS.items():
        cell = CELLS[kind](n_neurons=4) if kind == "recurrent_lif" else CELLS[kind]()
        assert cell.equation_params() == pytest.approx(eq.params), kind
    a = AlphaCell()
    out = a(torch.ones(2, 3), torch.zeros(2, 3))
    assert len(out) == 4  # spike, i_exc, i_inh, v


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="beta must be in"):
        CELLS["lif"](beta=1.5)
    with pytest.raises(ValueError, match="delta_t"):
        CELLS["expif"](delta_t=0.0)
    with pytest.raises(TypeError, match="inputs"):
        CELLS["lif"]()(torch.zeros(2), torch.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="input sequence"):
        AlphaCell().forward_sequence(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="n_neurons"):
        RecurrentLIFCell(4)(torch.zeros(2, 5))


def test_comparison_detects_a_wrong_text():
    """The check has teeth: a LIF text without leak does not match LIFCell."""
    cell, kwargs, scale = _make("lif")
    inputs = _inputs(cell, scale)
    wrong = eqeval.parse(cell.EQUATIONS.text.replace("beta * v + I", "v + I"))
    env = {"v": torch.zeros(B, N), "beta": torch.tensor(0.85), "threshold": torch.tensor(0.9)}
    spikes = []
    for t in range(T):
        env = eqeval.step(wrong, {**env, "I": inputs[0][t]})
        spikes.append(env["spike"])
    with torch.no_grad():
        ours, _ = cell.forward_sequence(inputs[0])
    assert not torch.equal(torch.stack(spikes), ours)


def test_setting_a_decay_updates_the_parameter():
    fixed, learned = CELLS["lif"](), CELLS["lif"](learn_beta=True)
    fixed.beta, learned.beta = 0.5, 0.7
    assert fixed.equation_params()["beta"] == pytest.approx(0.5)
    assert learned.equation_params()["beta"] == pytest.approx(0.7)
    assert "beta_raw" in dict(learned.named_parameters())
    fixed.beta = 0.0  # no memory: allowed when beta is not learned (the seed accepts it)
    assert fixed.equation_params()["beta"] == 0.0
    with pytest.raises(ValueError, match="beta"):
        learned.beta = 0.0
    with pytest.raises(ValueError, match="beta"):
        fixed.beta = 1.5
