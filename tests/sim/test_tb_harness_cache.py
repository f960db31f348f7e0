"""``sim.tb.harness`` (a Verilog top around a design) and ``sim.tb.verilog_cache`` (Verilog reuse).

No simulator here: the harness is checked as text, the cache with a counting ``make``
and with one real Amaranth conversion.  The RTL suite runs both on Verilator and Icarus.
"""

from __future__ import annotations

import pickle
import time

import pytest

from sim.tb import verilog_cache
from sim.tb.harness import PUBLIC, Port, defines_module, module_ports, wrap

_CORE = """module core(clk, x, y, ok);
  input clk;
  wire clk;
  input signed [15:0] x;
  output [3:0] y;
  output ok;
  assign y = x[3:0];
endmodule
module other(a);
  input [7:0] a;
endmodule
"""


def test_module_ports_reads_direction_width_and_sign_in_header_order():
    assert module_ports(_CORE, "core") == [Port("clk", "input", 1), Port("x", "input", 16, True),
                                           Port("y", "output", 4), Port("ok", "output", 1)]
    assert module_ports(_CORE, "other") == [Port("a", "input", 8)]
    assert defines_module(_CORE, "other") and not defines_module(_CORE, "oth")


def test_module_ports_refuses_a_missing_module_or_declaration():
    with pytest.raises(ValueError, match="module nope not found"):
        module_ports(_CORE, "nope")
    with pytest.raises(ValueError, match="port 'z' of module bad"):
        module_ports("module bad(a, z);\n  input a;\nendmodule\n", "bad")


def test_wrap_keeps_every_port_public_and_wires_it_to_the_core():
    text = wrap(_CORE, "core", "core_tb", "  reg [3:0] extra;\n")
    assert text.startswith("// sim.tb.harness") and text.rstrip().endswith("endmodule")
    assert f"input signed [15:0] x {PUBLIC}" in text and f"output [3:0] y {PUBLIC}" in text
    assert "core core(" in text and ".x(x)" in text and ".ok(ok)" in text
    assert "  reg [3:0] extra;" in text
    assert all(p.declaration() in text for p in module_ports(_CORE, "core"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_SIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "verilog"


def test_cached_verilog_makes_each_description_once(cache):
    calls = []

    def make(tag):
        return lambda: calls.append(tag) or f"module {tag}; endmodule\n"

    assert verilog_cache.cached_verilog(("a", 1), make("a")) == "module a; endmodule\n"
    assert verilog_cache.cached_verilog(("a", 1), make("again")) == "module a; endmodule\n"
    assert verilog_cache.cached_verilog(("a", 2), make("b")) == "module b; endmodule\n"
    assert calls == ["a", "b"]
    assert len(list(cache.glob("*.v"))) == 2


def test_cached_verilog_key_covers_the_hw_code(cache, monkeypatch):
    calls = []
    verilog_cache.cached_verilog("d", lambda: calls.append(1) or "v1")
    monkeypatch.setattr(verilog_cache, "code_identity", lambda: "other hw sources")
    assert verilog_cache.cached_verilog("d", lambda: calls.append(2) or "v2") == "v2"
    assert calls == [1, 2]


def test_cache_off_or_an_unpicklable_description_makes_every_time(cache, monkeypatch):
    calls = []
    verilog_cache.cached_verilog(lambda: 0, lambda: calls.append(1) or "x")  # lambdas do not pickle
    verilog_cache.cached_verilog(lambda: 0, lambda: calls.append(2) or "x")
    monkeypatch.setenv("SNN_SIM_CACHE", "off")
    verilog_cache.cached_verilog("d", lambda: calls.append(3) or "x")
    verilog_cache.cached_verilog("d", lambda: calls.append(4) or "x")
    assert calls == [1, 2, 3, 4]
    assert not cache.exists()


def test_cache_keeps_the_newest_entries(cache, monkeypatch):
    monkeypatch.setattr(verilog_cache, "VERILOG_ENTRIES", 3)
    for i in range(5):
        verilog_cache.cached_verilog(("n", i), lambda i=i: f"v{i}")
        time.sleep(0.02)  # distinct modification times: the order the cache keeps
    assert sorted(p.read_text() for p in cache.glob("*.v")) == ["v2", "v3", "v4"]


def test_component_verilog_equals_a_fresh_conversion(cache):
    from hw.compiler import compile_cell
    from hw.toolchain import to_verilog

    neuron = compile_cell("lif")
    assert pickle.dumps(neuron) == pickle.dumps(compile_cell("lif"))  # a stable key
    fresh = to_verilog(neuron.datapath(), "neuron")
    first = verilog_cache.component_verilog(type(neuron).datapath, neuron, name="neuron")
    again = verilog_cache.component_verilog(type(neuron).datapath, neuron, name="neuron")
    assert first == fresh == again
    assert len(list(cache.glob("*.v"))) == 1
    other = verilog_cache.component_verilog(type(neuron).datapath, compile_cell("if"), name="neuron")
    assert other != first and len(list(cache.glob("*.v"))) == 2
