"""What the Train tab can choose from: surrogate functions and neuron cell types (seeds 001/002)."""

from __future__ import annotations

from typing import Any

from sw.training.equations import CELL_EQUATIONS

SURROGATES: dict[str, dict[str, str]] = {
    "atan_surrogate": {"reference": "Fang et al. 2021", "backward": "alpha / (2(1 + (pi*alpha*x/2)^2))"},
    "fast_sigmoid": {"reference": "Zenke & Vogels 2021", "backward": "slope / (1 + slope*|x|)^2"},
    "superspike": {"reference": "Zenke & Ganguli 2018", "backward": "1 / (1 + beta*|x|)^2"},
    "sigmoid_surrogate": {"reference": "standard", "backward": "sigmoid'(slope*x)"},
    "straight_through": {"reference": "Bengio et al. 2013", "backward": "identity"},
    "triangular": {"reference": "Esser et al. 2016", "backward": "max(0, 1 - |x|)"},
}

# class name -> (equation kind in CELL_EQUATIONS or None, one-line description)
CELL_TYPES: dict[str, tuple[str | None, str]] = {
    "LIFCell": ("lif", "leaky integrate-and-fire (default)"),
    "IFCell": ("if", "integrate-and-fire, no leak"),
    "SynapticCell": ("synaptic", "LIF with an exponential synaptic current"),
    "ALIFCell": ("alif", "adaptive LIF (Bellec et al. 2020)"),
    "ExpIFCell": ("expif", "exponential IF (Fourcaud-Trocme et al. 2003)"),
    "AdExCell": ("adex", "adaptive exponential IF (Brette & Gerstner 2005)"),
    "LapicqueCell": ("lapicque", "classical Lapicque RC neuron"),
    "AlphaCell": ("alpha", "separate excitatory/inhibitory alpha synapses"),
    "SecondOrderLIFCell": ("second_order_lif", "LIF with second-order (inertial) dynamics"),
    "RecurrentLIFCell": ("recurrent_lif", "LIF with within-layer recurrence"),
    "ConvSpikingNet": (None, "convolutional SNN (Conv2d -> LIF -> pooling)"),
    "SpikingNet": (None, "multi-layer feedforward SNN of LIFCell layers"),
}


def _training_module() -> Any | None:
    try:
        from sw import training
    except ImportError:
        return None
    return training


def surrogate_list() -> list[dict[str, Any]]:
    """Surrogates with reference, backward formula and whether ``sw.training`` provides them."""
    training = _training_module()
    return [{"name": name, **info, "available": training is not None and hasattr(training, name)}
            for name, info in SURROGATES.items()]


def cell_type_list() -> list[dict[str, Any]]:
    """Cell classes with their states and parameters from ``CELL_EQUATIONS`` when they have one."""
    training = _training_module()
    out = []
    for name, (kind, description) in CELL_TYPES.items():
        eq = CELL_EQUATIONS.get(kind) if kind else None
        out.append({
            "name": name, "description": description, "kind": eq.kind if eq else None,
            "states": list(eq.states) if eq else [], "params": dict(eq.params) if eq else {},
            "equations": eq.text.strip() if eq else None,
            "available": training is not None and hasattr(training, name),
        })
    return out
