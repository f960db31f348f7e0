"""Errors and warnings of the equation compiler."""

from __future__ import annotations


class CompileError(ValueError):
    """The equation text cannot be compiled; the message points at the offending term.

    Attributes:
        line: 1-based line of the statement (``None`` when not tied to the text).
        col: 1-based column of the term.
        snippet: the source text of the term.
    """

    def __init__(self, message: str, *, line: int | None = None, col: int | None = None,
                 snippet: str | None = None, source_line: str | None = None) -> None:
        self.line, self.col, self.snippet = line, col, snippet
        where = ""
        if line is not None:
            where = f"line {line}, column {col}: "
        text = f"{where}{message}"
        if snippet:
            text += f" (in `{snippet}`)"
        if source_line is not None and col is not None and "\n" not in source_line:
            text += f"\n    {source_line}\n    {' ' * (col - 1)}^"
        super().__init__(text)


class PrecisionWarning(UserWarning):
    """A constant lost much of its value when quantized to the format."""
