"""``sw.export``: trained torch models -> ``hw.ir.Network`` (``to_ir``); NIR bridge in ``sw.export.nir``.

``python -m sw.export CHECKPOINT -o model.npz`` converts a checkpoint written by
``sw.training.save_checkpoint``.
"""

from sw.export.to_ir import neuron_from_cell, to_ir

__all__ = ["to_ir", "neuron_from_cell"]
