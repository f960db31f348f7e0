"""``hw.ir``: the network description every stage shares (contract 1).

Plain data: dataclasses holding numpy arrays.  A ``Network`` is saved as one
versioned ``.npz`` file (a JSON manifest stored as a ``uint8`` array named
``__manifest__`` plus one array per weight/bias, loaded with
``allow_pickle=False``) and validates itself on load; any defect raises
``IRError`` whose ``field`` names the offending field (e.g.
``layers[1].neuron.params.beta``).  Loading never raises anything else, however
damaged the file (a hypothesis fuzz test holds it to that).

File format, version 1 (``format_version``)::

    __manifest__  uint8 JSON: {"format": "snn-ir", "format_version": 1, "name",
                  "input_shape": [..], "timesteps": T, "encoding", "metadata": {..},
                  "layers": [{"op": "dense"|"conv2d", "name", "neuron": {"kind",
                  "equations", "states", "inputs", "params"}, "weight": true,
                  "bias": bool, "recurrent_weight": bool,
                  optional "weight_bits": 8 | 4 (absent = 16),
                  conv2d only: "in_shape", "stride", "padding", "pool"}, ...]}
    layers.<i>.weight / .bias / .recurrent_weight   numeric arrays

A file with a newer ``format_version`` than ``FORMAT_VERSION`` is refused
(field ``format_version``) rather than half-read.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

FORMAT_VERSION = 1
"""Version of the on-disk format written by ``Network.save``."""

FORMAT_NAME = "snn-ir"
"""Value of the manifest's ``format`` field."""

WEIGHT_BITS = (16, 8, 4)
"""Weight precisions a layer may ask for (``Dense.weight_bits``; see ``hw.quantize``)."""

NEURON_KINDS = frozenset(
    {"lif", "if", "synaptic", "alif", "expif", "adex", "lapicque", "alpha",
     "second_order_lif", "recurrent_lif",
     # reset variants of imported networks (sw.training.equations.IMPORT_EQUATIONS)
     "lif_hard", "if_hard", "synaptic_hard", "lif_delayed", "synaptic_delayed"}
)
"""Neuron kinds the equation compiler accepts."""

ENCODINGS = ("direct", "rate", "latency")
"""How a sample enters the network: ``direct`` presents the analog input at
every timestep (the first layer's current is the same each step), ``rate``
and ``latency`` present spike trains."""

KIND_INPUTS: dict[str, tuple[str, ...]] = {"alpha": ("I_exc", "I_inh"), "recurrent_lif": ("I", "R")}
"""Per-step inputs a layer feeds its neurons, by kind; every other kind takes ``("I",)``.

The layer computes them (see ``sim.golden``): ``I`` is the synaptic current,
``R`` the recurrent current, ``I_exc``/``I_inh`` the currents through the
positive weights and through the magnitudes of the negative weights."""

EQUATION_FUNCTIONS = frozenset({"exp", "min", "max", "clip"})
"""Function names the equation grammar allows (``sw.training.equations``)."""

MAX_TIMESTEPS = 1 << 20
"""Most timesteps per sample a network may ask for (guards against absurd files)."""

