"""``sw.export.nir``: the NIR bridge (Neuromorphic Intermediate Representation).

``from_nir(graph | path) -> hw.ir.Network`` imports models exported by snnTorch,
SpikingJelly, Norse, ... so they run on the golden model and the FPGA;
``to_nir(network | SpikingNet) -> nir.NIRGraph`` writes ours for them.
Discretisation and limits: ``neurons.py`` docstring and docs/nir.md.
"""

from .errors import NIRExportError, NIRImportError
from .exporter import EXPORTABLE_KINDS, to_nir
from .importer import DEFAULT_DT, SUPPORTED, from_nir
from .neurons import DELAYED_RESET_KINDS, HARD_RESET_KINDS, RESETS

__all__ = ["from_nir", "to_nir", "NIRImportError", "NIRExportError", "SUPPORTED",
           "EXPORTABLE_KINDS", "DEFAULT_DT", "RESETS", "HARD_RESET_KINDS",
           "DELAYED_RESET_KINDS"]
