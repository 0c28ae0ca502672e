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
    # Multi-node bus (only with redis_url; see backend/bus/redis.py). Keys start with the prefix, so
    # several installs (or test runs) share one Redis without seeing each other.
    redis_prefix: str = "tandem:"
    bus_stream_max_len: int = 10_000  # messages retained per room channel (catch-up window)
    bus_publish_queue_max: int = 10_000  # unsent messages per node; beyond: dropped, then repaired
    bus_heartbeat_seconds: float = 1.0
    bus_peer_expiry_seconds: float = 5.0  # a node silent this long is dead: its presence is dropped
    # A session's terminals and screen share live on one node, its owner (backend/bus/leases.py);
    # the lease outlives a dead owner by at most this long (less when its death is noticed).
    owner_lease_seconds: float = 5.0
    tunnel_window_bytes: int = 256 * 1024  # owner -> client bytes in flight per tunnelled connection
    tunnel_open_timeout_seconds: float = 10.0
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
    client_queue_max_messages: int = 65_536  # a slow client's backlog; bytes bound it too
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
    login_max_attempts: int = 5  # failed logins per username + IP within the window (per IP: below)
    login_window_seconds: float = 300.0
    login_rate_limit_entries: int = 100_000  # limit keys kept in memory (without Redis; bounded memory)
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
    # Output queued for one terminal client before it skips ahead (frames are shared between
    # clients, so a terminal holds at most this much for all of them); see the flow settings below.
    terminal_subscriber_queue_bytes: int = 8 * MiB
    terminal_max_input_bytes: int = 64 * 1024
    # A terminal nobody has watched for this long is hung up, so an abandoned room (and its
    # container) unloads in minutes: this + 30 s session grace + `room_idle_unload_seconds`.
    terminal_detached_close_seconds: float = 180.0
    # Workspace file sync (doc <-> data/workspaces/{session}).
    filesync_debounce_ms: float = 100.0
    filesync_max_file_bytes: int = 1 * MiB
    filesync_max_files: int = 10_000
    workspace_max_bytes: int = 1024 * MiB

    # Screen share (see signaling/README.md). ICE servers for browsers: JSON lists in the environment,
    # e.g. TANDEM_SCREENSHARE_ICE_URLS='["stun:turn.example:3478","turn:turn.example:3478"]'; TURN
    # credentials are minted per connection from coturn's static-auth-secret. None needed on a LAN.
    screenshare_ice_urls: list[str] = Field(default_factory=list)
    screenshare_turn_secret: str | None = None
    screenshare_turn_ttl_seconds: float = 3600.0
    screenshare_relay: bool = True  # False: browser mesh only, whatever the audience
    screenshare_mesh_max_viewers: int = 3  # beyond: the sharer publishes once to the relay
    screenshare_relay_ice_urls: list[str] = Field(default_factory=list)
    # The relay's host candidates; empty: every interface but loopback (aioice). Tests: ["127.0.0.1"].
    screenshare_host_addresses: list[str] = Field(default_factory=list)
    signal_max_message_bytes: int = 64 * 1024
    signal_max_errors: int = 20  # bad messages per connection before close 4429
    signal_messages_per_second: float = 50.0
    signal_message_burst: int = 200
    signal_max_participants_per_session: int = 200
    signal_outbox_messages: int = 256  # queued to one client; overflow closes it (1009)
    relay_max_streams: int = 32
    relay_max_viewers_per_stream: int = 200
    relay_viewer_queue_frames: int = 30
    relay_keyframe_interval_seconds: float = 0.25  # at most one keyframe request per this, per share
    light_fps: float = 4.0
    light_height: int = 360
    light_bitrate: int = 250_000

    # Operations (see backend/ops/README.md).
    readyz_timeout_seconds: float = 2.0  # per check; a hung dependency fails /readyz, never hangs it
    readyz_min_free_disk_mb: int = 256  # under the data directory
    metrics_enabled: bool = True
    metrics_fanout_sample_every: int = 8  # time one fan-out batch in N (the histogram is sampled)
    log_format: Literal["auto", "json", "plain"] = "auto"  # auto: JSON unless stderr is a terminal
    # Scheduled backups: off unless a directory is set (`tandem backup PATH` works regardless).
    backup_dir: Path | None = None
    backup_interval_seconds: float = 6 * 3600
    # "every:kept_for" tiers: of the backups in each `every` bucket younger than `kept_for`, the
    # newest is kept; a backup no tier keeps is pruned (the newest backup is always kept).
    backup_retention: str = "6h:2d,1d:30d,7d:90d"

    # Version history (see backend/history): a version after `history_idle_seconds` without edits,
    # and at least every `history_max_interval_seconds` while a session is being edited.
    history_idle_seconds: float = 30.0
    history_max_interval_seconds: float = 300.0
    history_poll_seconds: float = 1.0
    history_max_versions_per_session: int = 2_000  # the oldest automatic versions go first
    history_page_max: int = 200
    history_max_file_bytes: int = 1 * MiB  # diffs of larger files are refused (413)

    # --- sandbox hardening ---
    workspace_quota: Literal["auto", "loop", "off"] = Field(
        default="auto",
        description=(
            "Disk quota of a session's /workspace: `loop` mounts a sparse ext4 image of "
            "`workspace_max_bytes` per session (root needed), `auto` does so when it can and logs "
            "when it cannot, `off` leaves plain directories (terminals may fill the host disk)"
        ),
    )

    # --- HTTP hardening (backend/edge: bodies, Hosts, slow and greedy clients) ---
    http_max_body_bytes: int = Field(
        64 * 1024,
        description="Request body cap, enforced while reading, before parsing (413); forms and JSON",
    )
    http_body_limits: dict[str, int] = Field(
        default_factory=dict,
        description='Larger body caps by path prefix, e.g. {"/api/upload": 16777216}; longest prefix wins',
    )
    http_body_timeout_seconds: float = Field(
        30.0, description="A request body must arrive within this long after its headers (408)"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names accepted besides public_url's, loopback names and the bound host "
        "(DNS rebinding); '*' accepts any (only behind a proxy that checks Host)",
    )
    http_header_timeout_seconds: float = Field(
        10.0, description="A request's headers must arrive within this long, or the connection is closed"
    )
    http_max_header_bytes: int = Field(
        64 * 1024, description="A request's line and headers may not exceed this (431)"
    )
    http_keep_alive_seconds: int = Field(5, description="An idle keep-alive connection is closed after this")
    connections_per_ip: int = Field(
        500,
        description="Open TCP connections (HTTP and WebSocket) per client IP; over it, the IP's idle "
        "or half-sent ones are closed first, else the new one is refused",
    )
    max_connections: int | None = Field(
        None,
        description="Open connections per node; default: the file descriptor limit minus "
        "connection_fd_reserve. Idle and half-sent connections are closed first when it is reached",
    )
    connection_fd_reserve: int = Field(
        512, description="File descriptors kept for the database, Docker, Redis and files, never connections"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxy addresses or CIDRs ('*': any peer) whose X-Forwarded-For is believed and "
        "which are exempt from connections_per_ip (the proxy limits its clients); unset: "
        "X-Forwarded-For is ignored",
    )
    login_ip_max_attempts: int = Field(
        20, description="Failed logins per client IP (across usernames) within login_window_seconds"
    )
    signup_max_per_ip: int = Field(10, description="Signups per client IP within signup_window_seconds")
    signup_window_seconds: float = Field(3600.0, description="The signup rate limit's window")
    join_max_per_ip: int = Field(
        60, description="Joins through a link per client IP within join_window_seconds"
    )
    join_window_seconds: float = Field(600.0, description="The join rate limit's window")
    connections_per_principal_per_room: int = Field(
        64,
        description="Open WebSockets (/yjs, /term, /signal together) one principal (account, guest, "
        "link) may hold to one session on a node; the next is closed 1013",
    )
    connections_per_principal: int = Field(
        256, description="Open WebSockets one principal may hold on a node, all sessions together"
    )

    # --- browser home ---
    home_guest_sessions_max: int = Field(
        50,
        ge=0,
        description="Guest cookies looked at when a browser without an account lists its sessions on /",
    )
    # --- presence and comments (harden-yjs) ---
    awareness_max_state_bytes: int = Field(
        16 * 1024,
        description="One awareness state's JSON; larger closes the connection (1009), nothing stored",
    )
    awareness_max_client_ids: int = Field(
        4, description="Awareness client ids one connection may hold; more closes it (1009)"
    )
    awareness_rate_per_second: float = Field(
        20.0,
        description="Awareness messages per connection per second (token bucket); faster closes it (4429)",
    )
    awareness_burst: int = Field(
        60, description="Awareness messages a connection may send at once (bucket size)"
    )
    client_id_hold_seconds: float = Field(
        600.0, description="A disconnected principal's presence client id stays theirs this long"
    )
    comment_future_seconds: float = Field(
        300.0, description="A comment's createdAt may be at most this far ahead of server time"
    )
    comment_max_age_seconds: float = Field(
        7 * 86400.0, description="A comment's createdAt may be at most this old (comments written offline)"
    )
    comment_max_body_chars: int = Field(20_000, description="Longest comment or reply body")

    # --- real projects (file sync) ---
    filesync_on_room_load: bool = Field(
        True,
        description="Read a session's workspace into its doc when the room loads and watch it while "
        "the room stays loaded (no container needed). Several nodes: the sync runs on the session's "
        "owner node, with its sandbox, instead.",
    )
    filesync_max_doc_bytes: int = Field(
        64 * MiB,
        description="Text bytes the workspace may put into one session's doc; files beyond are "
        "listed in `blobs` (reason doc_too_large) instead of synced as text.",
    )
    filesync_max_watches: int = Field(
        4096,
        description="Directories of one workspace watched for changes (inotify watches, never "
        "through a symlink); deeper ones are seen only by a rescan.",
    )

    # --- first run ---
    sandbox_build_missing: bool = Field(
        default=True,
        description="auto mode: build a missing sandbox image in the background (once per engine)",
    )
    sandbox_build_kind: Literal["default", "test"] = Field(
        default="default",
        description="what a background build makes: the Debian minbase (default) or the busybox test image",
    )
    sandbox_engine_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="a Docker engine that does not answer within this is down"
    )
    sandbox_probe_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="auto mode: how often a server without terminals looks for the engine and the image",
    )

    # --- history, terminal flow control, memory (history-mem) ---
    terminal_flow_pause_bytes: int = Field(
        512 * 1024,
        description="A terminal's PTY reads pause while every client has at least this much output queued "
        "(clients that keep up lose nothing).",
    )
    terminal_flow_pause_max_seconds: float = Field(
        3.0,
        description="Longest such pause: after it the PTY reads on and clients that stay behind skip ahead "
        "(a stalled client never stops the shell).",
    )
    history_max_bytes_per_session: int = Field(
        256 * MiB,
        description="Stored history of one session (deltas and checkpoints); the oldest versions are pruned "
        "beyond it.",
    )
    history_checkpoint_every: int = Field(
        64,
        description="Every Nth version is stored as a full checkpoint, the others as the Yjs update since "
        "the previous version, so a restore replays at most N-1 deltas.",
    )
    history_checkpoint_max_delta_bytes: int = Field(
        64 * MiB,
        description="A checkpoint is also taken once the deltas since the last one add up to this much.",
    )
    room_unload_trim_memory: bool = Field(
        True,
        description="After a room unloads, collect garbage and return freed heap to the OS (malloc_trim).",
    )

    # --- perf ---
    fanout_raw_frames: bool = Field(
        True,
        description="Write broadcast frames straight to uvicorn's socket transport (the fan-out fast "
        "path); off: every message goes through the ASGI send",
    )
    fanout_eager_sends: bool = Field(
        True,
        description="Send a message at once when the client's socket takes it; off: every message "
        "goes through the client's backlog and sender task (slower; for tests and diagnosis)",
    )
    fanout_coalesce_max_bytes: int = Field(
        256 * 1024,
        ge=0,
        description="A slow client's queued document updates merge into messages of at most this "
        "size; 0 sends them one by one",
    )

    # --- noisy neighbour ---
    gc_freeze_after_startup: bool = Field(
        True,
        description="`tandem serve`: once started, collect garbage and freeze the surviving start-up "
        "objects (gc.freeze), so full collections during traffic walk only what came later",
    )

    # --- memory after unload (realmem) ---
    malloc_mmap_threshold_bytes: int = Field(
        1 * MiB,
        ge=0,
        le=32 * MiB,
        description="glibc: allocations from this size up are mmapped (freed straight back to the OS) and "
        "free heap tops over twice it are returned; fixed at start-up, which ends glibc's dynamic "
        "thresholds that kept ~26 MiB per large room after it unloaded. 0: glibc's defaults",
    )

    # --- sync (large docs) ---
    sync_message_max_bytes: int = Field(
        1 * MiB,
        ge=64 * 1024,
        description="A document sync (the answer to a client's SyncStep1) or a live update larger than "
        "this goes out as several updates of about this size, the answer ending with a small SyncStep2; "
        "keep it well under max_frame_bytes",
    )

    # --- idle connections ---
    yjs_lean_sockets: bool = Field(
        True,
        description="Once a `/yjs` client is accepted, hand its socket from uvicorn's WebSocket "
        "stack to a lean callback protocol (no task, queue or handshake objects per idle client); "
        "off: every socket stays on ASGI",
    )

    # --- sandboxes per node ---
    max_active_sandboxes: int = Field(
        50,
        ge=1,
        description="Sessions with running terminals on this node (each a container, a held room and "
        "a file sync); a terminal of one more session is refused with `all N sandboxes are in use` "
        "(close 1013: the page retries) until one is deactivated",
    )

    # --- file sync of new rooms ---
    filesync_fresh_start_concurrency: int = Field(
        2,
        ge=1,
        description="File syncs of rooms with an empty workspace that start at once (they start behind "
        "their room: a burst of new rooms answers its handshakes first, then their syncs start a few at "
        "a time)",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain `postgresql://` URLs select psycopg 3, the driver we ship.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data / 'tandem.db').resolve()}"
