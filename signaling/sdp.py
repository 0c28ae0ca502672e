"""A strict reading of SDP, just enough to decide whether a description sends media.

The check that stops roles without `share_screen` from sending media must read an SDP the way a
browser will, or an attacker writes one that reads as "receive only" here and as "send" there:

- Lines end with CRLF (or LF), nothing else. Python's `str.splitlines()` also splits on `\\x0b`,
  `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`, U+2028/U+2029, which a browser keeps inside one line — so any
  control character but CR/LF (and tab, allowed by RFC 8866 inside values) is refused outright.
- Every line is `<one lower-case letter>=<value>`; anything else is refused.
- Every media section counts, whatever its port: port 0 with `a=bundle-only` is a live, bundled
  section (RFC 8843), not a rejected one. Only `m=application` (data channels) carries no media.
- A section's direction is its own attribute, else the session-level one, else `sendrecv`
  (RFC 3264); a section (or the session) naming two directions is refused as ambiguous.
  Attributes are compared exactly (`a=recvonly ` with a trailing space is not `recvonly`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: frozenset[str] = frozenset(("sendrecv", "sendonly", "recvonly", "inactive"))
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")
_LINE = re.compile(r"^[a-z]=")
MAX_SECTIONS = 64


class SdpError(ValueError):
    """The text is not an SDP this server accepts; the message says which line and why."""


@dataclass(frozen=True, slots=True)
class MediaSection:
    kind: str  # video, audio, application, ...
    direction: Direction

    @property
    def sends(self) -> bool:
        return self.kind != "application" and self.direction in ("sendrecv", "sendonly")


def parse_sdp(text: str) -> list[MediaSection]:
    """The media sections of `text`, or `SdpError`."""
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        raise SdpError(f"control character {bad.group()!r} at offset {bad.start()}")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line's terminator
    session_direction: Direction | None = None
    kinds: list[str] = []
    directions: list[Direction | None] = []
    for number, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if "\r" in line:
            raise SdpError(f"line {number}: a lone CR")
        if not _LINE.match(line):
            raise SdpError(f"line {number}: not `<letter>=<value>`")
        if number == 1 and line != "v=0":
            raise SdpError("the first line must be v=0")
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            if not kind:
                raise SdpError(f"line {number}: m= without a media type")
            kinds.append(kind)
            directions.append(None)
            if len(kinds) > MAX_SECTIONS:
                raise SdpError(f"more than {MAX_SECTIONS} media sections")
        elif line[2:] in DIRECTIONS and line.startswith("a="):
            current = directions[-1] if kinds else session_direction
            if current is not None:
                raise SdpError(f"line {number}: a second direction ({line[2:]} after {current})")
            direction = cast(Direction, line[2:])
            if kinds:
                directions[-1] = direction
            else:
                session_direction = direction
    if not lines:
        raise SdpError("empty")
    default: Direction = session_direction or "sendrecv"
    return [MediaSection(kind, d or default) for kind, d in zip(kinds, directions, strict=True)]


def sends_media(text: str) -> bool:
    """Whether any media section of `text` sends (sendrecv/sendonly); `SdpError` if malformed."""
    return any(section.sends for section in parse_sdp(text))
