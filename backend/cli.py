"""The `tandem` command: `serve`; users, sessions and links are in `backend.cli_admin`."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from backend.settings import Settings
from backend.store.private import private_dir
from backend.version import print_version

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Tandem: a collaborative coding room.")

log = logging.getLogger("tandem.cli")


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=print_version, is_eager=True, help="Print the version")
    ] = False,
) -> None:
    """Tandem: a self-hosted collaborative coding room."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Environment first, then the flags that were given."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _require_writable_data(path: Path) -> None:
    """The data directory, created 0700 and proved writable before anything starts: a directory
    this user cannot write (compose's `/srv/tandem` left to root, a read-only mount) is one clear
    line and exit 2, not a traceback from whichever part writes first."""
    probe = path / ".tandem-write-probe"
    try:
        private_dir(path)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        who = f"uid {os.getuid()}"
        typer.echo(
            f"tandem: cannot write the data directory {path} as {who}: {exc.strerror or exc}. Make it "
            f"writable by {who} (e.g. `sudo install -d -o {os.getuid()} -g {os.getgid()} {path}`) "
            "or choose another with --data / TANDEM_DATA.",
            err=True,
        )
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default 8000]")] = None,
    data: Annotated[Path | None, typer.Option(help="Data directory [default ./data]")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (PostgreSQL works)")] = None,
    no_auth: Annotated[
        bool | None, typer.Option("--no-auth", help="Anyone may edit any room (development)")
    ] = None,
    no_auth_allow_remote: Annotated[
        bool | None, typer.Option("--no-auth-allow-remote", help="Let --no-auth bind off loopback")
    ] = None,
    room_idle_unload_seconds: Annotated[float | None, typer.Option(hidden=True)] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Terminals: auto (Docker if usable), docker (required), off")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning")] = None,
) -> None:
    """Run Tandem: pages, rooms and terminals on one port."""
    import uvicorn

    from backend.app import create_app

    settings = load_settings(
        host=host,
        port=port,
        data=data,
        database_url=database_url,
        no_auth=no_auth,
        no_auth_allow_remote=no_auth_allow_remote,
        room_idle_unload_seconds=room_idle_unload_seconds,
        sandbox=sandbox,
        log_level=log_level,
    )
    from backend.ops.logs import configure_logging

    # JSON lines when stderr is not a terminal, secrets redacted; uvicorn's loggers go through it too.
    configure_logging(settings.log_level, settings.log_format)
    if settings.no_auth:
        if not _is_loopback(settings.host) and not settings.no_auth_allow_remote:
            typer.echo(
                f"refusing --no-auth on {settings.host}: it would let anyone on the network edit "
                "any room. Bind 127.0.0.1, or add --no-auth-allow-remote.",
                err=True,
            )
            raise typer.Exit(2)
        log.warning("*** --no-auth: ANYONE who can reach %s may edit ANY room ***", settings.host)
    # Owner-only from here on: whatever the server writes (database, workspaces, backups) is 0600/0700.
    os.umask(0o077)
    _require_writable_data(settings.data)
    if settings.sandbox == "docker":
        _require_sandbox(settings)
    from backend.cli_context import record_address

    record_address(settings)  # the CLI's links carry the address this server serves
    from backend.edge.server import uvicorn_options

    # Guarded protocols (per-IP and per-node connection caps, header timeout): backend/edge.
    guard, options = uvicorn_options(settings)
    asgi = create_app(settings, settle_heap_when_ready=settings.gc_freeze_after_startup)
    registry = asgi.app.state.metrics_registry
    if registry is not None:
        from backend.edge.metrics import EdgeCollector

        registry.register(EdgeCollector(guard))
    uvicorn.run(
        asgi,
        **options,
        log_level=settings.log_level,
        log_config=None,  # keep ours (configure_logging) instead of uvicorn's default handlers
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
    )


def _require_sandbox(settings: Settings) -> None:
    """`TANDEM_SANDBOX=docker`: say what is missing in one line and exit, never a traceback."""
    import anyio

    from backend.terminals.availability import StatusBoard
    from backend.terminals.bringup import SandboxBringUp
    from sandbox import SandboxError

    try:
        anyio.run(SandboxBringUp(settings, StatusBoard(settings)).require)
    except SandboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def main() -> None:
    app()


# `tandem user add`, `tandem session create`, `tandem link create|revoke` (see backend.cli_admin).
from backend import cli_admin  # noqa: E402

cli_admin.register(app)

# `tandem sandbox build-image [--test]` (see backend.cli_sandbox).
from backend import cli_sandbox  # noqa: E402

cli_sandbox.register(app)

# `tandem backup PATH`, `tandem restore PATH` (see backend.cli_ops).
from backend import cli_ops  # noqa: E402

cli_ops.register(app)

# `tandem db upgrade`, `tandem db current` (see backend.cli_db).
from backend import cli_db  # noqa: E402

cli_db.register(app)


if __name__ == "__main__":
    main()
