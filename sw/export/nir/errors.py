"""Errors raised by the NIR bridge; each names the NIR node or IR layer at fault."""

from __future__ import annotations

from hw.ir import IRError


class NIRImportError(IRError):
    """A NIR graph cannot be run by the engine; ``node`` names the culprit.

    An ``hw.ir.IRError`` (so a ``ValueError``): tools that load networks
    (``python -m hw.build --model graph.nir``) report it like any invalid network.
    """

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"NIR node {node!r}", message)
        self.node = node


class NIRExportError(ValueError):
    """A network cannot be written as NIR; ``layer`` names the culprit."""

    def __init__(self, layer: str, message: str) -> None:
        super().__init__(f"layer {layer!r}: {message}")
        self.layer = layer
        self.message = message
