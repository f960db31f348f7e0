"""``hw.cli``: the exit-code convention and one-line errors shared by every command line.

Every ``python -m ...`` command of the project exits with

* ``0`` success,
* ``1`` a runtime failure (a tool failed, a goal was not met, a file could not be written),
* ``2`` a usage error (bad or missing argument, missing or invalid input file), found
  before any work starts,
* ``130`` interrupted (Ctrl-C),

and prints an error as one line on stderr, ``error: WHAT`` (no traceback).
:class:`ArgumentParser` makes argparse's own errors (unknown option, bad
number ...) follow the same form.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

__all__ = ["USAGE", "FAILURE", "INTERRUPTED", "ArgumentParser", "UsageError", "error",
           "check_number"]

FAILURE = 1
USAGE = 2
INTERRUPTED = 130


class UsageError(ValueError):
    """A command-line argument is wrong (the command exits with :data:`USAGE`)."""


def error(message: str, code: int = FAILURE) -> int:
    """Print ``error: MESSAGE`` as one line on stderr (line breaks become ``; ``); returns ``code``."""
    text = "; ".join(" ".join(line.split()) for line in str(message).splitlines() if line.strip()) or "failed"
    print(f"error: {text}", file=sys.stderr, flush=True)
    return code


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: MESSAGE (see PROG --help)``, exit status 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D102 - argparse API
        error(f"{message} (see {self.prog} --help)", USAGE)
        sys.exit(USAGE)


def check_number(name: str, value: float | int | None, *, minimum: float | None = None,
                 above: float | None = None, maximum: float | None = None) -> None:
    """Raise :class:`UsageError` unless ``value`` (if given) is finite and within the bounds.

    ``minimum``/``maximum`` are inclusive, ``above`` is exclusive.
    """
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise UsageError(f"{name} must be >= {minimum:g}, got {value:g}")
    if above is not None and not value > above:
        raise UsageError(f"{name} must be > {above:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{name} must be <= {maximum:g}, got {value:g}")
