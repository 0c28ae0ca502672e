"""Which scheduled backups to prune: a pure function of their times, the clock and the policy.

A policy is tiers of "every:kept_for" (default `6h:2d,1d:30d,7d:90d`). For each tier, the backups
younger than `kept_for` are grouped into `every`-long buckets (aligned on the Unix epoch, UTC) and
the newest of each bucket is kept. A backup no tier keeps is pruned; the newest is always kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")


@dataclass(frozen=True, slots=True)
class Tier:
    every: timedelta
    keep_for: timedelta


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}: use a number and m, h, d or w (6h, 30d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_policy(text: str) -> list[Tier]:
    """`"6h:2d,1d:30d,7d:90d"` -> tiers; raises ValueError on anything else."""
    tiers: list[Tier] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        every, sep, keep_for = part.partition(":")
        if not sep:
            raise ValueError(f"bad retention tier {part!r}: use every:kept_for, e.g. 1d:30d")
        tier = Tier(parse_duration(every), parse_duration(keep_for))
        if tier.every <= timedelta(0):
            raise ValueError(f"bad retention tier {part!r}: the interval must be positive")
        tiers.append(tier)
    if not tiers:
        raise ValueError("a retention policy needs at least one tier")
    return tiers


def to_prune(backups: Iterable[datetime], now: datetime, tiers: list[Tier]) -> set[datetime]:
    """The backup times to delete (times are timezone-aware)."""
    times = set(backups)
    if not times:
        return set()
    keep = {max(times)}
    for tier in tiers:
        newest: dict[int, datetime] = {}
        for t in times:
            if now - t > tier.keep_for:
                continue
            bucket = (t - EPOCH) // tier.every
            if bucket not in newest or t > newest[bucket]:
                newest[bucket] = t
        keep.update(newest.values())
    return times - keep
