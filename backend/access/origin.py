"""The Origin check every WebSocket passes before it is accepted (cross-site WebSocket hijacking).

Browsers always send `Origin` on a WebSocket and a page cannot forge it, so:
- `public_url` set: the Origin must be exactly its scheme://host[:port];
- unset: the Origin's host[:port] must equal the request's `Host` (a same-host page);
- no Origin at all: allowed, since only non-browser clients (scripts, the CLI, tests) omit it,
  and they carry their own credentials (a cookie cannot be ridden without a browser).

Comparing Origin with Host alone proves nothing after a DNS rebinding (both name the attacker's
domain): before this check, `backend.edge.hosts` has refused any Host, and any Origin, that is
not an allowed name (public_url's host, loopback, the bound address, TANDEM_ALLOWED_HOSTS).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(headers: Headers, public_url: str | None) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().lower()
    if public_url:
        return origin == _origin_of(public_url)
    host = headers.get("host", "").lower()
    return bool(host) and urlsplit(origin).netloc == host and urlsplit(origin).scheme in ("http", "https")
