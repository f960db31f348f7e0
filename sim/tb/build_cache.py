"""``sim.tb.build_cache``: a content-addressed cache of Verilator builds.

A Verilator build costs ~1-2 s for a small design (verilation, C++ compile, link) and much
more for a big one; Icarus costs next to nothing.  Tests that simulate the same design more
than once (another stimulus, another run of the suite) reuse the executable instead.

The key (:func:`build_key`) hashes everything the executable depends on: each source's
name and bytes, the top module, timescale, defines, build arguments, the Verilator binary
and the cocotb version.  An entry is ``ROOT/<key>/`` holding the executable and a
``complete`` marker; the sources are copied to ``ROOT/src/<key>/`` first so Verilator sees the
same paths for the same design (it writes them into the C++, which keeps ccache hits too).

``SNN_SIM_CACHE`` picks the folder (default ``~/.cache/snn-ice40/verilator``, or under
``$XDG_CACHE_HOME``); ``SNN_SIM_CACHE=off`` builds every time in the test's own folder.
Parallel test workers may build the same key at once: each builds in its own temporary
folder and the first rename wins.  The :data:`CACHE_ENTRIES` most recently used entries stay.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

__all__ = ["CACHE_ENV", "CACHE_ENTRIES", "build_cache_root", "build_key", "cached_build", "cache_entries"]

CACHE_ENV = "SNN_SIM_CACHE"
CACHE_ENTRIES = 256
_COMPLETE = "complete"
_FORMAT = 1
_STALE_TMP_S = 3600.0


def build_cache_root() -> Path | None:
    """The cache folder (created), or ``None`` when ``SNN_SIM_CACHE`` is ``off``/``0``/``no``/``false``
    or the folder cannot be created."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "no", "false"):
        return None
    if value:
        root = Path(value).expanduser().resolve()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "snn-ice40" / "verilator"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # e.g. a read-only home: build in the test's folder, as with off
        warnings.warn(f"Verilator build cache {root} unusable ({err}); building every time", stacklevel=2)
        return None
    return root


@functools.lru_cache(maxsize=None)
def _tool_identity(verilator: str | None) -> str:
    """Verilator's path and ``--version`` line plus cocotb's version and library folder."""
    import cocotb
    import cocotb_tools.config

    version = "?"
    if verilator is not None:
        try:
            version = subprocess.run([verilator, "--version"], capture_output=True, text=True,
                                     timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return f"{verilator}|{version}|cocotb {cocotb.__version__}|{cocotb_tools.config.libs_dir}"


def build_key(sources: Sequence[Path], *, toplevel: str, timescale: Sequence[str],
              defines: Mapping[str, object] | None, build_args: Sequence[str]) -> str:
    """A hex digest naming one Verilator build of ``sources`` (call it with Verilator on ``PATH``)."""
    meta = {"format": _FORMAT, "toplevel": toplevel, "timescale": list(timescale),
            "defines": sorted((str(k), str(v)) for k, v in (defines or {}).items()),
            "args": list(build_args), "tools": _tool_identity(shutil.which("verilator"))}
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for src in sources:
        digest.update(Path(src).name.encode() + b"\0")
        digest.update(hashlib.sha256(Path(src).read_bytes()).digest())
    return digest.hexdigest()[:40]


def cache_entries(root: Path) -> list[Path]:
    """The complete entries under ``root``, least recently used first."""
    if not root.is_dir():
        return []
    entries = [p for p in root.iterdir() if p.is_dir() and (p / _COMPLETE).is_file()]
    return sorted(entries, key=lambda p: p.stat().st_mtime)


def cached_build(root: Path, key: str, sources: Sequence[Path], toplevel: str,
                 build: Callable[[list[Path], Path], None], log_file: Path) -> Path:
    """The folder holding the Verilator executable of ``key``: cached, or built now by ``build``.

    ``build(sources, folder)`` runs the real build (cocotb's runner) into ``folder``; an
    exception from it propagates and nothing is cached.  ``log_file`` says where a cache hit
    came from.
    """
    entry = root / key
    if (entry / _COMPLETE).is_file() and (entry / toplevel).is_file():
        os.utime(entry)
        Path(log_file).write_text(f"sim.tb.build_cache: reused the Verilator build {entry}\n")
        return entry
    src_dir = root / "src" / key
    src_dir.mkdir(parents=True, exist_ok=True)
    copies = _copy_sources(sources, src_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".tmp", dir=root))
    try:
        build(copies, tmp)
        if not (tmp / toplevel).is_file():
            raise AssertionError(f"Verilator build of {toplevel} left no executable in {tmp}")
        for item in tmp.iterdir():  # the object files are ccache's business; keep the executable
            if item.name != toplevel:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        (tmp / _COMPLETE).write_text(f"{toplevel}\n")
        try:
            os.rename(tmp, entry)
        except OSError:  # another worker finished the same build first
            if not (entry / _COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(root)
    return entry


def _copy_sources(sources: Sequence[Path], dest: Path) -> list[Path]:
    """Copy ``sources`` into ``dest`` under their own names (a numbered prefix if two share one)."""
    names = [Path(s).name for s in sources]
    copies = []
    for i, src in enumerate(sources):
        name = names[i] if names.count(names[i]) == 1 else f"{i:03d}_{names[i]}"
        target = dest / name
        data = Path(src).read_bytes()
        if not target.is_file() or target.read_bytes() != data:
            part = dest / f".{name}.{os.getpid()}.part"
            part.write_bytes(data)
            os.replace(part, target)
        copies.append(target)
    return copies


def _prune(root: Path) -> None:
    """Keep the :data:`CACHE_ENTRIES` newest entries and drop temporary folders of dead builds."""
    entries = cache_entries(root)
    for old in entries[:max(0, len(entries) - CACHE_ENTRIES)]:
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(root / "src" / old.name, ignore_errors=True)
    now = time.time()
    for tmp in root.glob("*.tmp"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass
