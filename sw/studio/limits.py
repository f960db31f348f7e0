"""Bounds on what a request can cost: body size (413) and the size of a 422 answer.

:class:`BodyLimit` refuses a declared ``Content-Length`` over the limit before
reading a byte of the body, and counts the bytes of a body without one
(chunked), stopping at the limit; so no request can make the server parse
megabytes of JSON on its event loop.  :func:`trim_errors` shortens validation
errors so a 422 never echoes more than a few hundred bytes of its input.
"""

from __future__ import annotations

import json
from typing import Any

from .security import ASGIApp, Message, Receive, Scope, Send, send_json

ECHO_BYTES = 80      # at most this much of one offending value is echoed
MAX_ERRORS = 5       # at most this many validation errors are listed
LOC_CHARS = 40       # a key of the input named in ``loc`` is cut to this length


class BodyLimit:
    """ASGI middleware: request bodies larger than ``max_bytes`` get 413 naming the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, send: Send) -> Any:
        return send_json(send, 413, f"request body larger than the limit of {self.max_bytes} bytes",
                         [(b"connection", b"close")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_json(send, 400, "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:  # read (at most max_bytes + one message) before the app sees anything
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # then the real channel (http.disconnect for streams)

        await self.app(scope, replay, send)


def _short(value: Any) -> Any:
    """``value`` itself when its JSON is short, else a clipped text saying how big it was."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= ECHO_BYTES:
        return value
    kind = f"list of {len(value)} items" if isinstance(value, list) else (
        f"object with {len(value)} keys" if isinstance(value, dict) else f"{len(text)} characters")
    return f"{text[:ECHO_BYTES - 20]}… ({kind}, cut)"


def trim_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors with ``input`` and ``ctx`` values clipped, keys in ``loc`` cut, at most MAX_ERRORS."""
    out = []
    for err in errors[:MAX_ERRORS]:
        e = {"type": err.get("type", "value_error"), "msg": str(err.get("msg", ""))[:200],
             "loc": [p if isinstance(p, int) else str(p)[:LOC_CHARS] for p in err.get("loc", ())]}
        if "input" in err:
            e["input"] = _short(err["input"])
        if isinstance(err.get("ctx"), dict):
            e["ctx"] = {str(k)[:LOC_CHARS]: _short(v if isinstance(v, (int, float, str, bool)) or v is None
                                                   else str(v)) for k, v in err["ctx"].items()}
        out.append(e)
    if len(errors) > MAX_ERRORS:
        out.append({"type": "too_many_errors", "loc": ["body"],
                    "msg": f"{len(errors) - MAX_ERRORS} more error(s) not listed"})
    return out
