"""``c_build``: compile a small C source into a shared library once, and load it with ctypes.

Used by ``sw.training.scan_kernels`` and ``sw.training.sparse_kernels`` (each holds one
``CompiledLibrary``).  A library is built
with the system C compiler (``$CC``, else ``cc`` / ``gcc``; no torch headers, no downloaded
toolchain) into ``~/.cache/snn-ice40/<name>/`` (``$XDG_CACHE_HOME`` is honoured), keyed by
the source, the compiler, the flags and -- for ``-march=native`` builds -- this CPU's
feature flags, so a home directory shared by different machines never loads a library
built for another CPU.  Where it cannot build, ``None`` is returned and a
``RuntimeWarning`` says why; callers then use their torch code.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterator


def compiler() -> str | None:
    """The C compiler to use: ``$CC``, else ``cc``, else ``gcc``; ``None`` if none is found."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def cache_dir(name: str) -> Path:
    """Where the libraries of ``name`` are kept."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "snn-ice40" / name


def _cpu_identity() -> str:
    """This CPU's architecture and feature flags (what ``-march=native`` depends on)."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.machine()} {flags}"


def build_library(source: str, flags: list[str], name: str,
                  declare: Callable[[ctypes.CDLL], ctypes.CDLL], what: str) -> ctypes.CDLL | None:
    """The loaded library of ``source`` (compiled on first use), or ``None`` with a warning
    naming ``what`` falls back when no compiler is found or the build fails."""
    cc = compiler()
    if cc is None:
        warnings.warn(f"{what}: C kernels unavailable (no C compiler: set CC or install gcc)",
                      RuntimeWarning, stacklevel=3)
        return None
    parts = [source, cc, *flags]
    if "-march=native" in flags:
        parts.append(_cpu_identity())
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
    lib = cache_dir(name) / f"{name}-{key}.so"
    try:
        if not lib.is_file():
            lib.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
                src, out = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.so"
                src.write_text(source)
                proc = subprocess.run([cc, *flags, str(src), "-o", str(out)], capture_output=True,
                                      text=True, timeout=120)
                if proc.returncode != 0:
                    raise OSError(proc.stderr.strip()[-500:] or f"{cc} exited with {proc.returncode}")
                os.replace(out, lib)  # atomic: parallel processes may build it at once
        return declare(ctypes.CDLL(str(lib)))
    except (OSError, subprocess.SubprocessError) as err:
        warnings.warn(f"{what}: C kernels unavailable ({err}); using the torch code",
                      RuntimeWarning, stacklevel=3)
        return None


class CompiledLibrary:
    """A C library built on first use (``build_library``), that an environment variable
    (``off_env`` = ``off`` / ``0`` / ``no`` / ``false``) or ``disabled()`` turns off."""

    def __init__(self, source: str, flags: list[str], name: str,
                 declare: Callable[[ctypes.CDLL], ctypes.CDLL], what: str, off_env: str) -> None:
        self.source, self.flags, self.name, self.declare = source, flags, name, declare
        self.what, self.off_env = what, off_env
        self._loaded: list[ctypes.CDLL | None] = []  # [library or None] once tried
        self._off = False

    def get(self) -> ctypes.CDLL | None:
        """The library, or ``None`` when it is off or could not be built."""
        if self._off or os.environ.get(self.off_env, "").strip().lower() in ("off", "0", "no", "false"):
            return None
        if not self._loaded:
            self._loaded.append(build_library(self.source, self.flags, self.name, self.declare,
                                              self.what))
        return self._loaded[0]

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Within the block, ``get()`` returns ``None``."""
        old = self._off
        self._off = True
        try:
            yield
        finally:
            self._off = old