MAX_EQUATION_CHARS = 20_000
"""Longest equation text accepted (guards the parser against hostile files)."""


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
        equations: update statements (grammar in ``sw.training.equations``);
            must assign ``spike``.
        states: persistent state names.
        inputs: per-step input names, as ``KIND_INPUTS`` prescribes for the kind.
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
        weight_bits: weight precision on the hardware, 16, 8 or 4 (``hw.quantize``:
            16 = plain Q8.8 raws; 8 / 4 = Q8.8 raws ``code << shift`` with a ``weight_bits``-bit
            code).  Biases stay full Q8.8.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    neuron: Neuron
    recurrent_weight: np.ndarray | None = None
    weight_bits: int = 16

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
    inputs and outputs are flattened in (C, H, W) row-major order.  Padding is
    zeros on all four sides; the pool has kernel = stride = ``pool`` and drops
    a ragged edge (floor), as ``torch.nn.functional.max_pool2d`` does.

    Attributes:
        name: unique layer name.
        weight: float array ``(c_out, c_in, kh, kw)``.
        bias: float array ``(c_out,)`` or ``None``.
        neuron: the population's neuron model.
        in_shape: ``(c_in, h, w)``.
        stride, padding: convolution geometry.
        pool: max-pool kernel and stride applied to the current (1 = none).
        weight_bits: weight precision, 16, 8 or 4 (as ``Dense.weight_bits``).
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    neuron: Neuron
    in_shape: tuple[int, int, int]
    stride: int = 1
    padding: int = 0
    pool: int = 1
    weight_bits: int = 16

    op = "conv2d"

    @property
    def conv_shape(self) -> tuple[int, int, int]:
        """Shape ``(c_out, ho, wo)`` of the convolution before pooling."""
        c_out, _, kh, kw = self.weight.shape
        _, h, w = self.in_shape
        ho = (h + 2 * self.padding - kh) // self.stride + 1
        wo = (w + 2 * self.padding - kw) // self.stride + 1
        return (int(c_out), int(ho), int(wo))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c_out, ho, wo = self.conv_shape
        return (c_out, ho // self.pool, wo // self.pool)

    @property
    def n_in(self) -> int:
        return int(math.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(math.prod(self.out_shape))


Layer = Union[Dense, Conv2d]


@dataclass
class Network:
    """A feed-forward spiking network run for ``timesteps`` steps per sample.

    The prediction is the argmax of the last layer's spike counts (ties go to
    the lowest index).  The exact per-step semantics are defined in
    ``sim.golden``.

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
        return int(math.prod(self.input_shape))

    @property
    def n_output(self) -> int:
        return self.layers[-1].n_out

    def summary(self) -> str:
        """One line per layer: name, op, shapes, neuron kind."""
        lines = [f"{self.name}: input {self.input_shape}, T={self.timesteps}, {self.encoding} encoding"]
        for layer in self.layers:
            shape = (f"{layer.in_shape} -> {layer.out_shape}" if isinstance(layer, Conv2d)
                     else f"{layer.n_in} -> {layer.n_out}")
            lines.append(f"  {layer.name}: {layer.op} {shape}, {layer.neuron.kind} {layer.neuron.params}")
        return "\n".join(lines)

    def equals(self, other: "Network") -> bool:
        """True when both networks describe the same thing (arrays compared exactly)."""
        if not isinstance(other, Network):
            return False
        m1, a1 = self.to_manifest()
        m2, a2 = other.to_manifest()
        return (m1 == m2 and a1.keys() == a2.keys()
                and all(a1[k].dtype == a2[k].dtype and np.array_equal(a1[k], a2[k]) for k in a1))

    # -- validation -----------------------------------------------------
    def validate(self) -> "Network":
        """Check every field; raise ``IRError`` naming the first bad one."""
        _check(_is_int(self.timesteps) and 1 <= self.timesteps <= MAX_TIMESTEPS, "timesteps",
               f"must be an int in [1, {MAX_TIMESTEPS}], got {self.timesteps!r}")
        _check(isinstance(self.encoding, str) and self.encoding in ENCODINGS, "encoding",
               f"unknown encoding {self.encoding!r}; known: {', '.join(ENCODINGS)}")
        _check(isinstance(self.name, str), "name", f"must be a string, got {type(self.name).__name__}")
        _check(isinstance(self.input_shape, tuple) and len(self.input_shape) >= 1
               and all(_is_int(d) and d >= 1 for d in self.input_shape),
               "input_shape", f"must be a non-empty tuple of positive ints, got {self.input_shape!r}")
        _check(isinstance(self.metadata, dict), "metadata", "must be a dict")
        try:
            json.dumps(self.metadata, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise IRError("metadata", f"must be JSON-serialisable ({exc})") from None
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
    def to_manifest(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The JSON manifest and the named arrays ``save`` writes (validates first)."""
        self.validate()
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
                    arrays[f"layers.{i}.{key}"] = np.ascontiguousarray(value)
                entry[key] = value is not None
            if layer.weight_bits != 16:   # absent = 16: files of 16-bit nets stay as they were
                entry["weight_bits"] = int(layer.weight_bits)
            if isinstance(layer, Conv2d):
                entry.update(in_shape=[int(d) for d in layer.in_shape], stride=int(layer.stride),
                             padding=int(layer.padding), pool=int(layer.pool))
            layers.append(entry)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "input_shape": [int(d) for d in self.input_shape],
            "timesteps": int(self.timesteps),
            "encoding": self.encoding,
            "metadata": self.metadata,
            "layers": layers,
        }
        return manifest, arrays

    def save(self, path: str | Path) -> Path:
        """Write the network as one ``.npz`` file; returns the path written.

        Arrays keep their dtype (float32 from torch stays float32).
        """
        manifest, arrays = self.to_manifest()
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        blob = np.frombuffer(json.dumps(manifest, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, __manifest__=blob, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read and validate a file written by ``save``; any defect raises ``IRError``."""
        path = Path(path)
        if not path.is_file():
            raise IRError("path", f"no such file: {path}")
        if not zipfile.is_zipfile(path):
            raise IRError("file", f"{path} is not a hw.ir network file (not an .npz archive)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile/zlib/ValueError/OSError/EOFError: not a valid npz
            # numpy's own message for object arrays suggests loading unsafely; never pass that on
            why = ("it holds object (pickled) arrays, which a hw.ir file never does" if "pickle" in str(exc)
                   else f"{type(exc).__name__}: {exc}")
            raise IRError("file", f"{path} is not a hw.ir network file ({why})") from None
        if "__manifest__" not in arrays:
            raise IRError("__manifest__", f"{path} has no manifest; not a network file")
        try:
            manifest = json.loads(arrays.pop("__manifest__").tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise IRError("__manifest__", f"unreadable manifest ({type(exc).__name__}: {exc})") from None
        return cls.from_manifest(manifest, arrays)

    @classmethod
    def from_manifest(cls, manifest: Any, arrays: dict[str, np.ndarray]) -> "Network":
        """Build a network from a decoded manifest and its arrays (validates)."""
        _check(isinstance(manifest, dict), "__manifest__", "must be a JSON object")
        _check(manifest.get("format", FORMAT_NAME) == FORMAT_NAME, "format",
               f"not a {FORMAT_NAME!r} file: {manifest.get('format')!r}")
        version = manifest.get("format_version")
        _check(_is_int(version) and version >= 1, "format_version",
               f"missing or not a positive int: {version!r}")
        _check(version <= FORMAT_VERSION, "format_version",
               f"file has format version {version}, this software reads up to "
               f"{FORMAT_VERSION}; upgrade the package")
        for key in ("input_shape", "timesteps", "layers"):
            _check(key in manifest, key, "missing field")
        _check(isinstance(manifest["layers"], list), "layers", "must be a list")
        _check(isinstance(manifest["input_shape"], list), "input_shape", "must be a list")
        _check(isinstance(arrays, dict), "arrays", "must be a dict of arrays")
        layers: list[Layer] = []
        for i, entry in enumerate(manifest["layers"]):
            layers.append(_layer_from_manifest(entry, arrays, f"layers[{i}]", i))
        metadata = manifest.get("metadata", {})
        _check(isinstance(metadata, dict), "metadata", "must be an object")
        name = manifest.get("name", "network")
        _check(isinstance(name, str), "name", "must be a string")
        net = cls(
            layers=layers,
            input_shape=tuple(manifest["input_shape"]),
            timesteps=manifest["timesteps"],
            encoding=manifest.get("encoding", "direct"),
            name=name,
            metadata=metadata,
        )
        return net.validate()


# -- helpers ------------------------------------------------------------
def _check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise IRError(field, message)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_array(value: Any, field: str, shape: tuple[int, ...]) -> None:
    _check(isinstance(value, np.ndarray), field, f"must be a numpy array, got {type(value).__name__}")
    _check(value.dtype.kind in "fiu", field, f"must be a real numeric array, got dtype {value.dtype}")
    _check(value.shape == shape, field, f"shape {value.shape} does not match expected {shape}")
    _check(bool(np.all(np.isfinite(value))), field, "contains NaN or inf")


def _validate_neuron(neuron: Any, where: str) -> None:
    _check(isinstance(neuron, Neuron), where, "must be a Neuron")
    _check(isinstance(neuron.kind, str) and neuron.kind in NEURON_KINDS, f"{where}.kind",
           f"unknown neuron kind {neuron.kind!r}; known: {', '.join(sorted(NEURON_KINDS))}")
    _check(isinstance(neuron.equations, str) and neuron.equations.strip() != "",
           f"{where}.equations", "must be non-empty text")
    for key in ("states", "inputs"):
        names = getattr(neuron, key)
        _check(isinstance(names, tuple) and len(names) >= 1
               and all(isinstance(n, str) and n.isidentifier() for n in names)
               and len(set(names)) == len(names),
               f"{where}.{key}", f"must be a non-empty tuple of distinct identifiers, got {names!r}")
    want = KIND_INPUTS.get(neuron.kind, ("I",))
    _check(neuron.inputs == want, f"{where}.inputs",
           f"a {neuron.kind!r} layer feeds its neurons {want}, got {neuron.inputs}")
    _check(isinstance(neuron.params, dict), f"{where}.params", "must be a dict")
    for name, value in neuron.params.items():
        _check(isinstance(name, str) and name.isidentifier(), f"{where}.params",
               f"bad parameter name {name!r}")
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
        try:
            ok = ok and math.isfinite(float(value))
        except (OverflowError, TypeError, ValueError):
            ok = False
        _check(ok, f"{where}.params.{name}", f"must be a finite number, got {value!r}")
    clash = set(neuron.states) & set(neuron.inputs) | (set(neuron.states) | set(neuron.inputs)) & set(neuron.params)
    _check(not clash, f"{where}.params", f"names used twice among states/inputs/params: {sorted(clash)}")
    _check_equations(neuron, f"{where}.equations")


def _check_equations(neuron: Neuron, where: str) -> None:
    """Parse the statements and check every name they read is defined."""
    text = neuron.equations
    _check(len(text) <= MAX_EQUATION_CHARS, where, f"longer than {MAX_EQUATION_CHARS} characters")
    defined = set(neuron.states) | set(neuron.inputs) | set(neuron.params)
    assigned: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            tree = ast.parse(line, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise IRError(where, f"line {lineno} {line!r} does not parse: {exc}") from None
        stmt = tree.body[0] if len(tree.body) == 1 else None
        _check(isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
               and isinstance(stmt.targets[0], ast.Name), where,
               f"line {lineno} {line!r} is not of the form 'name = expr'")
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Call):
                _check(isinstance(node.func, ast.Name) and node.func.id in EQUATION_FUNCTIONS, where,
                       f"line {lineno}: only {', '.join(sorted(EQUATION_FUNCTIONS))} may be called")
            elif isinstance(node, ast.Name) and not _is_call_target(node, stmt.value):
                _check(node.id in defined, where,
                       f"line {lineno}: {node.id!r} is not a state, input, parameter or earlier "
                       f"assignment (parameters: {sorted(neuron.params)})")
        target = stmt.targets[0].id
        _check(target not in neuron.inputs and target not in neuron.params, where,
               f"line {lineno} assigns to input/parameter {target!r}")
        defined.add(target)
        assigned.add(target)
    _check("spike" in assigned, where, "never assigns the output 'spike'")


def _is_call_target(name: ast.Name, tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


def _validate_layer(layer: Layer, where: str, n_prev: int) -> None:
    _validate_neuron(layer.neuron, f"{where}.neuron")
    bits = getattr(layer, "weight_bits", 16)
    _check(_is_int(bits) and bits in WEIGHT_BITS, f"{where}.weight_bits",
           f"must be one of {', '.join(map(str, WEIGHT_BITS))}, got {bits!r}")
    if isinstance(layer, Dense):
        _check(isinstance(layer.weight, np.ndarray) and layer.weight.ndim == 2,
               f"{where}.weight", "must be a 2-D array (n_out, n_in)")
        _check(layer.weight.shape[0] >= 1, f"{where}.weight", "needs at least one output")
        _check_array(layer.weight, f"{where}.weight", (layer.weight.shape[0], n_prev))
        n_out = layer.n_out
        _check(layer.recurrent_weight is None or layer.neuron.kind == "recurrent_lif",
               f"{where}.recurrent_weight", "only a 'recurrent_lif' layer has recurrent weights")
        _check(layer.recurrent_weight is not None or layer.neuron.kind != "recurrent_lif",
               f"{where}.recurrent_weight", "required for a 'recurrent_lif' layer")
        if layer.recurrent_weight is not None:
            _check_array(layer.recurrent_weight, f"{where}.recurrent_weight", (n_out, n_out))
    else:
        _check(layer.neuron.kind != "recurrent_lif", f"{where}.neuron.kind",
               "'recurrent_lif' is only supported in dense layers")
        _check(isinstance(layer.weight, np.ndarray) and layer.weight.ndim == 4,
               f"{where}.weight", "must be a 4-D array (c_out, c_in, kh, kw)")
        _check(all(d >= 1 for d in layer.weight.shape), f"{where}.weight",
               f"every dimension must be >= 1, got {layer.weight.shape}")
        _check(isinstance(layer.in_shape, tuple) and len(layer.in_shape) == 3
               and all(_is_int(d) and d >= 1 for d in layer.in_shape),
               f"{where}.in_shape", f"must be (c, h, w) positive ints, got {layer.in_shape!r}")
        _check(math.prod(layer.in_shape) == n_prev, f"{where}.in_shape",
               f"{layer.in_shape} holds {math.prod(layer.in_shape)} values, previous layer gives {n_prev}")
        _check_array(layer.weight, f"{where}.weight",
                     (layer.weight.shape[0], layer.in_shape[0], *layer.weight.shape[2:]))
        for key in ("stride", "pool"):
            v = getattr(layer, key)
            _check(_is_int(v) and v >= 1, f"{where}.{key}", f"must be an int >= 1, got {v!r}")
        _check(_is_int(layer.padding) and layer.padding >= 0, f"{where}.padding",
               f"must be an int >= 0, got {layer.padding!r}")
        _check(all(d >= 1 for d in layer.out_shape), f"{where}.weight",
               f"kernel/pool too large for input {layer.in_shape}: output {layer.out_shape}")
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
        flag = entry.get(key, required)
        _check(isinstance(flag, bool), f"{where}.{key}", f"must be true or false, got {flag!r}")
        name = f"layers.{i}.{key}"
        if not flag:
            return None
        _check(name in arrays, f"{where}.{key}", f"array {name!r} missing from file")
        return arrays[name]

    common = dict(name=entry["name"], weight=array("weight", True), bias=array("bias", False),
                  neuron=neuron, weight_bits=entry.get("weight_bits", 16))
    _check(common["weight"] is not None, f"{where}.weight", "a layer needs weights")
    op = entry["op"]
    if op == "dense":
        return Dense(**common, recurrent_weight=array("recurrent_weight", False))
    if op == "conv2d":
        _check(isinstance(entry.get("in_shape"), list), f"{where}.in_shape", "missing or not a list")
        return Conv2d(**common, in_shape=tuple(entry["in_shape"]), stride=entry.get("stride", 1),
                      padding=entry.get("padding", 0), pool=entry.get("pool", 1))
    raise IRError(f"{where}.op", f"unknown layer op {op!r}; known: dense, conv2d")
