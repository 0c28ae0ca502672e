"""`tandem user|session|link ...`: the operator's side of accounts and share links.

Each command reads the same settings as `serve` (`--data`, `--database-url`, `TANDEM_*`; the rule
is in `backend.cli_context`), says which database it uses, refuses a missing one unless `--create`,
and acts on it directly; a running server picks changes up through `access_change` (within
`access_poll_seconds`), so `tandem link revoke` cuts open connections too.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from backend.access import accounts, links, sessions
from backend.access.durations import parse_duration
from backend.auth.types import Principal, PrincipalKind, Role
from backend.cli_context import open_database, server_base
from backend.errors import TandemError
from backend.settings import Settings

DataOpt = Annotated[Path | None, typer.Option(help="Data directory [default ./data]")]
DbOpt = Annotated[str | None, typer.Option(help="SQLAlchemy URL (PostgreSQL works)")]


class LinkRole(StrEnum):
    EDITOR = "editor"
    COMMENTER = "commenter"
    VIEWER = "viewer"


user_app = typer.Typer(no_args_is_help=True, help="Accounts.")
session_app = typer.Typer(no_args_is_help=True, help="Sessions.")
link_app = typer.Typer(no_args_is_help=True, help="Share links.")


def _settings(data: Path | None, database_url: str | None) -> Settings:
    overrides: dict[str, Any] = {"data": data, "database_url": database_url}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


CreateOpt = Annotated[bool, typer.Option("--create", help="Start a new database if there is none")]


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")  # scripts: `echo "$PW" | tandem user add NAME`
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@user_app.command("add")
def user_add(
    name: str,
    data: DataOpt = None,
    database_url: DbOpt = None,
    admin: Annotated[bool, typer.Option(help="Not needed for the first account, which is the admin")] = False,
    create: CreateOpt = False,
) -> None:
    """Create an account; the password comes from a prompt, or from the first line of stdin."""
    settings = _settings(data, database_url)
    password = _read_password(confirm=True)
    with open_database(settings, create=create) as db:
        account = accounts.create_account(db, name, password, settings, by_admin=True)
        if admin and not account.is_admin:
            account.is_admin = True
            db.add(account)
            db.commit()
        typer.echo(f"created {'admin ' if account.is_admin else ''}account {account.username}")
        typer.echo(account.id)


@session_app.command("create")
def session_create(
    title: str,
    owner: Annotated[str, typer.Option(help="Username of the owner")],
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Create a session; its id (the room name) is printed alone on the last line."""
    settings = _settings(data, database_url)
    with open_database(settings) as db:
        account = accounts.get_account_by_name(db, owner)
        session = sessions.create_session(db, account, title, settings)
        typer.echo(f"created session {session.title!r} owned by {account.username}")
        typer.echo(session.id)


def _operator(session_id: str) -> Principal:
    return Principal(id="cli", name="cli", role=Role.OWNER, session=session_id, kind=PrincipalKind.USER)


@link_app.command("create")
def link_create(
    session: str,
    role: Annotated[LinkRole, typer.Option(help="The role the link grants")],
    expires: Annotated[str | None, typer.Option(help="Lifetime: 30m, 2h, 7d, 1w")] = None,
    max_uses: Annotated[int | None, typer.Option(min=1, help="How many people may join with it")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    public_url: Annotated[str | None, typer.Option(help="Base of the join URL")] = None,
) -> None:
    """Create a share link; prints the join URL, then the token alone on the last line."""
    settings = _settings(data, database_url)
    try:
        link_role = Role(role.value)
        seconds = parse_duration(expires) if expires else None
    except (ValueError, TandemError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    with open_database(settings) as db:
        target = sessions.get_session(db, session)
        _link, token = links.create_link(
            db, target, link_role, settings, _operator(session), expires_in_seconds=seconds, max_uses=max_uses
        )
        base, public = (public_url.rstrip("/"), True) if public_url else server_base(settings)
        if not public:
            typer.echo(f"note: {base} is the server's own address; others need TANDEM_PUBLIC_URL", err=True)
        typer.echo(f"{base}/join/{token}")
        typer.echo(token)


@link_app.command("revoke")
def link_revoke(token: str, data: DataOpt = None, database_url: DbOpt = None) -> None:
    """Revoke a link by its token: it admits no one, and whoever it admitted is cut off."""
    settings = _settings(data, database_url)
    with open_database(settings) as db:
        link = links.revoke_by_token(db, token)
        typer.echo(f"revoked link {link.id} of session {link.session_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(session_app, name="session")
    app.add_typer(link_app, name="link")
