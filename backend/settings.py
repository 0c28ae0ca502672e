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
    # The URL people open (join links are built on it). When set, a WebSocket's Origin must match it;
    # unset: the Origin's host must be the request's Host. A missing Origin (scripts, not browsers) passes.
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
    group_commit_ms: float = 50.0
    compact_every_updates: int = 2_000
    durable_announce_ms: float = 1000.0
    store_retry_max_seconds: float = 5.0
    store_max_pending_updates: int = 100_000

    shutdown_timeout_seconds: float = 10.0

    # Accounts, sessions and share links (see backend/access).
    allow_signup: bool = True  # False: after the first (admin) account, only admins create accounts
    password_min_length: int = 8
    login_max_attempts: int = 5  # failed logins per username + IP within the window
    login_window_seconds: float = 300.0
    login_rate_limit_entries: int = 100_000  # tracked username+IP pairs per node (bounded memory)
    login_ttl_days: float = 30.0
    guest_ttl_days: float = 30.0
    cookie_secure: bool | None = None  # default: on when public_url is https
    display_name_max_length: int = 40
    session_title_max_length: int = 200
    max_sessions_per_user: int = 500
    max_links_per_session: int = 200
    max_guests_per_session: int = 1_000
    link_max_expiry_days: float = 365.0
    # How often each node polls the database for access changes (revocations, role changes) made by
    # any node or the CLI; open connections are re-checked within about this delay.
    access_poll_seconds: float = 0.5
    access_change_retention_seconds: float = 3600.0
    audit_page_max: int = 500

    # Sandboxed terminals (see backend/terminals, sandbox/README.md). `auto`: Docker when an engine
    # answers and the image exists, else terminals are off and `/api/sandbox` says why.
    sandbox_image: str = "tandem-sandbox:latest"
    # Labels this install's containers; default: derived from the data directory, so two installs
    # (or test servers) on one engine never reap each other's containers.
    sandbox_instance: str | None = None
    sandbox_memory_mb: int = 512
    sandbox_pids_limit: int = 256
    sandbox_cpus: float = 1.0
    sandbox_network: bool = False
    sandbox_tmp_mb: int = 256
    sandbox_home_mb: int = 128
    sandbox_idle_stop_seconds: float = 1800.0
    terminals_per_session: int = 8
    terminal_name_max_length: int = 32
    terminal_scrollback_bytes: int = 256 * 1024
    terminal_max_subscribers: int = 32
    terminal_subscriber_queue_bytes: int = 1 * MiB
    terminal_max_input_bytes: int = 64 * 1024
    # A terminal nobody has watched for this long is hung up (so the container can idle-stop).
    terminal_detached_close_seconds: float = 900.0
    # Workspace file sync (doc <-> data/workspaces/{session}).
    filesync_debounce_ms: float = 100.0
    filesync_max_file_bytes: int = 1 * MiB
    filesync_max_files: int = 10_000
    workspace_max_bytes: int = 1024 * MiB

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain `postgresql://` URLs select psycopg 3, the driver we ship.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data / 'tandem.db').resolve()}"
