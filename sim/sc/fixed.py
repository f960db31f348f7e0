"""``run_sc_fixed``: the bit-exact model of the SC engine (``python -m hw.build --arith sc``).

The mapping is ``hw.sc_map`` (one definition for this model and the gateware):
each layer's popcounts ``C`` come from :class:`sim.sc.SCMatVec` (Sobol
generators, AND, the stream bits ``[t L, (t + 1) L)`` of step ``t``), become Q8.8
currents by ``hw.sc_map.sc_currents``, and drive the layer's compiled Q8.8 neuron
(the same ``CompiledNeuron.step`` as ``sim.golden``).  Schedule as ``sim.golden``:
layers in order each step, layer ``l + 1`` at step ``t`` reads layer ``l``'s spikes of
step ``t``; prediction = argmax of the output spike counts, ties to the lowest index.

The float SC model ``sim.sc.run_sc`` differs only in its neurons (float64) and in
its weight mapping (min-max floats); this one is what the RTL must equal bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hw.sc_map import SC_MODE, SC_SNG, SC_WIDTH, input_sum, input_thresholds, sc_currents, sc_tables
from sim.golden import GoldenResult, encode_pixels, is_pixels, prepare_input
from sim.sc.matvec import SCMatVec

__all__ = ["run_sc_fixed"]


def run_sc_fixed(qnet_or_network: Any, x: Any, *, length: int = 2048, base_seed: int = 0,
                 record: bool = False, progress: bool = True) -> GoldenResult:
    """SC inference with Q8.8 neurons, bit-exact with the SC engine.

    Parameters:
        qnet_or_network: a ``hw.quantize.QuantizedNetwork`` or a ``hw.ir.Network``
            (quantised to Q8.8 here).
        x: as for ``sim.golden.run_golden`` (real-valued samples for direct encoding).
        length: stream bits per synaptic current and step (a multiple of 8, ``hw.sc_map``).
        base_seed: seeds every generator (``hw.sc_map.sc_tables``).
        record: keep every layer's spikes (``layer_spikes``: ``(T, B, n_out)`` per layer).
        progress: tqdm bar over the timesteps.

    Returns a ``sim.golden.GoldenResult`` (``spike_counts``, ``predictions``, ``layer_spikes``, and
    per layer ``current_saturations`` / ``current_values``: currents on the format's limits, of all).
    Raises ``hw.sc_map.SCMapError`` for a network the SC layers cannot take.
    """
    from hw.fixed import Q8_8
    from hw.ir import Network
    from hw.quantize import quantize_network

    qnet = quantize_network(qnet_or_network, Q8_8) if isinstance(qnet_or_network, Network) else qnet_or_network
    fmt, network = qnet.fmt, qnet.network
    tables = sc_tables(qnet, length, base_seed)
    x = prepare_input(network, x)
    if is_pixels(network, x):
        x = encode_pixels(network, x, fmt)
    batch, T = x.shape[0], network.timesteps
    one = float(1 << SC_WIDTH)
    mats = [SCMatVec(t.thr / one, length=length, sng=SC_SNG, width=SC_WIDTH, mode=SC_MODE,
                     base_seed=base_seed, key=(t.index,)) for t in tables]
    for t, mv in zip(tables, mats):   # the engine's tables are the model's generators
        assert np.array_equal(mv.sng_w.shifts.reshape(t.thr.shape), t.shift)
    if tables[0].analog:
        x_raw = fmt.quantize(x)
        p0 = input_thresholds(x_raw, fmt) / one
        s0 = input_sum(x_raw, fmt)
    neurons = [q.neuron for q in qnet.layers]
    states = [{k: np.broadcast_to(v.reshape(-1, 1), (q.n_out, batch)).copy()
               for k, v in n.initial_state(q.n_out).items()} for q, n in zip(qnet.layers, neurons)]
    counts = np.zeros((network.n_output, batch), dtype=np.int64)
    rec = [np.zeros((T, batch, q.n_out), dtype=np.uint8) for q in qnet.layers] if record else None
    at_limit = np.zeros(len(tables), dtype=np.int64)
    steps = range(T)
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc=f"SC fixed L={length}", unit="step", leave=False)
    for step in steps:
        if tables[0].analog:
            p, s = p0, s0
        else:
            p = x[:, step, :].astype(np.float64)
            s = x[:, step, :].sum(axis=1)
        for li, (table, mv) in enumerate(zip(tables, mats)):
            c = mv.counts(p, step).T                              # (n_out, B)
            cur = sc_currents(table, c, s, fmt)
            at_limit[li] += int(np.count_nonzero((cur == fmt.max_raw) | (cur == fmt.min_raw)))
            spk, states[li] = neurons[li].step(states[li], {"I": cur})
            spikes = np.asarray(spk).astype(np.int64).reshape(table.n_out, batch)
            if rec is not None:
                rec[li][step] = spikes.T
            p, s = spikes.T.astype(np.float64), spikes.sum(axis=0)
        counts += spikes
    counts = counts.T.copy()
    preds = np.argmax(counts, axis=1).astype(np.int64) if batch else np.zeros(0, dtype=np.int64)
    values = np.array([T * batch * t.n_out for t in tables], dtype=np.int64)
    return GoldenResult(spike_counts=counts, predictions=preds, layer_spikes=rec,
                        current_saturations=at_limit, current_values=values)
