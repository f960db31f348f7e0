"""``sim.sc``: stochastic-computing (SC) simulation, vectorised numpy.

* ``sim.sc.sng``: stochastic number generators (``LFSR``, ``Sobol``), seeds, thresholds.
* ``sim.sc.bitstream``: packed bitstreams, AND / XNOR multiply, popcount,
  ``sc_dot_counts`` (what ``hw.cores.sc.SCDotProduct`` must equal), ``scc``.
* ``sim.sc.neuron``: ``StochasticLIFNeuron``.
* ``sim.sc.layer``: ``SCDenseLayer`` (``neurons``, ``recorders``: ``sim.sc.recorder``).
* ``sim.sc.matvec`` / ``sim.sc.network``: whole-network SC inference, ``run_sc``.

The mapping from weights and inputs to probabilities is documented in docs/sc.md.
"""

from sim.sc.bitstream import (MODES, Bitstream, generate, pack_bits, popcount, sc_dot_counts, scc,
                              to_probability, unpack_bits)
from sim.sc.layer import SCDenseLayer
from sim.sc.matvec import SCMatVec
from sim.sc.network import SCLayerMap, SCResult, run_sc
from sim.sc.neuron import LayerNeuron, LIFPopulation, StochasticLIFNeuron
from sim.sc.recorder import SpikeRecorder
from sim.sc.sng import LFSR, LFSR_TAPS, SNG, SOBOL_DIMS, Sobol, derive_seeds, make_sng, thresholds

__all__ = [
    "MODES", "Bitstream", "generate", "pack_bits", "popcount", "sc_dot_counts", "scc",
    "to_probability", "unpack_bits", "SCDenseLayer", "SCMatVec", "SCLayerMap", "SCResult", "run_sc",
    "LIFPopulation", "LayerNeuron", "StochasticLIFNeuron", "SpikeRecorder", "LFSR", "LFSR_TAPS", "SNG", "SOBOL_DIMS", "Sobol",
    "derive_seeds", "make_sng", "thresholds",
]
