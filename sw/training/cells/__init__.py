"""Spiking neuron cells, one class per file; each follows its ``EQUATIONS`` text."""

from sw.training.cells.adex import AdExCell
from sw.training.cells.alif import ALIFCell
from sw.training.cells.alpha import AlphaCell
from sw.training.cells.base import SpikingCell
from sw.training.cells.expif import ExpIFCell
from sw.training.cells.if_ import IFCell
from sw.training.cells.lapicque import LapicqueCell
from sw.training.cells.lif import LIFCell
from sw.training.cells.recurrent_lif import RecurrentLIFCell
from sw.training.cells.second_order_lif import SecondOrderLIFCell
from sw.training.cells.synaptic import SynapticCell

CELLS: dict[str, type[SpikingCell]] = {
    c.EQUATIONS.kind: c
    for c in (LIFCell, IFCell, SynapticCell, ALIFCell, ExpIFCell, AdExCell, LapicqueCell,
              AlphaCell, SecondOrderLIFCell, RecurrentLIFCell)
}
"""Cell class by ``hw.ir`` neuron kind."""

__all__ = ["SpikingCell", "LIFCell", "IFCell", "SynapticCell", "ALIFCell", "ExpIFCell",
           "AdExCell", "LapicqueCell", "AlphaCell", "SecondOrderLIFCell", "RecurrentLIFCell",
           "CELLS"]
