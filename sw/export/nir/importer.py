"""``from_nir``: a NIR graph (object or file) -> ``hw.ir.Network``.

The engine runs a feed-forward chain of layers, each "linear map, then a
spiking population" (``hw.ir``).  The importer therefore

1. inlines nested ``NIRGraph`` nodes (snnTorch writes RLeaky as one);
2. recognises a population's self-loop through one Affine/Linear node as a
   recurrent weight (``recurrent_lif``); any other cycle is rejected;
3. walks the chain from the one Input to the one Output, cutting it at
   every neuron node: the linear nodes before a population become that
   layer's weights (``linear.py``), the population its neuron (``neurons.py``).
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import nir
import numpy as np

from hw.ir import ENCODINGS, Layer, Network

from . import linear, neurons
from .errors import NIRImportError

SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "Flatten", "Conv2d", "SumPool2d",
             "AvgPool2d", "LIF", "IF", "CubaLIF", "Threshold", "NIRGraph")
"""NIR primitives the importer accepts (LI/I/CubaLI are recognised and refused)."""

DEFAULT_DT = 1e-4
"""Euler step in seconds when neither the call nor the graph metadata gives one:
the ``dt`` that snnTorch's and SpikingJelly's exporters use."""


def _supported() -> str:
    return ", ".join(SUPPORTED)


def _inline(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, nir.NIRNode],
                                                           list[tuple[str, str]]]:
    """Flatten nested graphs; inner Input/Output nodes become pass-through nodes."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for key, node in graph.nodes.items():
        name = f"{prefix}{key}"
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _inline(node, prefix=f"{name}.")
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRImportError(name, f"a nested graph needs exactly one Input and one "
                                           f"Output, has {len(ins)} and {len(outs)}")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            entry[name], exit_[name] = f"{name}.{ins[0]}", f"{name}.{outs[0]}"
        else:
            nodes[name] = node
    for src, dst in graph.edges:
        src, dst = f"{prefix}{src}", f"{prefix}{dst}"
        for end in (src, dst):
            if end not in nodes and end not in entry:
                raise NIRImportError(end, "an edge refers to a node the graph does not have")
        edges.append((exit_.get(src, src), entry.get(dst, dst)))
    return nodes, edges


def _bypass(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]],
            names: list[str]) -> list[tuple[str, str]]:
    """Remove pass-through nodes, wiring each predecessor to each successor."""
    for name in names:
        preds = [s for s, d in edges if d == name]
        succs = [d for s, d in edges if s == name]
        edges = [(s, d) for s, d in edges if name not in (s, d)]
        edges += [(p, q) for p in preds for q in succs]
        del nodes[name]
    return edges


def _flat_graph(graph: nir.NIRGraph) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    nodes, edges = _inline(graph)
    inner_io = [k for k, v in nodes.items()
                if "." in k and isinstance(v, (nir.Input, nir.Output))
                and k.rsplit(".", 1)[0] in _nested_names(graph)]
    edges = _bypass(nodes, edges, inner_io)
    return nodes, list(dict.fromkeys(edges))  # duplicates carry nothing extra


