"""hw.ir: round trips, validation errors that name the field, and a fuzzed loader."""

from __future__ import annotations

import copy
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hw.ir import FORMAT_VERSION, Conv2d, Dense, IRError, Network, Neuron
from sw.training.equations import CELL_EQUATIONS


def neuron(kind: str = "lif", **params: float) -> Neuron:
    e = CELL_EQUATIONS[kind]
    return Neuron(e.kind, e.text, e.states, e.inputs, {**e.params, **params})


def dense_net() -> Network:
    rng = np.random.default_rng(0)
    return Network(
        layers=[Dense("h", rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=6).astype(np.float32),
                      neuron("recurrent_lif"), rng.normal(size=(6, 6)).astype(np.float32)),
                Dense("o", rng.normal(size=(3, 6)), None, neuron("alpha"))],
        input_shape=(4,), timesteps=7, encoding="rate", name="tiny", metadata={"acc": 0.5, "k": [1, 2]})


def conv_net() -> Network:
    rng = np.random.default_rng(1)
    return Network(
        layers=[Conv2d("c", rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), neuron("synaptic"),
                       in_shape=(1, 6, 6), stride=1, padding=1, pool=2),
                Dense("o", rng.normal(size=(3, 18)), rng.normal(size=3), neuron("alif"))],
        input_shape=(1, 6, 6), timesteps=3)


# -- round trips ------------------------------------------------------------------------
@pytest.mark.parametrize("make", [dense_net, conv_net])
def test_save_load_round_trip(tmp_path: Path, make) -> None:
    net = make()
    path = net.save(tmp_path / "net")
    assert path.suffix == ".npz"
    back = Network.load(path)
    assert back.equals(net)
    assert back.layers[0].weight.dtype == net.layers[0].weight.dtype
    assert back.metadata == net.metadata
    assert not back.equals(dense_net() if make is conv_net else conv_net())


@pytest.mark.parametrize("kind", sorted(CELL_EQUATIONS))
def test_every_cell_equation_is_valid_ir(kind: str) -> None:
    rec = np.zeros((2, 2)) if kind == "recurrent_lif" else None
    Network([Dense("a", np.ones((2, 3)), None, neuron(kind), rec)], (3,), 1).validate()


def test_conv_shapes() -> None:
    layer = conv_net().layers[0]
    assert layer.conv_shape == (2, 6, 6) and layer.out_shape == (2, 3, 3) and layer.n_out == 18


# -- validation errors name the field ---------------------------------------------------
def _set(path: str, value):
    def mutate(net: Network) -> None:
        obj = net
        parts = path.split(".")
        for p in parts[:-1]:
            obj = obj.layers[int(p[6:])] if p.startswith("layers") else getattr(obj, p)
        if isinstance(obj, dict):
            obj[parts[-1]] = value
        else:
            setattr(obj, parts[-1], value)
    return mutate


def _nan_weight(net: Network) -> None:
    net.layers[1].weight = net.layers[1].weight.copy()
    net.layers[1].weight[0, 0] = np.nan


