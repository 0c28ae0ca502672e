"""`/metrics`: a prometheus-client custom collector that reads the node's counters at scrape time.

Rooms, writers and the terminal registry keep plain integers (see `counters`); this module turns
them into metric families only when Prometheus asks, so the hot path pays nothing for metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from backend.rooms.allocator import mallinfo
from backend.rooms.connection import SEND_COUNTS
from backend.version import build_info

if TYPE_CHECKING:
    from backend.bus.types import Bus
    from backend.rooms.manager import RoomManager
    from backend.screenshare import ScreenShareService
    from backend.terminals.service import TerminalService


class TunnelCounts(Protocol):
    """The tunnels to session owners (backend.routes.owned): zero on one node."""

    @property
    def entry_count(self) -> int: ...
    @property
    def owned_count(self) -> int: ...
    @property
    def broken(self) -> int: ...


class TandemCollector(Collector):
    """Handed the parts it reads, never the whole node."""

    def __init__(
        self,
        rooms: RoomManager,
        bus: Bus,
        tunnels: TunnelCounts,
        screenshare: ScreenShareService,
        terminals: TerminalService,
    ) -> None:
        self.rooms = rooms
        self.bus = bus
        self.tunnels = tunnels
        self.screenshare = screenshare
        self.terminals = terminals

    def collect(self) -> Iterator[Metric]:
        rooms = self.rooms
        stats = rooms.stats
        live = list(rooms.rooms.values())
        counted = live + list(rooms.unloading_rooms.values())  # an unloading room's counters too

        messages_in = stats.messages_in + sum(r.messages_in for r in counted)
        messages_out = stats.messages_out + sum(r.messages_out for r in counted)
        refused = stats.updates_refused + sum(r.updates_refused for r in counted)
        writers = [r.writer for r in counted if r.writer is not None]
        persisted = stats.bytes_persisted + sum(w.bytes_persisted for w in writers)
        compactions = stats.compactions + sum(w.compactions for w in writers)
        failures = stats.persist_failures + sum(w.failures for w in writers)
        pending = sum(w.pending for w in writers)
        now = time.monotonic()
        oldest = max((now - w.pending_since for w in writers if w.pending_since is not None), default=0.0)

        term_conns, terminals, containers = self._terminals()
        peers, streams, viewers = self._screenshare()
        connections = GaugeMetricFamily(
            "tandem_connections_open", "Open WebSocket connections by channel", labels=["channel"]
        )
        connections.add_metric(["yjs"], sum(len(r.clients) for r in live))
        connections.add_metric(["term"], term_conns)
        connections.add_metric(["signal"], peers)
        connections.add_metric(["tunnel"], stats.channels.open["tunnel"])  # entry ends on this node
        yield connections
        opened = CounterMetricFamily(
            "tandem_connections_opened", "WebSocket connections accepted, by channel", labels=["channel"]
        )
        for channel, count in sorted((stats.connections_opened + stats.channels.opened).items()):
            opened.add_metric([channel], count)
        yield opened
        channel_closes = CounterMetricFamily(
            "tandem_channel_closes",
            "Closes of /term, /signal and tunnel entry connections, by channel and close code",
            labels=["channel", "code"],
        )
        for (channel, code), count in sorted(stats.channels.closes.items()):
            channel_closes.add_metric([channel, str(code)], count)
        yield channel_closes

        # A room still flushing on unload is still held (and its counters not yet in the totals).
        yield GaugeMetricFamily(
            "tandem_rooms_loaded", "Rooms (live documents) held by this node", len(counted)
        )
        yield CounterMetricFamily("tandem_messages_received", "y-websocket messages received", messages_in)
        yield CounterMetricFamily("tandem_messages_sent", "y-websocket messages sent (fan-out)", messages_out)
        sends = CounterMetricFamily(
            "tandem_client_sends",
            "y-websocket messages by how they left: raw (straight to the socket), eager (ASGI send "
            "done at once), suspended (had to wait for the socket), queued (behind a backlog)",
            labels=["path"],
        )
        for path in ("raw", "eager", "suspended", "queued"):
            sends.add_metric([path], getattr(SEND_COUNTS, path))
        yield sends
        yield CounterMetricFamily("tandem_updates_refused", "Document updates dropped for the role", refused)

        fanout = stats.fanout
        yield HistogramMetricFamily(
            "tandem_fanout_latency_seconds",
            f"From an applied update to its fan-out sent (1 batch in {fanout.sample_every} sampled)",
            buckets=fanout.cumulative(),
            sum_value=fanout.sum,
        )

        yield CounterMetricFamily("tandem_persisted_bytes", "Update bytes written to the store", persisted)
        yield GaugeMetricFamily("tandem_persist_pending_updates", "Updates waiting for the writer", pending)
        yield GaugeMetricFamily(
            "tandem_persist_oldest_pending_seconds", "Age of the oldest update not yet persisted", oldest
        )
        yield CounterMetricFamily("tandem_compactions", "Snapshots written (log compactions)", compactions)
        yield CounterMetricFamily("tandem_persist_failures", "Failed store writes (retried)", failures)

        closes = CounterMetricFamily("tandem_ws_closes", "WebSocket closes by close code", labels=["code"])
        for code, count in sorted(stats.closes.items()):
            closes.add_metric([str(code)], count)
        yield closes
        yield CounterMetricFamily(
            "tandem_slow_clients_dropped",
            "Clients closed (1009) for a send backlog",
            stats.slow_clients_dropped,
        )

        yield GaugeMetricFamily("tandem_terminals_running", "Terminals (PTYs) running", terminals)
        yield GaugeMetricFamily("tandem_containers_running", "Sandbox sessions with a container", containers)

        yield GaugeMetricFamily("tandem_signaling_peers", "Signaling participants connected", peers)
        yield GaugeMetricFamily("tandem_relay_streams", "Screen shares published to the media relay", streams)
        yield GaugeMetricFamily("tandem_relay_viewers", "Viewers served by the media relay", viewers)

        yield from self._scaleout()
        yield from _allocator()

        yield CounterMetricFamily(
            "tandem_history_versions", "History versions recorded", stats.history_versions
        )
        yield CounterMetricFamily("tandem_backups", "Scheduled backups written", stats.backups)
        yield CounterMetricFamily(
            "tandem_backup_failures", "Scheduled backups that failed", stats.backup_failures
        )
        yield GaugeMetricFamily(
            "tandem_last_backup_timestamp_seconds", "Unix time of the last backup", stats.last_backup_unixtime
        )

    def _scaleout(self) -> Iterator[Metric]:
        """The bus between nodes and the tunnels to session owners (zero on one node)."""
        bus = self.bus
        yield GaugeMetricFamily("tandem_bus_peers", "Other nodes heard from recently", len(bus.peers()))
        yield CounterMetricFamily(
            "tandem_bus_dropped",
            "Bus messages that could not be published (then repaired)",
            getattr(bus, "dropped", 0),
        )
        yield CounterMetricFamily(
            "tandem_bus_repairs", "Bus reconnects and repairs after lost messages", getattr(bus, "repairs", 0)
        )
        tunnels = self.tunnels
        open_ = GaugeMetricFamily(
            "tandem_tunnels_open", "Terminal/signaling connections tunnelled between nodes", labels=["side"]
        )
        open_.add_metric(["entry"], tunnels.entry_count)
        open_.add_metric(["owner"], tunnels.owned_count)
        yield open_
        yield CounterMetricFamily(
            "tandem_tunnels_broken",
            "Tunnels closed by a lost node, a lost message or a bus reconnect",
            tunnels.broken,
        )

    def _screenshare(self) -> tuple[int, int, int]:
        """(signaling peers, relay streams, relay viewers)."""
        service = self.screenshare
        hub_sessions = getattr(service.hub, "sessions", {})
        peers = sum(len(p) for p in list(hub_sessions.values()))
        relay = service.relay
        streams = list(getattr(relay, "streams", {}).values()) if relay is not None else []
        return peers, len(streams), sum(len(getattr(st, "viewers", ())) for st in streams)

    def _terminals(self) -> tuple[int, int, int]:
        """(connections, terminals, containers) from the registry, zero when terminals are off."""
        registry = getattr(self.terminals, "_registry", None)
        if registry is None:
            return 0, 0, 0
        sessions = list(registry.sessions.values())
        terms = [t for s in sessions for t in s.terminals.values()]
        return sum(t.attached for t in terms), len(terms), sum(1 for s in sessions if not s.closing)


def make_registry() -> CollectorRegistry:
    """One registry per app (never the global one): tests run several apps in a process.

    The usual `process_*`, `python_info` and `python_gc_*` families are registered on it too (the
    global registry has them by default; a custom one has nothing), and `tandem_build_info`.
    """
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    if GC_COLLECTOR is not None:  # None where the interpreter has no gc stats (not CPython)
        GCCollector(registry=registry)
    Info("tandem_build", "Tandem's version and the versions it was built with", registry=registry).info(
        build_info()
    )
    return registry


def _allocator() -> Iterator[Metric]:
    """glibc's totals (nothing on other libcs): the process's RSS well above what malloc has
    handed out is memory the allocator has not returned (see backend/rooms/allocator.py)."""
    info = mallinfo()
    if info is None:
        return
    yield GaugeMetricFamily(
        "tandem_malloc_in_use_bytes",
        "Bytes malloc has handed out (heaps and mmapped chunks)",
        info.uordblks + info.hblkhd,
    )
    yield GaugeMetricFamily(
        "tandem_malloc_free_bytes", "Free bytes malloc's heaps keep (returned pages included)", info.fordblks
    )
