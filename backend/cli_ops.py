"""`tandem backup PATH` and `tandem restore PATH`: the operator's side of backups (backend.ops.backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backend.cli_admin import DataOpt, DbOpt, _settings
from backend.ops.backup import BackupError
from backend.ops.backup import backup as do_backup
from backend.ops.backup import restore as do_restore


def backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write")],
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """A consistent copy of the database, safe while the server runs (SQLite backup API, or pg_dump)."""
    settings = _settings(data, database_url)
    try:
        target = do_backup(settings.resolved_database_url(), path)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"backup written to {target} ({target.stat().st_size} bytes)")


def restore(
    path: Annotated[Path, typer.Argument(help="A file written by `tandem backup`")],
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Load a backup into an empty data directory or database (the server must not be running on it)."""
    settings = _settings(data, database_url)
    try:
        do_restore(path, settings.resolved_database_url())
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"restored {path}; start `tandem serve` on it")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