BAD = [
    (_set("timesteps", 0), "timesteps"),
    (_set("timesteps", True), "timesteps"),
    (_set("timesteps", 10 ** 12), "timesteps"),
    (_set("encoding", "morse"), "encoding"),
    (_set("input_shape", (0,)), "input_shape"),
    (_set("input_shape", [4]), "input_shape"),
    (_set("layers", []), "layers"),
    (_set("metadata", {"x": object()}), "metadata"),
    (_set("name", 3), "name"),
    (_set("layers0.weight", np.ones((6, 5))), "layers[0].weight"),
    (_set("layers0.weight", np.ones((6, 4), dtype=complex)), "layers[0].weight"),
    (_set("layers0.weight", [[1.0] * 4] * 6), "layers[0].weight"),
    (_nan_weight, "layers[1].weight"),
    (_set("layers0.bias", np.ones(5)), "layers[0].bias"),
    (_set("layers0.bias", np.full(6, np.inf)), "layers[0].bias"),
    (_set("layers0.recurrent_weight", None), "layers[0].recurrent_weight"),
    (_set("layers0.recurrent_weight", np.ones((6, 5))), "layers[0].recurrent_weight"),
    (_set("layers1.recurrent_weight", np.ones((3, 3))), "layers[1].recurrent_weight"),
    (_set("layers1.name", "h"), "layers[1].name"),
    (_set("layers1.name", ""), "layers[1].name"),
    (_set("layers0.neuron.kind", "lstm"), "layers[0].neuron.kind"),
    (_set("layers0.neuron.inputs", ("I",)), "layers[0].neuron.inputs"),
    (_set("layers1.neuron.inputs", ("I",)), "layers[1].neuron.inputs"),
    (_set("layers0.neuron.states", ()), "layers[0].neuron.states"),
    (_set("layers0.neuron.states", ("v", "v")), "layers[0].neuron.states"),
    (_set("layers0.neuron.params.beta", float("nan")), "layers[0].neuron.params.beta"),
    (_set("layers0.neuron.params.beta", "0.9"), "layers[0].neuron.params.beta"),
    (_set("layers0.neuron.params.beta", 10 ** 400), "layers[0].neuron.params.beta"),
    (_set("layers0.neuron.equations", ""), "layers[0].neuron.equations"),
    (_set("layers0.neuron.equations", "v = beta * v +"), "layers[0].neuron.equations"),
    (_set("layers0.neuron.equations", "v = beta * v + I"), "layers[0].neuron.equations"),  # no spike
    (_set("layers0.neuron.equations", "v = gamma * v + I\nspike = v > threshold"), "layers[0].neuron.equations"),
    (_set("layers0.neuron.equations", "spike = __import__('os')"), "layers[0].neuron.equations"),
    (_set("layers0.neuron.equations", "dv/dt = -v\nspike = v > threshold"), "layers[0].neuron.equations"),
    (_set("layers0.neuron.equations", "beta = 1\nspike = v > threshold"), "layers[0].neuron.equations"),
]


@pytest.mark.parametrize("mutate, field", BAD, ids=[f for _, f in BAD])
def test_validation_error_names_field(mutate, field: str) -> None:
    net = dense_net()
    mutate(net)
    with pytest.raises(IRError) as info:
        net.validate()
    assert info.value.field == field
    assert field in str(info.value)


CONV_BAD = [
    (_set("layers0.in_shape", (1, 6, 5)), "layers[0].in_shape"),
    (_set("layers0.in_shape", (1, 36)), "layers[0].in_shape"),
    (_set("layers0.stride", 0), "layers[0].stride"),
    (_set("layers0.pool", 1.5), "layers[0].pool"),
    (_set("layers0.padding", -1), "layers[0].padding"),
    (_set("layers0.pool", 7), "layers[0].weight"),
    (_set("layers0.weight", np.ones((2, 3, 3, 3))), "layers[0].weight"),
    (_set("layers0.bias", np.ones(3)), "layers[0].bias"),
    (_set("layers1.weight", np.ones((3, 17))), "layers[1].weight"),
]


@pytest.mark.parametrize("mutate, field", CONV_BAD, ids=[f for _, f in CONV_BAD])
def test_conv_validation_error_names_field(mutate, field: str) -> None:
    net = conv_net()
    mutate(net)
    with pytest.raises(IRError) as info:
        net.validate()
    assert info.value.field == field


