"""``sim.tb.datapath_sim``: drive a ``hw.cores.pipeline.PipelinedDatapath`` in Amaranth's simulator."""

from __future__ import annotations

from typing import Any

import numpy as np
from amaranth import ClockDomain, Module, Signal, signed
from amaranth.sim import Simulator


def simulate_datapath(nrn: Any, stages: int, env_raw: dict[str, np.ndarray]
                      ) -> tuple[dict[str, list[int]], Any]:
    """Run ``PipelinedDatapath(nrn, stages)`` with one input per clock.

    Parameters:
        nrn: a compiled neuron (``hw.compiler.compile_neuron``).
        stages: pipeline stages.
        env_raw: raw values of every state and input, one array (same length) each.

    Returns:
        ``({state: new raws, "spike": spikes}, datapath)``: the outputs taken ``latency``
        cycles after their inputs went in.
    """
    from hw.cores.pipeline import PipelinedDatapath

    m = Module()
    m.domains.sync = ClockDomain()   # a 1-stage datapath has no registers of its own
    ins = {name: Signal(signed(nrn.fmt.width), name=f"x_{name}") for name in env_raw}
    dp = PipelinedDatapath(nrn, stages)
    outs, spike = dp.build(m, dict(ins))
    n = len(next(iter(env_raw.values())))
    got: dict[str, list[int]] = {s: [] for s in nrn.states}
    got["spike"] = []

    async def bench(ctx):
        for i in range(n + dp.latency):
            for name, sig in ins.items():
                ctx.set(sig, int(env_raw[name][min(i, n - 1)]))
            if i >= dp.latency:
                for s in nrn.states:
                    got[s].append(ctx.get(outs[s]))
                got["spike"].append(ctx.get(spike))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, dp
