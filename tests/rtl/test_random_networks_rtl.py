"""Random-network differential testing on the RTL simulator: the engine's Verilog, not Amaranth's
simulation of it.

``tests/hw/test_random_networks.py`` runs hundreds of networks from
``sim.tb.random_nets.random_nets`` in Amaranth's simulator; this runs a fixed-seed sample of
them (every accepted kind, every encoding, conv layers, saturating weights) through
``run_plan_rtl`` on Verilator (``SIM=icarus``: Icarus) and compares every layer's spike train
per step, the counts, the classes and the cycles with ``sim.golden``.  A failure shrinks to a
minimal network and leaves its artifact (replay: ``python -m sim.tb.random_nets --rtl DIR``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, reject, settings

from hw.compiler.errors import CompileError
from sim.tb.random_nets import RandomNet, check, load_failure, random_nets

pytestmark = pytest.mark.rtl

N_NETWORKS = 20


def test_random_networks_equal_golden_on_the_rtl_simulator(tmp_path):
    seen: list[RandomNet] = []

    @settings(max_examples=N_NETWORKS, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(rn=random_nets())
    def prop(rn: RandomNet) -> None:
        try:
            check(rn, folder=tmp_path / "failures", rtl=True)
        except CompileError:  # parameters the compiler refuses are not a network the engine accepts
            reject()
        seen.append(rn)

    prop()
    kinds = {layer.neuron.kind for rn in seen for layer in rn.network.layers}
    assert len(seen) >= N_NETWORKS // 2, f"only {len(seen)} networks ran"
    assert len(kinds) >= 5, f"the sample covered only {sorted(kinds)}"
    assert {rn.network.encoding for rn in seen} >= {"direct"}


_FOUND = Path(__file__).resolve().parent / "data" / "random_net_a69db6c52dca"


def test_found_random_network_equals_golden_on_the_rtl_simulator(tmp_path):
    """The first bug these tests found (2026-12-06), shrunk to its minimal network: a direct-encoded
    conv Lapicque first layer on 3 inputs, all 0 in the one sample.  The empty PREP read entry 0 of
    the nonzero-input list, still 0 before any scan wrote it, so the input address was -1, outside
    the input RAM: Amaranth's simulator read 0 and matched golden, Icarus read x and Verilator a
    value that made the layer miss both its spikes.  ``hw.cores.layer`` now starts the list at
    column 0."""
    rn = load_failure(_FOUND)
    check(rn, folder=tmp_path / "failures", rtl=True)