# -- loading damaged files ---------------------------------------------------------------
def _rewrite(path: Path, manifest: dict | None = None, arrays: dict | None = None, drop: str = "") -> None:
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    if manifest is not None:
        data["__manifest__"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    data.update(arrays or {})
    data.pop(drop, None)
    with open(path, "wb") as fh:
        np.savez(fh, **data)


def _manifest(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(npz["__manifest__"].tobytes())


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = dense_net().save(tmp_path / "n.npz")
    m = _manifest(path)
    m["format_version"] = FORMAT_VERSION + 1
    _rewrite(path, manifest=m)
    with pytest.raises(IRError, match="upgrade") as info:
        Network.load(path)
    assert info.value.field == "format_version"


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.pop("timesteps"), "timesteps"),
    (lambda m: m.pop("format_version"), "format_version"),
    (lambda m: m.__setitem__("format", "onnx"), "format"),
    (lambda m: m["layers"][0].pop("neuron"), "layers[0].neuron"),
    (lambda m: m["layers"][0]["neuron"].pop("kind"), "layers[0].neuron.kind"),
    (lambda m: m["layers"][0]["neuron"].__setitem__("kind", ["lif"]), "layers[0].neuron.kind"),
    (lambda m: m["layers"][1].__setitem__("op", "lstm"), "layers[1].op"),
    (lambda m: m["layers"][1].__setitem__("bias", "yes"), "layers[1].bias"),
    (lambda m: m["layers"][1].__setitem__("bias", True), "layers[1].bias"),
    (lambda m: m.__setitem__("input_shape", 4), "input_shape"),
    (lambda m: m.__setitem__("metadata", [1]), "metadata"),
])
def test_bad_manifest_field_is_named(tmp_path: Path, edit, field: str) -> None:
    path = dense_net().save(tmp_path / "n.npz")
    m = _manifest(path)
    edit(m)
    _rewrite(path, manifest=m)
    with pytest.raises(IRError) as info:
        Network.load(path)
    assert info.value.field == field


@pytest.mark.parametrize("arrays, drop, field", [
    ({}, "layers.0.weight", "layers[0].weight"),
    ({}, "layers.0.recurrent_weight", "layers[0].recurrent_weight"),
    ({"layers.0.weight": np.array(["a"] * 24).reshape(6, 4)}, "", "layers[0].weight"),
    ({"layers.0.weight": np.ones((6, 4), dtype=np.complex64)}, "", "layers[0].weight"),
    ({"layers.0.weight": np.ones((6, 4), dtype=bool)}, "", "layers[0].weight"),
    ({"layers.0.bias": np.ones((6, 1))}, "", "layers[0].bias"),
    ({}, "__manifest__", "__manifest__"),
    ({"__manifest__": np.frombuffer(b"{not json", dtype=np.uint8)}, "", "__manifest__"),
    ({"__manifest__": np.frombuffer(b"\xff\xfe", dtype=np.uint8)}, "", "__manifest__"),
    ({"__manifest__": np.frombuffer(b"[1, 2]", dtype=np.uint8)}, "", "__manifest__"),
])
def test_bad_arrays_are_named(tmp_path: Path, arrays: dict, drop: str, field: str) -> None:
    path = dense_net().save(tmp_path / "n.npz")
    _rewrite(path, arrays=arrays, drop=drop)
    with pytest.raises(IRError) as info:
        Network.load(path)
    assert info.value.field == field


def test_missing_truncated_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(IRError) as info:
        Network.load(tmp_path / "nope.npz")
    assert info.value.field == "path"
    path = dense_net().save(tmp_path / "n.npz")
    data = path.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "r.npz").write_bytes(b"PK\x03\x04garbage")
    np.save(tmp_path / "plain.npy", np.ones(3))
    for name in ("t.npz", "r.npz", "plain.npy"):
        with pytest.raises(IRError) as info:
            Network.load(tmp_path / name)
        assert info.value.field == "file"


def test_load_errors_never_suggest_unsafe_loading(tmp_path: Path) -> None:
    """numpy's message for these files advises allow_pickle / pickle.load: ours must not."""
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(1000))
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    want = {"random.npz": "(not an .npz archive)", "objects.npz": "holds object (pickled) arrays"}
    for name, reason in want.items():
        with pytest.raises(IRError) as info:
            Network.load(tmp_path / name)
        text = str(info.value)
        assert "is not a hw.ir network file" in text and reason in text
        assert "allow_pickle" not in text and "unsafe" not in text and "\n" not in text


# -- fuzzing: the loader raises IRError and nothing else ------------------------------------
_TMP = Path(tempfile.mkdtemp(prefix="ir_fuzz_"))
_GOOD = {name: make().save(_TMP / f"{name}.npz") for name, make in (("dense", dense_net), ("conv", conv_net))}
_GOOD_BYTES = {k: p.read_bytes() for k, p in _GOOD.items()}


