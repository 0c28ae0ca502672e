"""Random identifiers and secrets, and the one-way hash under which secrets are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def _urlsafe(nbytes: int) -> str:
    # Never a leading "-" (or "_"): ids and tokens are typed as CLI arguments (`tandem link create
    # SESSION`, `tandem link revoke TOKEN`), where "-abc" would be read as an option.
    while True:
        value = secrets.token_urlsafe(nbytes)
        if value[0].isalnum():
            return value


def new_id() -> str:
    """A url-safe random id (96 bits): session ids, link ids, account ids."""
    return _urlsafe(12)


def new_token() -> str:
    """A bearer secret (256 bits): share links, login and guest cookies."""
    return _urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random, so a plain SHA-256 is enough (no salt or slow hash needed: there
    # is nothing to brute-force), and it lets a lookup use the unique index.
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
