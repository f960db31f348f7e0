"""Every surrogate: Heaviside forward, backward equal to its closed form."""

import math

import pytest
import torch

from sw.training import (SURROGATES, atan_surrogate, fast_sigmoid, get_surrogate, make_surrogate,
                         sigmoid_surrogate, straight_through, superspike, triangular)

X = torch.linspace(-3, 3, 601, dtype=torch.float64)

CLOSED_FORMS = [
    (atan_surrogate, {"alpha": 2.0}, lambda x, alpha: alpha / (2 * (1 + (math.pi * alpha * x / 2) ** 2))),
    (atan_surrogate, {"alpha": 3.5}, lambda x, alpha: alpha / (2 * (1 + (math.pi * alpha * x / 2) ** 2))),
    (fast_sigmoid, {"slope": 25.0}, lambda x, slope: slope / (1 + slope * x.abs()) ** 2),
    (fast_sigmoid, {"slope": 4.0}, lambda x, slope: slope / (1 + slope * x.abs()) ** 2),
    (superspike, {"beta": 10.0}, lambda x, beta: 1 / (1 + beta * x.abs()) ** 2),
    (superspike, {"beta": 2.0}, lambda x, beta: 1 / (1 + beta * x.abs()) ** 2),
    (sigmoid_surrogate, {"slope": 5.0},
     lambda x, slope: slope * torch.exp(-slope * x) / (1 + torch.exp(-slope * x)) ** 2),
    (sigmoid_surrogate, {"slope": 1.5},
     lambda x, slope: slope * torch.exp(-slope * x) / (1 + torch.exp(-slope * x)) ** 2),
    (straight_through, {}, lambda x: torch.ones_like(x)),
    (triangular, {"width": 1.0}, lambda x, width: torch.clamp(1 - x.abs() / width, min=0)),
    (triangular, {"width": 0.3}, lambda x, width: torch.clamp(1 - x.abs() / width, min=0)),
]


@pytest.mark.parametrize("fn,params,formula", CLOSED_FORMS,
                         ids=[f"{c[0].name}-{c[1]}" for c in CLOSED_FORMS])
def test_backward_matches_closed_form(fn, params, formula):
    x = X.clone().requires_grad_(True)
    y = fn(x, **params)
    assert torch.equal(y.detach(), (X > 0).double())
    g = torch.randn_like(X)
    y.backward(g)
    torch.testing.assert_close(x.grad, g * formula(X, **params), rtol=1e-10, atol=1e-12)


def test_defaults_are_the_documented_ones():
    assert atan_surrogate.params == {"alpha": 2.0}
    assert fast_sigmoid.params == {"slope": 25.0}
    assert superspike.params == {"beta": 10.0}
    assert sigmoid_surrogate.params == {"slope": 5.0}
    assert triangular.params == {"width": 1.0}
    assert straight_through.params == {}


def test_positional_shape_parameter_and_with_params():
    x = torch.tensor([0.1], requires_grad=True)
    atan_surrogate(x, 3.0).sum().backward()
    g_pos = x.grad.clone()
    x.grad = None
    atan_surrogate.with_params(alpha=3.0)(x).sum().backward()
    assert torch.equal(g_pos, x.grad)
    assert not torch.equal(g_pos, atan_surrogate.derivative(x.detach()))


def test_bad_shape_parameters_are_rejected():
    with pytest.raises(TypeError, match="unknown shape parameter"):
        atan_surrogate(torch.zeros(2), slope=1.0)
    with pytest.raises(TypeError, match="at most 0"):
        straight_through(torch.zeros(2), 1.0)


def test_make_surrogate_user_formula():
    gauss = make_surrogate(lambda x, sigma: torch.exp(-x * x / (2 * sigma**2)),
                           name="test_gauss", sigma=0.5)
    x = X.clone().requires_grad_(True)
    out = gauss(x, sigma=0.7)
    assert torch.equal(out.detach(), (X > 0).double())
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.exp(-X * X / (2 * 0.7**2)))
    assert SURROGATES["test_gauss"] is gauss
    assert get_surrogate({"name": "test_gauss", "params": {"sigma": 0.2}}).params == {"sigma": 0.2}
    with pytest.raises(ValueError, match="name"):
        make_surrogate(lambda x: x)


def test_get_surrogate_by_name():
    assert get_surrogate("atan_surrogate") is atan_surrogate
    assert get_surrogate("fast_sigmoid") is fast_sigmoid
    with pytest.raises(ValueError, match="unknown surrogate"):
        get_surrogate("nope")