def _load_arrays(path: Path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(arrays.pop("__manifest__").tobytes()), arrays


_GOOD_PARTS = {k: _load_arrays(p) for k, p in _GOOD.items()}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)

interesting = st.sampled_from([0, -1, 1, 2, 3, 1.5, True, None, "", "lif", "conv2d", "dense", [], {}, [1, 2],
                               [1, 6, 6], 2 ** 63, 10 ** 30, "v = v + I\nspike = v > 1", "spike = (((("])


def _must_be_ir_error(fn) -> None:
    try:
        net = fn()
    except IRError as exc:
        assert isinstance(exc.field, str) and exc.field
        return
    assert isinstance(net, Network)
    net.validate()  # whatever loads is a valid network that can be saved again
    net.to_manifest()


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(sorted(_GOOD)), data=st.data(), n_edits=st.integers(1, 3))
def test_fuzz_mutated_manifest(which: str, data, n_edits: int) -> None:
    manifest, arrays = copy.deepcopy(_GOOD_PARTS[which][0]), dict(_GOOD_PARTS[which][1])
    for _ in range(n_edits):
        paths = [p for p in _paths(manifest) if p]
        path = data.draw(st.sampled_from(paths))
        parent = manifest
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "interesting", "delete"]))
        if action == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        else:
            # deep copy: sampled_from hands out the same list/dict objects, later edits must not touch them
            parent[path[-1]] = copy.deepcopy(data.draw(json_values if action == "replace" else interesting))
    _must_be_ir_error(lambda: Network.from_manifest(manifest, arrays))


@settings(max_examples=150, deadline=None)
@given(manifest=json_values | st.fixed_dictionaries(
    {"format_version": st.integers(-2, 3), "input_shape": json_values, "timesteps": json_values,
     "layers": st.lists(st.dictionaries(st.sampled_from(["op", "name", "neuron", "weight", "bias", "in_shape",
                                                         "stride", "pool", "padding"]), json_values), max_size=3)},
    optional={"encoding": json_values, "metadata": json_values, "name": json_values}))
def test_fuzz_random_manifest(manifest) -> None:
    _must_be_ir_error(lambda: Network.from_manifest(manifest, dict(_GOOD_PARTS["dense"][1])))


dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int8, np.int64, np.uint8, np.bool_,
                          np.complex64, np.dtype("U3"), np.dtype("M8[s]")])
array_strategy = hnp.arrays(dtype=dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=7))


@settings(max_examples=200, deadline=None)
@given(which=st.sampled_from(sorted(_GOOD)), data=st.data())
def test_fuzz_arrays(which: str, data) -> None:
    manifest, arrays = _GOOD_PARTS[which]
    arrays = dict(arrays)
    key = data.draw(st.sampled_from(sorted(arrays)))
    if data.draw(st.booleans()):
        arrays[key] = data.draw(array_strategy)
    else:  # right shape, hostile values / dtype
        arrays[key] = data.draw(hnp.arrays(data.draw(dtypes), arrays[key].shape))
    _must_be_ir_error(lambda: Network.from_manifest(copy.deepcopy(manifest), arrays))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(sorted(_GOOD)), data=st.data())
def test_fuzz_file_bytes(which: str, data) -> None:
    raw = bytearray(_GOOD_BYTES[which])
    mode = data.draw(st.sampled_from(["truncate", "flip", "random", "splice"]))
    if mode == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif mode == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif mode == "random":
        raw = bytearray(data.draw(st.binary(max_size=400)))
    else:  # a valid zip whose manifest bytes are replaced
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            blob = data.draw(st.binary(max_size=200))
            arr = io.BytesIO()
            np.save(arr, np.frombuffer(blob, dtype=np.uint8))
            zf.writestr("__manifest__.npy", arr.getvalue())
        raw = bytearray(buf.getvalue())
    path = _TMP / f"fuzz_{which}.npz"
    path.write_bytes(bytes(raw))
    _must_be_ir_error(lambda: Network.load(path))
