"""Plain counters the hot path bumps; the metrics collector reads them at scrape time.

No prometheus call happens per message: rooms and writers keep integers, and `NodeStats` keeps
what outlives a room (its counters are folded in when it unloads, so totals never go backwards).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

# Fan-out latency buckets (seconds): from one loop turn to a stalled loop.
FANOUT_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


class SampledHistogram:
    """A fixed-bucket histogram fed by one observation in `sample_every` events."""

    __slots__ = ("bounds", "counts", "sample_every", "sum")

    def __init__(self, bounds: tuple[float, ...] = FANOUT_BUCKETS, sample_every: int = 8) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.sample_every = max(1, sample_every)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: (le, cumulative count), ending with +Inf."""
        out: list[tuple[str, int]] = []
        total = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


@dataclass
class ChannelStats:
    """Connections of the channels served by `backend.channels.runner` (`/term`, `/signal`, a
    tunnel's entry end), by channel."""

    opened: Counter[str] = field(default_factory=Counter)  # channel -> connections served
    open: Counter[str] = field(default_factory=Counter)  # channel -> connections now
    closes: Counter[tuple[str, int]] = field(default_factory=Counter)  # (channel, code) -> count


@dataclass
class NodeStats:
    """Per-node totals: what unloaded rooms counted, and events counted outside any room."""

    messages_in: int = 0
    messages_out: int = 0
    updates_refused: int = 0
    bytes_persisted: int = 0
    compactions: int = 0
    persist_failures: int = 0
    slow_clients_dropped: int = 0
    closes: Counter[int] = field(default_factory=Counter)  # WebSocket close code -> count
    connections_opened: Counter[str] = field(default_factory=Counter)  # channel -> count
    channels: ChannelStats = field(default_factory=ChannelStats)  # /term, /signal, tunnels
    history_versions: int = 0
    backups: int = 0
    backup_failures: int = 0
    last_backup_unixtime: float = 0.0
    fanout: SampledHistogram = field(default_factory=SampledHistogram)
