"""Settings from flags or `TANDEM_*` environment variables, each limit with a safe default."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite under the data directory"
    )
    redis_url: str | None = None
    sandbox: Literal["auto", "docker", "off"] = "auto"
    no_auth: bool = False
    # `--no-auth` binds loopback only unless this is set too (like y-websocket's own server,
    # it is for local development and protocol tests).
    no_auth_allow_remote: bool = False
    public_url: str | None = None
    node_id: str | None = None
    log_level: str = "info"

    # WebSocket limits.
    max_frame_bytes: int = 16 * MiB
    client_queue_max_messages: int = 4096
    client_queue_max_bytes: int = 64 * MiB
    # Uvicorn's websocket implementation; `websockets-sansio` measured fastest for fan-out.
    ws_impl: Literal["websockets", "websockets-sansio", "wsproto"] = "websockets-sansio"

    # Rooms.
    room_name_max_length: int = 128
    room_idle_unload_seconds: float = 30.0
    max_rooms: int = 10_000
    max_clients_per_room: int = 2_000

    # Persistence: group commit and compaction.
    group_commit_ms: float = 20.0
    compact_every_updates: int = 2_000
    durable_announce_ms: float = 250.0
    store_retry_max_seconds: float = 5.0
    store_max_pending_updates: int = 100_000

    shutdown_timeout_seconds: float = 10.0

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain `postgresql://` URLs select psycopg 3, the driver we ship.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data / 'tandem.db').resolve()}"
