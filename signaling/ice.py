"""ICE servers for the browsers (and the relay): STUN/TURN URLs from settings, and short-lived TURN
credentials in coturn's `use-auth-secret` (TURN REST API) style: username `expiry:user`, password
base64(HMAC-SHA1(secret, username)). None is needed on a LAN: host candidates suffice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IceConfig:
    urls: list[str] = field(default_factory=list)  # stun:host:3478, turn:host:3478?transport=udp, turns:…
    turn_secret: str | None = None  # coturn's static-auth-secret
    turn_ttl_seconds: float = 3600.0

    def servers_for(self, user_id: str, now: float | None = None) -> list[dict[str, Any]]:
        """RTCIceServer dicts, as `new RTCPeerConnection({iceServers})` takes them."""
        stun = [u for u in self.urls if u.startswith(("stun:", "stuns:"))]
        turn = [u for u in self.urls if u.startswith(("turn:", "turns:"))]
        servers: list[dict[str, Any]] = []
        if stun:
            servers.append({"urls": stun})
        if turn and self.turn_secret:
            expiry = int((now if now is not None else time.time()) + self.turn_ttl_seconds)
            username = f"{expiry}:{user_id}"
            digest = hmac.new(self.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
            password = base64.b64encode(digest).decode()
            servers.append({"urls": turn, "username": username, "credential": password})
        return servers
