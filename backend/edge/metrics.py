"""`/metrics` for the edge: TCP connections held, evicted and refused (read at scrape time)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backend.edge.connections import ConnectionGuard


class EdgeCollector(Collector):
    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard

    def collect(self) -> Iterator[Metric]:
        guard = self.guard
        yield GaugeMetricFamily(
            "tandem_tcp_connections_open", "TCP connections held (HTTP and WebSocket)", guard.open
        )
        yield GaugeMetricFamily(
            "tandem_tcp_connections_limit", "TCP connections this node accepts", guard.total
        )
        yield CounterMetricFamily(
            "tandem_tcp_connections_evicted",
            "Idle or half-sent connections closed to make room for a new one",
            guard.evicted,
        )
        yield CounterMetricFamily(
            "tandem_tcp_connections_refused",
            "Connections refused at the per-IP or per-node cap",
            guard.refused,
        )
