"""Accounts and logins: create an account, check a password, start and end a login.

A login is a random token in an HttpOnly cookie whose SHA-256 is a row of `login_token`; chosen
over a self-contained signed cookie (itsdangerous) because logout and "log out everywhere" then
really end the login server-side, no signing key has to be shared and rotated across nodes, and
the per-request cost is one primary-key lookup.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.access.models import Account, AccountNameKey, AccountPublic, LoginToken, aware
from backend.access.names import fold
from backend.access.passwords import hash_password, verify_password
from backend.access.tokens import hash_token, new_id, new_token
from backend.errors import AccessDeniedError, AuthenticationError, ConflictError, InvalidInputError
from backend.settings import Settings
from backend.store.models import utcnow

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def validate_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise InvalidInputError(
            "username: 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    return username


def create_account(
    db: Session, username: str, password: str, settings: Settings, *, by_admin: bool = False
) -> Account:
    """The first account of an install becomes the admin; later ones need open signup or an admin."""
    validate_username(username)
    if len(password) < settings.password_min_length:
        raise InvalidInputError(f"password: at least {settings.password_min_length} characters")
    first = db.exec(select(Account.id).limit(1)).first() is None
    if not (first or by_admin or settings.allow_signup):
        raise AccessDeniedError("signup is closed: ask an admin for an account")
    taken = name_taken_by(db, username)
    if taken is not None:
        raise ConflictError(_taken_message(username, taken))
    account = Account(id=new_id(), username=username, password_hash=hash_password(password), is_admin=first)
    db.add(account)
    db.add(AccountNameKey(key=fold(username), account_id=account.id))
    try:
        db.commit()
    except IntegrityError as exc:  # a concurrent signup took the name (or a lookalike) meanwhile
        db.rollback()
        raise ConflictError("that username is taken") from exc
    db.refresh(account)
    return account


def name_taken_by(db: Session, name: str) -> str | None:
    """The username that `name` would pass for (same skeleton: `Alice`, `aIice`), or None."""
    _backfill_name_keys(db)
    row = db.get(AccountNameKey, fold(name))
    if row is None:
        return None
    account = db.get(Account, row.account_id)
    return account.username if account is not None else None


def _backfill_name_keys(db: Session) -> None:
    """Accounts made before name keys existed get theirs (once: afterwards the counts match).
    Two old accounts with one skeleton both stay; the second's key is made unique by its id."""
    accounts = db.exec(select(func.count()).select_from(Account)).one()
    keys = db.exec(select(func.count()).select_from(AccountNameKey)).one()
    if keys >= accounts:
        return
    have = set(db.exec(select(AccountNameKey.account_id)).all())
    taken = set(db.exec(select(AccountNameKey.key)).all())
    for account_id, username in db.exec(select(Account.id, Account.username)).all():
        if account_id in have:
            continue
        key = fold(username)
        key = key if key not in taken else f"{key}#{account_id}"
        taken.add(key)
        db.add(AccountNameKey(key=key, account_id=account_id))
    try:
        db.commit()
    except IntegrityError:  # another node backfilled at the same moment: theirs stands
        db.rollback()


def _taken_message(wanted: str, taken: str) -> str:
    if wanted == taken:
        return "that username is taken"
    return f"that username is taken: it looks like the existing {taken!r}"


def check_password(db: Session, username: str, password: str) -> Account:
    account = db.exec(select(Account).where(Account.username == username)).first()
    # verify_password always spends one argon2 verification: no timing oracle on usernames.
    if not verify_password(account.password_hash if account else None, password) or account is None:
        raise AuthenticationError("wrong username or password")
    return account


def start_login(db: Session, account: Account, settings: Settings) -> str:
    token = new_token()
    now = utcnow()
    db.add(
        LoginToken(
            token_hash=hash_token(token),
            account_id=account.id,
            created_at=now,
            expires_at=now + timedelta(days=settings.login_ttl_days),
        )
    )
    db.commit()
    return token


def end_login(db: Session, token: str) -> None:
    db.execute(delete(LoginToken).where(col(LoginToken.token_hash) == hash_token(token)))
    db.commit()


def account_for_login(db: Session, token: str | None) -> Account | None:
    """The account of a login cookie, or None when missing, unknown or expired."""
    if not token:
        return None
    login = db.get(LoginToken, hash_token(token))
    if login is None or aware(login.expires_at) <= utcnow():
        return None
    return db.get(Account, login.account_id)


def get_account_by_name(db: Session, username: str) -> Account:
    account = db.exec(select(Account).where(Account.username == username)).first()
    if account is None:
        raise InvalidInputError(f"no account named {username!r}")
    return account


def public(account: Account) -> AccountPublic:
    return AccountPublic(
        id=account.id, username=account.username, is_admin=account.is_admin, created_at=account.created_at
    )
