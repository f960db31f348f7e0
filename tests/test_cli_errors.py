"""Every command line: ordinary mistakes give one ``error:`` line on stderr (no traceback) and the
shared exit codes (``hw.cli``: 2 usage / bad input file, 1 runtime failure).

Most cases call ``main(argv)`` in-process (the same code ``python -m`` runs); two run the real
entry point in a subprocess to prove nothing escapes as a traceback there.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _one_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for n in needles:
        assert n in err, (n, err)


@pytest.fixture(scope="module")
def junk(tmp_path_factory) -> dict[str, Path]:
    """Random-bytes files with the suffixes the commands take."""
    d = tmp_path_factory.mktemp("junk")
    rng = np.random.default_rng(0)
    out = {}
    for suffix in (".npz", ".pt", ".nir"):
        out[suffix] = d / f"random{suffix}"
        out[suffix].write_bytes(rng.bytes(2000))
    return out


def _run(main, argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors (hw.cli.ArgumentParser: one line, exit 2)
        code = exc.code
    return code, capsys.readouterr().err


def test_sim_verify_errors(junk, tmp_path, capsys) -> None:
    from sim.verify import main

    for argv, needle in [
        (["--model", str(tmp_path / "missing.npz")], "does not exist"),
        (["--model", str(junk[".npz"])], "not a hw.ir network file"),
        (["--sc-length", "0"], "--sc-length must be"),
        (["--sc-sng", "xorshift"], "invalid choice"),
    ]:
        code, err = _run(main, argv, capsys)
        assert code == 2, argv
        _one_line(err, needle)
        assert "allow_pickle" not in err


def test_export_errors(junk, tmp_path, capsys) -> None:
    from sw.export.__main__ import main as export_main
    from sw.export.nir.__main__ import main as nir_main

    cases = [
        (export_main, [str(tmp_path / "missing.pt")], "no such checkpoint"),
        (export_main, [str(junk[".pt"])], "not a readable checkpoint"),
        (export_main, [str(junk[".pt"]), "--timesteps", "0"], "--timesteps must be >= 1"),
        (nir_main, [str(tmp_path / "missing.nir"), "-o", str(tmp_path / "x.npz")], "no such file"),
        (nir_main, [str(junk[".npz"]), "-o", str(tmp_path / "x.nir")], "not a hw.ir network file"),
        (nir_main, [str(junk[".nir"]), "-o", str(tmp_path / "x.npz")], ""),
        (nir_main, [str(junk[".npz"]), "-o", str(tmp_path / "x.npz")], "-o must name a .nir file"),
        (nir_main, [str(tmp_path / "net.onnx"), "-o", str(tmp_path / "x.npz")], "must be a .nir or .npz"),
    ]
    for main, argv, needle in cases:
        code, err = _run(main, argv, capsys)
        assert code == 2, argv
        _one_line(err, needle)
        assert "weights_only" not in err and "allow_pickle" not in err


def test_compiler_errors(tmp_path, capsys) -> None:
    from hw.compiler.__main__ import main

    (tmp_path / "file").write_text("")
    for argv, needle in [
        (["--cell", "lif"], "required: -o/--out"),
        (["--cell", "lif", "-o", str(tmp_path / "file")], "is a file"),
        (["--cell", "lif", "--vectors", "0", "-o", str(tmp_path / "o")], "--vectors must be >= 1"),
        (["v = v +", "--states", "v", "-o", str(tmp_path / "o")], "syntax error"),
        (["--cell", "nope", "-o", str(tmp_path / "o")], "unknown cell"),
    ]:
        code, err = _run(main, argv, capsys)
        assert code == 2, argv
        _one_line(err, needle)


def test_studio_port_errors_come_before_the_banner(tmp_path, capsys) -> None:
    from sw.studio.__main__ import main

    db = str(tmp_path / "s.sqlite")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for argv, needle in [
            (["--port", "99999"], "--port must be 1..65535, got 99999"),
            (["--port", str(port)], f"port {port} on 127.0.0.1 is already in use"),
            (["--jobs", "0"], "--jobs must be >= 1"),
            (["--mnist-dir", str(tmp_path / "none")], "is not a directory"),
        ]:
            code, err = _run(main, [*argv, "--db", db], capsys)
            assert code == 2, argv
            _one_line(err, needle)
            assert "SNN Studio on" not in capsys.readouterr().out


def test_real_entry_points_print_no_traceback(tmp_path) -> None:
    """Two real `python -m` runs: the argument checks happen before anything heavy is loaded."""
    for cmd, needle in [
        ([sys.executable, "-m", "sw.studio", "--port", "99999", "--db", str(tmp_path / "s.sqlite")],
         "--port must be 1..65535"),
        ([sys.executable, "-m", "sw.training", "--epochs", "0", "--out", str(tmp_path / "m.pt")],
         "--epochs must be >= 1, got 0"),
    ]:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        _one_line(done.stderr, needle)
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "s.sqlite").exists()
