"""``sw.training``: surrogate-gradient training of spiking networks.

Public API (names as in the seed documents)::

    surrogates   atan_surrogate, fast_sigmoid, superspike, sigmoid_surrogate,
                 straight_through, triangular, make_surrogate
    cells        LIFCell, IFCell, SynapticCell, ALIFCell, ExpIFCell, AdExCell,
                 LapicqueCell, AlphaCell, SecondOrderLIFCell, RecurrentLIFCell
    networks     SpikingNet, ConvSpikingNet
    blocks       ExpSynapse, LeakyReadout, SpikingSequential (cells take reset= and detach_reset=)
    encoders     rate_encode, latency_encode, delta_encode
    losses       spike_count_loss, membrane_loss, spike_rate_loss, spike_l1_loss, spike_l2_loss
    training     train_epoch, evaluate, auto_device, fit
    utilities    SpikeMonitor, population_decode, reset_states
    checkpoints  save_checkpoint, load_checkpoint
    data         load_digits_data, load_mnist_idx
"""

from sw.training.cells import (CELLS, AdExCell, ALIFCell, AlphaCell, ExpIFCell, IFCell,
                               LapicqueCell, LIFCell, RecurrentLIFCell, SecondOrderLIFCell,
                               SpikingCell, SynapticCell)
from sw.training.checkpoint import (CheckpointError, load_checkpoint, read_checkpoint,
                                    save_checkpoint)
from sw.training.data import load_digits_data, load_mnist_idx, make_loaders, read_idx
from sw.training.encoders import delta_encode, latency_encode, rate_encode
from sw.training.equations import (CELL_EQUATIONS, RESETS, SYNAPSE_EQUATIONS, NeuronEquations,
                                   reset_variant)
from sw.training.loop import (FitResult, StopTraining, auto_device, evaluate, fit, prepare_input,
                             train_epoch)
from sw.training.losses import (membrane_loss, spike_count_loss, spike_l1_loss, spike_l2_loss,
                                spike_rate_loss)
from sw.training.networks import MODELS, ConvSpikingNet, SpikingNet
from sw.training.sequential import SpikingSequential
from sw.training.surrogates import (SURROGATES, Surrogate, atan_surrogate, fast_sigmoid,
                                    get_surrogate, make_surrogate, sigmoid_surrogate,
                                    straight_through, superspike, triangular)
from sw.training.synapse import ExpSynapse, LeakyReadout
from sw.training.utils import SpikeMonitor, population_decode, reset_states

__all__ = [
    "atan_surrogate", "fast_sigmoid", "superspike", "sigmoid_surrogate", "straight_through",
    "triangular", "make_surrogate", "get_surrogate", "Surrogate", "SURROGATES",
    "SpikingCell", "LIFCell", "IFCell", "SynapticCell", "ALIFCell", "ExpIFCell", "AdExCell",
    "LapicqueCell", "AlphaCell", "SecondOrderLIFCell", "RecurrentLIFCell", "CELLS",
    "CELL_EQUATIONS", "NeuronEquations", "SYNAPSE_EQUATIONS", "RESETS", "reset_variant",
    "SpikingNet", "ConvSpikingNet", "MODELS",
    "ExpSynapse", "LeakyReadout", "SpikingSequential",
    "SpikeMonitor", "population_decode", "reset_states",
    "rate_encode", "latency_encode", "delta_encode",
    "spike_count_loss", "membrane_loss", "spike_rate_loss", "spike_l1_loss", "spike_l2_loss",
    "train_epoch", "evaluate", "auto_device", "fit", "FitResult", "StopTraining", "prepare_input",
    "save_checkpoint", "load_checkpoint", "read_checkpoint", "CheckpointError",
    "load_digits_data", "load_mnist_idx", "read_idx", "make_loaders",
]
