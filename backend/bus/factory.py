"""Build the node's bus from settings: Redis when `TANDEM_REDIS_URL` is set, else in-process."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from backend.bus.local import LocalBus
from backend.bus.redis import RedisBus
from backend.bus.types import Bus
from backend.settings import Settings


def make_bus(settings: Settings) -> AbstractAsyncContextManager[Bus]:
    """An async context manager: enter it before the rooms, leave it after they flushed."""
    if not settings.redis_url:
        return LocalBus()
    return RedisBus(
        settings.redis_url,
        prefix=settings.redis_prefix,
        node_id=settings.node_id,
        stream_max_len=settings.bus_stream_max_len,
        heartbeat_seconds=settings.bus_heartbeat_seconds,
        peer_expiry_seconds=settings.bus_peer_expiry_seconds,
        publish_queue_max=settings.bus_publish_queue_max,
    )
