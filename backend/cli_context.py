"""What the CLI and a server started from the same place agree on: the database and the address.

The rule: every `tandem` command resolves settings the same way — flags, then `TANDEM_*`
environment variables, then defaults, with a relative `--data` (default `./data`) taken from the
current directory — so `tandem serve` and `tandem session create` run in the same directory with
the same flags and environment use the same database. Subcommands say which database they use
and refuse one that does not exist (`--create` makes it), and links carry the address the server
serves: `public_url` when set, otherwise what the last `tandem serve` on this data directory
recorded in `{data}/server.json`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.engine import make_url
from sqlmodel import Session

from backend.errors import TandemError
from backend.settings import Settings
from backend.store.database import create_tables, make_engine

log = logging.getLogger("tandem.cli")

WILDCARDS = {"0.0.0.0", "::", ""}


def database_label(settings: Settings) -> str:
    """The database as an operator recognizes it (a path, or a URL without its password)."""
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def sqlite_path(settings: Settings) -> Path | None:
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextmanager
def open_database(settings: Settings, *, create: bool = False) -> Iterator[Session]:
    """A session on the settings' database; a missing SQLite file is refused unless `create`."""
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        if not create:
            typer.echo(
                f"error: no database at {path}. Run this where `tandem serve` runs (same directory, "
                "--data and TANDEM_* settings), pass --data or --database-url, or --create for a new one.",
                err=True,
            )
            raise typer.Exit(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        typer.echo(f"creating a new database at {path}", err=True)
    else:
        typer.echo(f"database: {database_label(settings)}", err=True)
    engine = make_engine(settings.resolved_database_url())
    create_tables(engine)
    try:
        with Session(engine) as db:
            yield db
    except TandemError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


def address_file(settings: Settings) -> Path:
    return settings.data / "server.json"


def record_address(settings: Settings) -> None:
    """`tandem serve`: write where this server listens, for the CLI's links."""
    host = settings.host
    shown = "127.0.0.1" if host in WILDCARDS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    record = {
        "url": f"http://{shown}:{settings.port}",
        "host": host,
        "port": settings.port,
        "public_url": settings.public_url,
        "pid": os.getpid(),
    }
    path = address_file(settings)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot record the server's address in %s: %s", path, exc)


def server_base(settings: Settings) -> tuple[str, bool]:
    """(the base of links, whether it is public): public_url, else the recorded address."""
    if settings.public_url:
        return settings.public_url.rstrip("/"), True
    try:
        record = json.loads(address_file(settings).read_text())
        recorded = record.get("public_url") or record.get("url")
        if isinstance(recorded, str) and recorded:
            return recorded.rstrip("/"), bool(record.get("public_url"))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", address_file(settings), exc)
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    return f"http://{host}:{settings.port}", False
