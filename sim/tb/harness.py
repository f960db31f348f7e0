"""``sim.tb.harness``: a Verilog top around a design, so cocotb benches move per-cycle work into HDL.

A cocotb bench that reads a signal every clock cycle pays a Python callback per cycle,
and that callback, not the simulator, then sets the pace (Verilator and Icarus alike).
:func:`wrap` writes a harness module that

* has the same ports as the wrapped module (so a bench drives it exactly as it drove the
  module itself), each marked ``/*verilator public_flat_rw*/`` so it stays visible when
  Verilator may optimise everything else (``run_cocotb(public_all=False)``);
* instantiates the module as ``core``;
* carries extra Verilog (``body``): e.g. monitors that ``$fwrite`` an event whenever a
  hierarchical signal (``core.layer0.spike_valid``) is high on a clock edge.

Both simulators run such a monitor at native speed; the bench only reads the file afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PUBLIC", "Port", "defines_module", "module_ports", "wrap"]

PUBLIC = "/*verilator public_flat_rw*/"
"""Verilator comment that keeps a signal visible to cocotb when ``--public-flat-rw`` is off."""

_DECL = re.compile(r"^\s*(input|output)\s+(signed\s+)?(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;", re.M)


@dataclass(frozen=True)
class Port:
    """One port of a Verilog module: ``direction`` ``"input"``/``"output"``, ``width`` bits."""

    name: str
    direction: str
    width: int
    signed: bool = False

    def declaration(self) -> str:
        """The port as a harness declaration (``input signed [15:0] x /*verilator ...*/``)."""
        vector = f"[{self.width - 1}:0] " if self.width > 1 else ""
        return f"{self.direction} {'signed ' if self.signed else ''}{vector}{self.name} {PUBLIC}"


def _header(verilog: str, module: str) -> re.Match[str] | None:
    """The ``module NAME(ports);`` header of ``module`` in ``verilog``, if it is there."""
    return re.search(rf"^module {re.escape(module)}\s*\(([^)]*)\);", verilog, re.M)


def defines_module(verilog: str, module: str) -> bool:
    """Whether ``verilog`` holds the header of ``module`` (as :func:`module_ports` reads it)."""
    return _header(verilog, module) is not None


def module_ports(verilog: str, module: str) -> list[Port]:
    """The ports of ``module`` in ``verilog`` (yosys ``write_verilog`` style: one
    ``input [msb:lsb] name;`` declaration per port), in the order of its header.

    Raises:
        ValueError: the module is missing, or a port in its header has no declaration.
    """
    head = _header(verilog, module)
    if head is None:
        raise ValueError(f"module {module} not found in the Verilog")
    end = verilog.find("endmodule", head.end())
    decls = {m.group(5): m for m in _DECL.finditer(verilog, head.end(), end if end >= 0 else len(verilog))}
    ports = []
    for name in (n.strip() for n in head.group(1).split(",")):
        if name not in decls:
            raise ValueError(f"port {name!r} of module {module} has no input/output declaration")
        m = decls[name]
        width = abs(int(m.group(3)) - int(m.group(4))) + 1 if m.group(3) is not None else 1
        ports.append(Port(name, m.group(1), width, m.group(2) is not None))
    return ports


def wrap(verilog: str, module: str, harness: str, body: str = "") -> str:
    """Verilog of module ``harness``: the ports of ``module`` (read from ``verilog``), an
    instance ``core`` of it wired port to port, and ``body`` (extra declarations and
    processes; hierarchical names start at ``core.``)."""
    ports = module_ports(verilog, module)
    conns = ",\n    ".join(f".{p.name}({p.name})" for p in ports)
    decls = ",\n  ".join(p.declaration() for p in ports)
    return (f"// sim.tb.harness: {module} wrapped for cocotb\n"
            f"module {harness}(\n  {decls}\n);\n"
            f"  {module} core(\n    {conns}\n  );\n"
            f"{body}"
            "endmodule\n")
