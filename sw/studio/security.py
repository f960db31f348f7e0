"""Who may talk to the Studio: ``Host`` check, same-origin writes, access token.

One ASGI middleware (:class:`AccessGuard`) runs before anything else and
answers, without reading the request body:

* ``400`` when the ``Host`` header names a host this server is not bound to
  (a DNS-rebinding page reaches the server under its own domain name);
* ``403`` when a POST/PUT/PATCH/DELETE comes with an ``Origin`` other than the
  server's own (cross-site request forgery, e.g. a page posting to loopback);
* ``401`` when a token is configured and the request carries none that matches.
  The token may come as ``Authorization: Bearer <t>``, as ``?token=<t>`` (what
  ``EventSource`` and a first page load can send) or as the cookie set when the
  page is opened with ``?token=`` (that load is redirected to the bare URL so
  the token leaves the address bar).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .settings import StudioSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE_PREFIX = "snn_studio_token_"


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or netloc, lower-case: ``"[::1]:8000"`` -> ``"::1"``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which ``Host`` names a server bound to ``bind_host`` answers to.

    Loopback names always; the bound name or address itself; for a wildcard
    bind (``0.0.0.0``, ``::``) also this machine's host names and any IP address
    (an address, unlike a name, cannot be re-pointed by DNS); plus ``extra``
    (``"*"``: everything).
    """

    def __init__(self, bind_host: str, extra: tuple[str, ...] = ()) -> None:
        bind = host_name(bind_host) if bind_host else ""
        self.any_name = "*" in extra
        self.wildcard = bind in WILDCARD_HOSTS
        names = set(LOOPBACK_NAMES) | {host_name(e) for e in extra if e != "*"}
        if not self.wildcard:
            names.add(bind)
        else:
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    names.add(name.lower())
        self.names = frozenset(names)

    def allows(self, name: str) -> bool:
        """True when a request whose ``Host`` is ``name`` (already :func:`host_name`-ed) is served."""
        if self.any_name or name in self.names:
            return True
        if _is_ip(name):
            return self.wildcard or ipaddress.ip_address(name).is_loopback
        return False


async def send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer the request with ``{"detail": detail}`` and close it."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class AccessGuard:
    """ASGI middleware enforcing the ``Host``, ``Origin`` and token rules of ``settings``."""

    def __init__(self, app: ASGIApp, settings: StudioSettings) -> None:
        self.app = app
        self.policy = HostPolicy(settings.host, settings.allowed_hosts)
        self.token = settings.token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not self.policy.allows(host_name(host)):
            await send_json(send, 400, f"Host header {host[:100]!r} is not one this server answers to "
                                       "(start it with --allow-host NAME to add one)")
            return
        origin = headers.get("origin")
        cross = origin is not None and urlsplit(origin).netloc.lower() != host.lower()
        if cross and scope.get("method") in UNSAFE_METHODS:
            await send_json(send, 403, f"cross-origin {scope['method']} from {origin[:100]!r} refused")
            return
        if self.token is None:
            await self.app(scope, receive, send)
            return
        cookie_name = f"{COOKIE_PREFIX}{(scope.get('server') or ('', 0))[1]}"
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_token = next((v for k, v in query if k == "token"), None)
        if query_token is not None and self._matches(query_token):
            if scope.get("method") == "GET" and scope.get("path") in ("/", scope.get("root_path", "") + "/"):
                await self._redirect_with_cookie(scope, send, query, cookie_name)
                return
            await self.app(scope, receive, send)
            return
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and self._matches(auth[7:].strip()):
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is as good as none
            cookie = SimpleCookie()
        if cookie_name in cookie and self._matches(cookie[cookie_name].value):
            await self.app(scope, receive, send)
            return
        await send_json(send, 401, "this Studio needs its access token: open the URL it printed at start "
                                   "(…/?token=…), or send 'Authorization: Bearer <token>'",
                        [(b"www-authenticate", b"Bearer")])

    def _matches(self, candidate: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode())

    async def _redirect_with_cookie(self, scope: Scope, send: Send, query: list[tuple[str, str]],
                                    cookie_name: str) -> None:
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = "./" + (f"?{rest}" if rest else "")  # relative: right also when mounted under a prefix
        cookie = f"{cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Lax"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                                (b"content-length", b"0"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})
