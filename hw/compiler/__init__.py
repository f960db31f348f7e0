"""``hw.compiler``: neuron equations (text) -> bit-exact numpy step + Amaranth datapath.

Entry points: :func:`compile_equations` (discrete statements, the grammar of
:mod:`sw.training.equations`), :func:`compile_neuron` (an ``hw.ir.Neuron``),
:func:`compile_cell` (a ``CELL_EQUATIONS`` entry) and :func:`compile_ode`
(``dv/dt = ...`` with threshold/reset, forward Euler).  All return a
:class:`CompiledNeuron`.  Semantics of every operation: :mod:`hw.compiler.graph`;
docs: ``docs/compiler.md``.
"""

from __future__ import annotations

from hw.fixed import Q8_8, QFormat

from .compiled import CompiledNeuron
from .errors import CompileError, PrecisionWarning
from .frontend import build_ode_program, build_program

__all__ = ["compile_equations", "compile_neuron", "compile_cell", "compile_ode",
           "CompiledNeuron", "CompileError", "PrecisionWarning"]


def compile_equations(text: str, *, states, inputs=("I",), params: dict[str, float],
                      fmt: QFormat = Q8_8, kind: str | None = None) -> CompiledNeuron:
    """Compile discrete update statements (one ``name = expr`` per line).

    Raises:
        CompileError: with line/column and the offending term.
    """
    return CompiledNeuron(build_program(text, states=tuple(states), inputs=tuple(inputs),
                                        params=dict(params), fmt=fmt), kind=kind)


def compile_neuron(neuron, fmt: QFormat = Q8_8) -> CompiledNeuron:
    """Compile an ``hw.ir.Neuron`` (its equations, states, inputs and parameters)."""
    return compile_equations(neuron.equations, states=neuron.states, inputs=neuron.inputs,
                             params=dict(neuron.params), fmt=fmt, kind=neuron.kind)


def compile_cell(kind: str, params: dict[str, float] | None = None, fmt: QFormat = Q8_8) -> CompiledNeuron:
    """Compile a ``sw.training.equations.CELL_EQUATIONS`` entry, overriding some parameters."""
    from hw.equations import CELL_EQUATIONS

    if kind not in CELL_EQUATIONS:
        raise CompileError(f"unknown cell {kind!r}; known: {', '.join(CELL_EQUATIONS)}")
    eq = CELL_EQUATIONS[kind]
    merged = dict(eq.params)
    for k in params or {}:
        if k not in merged:
            raise CompileError(f"cell {kind!r} has no parameter {k!r}; it has {', '.join(merged)}")
    merged.update(params or {})
    return compile_equations(eq.text, states=eq.states, inputs=eq.inputs, params=merged, fmt=fmt, kind=kind)


def compile_ode(ode_text: str, *, threshold: str, reset: str, params: dict[str, float], dt: float,
                fmt: QFormat = Q8_8, input_name: str = "I") -> CompiledNeuron:
    """Compile ``dX/dt = f(X, I)`` lines with a threshold and reset, by forward Euler.

    Example: ``compile_ode("dv/dt = -(v - E_L)/tau_m + I/C", threshold="v > -50",
    reset="v = -65", params=dict(E_L=-65, tau_m=10, C=1), dt=0.1)``.
    """
    return CompiledNeuron(build_ode_program(ode_text, threshold=threshold, reset=reset, params=dict(params),
                                            dt=dt, fmt=fmt, inputs=(input_name,)), kind=None)
