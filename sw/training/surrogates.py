"""Surrogate gradients: Heaviside forward, a smooth derivative backward.

Every surrogate is a :class:`Surrogate`: calling it on ``x = v - threshold``
returns ``(x > 0)`` as a float tensor whose backward multiplies the incoming
gradient by ``derivative(x)``.  The shape parameter can be passed per call
(``atan_surrogate(x, alpha=3.0)``) or fixed once (``atan_surrogate.with_params
(alpha=3.0)``) to give a new surrogate to hand to a cell.

``make_surrogate`` builds a user-defined one from its backward formula.
Surrogates are registered by name so that checkpoints can store them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

DerivativeFn = Callable[..., Tensor]

SURROGATES: dict[str, "Surrogate"] = {}
"""Registered surrogates by name (what checkpoints store)."""


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward; backward multiplies by ``derivative(x, **params)``."""

    @staticmethod
    def forward(ctx, x: Tensor, derivative: DerivativeFn, params: dict) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.derivative = derivative
        ctx.params = params
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.derivative(x, **ctx.params), None, None


class Surrogate:
    """A named spike function with a surrogate derivative.

    Args:
        name: registry name (``"atan"``, ``"fast_sigmoid"``, ...).
        derivative: ``derivative(x, **params) -> Tensor``, the backward formula.
        params: shape parameters with their default values, in positional order.
    """

    def __init__(self, name: str, derivative: DerivativeFn, params: dict[str, float] | None = None):
        self.name = name
        self._derivative = derivative
        self.params: dict[str, float] = dict(params or {})

    def _resolve(self, args: tuple, kwargs: dict) -> dict[str, float]:
        if len(args) > len(self.params):
            raise TypeError(f"{self.name} takes at most {len(self.params)} shape parameter(s) "
                            f"({', '.join(self.params) or 'none'}), got {len(args)}")
        unknown = set(kwargs) - set(self.params)
        if unknown:
            raise TypeError(f"{self.name}: unknown shape parameter(s) {sorted(unknown)}; "
                            f"known: {sorted(self.params)}")
        out = dict(self.params)
        out.update(zip(self.params, args))
        out.update(kwargs)
        return {k: float(v) for k, v in out.items()}

    def __call__(self, x: Tensor, *args: float, **kwargs: float) -> Tensor:
        """Spike ``(x > 0)`` with the surrogate backward."""
        return _SpikeFn.apply(x, self._derivative, self._resolve(args, kwargs))

    def derivative(self, x: Tensor, *args: float, **kwargs: float) -> Tensor:
        """The backward formula evaluated at ``x`` (used by fused kernels and tests)."""
        return self._derivative(x, **self._resolve(args, kwargs))

    def with_params(self, **params: float) -> "Surrogate":
        """A copy of this surrogate with different default shape parameters."""
        return Surrogate(self.name, self._derivative, self._resolve((), params))

    def config(self) -> dict:
        """JSON-able description: ``{"name": ..., "params": {...}}``."""
        return {"name": self.name, "params": dict(self.params)}

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"Surrogate({self.name}{', ' if ps else ''}{ps})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Surrogate) and other.name == self.name
                and other.params == self.params)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))


def make_surrogate(derivative: DerivativeFn, name: str | None = None,
                   register: bool = True, **params: float) -> Surrogate:
    """Build a surrogate from its backward formula.

    Args:
        derivative: ``derivative(x, **params) -> Tensor`` (must be elementwise).
        name: registry name; defaults to the function's ``__name__``.
        register: add it to ``SURROGATES`` so checkpoints can refer to it by name.
        **params: shape parameters and their defaults.

    Example::

        gauss = make_surrogate(lambda x, sigma: torch.exp(-x * x / (2 * sigma ** 2)),
                               name="gauss", sigma=0.5)
        spikes = gauss(v - 1.0)
    """
    if not callable(derivative):
        raise TypeError("derivative must be callable: derivative(x, **params) -> Tensor")
    name = name or getattr(derivative, "__name__", None)
    if not name or name == "<lambda>":
        raise ValueError("make_surrogate needs a name= for a lambda derivative")
    sur = Surrogate(name, derivative, params)
    if register:
        SURROGATES[name] = sur
    return sur


def get_surrogate(spec: str | dict | Surrogate) -> Surrogate:
    """Look up a surrogate by name, by ``config()`` dict, or pass one through."""
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, dict):
        base = get_surrogate(spec.get("name", ""))
        return base.with_params(**spec.get("params", {}))
    key = str(spec)
    for cand in (key, key.removesuffix("_surrogate")):
        if cand in SURROGATES:
            return SURROGATES[cand]
    raise ValueError(f"unknown surrogate {spec!r}; known: {', '.join(sorted(SURROGATES))}")


# The formulas below work in place on one fresh temporary (fewer passes over
# memory in the fused backward); each is the closed form in its docstring.
def _atan(x: Tensor, alpha: float) -> Tensor:
    t = x * (math.pi * alpha / 2.0)
    return t.mul_(t).add_(1.0).reciprocal_().mul_(alpha / 2.0)


def _fast_sigmoid(x: Tensor, slope: float) -> Tensor:
    t = x.abs().mul_(slope).add_(1.0)
    return t.mul_(t).reciprocal_().mul_(slope)


def _superspike(x: Tensor, beta: float) -> Tensor:
    t = x.abs().mul_(beta).add_(1.0)
    return t.mul_(t).reciprocal_()


def _sigmoid(x: Tensor, slope: float) -> Tensor:
    s = torch.sigmoid(slope * x)
    return slope * s * (1.0 - s)


def _straight_through(x: Tensor) -> Tensor:
    return torch.ones_like(x)


def _triangular(x: Tensor, width: float) -> Tensor:
    return torch.clamp(1.0 - x.abs() / width, min=0.0)


atan_surrogate = make_surrogate(_atan, "atan", alpha=2.0)
"""ATan (Fang et al. 2021): backward ``alpha / (2 (1 + (pi alpha x / 2)^2))``."""
fast_sigmoid = make_surrogate(_fast_sigmoid, "fast_sigmoid", slope=25.0)
"""Fast sigmoid (Zenke & Ganguli 2018): backward ``slope / (1 + slope |x|)^2``."""
superspike = make_surrogate(_superspike, "superspike", beta=10.0)
"""SuperSpike (Zenke & Vogels 2021): backward ``1 / (1 + beta |x|)^2``."""
sigmoid_surrogate = make_surrogate(_sigmoid, "sigmoid", slope=5.0)
"""Sigmoid: backward ``d/dx sigmoid(slope x) = slope s (1 - s)``."""
straight_through = make_surrogate(_straight_through, "straight_through")
"""Straight-through estimator (Bengio et al. 2013): backward 1."""
triangular = make_surrogate(_triangular, "triangular", width=1.0)
"""Triangular (Esser et al. 2016): backward ``max(0, 1 - |x| / width)``."""
