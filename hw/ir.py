"""``hw.ir``: the network description every stage shares (contract 1).

Plain data: dataclasses holding numpy arrays.  A ``Network`` is saved as one
versioned ``.npz`` file (a JSON manifest plus the arrays, loaded with
``allow_pickle=False``) and validates itself on load; any defect raises
``IRError`` naming the offending field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

FORMAT_VERSION = 1
"""Version of the on-disk format written by ``Network.save``."""

NEURON_KINDS = frozenset(
    {"lif", "if", "synaptic", "alif", "expif", "adex", "lapicque", "alpha",
     "second_order_lif", "recurrent_lif"}
)
"""Neuron kinds the equation compiler accepts."""

ENCODINGS = ("direct", "rate", "latency")
"""How a sample enters the network: ``direct`` presents the analog input at
every timestep (the first layer's current is the same each step), ``rate``
and ``latency`` present spike trains."""


class IRError(ValueError):
    """A network description is malformed; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Neuron:
    """A neuron model with its update equations and parameter values.

    Attributes:
        kind: one of ``NEURON_KINDS``.
        equations: update statements (grammar in ``sw.training.equations``).
        states: persistent state names.
        inputs: per-step input names (the first is the layer's synaptic current).
        params: parameter name -> value (scalar, shared by the layer).
    """

    kind: str
    equations: str
    states: tuple[str, ...]
    inputs: tuple[str, ...] = ("I",)
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Dense:
    """Fully connected layer followed by a neuron population.

    Attributes:
        name: unique layer name.
        weight: float array ``(n_out, n_in)``.
        bias: float array ``(n_out,)`` or ``None``.
        neuron: the population's neuron model.
        recurrent_weight: ``(n_out, n_out)`` for ``recurrent_lif`` (input ``R``).
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    neuron: Neuron
    recurrent_weight: np.ndarray | None = None

    op = "dense"

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


@dataclass
class Conv2d:
    """2-D convolution, optional max-pool of the current, then neurons.

    ``current = max_pool(conv2d(x, weight, stride, padding) + bias, pool)``;
    inputs and outputs are flattened in (C, H, W) row-major order.

    Attributes:
        name: unique layer name.
        weight: float array ``(c_out, c_in, kh, kw)``.
        bias: float array ``(c_out,)`` or ``None``.
        neuron: the population's neuron model.
        in_shape: ``(c_in, h, w)``.
        stride, padding: convolution geometry.
        pool: max-pool kernel and stride applied to the current (1 = none).
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    neuron: Neuron
    in_shape: tuple[int, int, int]
    stride: int = 1
    padding: int = 0
    pool: int = 1

    op = "conv2d"

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c_out, _, kh, kw = self.weight.shape
        _, h, w = self.in_shape
        ho = (h + 2 * self.padding - kh) // self.stride + 1
        wo = (w + 2 * self.padding - kw) // self.stride + 1
        return (int(c_out), ho // self.pool, wo // self.pool)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))


Layer = Union[Dense, Conv2d]


@dataclass
class Network:
    """A feed-forward spiking network run for ``timesteps`` steps per sample.

    The prediction is the argmax of the last layer's spike counts.

    Attributes:
        layers: layers in order; each layer's ``n_in`` equals the previous ``n_out``.
        input_shape: shape of one sample (e.g. ``(64,)`` or ``(1, 28, 28)``).
        timesteps: steps per sample.
        encoding: one of ``ENCODINGS``.
        name: human-readable name.
        metadata: free JSON-serialisable data (training accuracy, source, ...).
    """

    layers: list[Layer]
    input_shape: tuple[int, ...]
    timesteps: int
    encoding: str = "direct"
    name: str = "network"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_input(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_output(self) -> int:
        return self.layers[-1].n_out

    # -- validation -----------------------------------------------------
    def validate(self) -> "Network":
        """Check every field; raise ``IRError`` naming the first bad one."""
        _check(isinstance(self.timesteps, int) and not isinstance(self.timesteps, bool)
               and self.timesteps >= 1, "timesteps", f"must be an int >= 1, got {self.timesteps!r}")
        _check(self.encoding in ENCODINGS, "encoding",
               f"unknown encoding {self.encoding!r}; known: {', '.join(ENCODINGS)}")
        _check(isinstance(self.input_shape, tuple) and len(self.input_shape) >= 1
               and all(isinstance(d, int) and d >= 1 for d in self.input_shape),
               "input_shape", f"must be a tuple of positive ints, got {self.input_shape!r}")
        _check(isinstance(self.layers, list) and len(self.layers) >= 1, "layers",
               "a network needs at least one layer")
        names: set[str] = set()
        n_prev = self.n_input
        for i, layer in enumerate(self.layers):
            where = f"layers[{i}]"
            _check(isinstance(layer, (Dense, Conv2d)), where,
                   f"unknown layer type {type(layer).__name__}")
            _check(isinstance(layer.name, str) and layer.name != "", f"{where}.name",
                   "must be a non-empty string")
            _check(layer.name not in names, f"{where}.name", f"duplicate layer name {layer.name!r}")
            names.add(layer.name)
            _validate_layer(layer, where, n_prev)
            n_prev = layer.n_out
        return self

    # -- persistence ----------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the network as one ``.npz`` file; returns the path written."""
        self.validate()
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays: dict[str, np.ndarray] = {}
        layers = []
        for i, layer in enumerate(self.layers):
            entry: dict[str, Any] = {
                "op": layer.op,
                "name": layer.name,
                "neuron": {
                    "kind": layer.neuron.kind,
                    "equations": layer.neuron.equations,
                    "states": list(layer.neuron.states),
                    "inputs": list(layer.neuron.inputs),
                    "params": {k: float(v) for k, v in layer.neuron.params.items()},
                },
            }
            for key in ("weight", "bias", "recurrent_weight"):
                value = getattr(layer, key, None)
                if value is not None:
                    arrays[f"layers.{i}.{key}"] = np.asarray(value, dtype=np.float32)
                entry[key] = value is not None
            if isinstance(layer, Conv2d):
                entry.update(in_shape=list(layer.in_shape), stride=layer.stride,
                             padding=layer.padding, pool=layer.pool)
            layers.append(entry)
        manifest = {
            "format": "snn-ir",
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "timesteps": self.timesteps,
            "encoding": self.encoding,
            "metadata": self.metadata,
            "layers": layers,
        }
        blob = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, __manifest__=blob, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read and validate a file written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise IRError("path", f"no such file: {path}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile/ValueError/OSError: not a valid npz
            raise IRError("file", f"{path} is not a network file ({exc})") from None
        if "__manifest__" not in arrays:
            raise IRError("__manifest__", f"{path} has no manifest; not a network file")
        try:
            manifest = json.loads(arrays.pop("__manifest__").tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IRError("__manifest__", f"unreadable manifest ({exc})") from None
        return cls.from_manifest(manifest, arrays)

    @classmethod
    def from_manifest(cls, manifest: Any, arrays: dict[str, np.ndarray]) -> "Network":
        """Build a network from a decoded manifest and its arrays (validates)."""
        _check(isinstance(manifest, dict), "__manifest__", "must be a JSON object")
        version = manifest.get("format_version")
        _check(isinstance(version, int) and not isinstance(version, bool), "format_version",
               f"missing or not an int: {version!r}")
        _check(version <= FORMAT_VERSION, "format_version",
               f"file has format version {version}, this software reads up to "
               f"{FORMAT_VERSION}; upgrade the package")
        for key in ("input_shape", "timesteps", "layers"):
            _check(key in manifest, key, "missing field")
        _check(isinstance(manifest["layers"], list), "layers", "must be a list")
        _check(isinstance(manifest["input_shape"], list), "input_shape", "must be a list")
        layers: list[Layer] = []
        for i, entry in enumerate(manifest["layers"]):
            layers.append(_layer_from_manifest(entry, arrays, f"layers[{i}]", i))
        metadata = manifest.get("metadata", {})
        _check(isinstance(metadata, dict), "metadata", "must be an object")
        net = cls(
            layers=layers,
            input_shape=tuple(manifest["input_shape"]),
            timesteps=manifest["timesteps"],
            encoding=manifest.get("encoding", "direct"),
            name=str(manifest.get("name", "network")),
            metadata=metadata,
        )
        return net.validate()


# -- helpers ------------------------------------------------------------
def _check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise IRError(field, message)


def _check_array(value: Any, field: str, shape: tuple[int, ...]) -> None:
    _check(isinstance(value, np.ndarray), field, f"must be a numpy array, got {type(value).__name__}")
    _check(value.dtype.kind in "fiu", field, f"must be numeric, got dtype {value.dtype}")
    _check(value.shape == shape, field, f"shape {value.shape} does not match expected {shape}")
    _check(bool(np.all(np.isfinite(value))), field, "contains NaN or inf")


def _validate_neuron(neuron: Any, where: str) -> None:
    _check(isinstance(neuron, Neuron), where, "must be a Neuron")
    _check(neuron.kind in NEURON_KINDS, f"{where}.kind",
           f"unknown neuron kind {neuron.kind!r}; known: {', '.join(sorted(NEURON_KINDS))}")
    _check(isinstance(neuron.equations, str) and neuron.equations.strip() != "",
           f"{where}.equations", "must be non-empty text")
    for key in ("states", "inputs"):
        names = getattr(neuron, key)
        _check(isinstance(names, tuple) and len(names) >= 1
               and all(isinstance(n, str) and n.isidentifier() for n in names),
               f"{where}.{key}", f"must be a non-empty tuple of identifiers, got {names!r}")
    _check(isinstance(neuron.params, dict), f"{where}.params", "must be a dict")
    for name, value in neuron.params.items():
        _check(isinstance(name, str) and name.isidentifier(), f"{where}.params",
               f"bad parameter name {name!r}")
        _check(isinstance(value, (int, float)) and not isinstance(value, bool)
               and bool(np.isfinite(value)), f"{where}.params.{name}",
               f"must be a finite number, got {value!r}")


def _validate_layer(layer: Layer, where: str, n_prev: int) -> None:
    _validate_neuron(layer.neuron, f"{where}.neuron")
    if isinstance(layer, Dense):
        _check(isinstance(layer.weight, np.ndarray) and layer.weight.ndim == 2,
               f"{where}.weight", "must be a 2-D array (n_out, n_in)")
        _check_array(layer.weight, f"{where}.weight", (layer.weight.shape[0], n_prev))
        _check(layer.weight.shape[0] >= 1, f"{where}.weight", "needs at least one output")
        n_out = layer.n_out
        if layer.recurrent_weight is not None:
            _check_array(layer.recurrent_weight, f"{where}.recurrent_weight", (n_out, n_out))
        _check((layer.recurrent_weight is not None) == (layer.neuron.kind == "recurrent_lif"),
               f"{where}.recurrent_weight",
               "required exactly when the neuron kind is 'recurrent_lif'")
    else:
        _check(isinstance(layer.weight, np.ndarray) and layer.weight.ndim == 4,
               f"{where}.weight", "must be a 4-D array (c_out, c_in, kh, kw)")
        _check(isinstance(layer.in_shape, tuple) and len(layer.in_shape) == 3
               and all(isinstance(d, int) and d >= 1 for d in layer.in_shape),
               f"{where}.in_shape", f"must be (c, h, w) positive ints, got {layer.in_shape!r}")
        _check(int(np.prod(layer.in_shape)) == n_prev, f"{where}.in_shape",
               f"{layer.in_shape} holds {int(np.prod(layer.in_shape))} values, previous layer gives {n_prev}")
        _check_array(layer.weight, f"{where}.weight",
                     (layer.weight.shape[0], layer.in_shape[0], *layer.weight.shape[2:]))
        for key in ("stride", "pool"):
            v = getattr(layer, key)
            _check(isinstance(v, int) and v >= 1, f"{where}.{key}", f"must be an int >= 1, got {v!r}")
        _check(isinstance(layer.padding, int) and layer.padding >= 0, f"{where}.padding",
               f"must be an int >= 0, got {layer.padding!r}")
        _check(all(d >= 1 for d in layer.out_shape), f"{where}.weight",
               f"kernel/pool too large for input {layer.in_shape}")
        n_out = layer.weight.shape[0]
    if layer.bias is not None:
        _check_array(layer.bias, f"{where}.bias", (n_out,))


def _layer_from_manifest(entry: Any, arrays: dict[str, np.ndarray], where: str, i: int) -> Layer:
    _check(isinstance(entry, dict), where, "must be an object")
    for key in ("op", "name", "neuron"):
        _check(key in entry, f"{where}.{key}", "missing field")
    n = entry["neuron"]
    _check(isinstance(n, dict), f"{where}.neuron", "must be an object")
    for key in ("kind", "equations", "states"):
        _check(key in n, f"{where}.neuron.{key}", "missing field")
    for key in ("states", "inputs"):
        _check(isinstance(n.get(key, []), list), f"{where}.neuron.{key}", "must be a list")
    neuron = Neuron(
        kind=n["kind"],
        equations=n["equations"],
        states=tuple(n["states"]),
        inputs=tuple(n.get("inputs", ["I"])),
        params=n.get("params", {}),
    )

    def array(key: str, required: bool) -> np.ndarray | None:
        name = f"layers.{i}.{key}"
        if name not in arrays:
            _check(not required and not entry.get(key, False), f"{where}.{key}",
                   f"array {name!r} missing from file")
            return None
        return arrays[name]

    common = dict(name=entry["name"], weight=array("weight", True), bias=array("bias", False),
                  neuron=neuron)
    if entry["op"] == "dense":
        return Dense(**common, recurrent_weight=array("recurrent_weight", False))
    if entry["op"] == "conv2d":
        _check(isinstance(entry.get("in_shape"), list), f"{where}.in_shape", "missing or not a list")
        return Conv2d(**common, in_shape=tuple(entry["in_shape"]), stride=entry.get("stride", 1),
                      padding=entry.get("padding", 0), pool=entry.get("pool", 1))
    raise IRError(f"{where}.op", f"unknown layer op {entry['op']!r}; known: dense, conv2d")