def _nested_names(graph: nir.NIRGraph, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            out.add(f"{prefix}{key}")
            out |= _nested_names(node, f"{prefix}{key}.")
    return out


def _check_known(nodes: dict[str, nir.NIRNode]) -> None:
    for name, node in nodes.items():
        ok = isinstance(node, (nir.Input, nir.Output, *linear.LINEAR_NODES,
                               *neurons.NEURON_NODES, *neurons.NON_SPIKING_NODES))
        if not ok:
            raise NIRImportError(name, f"unsupported primitive {type(node).__name__}; "
                                       f"supported: {_supported()}")


def _find_recurrence(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]
                     ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Self-loops ``pop -> W -> pop`` (W Affine/Linear): returns {pop: W} and the other edges."""
    loops: dict[str, str] = {}
    for src, dst in edges:
        if (dst, src) in edges and isinstance(nodes[src], neurons.NEURON_NODES) \
                and isinstance(nodes[dst], (nir.Affine, nir.Linear)):
            w_in = [s for s, d in edges if d == dst]
            w_out = [d for s, d in edges if s == dst]
            if w_in == [src] and w_out == [src]:
                loops[src] = dst
    rest = [(s, d) for s, d in edges
            if not ((s in loops and loops[s] == d) or (d in loops and loops[d] == s))]
    return loops, rest


def _chain(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]],
           loops: dict[str, str]) -> list[str]:
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1:
        raise NIRImportError(inputs[1] if inputs else "<graph>",
                             f"the graph needs exactly one Input node, has {len(inputs)}")
    if len(outputs) != 1:
        raise NIRImportError(outputs[1] if outputs else "<graph>",
                             f"the graph needs exactly one Output node, has {len(outputs)}")
    preds: dict[str, set[str]] = {k: set() for k in nodes}
    for s, d in edges:
        preds[d].add(s)
    try:
        TopologicalSorter(preds).prepare()
    except CycleError as exc:
        cycle = list(exc.args[1])
        raise NIRImportError(cycle[0], f"cycle {' -> '.join(cycle)}: the engine runs only a "
                                       "population's self-loop through one Affine/Linear node "
                                       "(recurrent LIF)") from None
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for s, d in edges:
        succ[s].append(d)
        pred[d].append(s)
    order = [inputs[0]]
    seen = {inputs[0]}
    while not isinstance(nodes[order[-1]], nir.Output):
        cur = order[-1]
        if len(succ[cur]) != 1:
            what = "no successor" if not succ[cur] else f"{len(succ[cur])} successors " \
                f"({', '.join(succ[cur])})"
            raise NIRImportError(cur, f"has {what}; the engine runs a single feed-forward "
                                      "chain from Input to Output (no branches)")
        nxt = succ[cur][0]
        if len(pred[nxt]) != 1:
            raise NIRImportError(nxt, f"has {len(pred[nxt])} inputs ({', '.join(pred[nxt])}); "
                                      "fan-in (sums of branches) is not supported")
        order.append(nxt)
        seen.add(nxt)
    unused = set(nodes) - seen - set(loops.values())
    if unused:
        name = sorted(unused)[0]
        raise NIRImportError(name, "is not on the path from Input to Output (or forms a cycle "
                                   "the engine cannot run)")
    return order


def _input_shape(name: str, node: nir.Input) -> tuple[int, ...]:
    shape = node.input_type.get("input") if isinstance(node.input_type, dict) else None
    if shape is None:
        raise NIRImportError(name, "Input has no input_type shape")
    shape = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    if not shape or any(d < 1 for d in shape):
        raise NIRImportError(name, f"Input shape {shape} is not a tuple of positive sizes")
    return shape


def _meta(graph: nir.NIRGraph, key: str, default: Any) -> Any:
    meta = getattr(graph, "metadata", None)
    return meta.get(key, default) if isinstance(meta, dict) else default


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _decode(value.item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _layers(nodes: dict[str, nir.NIRNode], order: list[str], loops: dict[str, str],
            in_shape: tuple[int, ...], dt: float, reset: str) -> list[Layer]:
    """Cut the chain at every neuron node: linear nodes before it -> weights, it -> neuron."""
    layers: list[Layer] = []
    pending: list[tuple[str, nir.NIRNode]] = []
    shape = in_shape
    for key in order[1:]:
        node = nodes[key]
        if isinstance(node, nir.Output):
            break
        if isinstance(node, linear.LINEAR_NODES):
            pending.append((key, node))
            continue
        steps = linear.trace(pending, shape)
        seg_out = steps[-1].out_shape if steps else shape
        n = int(np.prod(seg_out))
        rec = None
        if key in loops:
            w_key = loops[key]
            w_node = nodes[w_key]
            w = np.asarray(w_node.weight, dtype=np.float64)
            if w.shape != (n, n):
                raise NIRImportError(w_key, f"recurrent weight {w.shape} does not match the "
                                            f"{n} neurons of {key!r}")
            rec = w
        pop = neurons.population(key, node, n, dt=dt, reset=reset, recurrent=rec is not None)
        offset = pop.row_offset
        if rec is not None and isinstance(nodes[loops[key]], nir.Affine):
            # the recurrent node's constant bias arrives every step like an input bias
            offset = offset + pop.row_scale * np.asarray(nodes[loops[key]].bias,
                                                         dtype=np.float64).reshape(-1)
        layers.append(linear.build_layer(key, steps, shape, pop.neuron, pop.row_scale,
                                         offset, recurrent=rec))
        shape = seg_out
        pending = []
    if pending:
        raise NIRImportError(pending[0][0], "linear nodes after the last neuron population; "
                                            "the engine outputs spike counts of a population "
                                            "(end the graph with LIF, IF, CubaLIF or Threshold)")
    if not layers:
        raise NIRImportError(order[-1], "the graph has no neuron population")
    return layers


def from_nir(graph: nir.NIRGraph | str | Path, *, timesteps: int | None = None,
             encoding: str | None = None, dt: float | None = None, reset: str | None = None,
             name: str | None = None) -> Network:
    """Import a NIR graph as a validated ``hw.ir.Network``.

    Args:
        graph: a ``nir.NIRGraph`` or the path of a ``.nir`` (HDF5) file.
        timesteps: steps per sample (NIR has no notion of it); default: the
            graph's ``metadata["timesteps"]`` when present, else 25.
        encoding: ``hw.ir`` input encoding; default metadata or ``"direct"``.
        dt: Euler step in seconds used to discretise the NIR time constants;
            default metadata or ``DEFAULT_DT`` (1e-4, snnTorch/SpikingJelly).
        reset: ``"subtract"`` (v <- v - threshold right after a spike: this
            project's cells, snnTorch with ``reset_delay=False``), ``"zero"``
            (v <- v_reset, the NIR definition: SpikingJelly, Norse) or
            ``"delayed"`` (snnTorch's default ``reset_delay=True``); default
            metadata or ``"subtract"``.  NIR files do not record it.
        name: network name; default the file stem or ``"nir"``.

    Raises:
        NIRImportError: naming the node that cannot run and what is supported.
    """
    src_name = "nir"
    if isinstance(graph, (str, Path)):
        path = Path(graph)
        if not path.is_file():
            raise NIRImportError(str(path), "no such file")
        try:
            graph = nir.read(path)
        except Exception as exc:  # h5py/KeyError/AssertionError: not a NIR file
            raise NIRImportError(str(path), f"cannot be read as NIR ({type(exc).__name__}: "
                                            f"{exc})") from None
        src_name = path.stem
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir needs a nir.NIRGraph or a path, got {type(graph).__name__}")
    timesteps = int(_decode(timesteps if timesteps is not None else _meta(graph, "timesteps", 25)))
    encoding = str(_decode(encoding or _meta(graph, "encoding", "direct")))
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    dt = float(_decode(dt if dt is not None else _meta(graph, "dt", DEFAULT_DT)))
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    reset = str(_decode(reset or _meta(graph, "reset", "subtract")))
    if reset not in neurons.RESETS:
        raise ValueError(f"reset must be one of {neurons.RESETS}, got {reset!r}")

    nodes, edges = _flat_graph(graph)
    _check_known(nodes)
    loops, edges = _find_recurrence(nodes, edges)
    order = _chain(nodes, edges, loops)
    in_shape = _input_shape(order[0], nodes[order[0]])

    layers = _layers(nodes, order, loops, in_shape, dt, reset)
    net = Network(layers=layers, input_shape=in_shape, timesteps=timesteps, encoding=encoding,
                  name=name or src_name,
                  metadata={"source": "nir", "dt": dt, "reset": reset,
                            "nir_nodes": [k for k in order]})
    return net.validate()
