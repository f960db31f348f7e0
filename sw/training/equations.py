"""Neuron update equations as text (grammar: :mod:`hw.equations`).

The table the hardware path reads (``NeuronEquations``, ``CELL_EQUATIONS``,
``IMPORT_EQUATIONS``, ``NEURON_EQUATIONS``) is defined in :mod:`hw.equations`,
below both the training cells and the equation compiler, so that ``hw/``
never imports ``sw/`` (docs/architecture.md, "Import rule").  This module
re-exports those names unchanged (the same objects) and adds what only the
training side uses: the reset variants (``RESETS``, :func:`reset_variant`)
and the non-spiking synapse modules (``SYNAPSE_EQUATIONS``).  Standard
library only, like :mod:`hw.equations`.
"""

from __future__ import annotations

from hw.equations import (  # noqa: F401  (re-exports)
    _HARD_RESET,
    _SUBTRACT_RESET,
    CELL_EQUATIONS,
    IMPORT_EQUATIONS,
    NEURON_EQUATIONS,
    NeuronEquations,
)


RESETS = ("subtract", "zero", "none")
"""Reset rules of the training cells: subtract the threshold (the tables of
``hw.equations``),
set the membrane to ``v_reset = 0``, or no reset."""


def reset_variant(eq: NeuronEquations, reset: str) -> NeuronEquations:
    """``eq`` with its subtract-reset line ``v = v - spike * X`` replaced.

    ``"zero"`` gives ``v = v - spike * (v - v_reset)`` (kind ``<kind>_hard``,
    parameter ``v_reset = 0``: for ``lif``, ``if`` and ``synaptic`` exactly the
    ``IMPORT_EQUATIONS`` entry), ``"none"`` drops the line (kind
    ``<kind>_noreset``, which the hardware path does not list).
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if reset == "subtract":
        return eq
    lines = eq.text.split("\n")
    hits = [i for i, ln in enumerate(lines)
            if ln.replace(" ", "").startswith("v=v-spike*") and "(" not in ln]
    if len(hits) != 1:
        raise ValueError(f"{eq.kind}: no single subtract-reset line to replace")
    if reset == "zero":
        lines[hits[0]] = "v = v - spike * (v - v_reset)"
        return NeuronEquations(f"{eq.kind}_hard", "\n".join(lines), eq.states, eq.inputs,
                               {**eq.params, "v_reset": 0.0}, eq.output)
    del lines[hits[0]]
    return NeuronEquations(f"{eq.kind}_noreset", "\n".join(lines), eq.states, eq.inputs,
                           dict(eq.params), eq.output)


SYNAPSE_EQUATIONS: dict[str, NeuronEquations] = {
    e.kind: e
    for e in (
        # exponential synapse (brainpy Expon): decay = exp(-dt / tau)
        NeuronEquations("expon", "g = decay * g + I", states=("g",),
                        params={"decay": 0.9048374180359595}, output="g"),
        # non-spiking leaky-integrator readout; scale = 1 or 1 - beta
        NeuronEquations("leaky_readout", "v = beta * v + scale * I", states=("v",),
                        params={"beta": 0.9, "scale": 1.0}, output="v"),
    )
}
"""Non-spiking state modules of ``sw.training.synapse`` (no spike; ``output`` is the
state).  Training-side only: the hardware path (``NEURON_EQUATIONS``) does not list them."""
