"""`tandem db upgrade` and `tandem db current`: the schema's Alembic revision, for operators.

`tandem serve` upgrades at start-up too; these let an operator migrate before rolling out new
nodes (and see where a database stands) with the same settings the server uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import inspect

from backend.cli_context import database_label, sqlite_path
from backend.settings import Settings
from backend.store import schema
from backend.store.database import make_engine

db_app = typer.Typer(no_args_is_help=True, help="The database schema (Alembic migrations).")

DataOpt = Annotated[Path | None, typer.Option(help="Data directory [default ./data]")]
DbOpt = Annotated[str | None, typer.Option(help="SQLAlchemy URL (PostgreSQL works)")]


def _settings(data: Path | None, database_url: str | None) -> Settings:
    overrides: dict[str, Any] = {"data": data, "database_url": database_url}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _refuse_missing(settings: Settings, create: bool) -> None:
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        if not create:
            typer.echo(f"error: no database at {path} (pass --create for a new one)", err=True)
            raise typer.Exit(1)
        path.parent.mkdir(parents=True, exist_ok=True)


@db_app.command("upgrade")
def db_upgrade(
    data: DataOpt = None,
    database_url: DbOpt = None,
    create: Annotated[bool, typer.Option("--create", help="Start a new database if there is none")] = False,
) -> None:
    """Upgrade the schema to this release's newest revision (safe while other nodes start)."""
    settings = _settings(data, database_url)
    _refuse_missing(settings, create)
    engine = make_engine(settings.resolved_database_url())
    try:
        tables = bool(inspect(engine).get_table_names())
        before = schema.upgrade(engine) or ("unversioned" if tables else "empty")
        after = schema.current(engine)
    finally:
        engine.dispose()
    typer.echo(f"database: {database_label(settings)}")
    typer.echo(f"upgraded {before} -> {after}" if before != after else f"at {after}")


@db_app.command("current")
def db_current(data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Print the database's revision and this release's; exit 1 when an upgrade is pending."""
    settings = _settings(data, database_url)
    _refuse_missing(settings, create=False)
    engine = make_engine(settings.resolved_database_url())
    try:
        revision = schema.current(engine)
        tables = bool(inspect(engine).get_table_names()) if revision is None else True
    finally:
        engine.dispose()
    head = schema.head()
    typer.echo(f"database: {database_label(settings)}")
    if revision is None:
        state = "unversioned (made before migrations)" if tables else "empty"
        typer.echo(f"revision: none, {state}; this release: {head}; run `tandem db upgrade`")
        raise typer.Exit(1)
    typer.echo(f"revision: {revision}; this release: {head}")
    if revision != head:
        typer.echo("upgrade pending: run `tandem db upgrade`")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
