"""Neuron update equations as text: the one definition every stage reads.

Each training cell (``sw.training.cells``) points at its entry here, the
exporter copies the entry into ``hw.ir``, the equation compiler
(``hw.compiler``) turns the same text into a bit-exact integer step and an
Amaranth datapath, and a test evaluates the text numerically against the
torch cell.  This module imports nothing but the standard library so that
any stage can read it.  It sits in ``hw/`` because both the training side
and the hardware side read it, and ``hw/`` imports neither ``sw/`` nor
``sim/`` (docs/architecture.md, "Import rule"); ``sw.training.equations``
re-exports every name, together with the training-side reset variants and
synapse modules.

Grammar of ``text`` (one statement per line, ``#`` starts a comment)::

    name = expr

Statements run in order within one timestep: a line sees the values
assigned by the lines above it.  ``expr`` uses ``+ - * /`` (``/`` only by a
parameter or constant), unary ``-``, parentheses, numeric constants,
comparisons ``> >= < <=`` (value 0 or 1), and the functions ``exp(x)``,
``min(a, b)``, ``max(a, b)``, ``clip(x, lo, hi)``.  Names are the model's
states (persist across steps), inputs (given each step), parameters
(constant per layer) or temporaries (assigned before use within a step).
The output ``spike`` must be assigned a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NeuronEquations:
    """Discrete-time update equations of one neuron model.

    Attributes:
        kind: short model name used in ``hw.ir`` (``"lif"``, ``"alif"``, ...).
        text: the update statements (grammar in the module docstring).
        states: persistent state variables, in the order cells return them.
        inputs: per-step input currents, in the order cells take them.
        params: parameter names with their default values.
    """

    kind: str
    text: str
    states: tuple[str, ...]
    inputs: tuple[str, ...] = ("I",)
    params: dict[str, float] = field(default_factory=dict)
    output: str = "spike"


_SUBTRACT_RESET = """
spike = v > threshold
v = v - spike * threshold
"""

CELL_EQUATIONS: dict[str, NeuronEquations] = {
    e.kind: e
    for e in (
        NeuronEquations(
            "lif",
            "v = beta * v + I" + _SUBTRACT_RESET,
            states=("v",),
            params={"beta": 0.9, "threshold": 1.0},
        ),
        NeuronEquations(
            "if",
            "v = v + I" + _SUBTRACT_RESET,
            states=("v",),
            params={"threshold": 1.0},
        ),
        NeuronEquations(
            "synaptic",
            "i_syn = alpha * i_syn + I\nv = beta * v + i_syn" + _SUBTRACT_RESET,
            states=("i_syn", "v"),
            params={"alpha": 0.9, "beta": 0.8, "threshold": 1.0},
        ),
        NeuronEquations(
            "alif",
            "v = beta * v + I\n"
            "theta = threshold + beta_adapt * a\n"
            "spike = v > theta\n"
            "v = v - spike * theta\n"
            "a = rho * a + spike\n",
            states=("v", "a"),
            params={"beta": 0.9, "threshold": 1.0, "rho": 0.99, "beta_adapt": 1.8},
        ),
        NeuronEquations(
            "expif",
            "v = beta * v + (1 - beta) * delta_t * exp(min((v - v_rh) / delta_t, 4.0)) + I"
            + _SUBTRACT_RESET,
            states=("v",),
            params={"beta": 0.9, "threshold": 1.0, "delta_t": 0.5, "v_rh": 0.8},
        ),
        NeuronEquations(
            "adex",
            "v = beta * v + (1 - beta) * delta_t * exp(min((v - v_rh) / delta_t, 4.0)) - w + I\n"
            "w = rho * w + a * (v - v_rest)"
            + _SUBTRACT_RESET
            + "w = w + b * spike\n",
            states=("v", "w"),
            params={
                "beta": 0.9, "threshold": 1.0, "delta_t": 0.5, "v_rh": 0.8,
                "a": 0.01, "b": 0.1, "rho": 0.99, "v_rest": 0.0,
            },
        ),
        NeuronEquations(
            "lapicque",
            "v = v + (dt / tau) * (v_rest - v + r * I)" + _SUBTRACT_RESET,
            states=("v",),
            params={"tau": 20.0, "r": 1.0, "dt": 1.0, "threshold": 1.0, "v_rest": 0.0},
        ),
        NeuronEquations(
            "alpha",
            "i_exc = alpha_exc * i_exc + I_exc\n"
            "i_inh = alpha_inh * i_inh + I_inh\n"
            "v = beta * v + i_exc - i_inh" + _SUBTRACT_RESET,
            states=("i_exc", "i_inh", "v"),
            inputs=("I_exc", "I_inh"),
            params={"alpha_exc": 0.9, "alpha_inh": 0.85, "beta": 0.9, "threshold": 1.0},
        ),
        NeuronEquations(
            "second_order_lif",
            "a = alpha * a + I\nv = beta * v + a" + _SUBTRACT_RESET,
            states=("a", "v"),
            params={"alpha": 0.95, "beta": 0.9, "threshold": 1.0},
        ),
        NeuronEquations(
            # R is the recurrent current W_rec @ spike[t-1], computed by the layer.
            "recurrent_lif",
            "v = beta * v + I + R" + _SUBTRACT_RESET,
            states=("v",),
            inputs=("I", "R"),
            params={"beta": 0.9, "threshold": 1.0},
        ),
    )
}
"""Equations of the ``sw.training`` cells, one entry per cell class."""

_HARD_RESET = """
spike = v > threshold
v = v - spike * (v - v_reset)
"""

IMPORT_EQUATIONS: dict[str, NeuronEquations] = {
    e.kind: e
    for e in (
        # Reset to v_reset (NIR's own definition; SpikingJelly, Norse).
        NeuronEquations(
            "lif_hard",
            "v = beta * v + I" + _HARD_RESET,
            states=("v",),
            params={"beta": 0.9, "threshold": 1.0, "v_reset": 0.0},
        ),
        NeuronEquations(
            "if_hard",
            "v = v + I" + _HARD_RESET,
            states=("v",),
            params={"threshold": 1.0, "v_reset": 0.0},
        ),
        NeuronEquations(
            "synaptic_hard",
            "i_syn = alpha * i_syn + I\nv = beta * v + i_syn" + _HARD_RESET,
            states=("i_syn", "v"),
            params={"alpha": 0.9, "beta": 0.8, "threshold": 1.0, "v_reset": 0.0},
        ),
        # snnTorch's default reset_delay=True: v holds the un-reset membrane and the
        # reset applied at step t comes from the comparison of step t-1.
        NeuronEquations(
            "lif_delayed",
            "v = beta * v + I - (v > threshold) * threshold\nspike = v > threshold\n",
            states=("v",),
            params={"beta": 0.9, "threshold": 1.0},
        ),
        NeuronEquations(
            "synaptic_delayed",
            "i_syn = alpha * i_syn + I\n"
            "v = beta * v + i_syn - (v > threshold) * threshold\n"
            "spike = v > threshold\n",
            states=("i_syn", "v"),
            params={"alpha": 0.9, "beta": 0.8, "threshold": 1.0},
        ),
    )
}
"""Neuron models with no training cell, needed to run networks imported from
other libraries (``sw.export.nir``) exactly as their exporter simulated them."""

NEURON_EQUATIONS: dict[str, NeuronEquations] = {**CELL_EQUATIONS, **IMPORT_EQUATIONS}
"""Every neuron model the hardware path accepts (``hw.ir.NEURON_KINDS``)."""

