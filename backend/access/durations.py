"""Durations as operators type them: `90s`, `30m`, `2h`, `7d`, `1w`."""

from __future__ import annotations

import re

from backend.errors import InvalidInputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises InvalidInputError for anything else."""
    match = _DURATION.match(text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InvalidInputError(f"bad duration {text!r}: use a number and s, m, h, d or w (2h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2)]
