"""``sim.golden``: the bit-exact integer reference of a whole network (what the RTL must equal).

Network semantics (THE definition; ``docs/golden.md`` repeats it, the RTL
engine implements it, ``simulate_float`` evaluates the same thing in float64)::

    inputs   direct encoding: x (batch, n_input) real values (normally in [0, 1]),
             quantised ONCE per sample: x_q = fmt.quantize(x).
             rate / latency encoding: x (batch, T, n_input) pre-encoded binary spike
             trains (0/1); step t presents x[:, t].  Or pixels x (batch, n_input): then the
             trains are what the board's encoder makes of the raws the host sends,
             hw.encoding.InputEncoder.spikes(fmt.quantize(x)) (``encode_pixels``).
    state    every neuron state starts at the compiled neuron's initial_state (0);
             the previous-step spikes of every layer start at 0.
    step t = 0 .. T-1, layers l = 0 .. L-1 in order:
      layer 0, direct:    I = fmt.mac(W, x_q, b)        computed once per sample, reused every step
      layer 0, rate/lat.: I = fmt.spike_sum(W, x[:, t], b)
      layer l > 0:        I = fmt.spike_sum(W, s_{l-1}[t], b)   (spikes of layer l-1 at the SAME step)
      recurrent_lif:      R = fmt.spike_sum(W_rec, s_l[t-1])    (own spikes of the previous step, no bias)
      alpha:              I_exc = same op over the positive weights/bias,
                          I_inh = same op over the magnitudes of the negative weights/bias
                          (split of the QUANTISED raws, see ``hw.quantize``)
      conv2d layers:      the same ops over every receptive field (im2col), i.e. one exact
                          wide sum per output, ONE rounding at the end for real-valued input
                          (mac) and none for spikes (spike_sum), then the overflow rule; then
                          max-pool (kernel = stride = pool) of that current; outputs are
                          flattened in (C, H, W) order.
      then:               s_l[t], state_l = neuron_l.step(state_l, inputs)  (the compiled
                          equations, ``hw.compiler``: bit-exact integer arithmetic in fmt)
    output   spike_counts = sum over t of s_{L-1}[t]   (batch, n_out)
             prediction   = argmax(spike_counts), ties to the LOWEST index.

Everything is vectorised numpy over batch and neurons; the only Python loops
are over timesteps and layers.  ``simulate_float`` runs the identical schedule
in float64 (no quantisation: ``W @ x + b``, equations evaluated in float64),
which is what the torch model computes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hw.fixed import Q8_8, QFormat
from hw.ir import Conv2d, Dense, Layer, Network, Neuron

__all__ = ["GoldenResult", "FloatNeuron", "run_golden", "simulate_float", "prepare_input", "encode_pixels",
           "is_pixels"]


@dataclass
class GoldenResult:
    """Outcome of running a batch through a network.

    Attributes:
        spike_counts: ``(batch, n_out)`` int64 output spike counts over the T steps.
        predictions: ``(batch,)`` int64 argmax of ``spike_counts`` (ties -> lowest index).
        layer_spikes: with ``record=True``, one ``(T, batch, n_out_l)`` uint8 array per layer.
        current_saturations: ``run_golden`` only: per layer, how many input currents (every input
            of the neuron: ``I``, ``I_exc``/``I_inh``, the recurrent current) came out of the
            overflow rule at the format's limit (``min_raw`` or ``max_raw``: clipped, or exactly
            on the limit). A direct-encoded first layer's current is counted once per sample
            (it is computed once), every other current once per step.
        current_values: per layer, how many currents were computed (the denominator).
        state_saturations: per layer, how many neuron states were at the format's limit after a
            step (counted every step, every state variable).
        state_values: per layer, how many states were counted.
    """

    spike_counts: np.ndarray
    predictions: np.ndarray
    layer_spikes: list[np.ndarray] | None = None
    current_saturations: np.ndarray | None = None
    current_values: np.ndarray | None = None
    state_saturations: np.ndarray | None = None
    state_values: np.ndarray | None = None

    def accuracy(self, labels: Any) -> float:
        """Fraction of predictions equal to ``labels``."""
        labels = np.asarray(labels).reshape(-1)
        if labels.shape != self.predictions.shape:
            raise ValueError(f"labels shape {labels.shape} != predictions shape {self.predictions.shape}")
        return float(np.mean(self.predictions == labels)) if labels.size else float("nan")


class _StepNeuron(Protocol):
    def initial_state(self, n: int) -> dict[str, np.ndarray]: ...
    def step(self, state: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


# -- float64 evaluation of the equation text ------------------------------------------
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Lt: np.less, ast.LtE: np.less_equal}
_FUNCS: dict[str, Callable[..., Any]] = {"exp": np.exp, "min": np.minimum, "max": np.maximum, "clip": np.clip}

Env = dict[str, Any]


def _compile_expr(node: ast.AST, line: str) -> Callable[[Env], Any]:
    """Turn an expression AST into a closure over an environment (no ``eval``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = float(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        name = node.id
        return lambda env: env[name]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        op, a, b = _BINOPS[type(node.op)], _compile_expr(node.left, line), _compile_expr(node.right, line)
        return lambda env: op(a(env), b(env))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        a = _compile_expr(node.operand, line)
        return (lambda env: np.negative(a(env))) if isinstance(node.op, ast.USub) else a
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        op, a, b = _COMPARE[type(node.ops[0])], _compile_expr(node.left, line), _compile_expr(node.comparators[0], line)
        return lambda env: op(a(env), b(env)).astype(np.float64)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and not node.keywords):
        fn, args = _FUNCS[node.func.id], [_compile_expr(a, line) for a in node.args]
        return lambda env: fn(*[a(env) for a in args])
    raise ValueError(f"equation {line!r}: cannot evaluate {ast.dump(node)[:80]} in float")


class FloatNeuron:
    """A neuron model's equations evaluated in float64 (the reference ``simulate_float`` uses).

    Same interface as ``hw.compiler.CompiledNeuron``: ``initial_state(n)`` and
    ``step(state, inputs) -> (spike 0/1 int64, new_state)``, elementwise over any shape.
    """

    def __init__(self, neuron: Neuron) -> None:
        self.neuron = neuron
        self._statements: list[tuple[str, Callable[[Env], Any]]] = []
        for raw in neuron.equations.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            stmt = ast.parse(line, mode="exec").body[0]
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
                raise ValueError(f"equation {line!r} is not 'name = expr'")
            self._statements.append((stmt.targets[0].id, _compile_expr(stmt.value, line)))
        self._params = {k: float(v) for k, v in neuron.params.items()}

    def initial_state(self, n: int) -> dict[str, np.ndarray]:
        """All states zero, as the training cells start."""
        return {s: np.zeros(n, dtype=np.float64) for s in self.neuron.states}

    def step(self, state: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One timestep; returns the spikes (int64 0/1) and the new states."""
        env: Env = dict(self._params)
        env.update(state)
        env.update(inputs)
        for target, fn in self._statements:
            env[target] = fn(env)
        spike = np.asarray(env["spike"])
        return (spike > 0).astype(np.int64), {s: np.asarray(env[s], dtype=np.float64) for s in self.neuron.states}


# -- arithmetic back-ends: the two linear operations of the semantics -------------------
class _IntArith:
    """Raws in ``fmt``: ``mac`` for real-valued input, ``spike_sum`` for spikes."""

    def __init__(self, fmt: QFormat) -> None:
        self.fmt = fmt

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.fmt.quantize(x)

    def values(self, w: np.ndarray, x: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        return self.fmt.mac(w, x, b)

    def spikes(self, w: np.ndarray, s: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        return self.fmt.spike_sum(w, s, b)

    def at_limits(self, raw: np.ndarray) -> int:
        """How many raws sit on the format's limits (where saturation puts an out-of-range value)."""
        raw = np.asarray(raw)
        if raw.size == 0:
            return 0
        hi, lo = self.fmt.max_raw, self.fmt.min_raw
        # two reductions first: in the common case nothing is on a limit and nothing is compared
        n = int(np.count_nonzero(raw == hi)) if raw.max() >= hi else 0
        return n + (int(np.count_nonzero(raw == lo)) if raw.min() <= lo else 0)


class _FloatArith:
    """float64: ``W @ x + b`` for both kinds of input."""

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def values(self, w: np.ndarray, x: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        acc = w @ np.asarray(x, dtype=np.float64)
        return acc if b is None else acc + (b if acc.ndim == 1 else b[:, None])

    spikes = values
    at_limits = None


def _conv_columns(x: np.ndarray, in_shape: tuple[int, int, int], kh: int, kw: int,
                  stride: int, padding: int) -> tuple[np.ndarray, int, int]:
    """im2col: ``x`` (C*H*W, B) -> columns (C*kh*kw, Ho*Wo*B), plus Ho, Wo."""
    c, h, w = in_shape
    batch = x.shape[1]
    x4 = x.reshape(c, h, w, batch)
    if padding:
        x4 = np.pad(x4, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    win = sliding_window_view(x4, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    ho, wo = win.shape[1], win.shape[2]
    cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(c * kh * kw, ho * wo * batch)
    return cols, ho, wo


def _max_pool(cur: np.ndarray, pool: int) -> np.ndarray:
    """(C, Ho, Wo, B) -> (C, Ho//pool, Wo//pool, B), kernel = stride = pool, ragged edge dropped."""
    if pool == 1:
        return cur
    c, ho, wo, b = cur.shape
    hp, wp = ho // pool, wo // pool
    return cur[:, :hp * pool, :wp * pool].reshape(c, hp, pool, wp, pool, b).max(axis=(2, 4))


class _LayerRun:
    """One layer's arrays (raws or floats), its neuron and its current computation."""

    def __init__(self, layer: Layer, terms: list[tuple[str, np.ndarray, np.ndarray | None]],
                 recurrent: np.ndarray | None, neuron: _StepNeuron, arith: Any) -> None:
        self.layer, self.neuron, self.arith, self.recurrent = layer, neuron, arith, recurrent
        if isinstance(layer, Conv2d):
            terms = [(n, w.reshape(w.shape[0], -1), b) for n, w, b in terms]
        self.terms = terms

    def currents(self, x: np.ndarray, binary: bool) -> dict[str, np.ndarray]:
        """Input currents ``{name: (n_out, B)}`` for input ``x`` (n_in, B)."""
        op = self.arith.spikes if binary else self.arith.values
        layer = self.layer
        if isinstance(layer, Dense):
            return {name: op(w, x, b) for name, w, b in self.terms}
        _, _, kh, kw = layer.weight.shape
        cols, ho, wo = _conv_columns(x, layer.in_shape, kh, kw, layer.stride, layer.padding)
        out = {}
        for name, w, b in self.terms:
            cur = op(w, cols, b).reshape(w.shape[0], ho, wo, x.shape[1])
            out[name] = _max_pool(cur, layer.pool).reshape(layer.n_out, x.shape[1])
        return out


# -- input checking -------------------------------------------------------------------
def prepare_input(network: Network, x: Any) -> np.ndarray:
    """Check and reshape ``x`` for ``network``: ``(B, n_input)`` float64 for direct encoding
    and for the pixels of a rate/latency network (encoded by :func:`encode_pixels`),
    ``(B, T, n_input)`` int64 0/1 spike trains for pre-encoded rate/latency input.
    Raises ``ValueError``."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"input must be real numbers, got dtype {x.dtype}")
    shape, n_in, T = tuple(network.input_shape), network.n_input, network.timesteps
    pixels = network.encoding != "direct" and x.ndim >= 2 and x.shape[1:] in (shape, (n_in,))
    if network.encoding == "direct" or pixels:
        if x.ndim < 1 or x.shape[1:] not in (shape, (n_in,)):
            raise ValueError(f"direct encoding expects x of shape (batch, {n_in}) or (batch, *{shape}), "
                             f"got {x.shape}")
        x = x.reshape(x.shape[0], n_in).astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("input contains NaN or inf")
        return x
    if x.ndim < 2 or x.shape[1] != T or x.shape[2:] not in (shape, (n_in,)):
        raise ValueError(f"{network.encoding} encoding expects pre-encoded spike trains of shape "
                         f"(batch, T={T}, {n_in}), got {x.shape}")
    x = x.reshape(x.shape[0], T, n_in)
    if not np.all((x == 0) | (x == 1)):
        raise ValueError(f"{network.encoding} encoding expects binary (0/1) spike trains")
    return x.astype(np.int64)


def is_pixels(network: Network, x: np.ndarray) -> bool:
    """``x`` (from :func:`prepare_input`) holds pixels for the on-chip encoder, not spike trains."""
    return network.encoding != "direct" and x.ndim == 2


def encode_pixels(network: Network, x: Any, fmt: QFormat = Q8_8) -> np.ndarray:
    """``(B, T, n_input)`` int64 spike trains the board's encoder makes of pixels ``x``
    (``hw.encoding``: rate LFSR or latency table over the raws ``fmt.quantize(x)``)."""
    from hw.encoding import encoder_for

    enc = encoder_for(network, fmt.frac_bits)
    if enc is None:
        raise ValueError("a direct-encoded network takes its pixels as they are: nothing to encode")
    x = prepare_input(network, x)
    if not is_pixels(network, x):
        raise ValueError(f"encode_pixels takes pixels (batch, {network.n_input}), got spike trains {x.shape}")
    return enc.spikes(fmt.quantize(x)).astype(np.int64)


def _expand_state(state: dict[str, np.ndarray], n: int, batch: int) -> dict[str, np.ndarray]:
    out = {}
    for k, v in state.items():
        v = np.asarray(v)
        v = v.reshape(n, 1) if v.size == n else v.reshape(1, 1)
        out[k] = np.ascontiguousarray(np.broadcast_to(v, (n, batch)))
    return out


def _simulate(runs: list[_LayerRun], network: Network, x: np.ndarray, record: bool) -> GoldenResult:
    """The schedule of the module docstring, for one chunk of samples."""
    batch, T = x.shape[0], network.timesteps
    direct = network.encoding == "direct"
    limits = runs[0].arith.at_limits                # None for float64: nothing saturates
    n_layers = len(runs)
    sat = np.zeros((4, n_layers), dtype=np.int64)   # current hits, currents, state hits, states
    static = runs[0].currents(runs[0].arith.encode(x).T, binary=False) if direct else None
    if limits is not None and static is not None:
        for v in static.values():
            sat[0, 0] += limits(v)
            sat[1, 0] += v.size
    states = [_expand_state(r.neuron.initial_state(r.layer.n_out), r.layer.n_out, batch) for r in runs]
    prev = [np.zeros((r.layer.n_out, batch), dtype=np.int64) for r in runs]
    counts = np.zeros((runs[-1].layer.n_out, batch), dtype=np.int64)
    rec = [np.zeros((T, batch, r.layer.n_out), dtype=np.uint8) for r in runs] if record else None
    for t in range(T):
        spikes = None
        for li, run in enumerate(runs):
            if li == 0:
                cur = static if direct else run.currents(x[:, t, :].T, binary=True)
            else:
                cur = run.currents(spikes, binary=True)
            counted = {} if (li == 0 and direct) else cur
            if run.recurrent is not None:
                rname = run.layer.neuron.inputs[1]
                cur = {**cur, rname: run.arith.spikes(run.recurrent, prev[li], None)}
                counted = {**counted, rname: cur[rname]}
            spk, states[li] = run.neuron.step(states[li], cur)
            if limits is not None:
                for v in counted.values():
                    sat[0, li] += limits(v)
                    sat[1, li] += v.size
                for v in states[li].values():
                    sat[2, li] += limits(v)
                    sat[3, li] += np.size(v)
            spikes = np.asarray(spk).astype(np.int64).reshape(run.layer.n_out, batch)
            prev[li] = spikes
            if rec is not None:
                rec[li][t] = spikes.T
        counts += spikes
    counts = counts.T.copy()
    preds = np.argmax(counts, axis=1).astype(np.int64) if batch else np.zeros(0, dtype=np.int64)
    extra = {} if limits is None else dict(current_saturations=sat[0], current_values=sat[1],
                                           state_saturations=sat[2], state_values=sat[3])
    return GoldenResult(spike_counts=counts, predictions=preds, layer_spikes=rec, **extra)


def _run_chunks(runs: list[_LayerRun], network: Network, x: Any, record: bool,
                batch_size: int, progress: bool, desc: str, fmt: QFormat) -> GoldenResult:
    x = prepare_input(network, x)
    if is_pixels(network, x):
        x = encode_pixels(network, x, fmt)
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    starts = range(0, max(x.shape[0], 1), batch_size)
    parts = []
    if len(starts) > 1 and progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc=desc, unit="chunk")
    for s in starts:
        parts.append(_simulate(runs, network, x[s:s + batch_size], record))
    if len(parts) == 1:
        return parts[0]
    sums = {k: (None if getattr(parts[0], k) is None else sum(getattr(p, k) for p in parts))
            for k in ("current_saturations", "current_values", "state_saturations", "state_values")}
    return GoldenResult(
        spike_counts=np.concatenate([p.spike_counts for p in parts]),
        predictions=np.concatenate([p.predictions for p in parts]),
        layer_spikes=[np.concatenate([p.layer_spikes[i] for p in parts], axis=1)
                      for i in range(len(runs))] if record else None, **sums)


def run_golden(qnet_or_network: Any, x: Any, fmt: QFormat | None = None, *, record: bool = False,
               batch_size: int = 512, progress: bool = True) -> GoldenResult:
    """Bit-exact fixed-point inference (the reference the RTL must equal).

    Parameters:
        qnet_or_network: a ``hw.quantize.QuantizedNetwork`` or a ``hw.ir.Network``
            (quantised here with ``fmt``).
        x: ``(batch, n_input)`` for direct encoding, ``(batch, T, n_input)`` 0/1 spike
            trains for rate/latency (``(batch, *input_shape)`` also accepted), or the pixels
            ``(batch, n_input)`` of a rate/latency network, encoded as the board encodes
            them (:func:`encode_pixels`).
        fmt: format for a ``Network`` (default ``Q8_8``); for a ``QuantizedNetwork``
            it must be omitted or equal ``qnet.fmt``.
        record: keep every layer's spikes in ``layer_spikes``.
        batch_size: samples simulated together (memory bound); results do not depend on it.
        progress: show a tqdm bar when there is more than one chunk.
    """
    from hw.quantize import QuantizedNetwork, quantize_network

    if isinstance(qnet_or_network, Network):
        qnet = quantize_network(qnet_or_network, Q8_8 if fmt is None else fmt)
    elif isinstance(qnet_or_network, QuantizedNetwork):
        qnet = qnet_or_network
        if fmt is not None and fmt != qnet.fmt:
            raise ValueError(f"network was quantised to {qnet.fmt}, run_golden was asked for {fmt}")
    else:
        raise TypeError(f"run_golden expects a hw.ir.Network or hw.quantize.QuantizedNetwork, "
                        f"got {type(qnet_or_network).__name__}")
    arith = _IntArith(qnet.fmt)
    runs = []
    for q in qnet.layers:
        names = q.layer.neuron.inputs
        if q.split_inputs:
            w_exc, b_exc, w_inh, b_inh = q.split(qnet.fmt)
            terms = [(names[0], w_exc, b_exc), (names[1], w_inh, b_inh)]
        else:
            terms = [(names[0], q.weight, q.bias)]
        runs.append(_LayerRun(q.layer, terms, q.recurrent_weight, q.neuron, arith))
    return _run_chunks(runs, qnet.network, x, record, batch_size, progress, "golden", qnet.fmt)


def simulate_float(network: Network, x: Any, *, record: bool = False, batch_size: int = 512,
                   progress: bool = True) -> GoldenResult:
    """float64 inference with the same schedule as ``run_golden`` and no quantisation.

    This is what the torch model computes (used for float vs fixed-point comparisons
    and by the NIR bridge). Arguments as ``run_golden``; the pixels of a rate/latency
    network are encoded as the board does (``encode_pixels``, raws in Q8.8).
    """
    if not isinstance(network, Network):
        raise TypeError(f"simulate_float expects a hw.ir.Network, got {type(network).__name__}")
    network.validate()
    arith = _FloatArith()
    runs = []
    for layer in network.layers:
        w = np.asarray(layer.weight, dtype=np.float64)
        b = None if layer.bias is None else np.asarray(layer.bias, dtype=np.float64)
        names = layer.neuron.inputs
        if layer.neuron.kind == "alpha":  # same split as hw.quantize, on the float values
            b0 = np.zeros(w.shape[0]) if b is None else b
            terms = [(names[0], np.maximum(w, 0), np.maximum(b0, 0)),
                     (names[1], np.maximum(-w, 0), np.maximum(-b0, 0))]
        else:
            terms = [(names[0], w, b)]
        rec = getattr(layer, "recurrent_weight", None)
        rec = None if rec is None else np.asarray(rec, dtype=np.float64)
        runs.append(_LayerRun(layer, terms, rec, FloatNeuron(layer.neuron), arith))
    return _run_chunks(runs, network, x, record, batch_size, progress, "float", Q8_8)
