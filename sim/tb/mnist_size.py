"""``sim.tb.mnist_size``: an MNIST-size (784-128-10) network and synthetic 28x28 images.

The tests of issue 14's "MNIST-size models" need no data set: :func:`synthetic_images`
draws digit-like images (a few thick random strokes, most pixels 0, values in [0, 1] as
``sw.training.data.load_mnist_idx`` gives them) and :func:`mnist_size_network` a seeded
784-128-10 LIF network whose layers both spike on them.  Real MNIST IDX files train with
``python -m sw.training --dataset mnist --data-dir DIR`` (README).
"""

from __future__ import annotations

import numpy as np

from hw.ir import Dense, Network, Neuron
from hw.equations import CELL_EQUATIONS

__all__ = ["SIDE", "synthetic_images", "mnist_size_network"]

SIDE = 28
"""Image side (MNIST: 28 x 28 = 784 pixels)."""


def synthetic_images(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 784)`` float64 images in [0, 1]: 2-4 thick strokes each, about 80 % zeros."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    out = np.zeros((n, SIDE, SIDE))
    for img in out:
        for _ in range(rng.integers(2, 5)):
            (y0, x0), (y1, x1) = rng.uniform(4, SIDE - 4, (2, 2))
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0))
                        / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-9), 0.0, 1.0)
            d = np.hypot(yy - (y0 + t * (y1 - y0)), xx - (x0 + t * (x1 - x0)))
            img[:] = np.maximum(img, np.clip(1.6 - d / 1.2, 0.0, 1.0))
    return np.round(out.reshape(n, SIDE * SIDE) * 255) / 255   # 8-bit grey levels, as IDX files


def mnist_size_network(seed: int = 0, *, hidden: int = 128, timesteps: int = 25,
                       weight_bits: int = 16) -> Network:
    """A seeded ``784 -> hidden -> 10`` LIF network (``hw.ir``) that spikes on
    :func:`synthetic_images` in both layers; ``weight_bits`` is every layer's precision."""
    rng = np.random.default_rng(seed)
    e = CELL_EQUATIONS["lif"]
    layers = []
    for i, (n_in, n_out, mean, spread) in enumerate(((784, hidden, 0.002, 0.06), (hidden, 10, 0.0, 0.3))):
        w = rng.normal(mean, spread, (n_out, n_in))
        b = rng.normal(0.0, 0.05, n_out)
        layers.append(Dense(f"fc{i}", w, b, Neuron("lif", e.text, e.states, e.inputs, dict(e.params)),
                            weight_bits=weight_bits))
    return Network(layers, (1, SIDE, SIDE), timesteps=timesteps, name=f"mnist-size-784-{hidden}-10")
