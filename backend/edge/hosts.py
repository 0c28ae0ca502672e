"""Only allowed Hosts reach Tandem, and a WebSocket's Origin must name one too (DNS rebinding).

After a DNS rebinding, a page of `evil.example` talks to the loopback server with
`Host: evil.example:8000` and a matching `Origin`: comparing the two proves nothing. So every
request and WebSocket, in every mode (`--no-auth` included), must carry a Host from the allowed
set: `public_url`'s host, the loopback names, the bound address (unless a wildcard),
`allowed_hosts`, and any IP address literal (a rebinding needs a name the attacker controls; a
page whose Host is an IP is that server's own origin, so phones on a LAN can open
`http://192.168.1.5:8000`). Ports are ignored (a proxy's `Host $host` drops them; a rebinding attack is
about names). A WebSocket's Origin, when present, must name an allowed host as well; the
same-site check (`backend.access.origin`) still follows.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from backend import closecodes
from backend.edge.bodylimit import send_plain
from backend.settings import Settings

log = logging.getLogger("tandem.http")

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def hostname(value: str) -> str | None:
    """The name in a Host header (`Name:port`, `[::1]:8000`), lowercased, without a trailing dot;
    None when it is not a plausible host."""
    value = value.strip().lower()
    if not value or any(c in value for c in "/@?#\\ \t"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end == -1 or (value[end + 1 :] and not value[end + 1 :].startswith(":")):
            return None
        return value[1:end] or None
    if value.count(":") > 1:  # a bare IPv6 literal is not a valid Host
        return None
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class AllowedHosts:
    def __init__(self, settings: Settings) -> None:
        names = set(LOOPBACK_NAMES)
        if settings.public_url:
            public = urlsplit(settings.public_url).hostname
            if public:
                names.add(public.rstrip("."))
        bound = hostname(settings.host) or settings.host.strip("[]").lower()
        if bound and not _is_wildcard(bound):
            names.add(bound)
        extra = {h.strip().lower().rstrip(".") for h in settings.allowed_hosts if h.strip()}
        self.any = "*" in extra
        self.names = frozenset(names | (extra - {"*"}))

    def allows(self, header_value: str | None) -> bool:
        if header_value is None:
            return False
        name = hostname(header_value)
        return name is not None and (self.any or name in self.names or _is_ip(name))

    def allows_origin(self, origin: str) -> bool:
        parts = urlsplit(origin.strip())
        return parts.scheme in ("http", "https") and self.allows(parts.netloc)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", []) if k == name]
    if len(values) != 1:
        return None  # missing, or repeated (ambiguous: refuse)
    return values[0].decode("latin-1")


class HostGuardMiddleware:
    """HTTP: 400 for a Host outside the allowed set. WebSocket: refused before accept (HTTP 403)
    for such a Host, or for an Origin naming a host outside it."""

    def __init__(self, app: ASGIApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        problem = None
        if not self.allowed.allows(host):
            problem = f"Host {host!r} is not allowed"
        elif scope["type"] == "websocket":
            origins = [v for k, v in scope.get("headers", []) if k == b"origin"]
            if len(origins) > 1 or (origins and not self.allowed.allows_origin(origins[0].decode("latin-1"))):
                problem = f"Origin {origins!r} is not allowed"
        if problem is None:
            await self.app(scope, receive, send)
            return
        log.warning(
            "refused %s %s: %s (add the name to TANDEM_ALLOWED_HOSTS or set TANDEM_PUBLIC_URL)",
            scope["type"],
            scope.get("path"),
            problem,
        )
        if scope["type"] == "http":
            await send_plain(
                send,
                400,
                "this server does not answer to that host name: its operator can allow it with "
                "TANDEM_ALLOWED_HOSTS or TANDEM_PUBLIC_URL",
            )
        else:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": closecodes.POLICY_VIOLATION})
