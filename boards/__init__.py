"""``boards``: the supported iCE40 boards, one module each (platform, clock, budget, programmer).

>>> from boards import get_board
>>> get_board("icebreaker").budget.lcs
5280
"""

from __future__ import annotations

from boards.base import Board, ResourceBudget
from boards.hx8k import BOARD as _HX8K
from boards.icebreaker import BOARD as _ICEBREAKER
from boards.icestick import BOARD as _ICESTICK
from boards.upduino_v3 import BOARD as _UPDUINO

__all__ = ["BOARDS", "Board", "ResourceBudget", "UnknownBoardError", "get_board"]

BOARDS: dict[str, Board] = {b.name: b for b in (_ICEBREAKER, _ICESTICK, _HX8K, _UPDUINO)}
"""Known boards by CLI name."""

_ALIASES = {"ice40-hx8k": "hx8k", "ice40_hx8k": "hx8k", "upduino": "upduino_v3",
            "upduino3": "upduino_v3", "upduino-v3": "upduino_v3"}


class UnknownBoardError(KeyError):
    """A board name that is not in :data:`BOARDS` (the message lists the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_board(name: str) -> Board:
    """The board called ``name`` (case-insensitive; a few aliases accepted)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BOARDS:
        known = ", ".join(f"{b.name} ({b.title})" for b in BOARDS.values())
        raise UnknownBoardError(f"unknown board {name!r}; known boards: {known}")
    return BOARDS[key]
