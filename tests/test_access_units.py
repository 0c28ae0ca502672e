"""In-process checks of the access building blocks (the real-server tests cover them end to end)."""

from __future__ import annotations

import time

import pytest
from limits.aio.storage import MemoryStorage
from pycrdt import Array, Doc, Map, Text
from starlette.datastructures import Headers

from backend.access.authorize import ALLOWED, Action, authorize
from backend.access.comment_policy import Actor, CommentRefusedError
from backend.access.comments_only import CommentGuard
from backend.access.durations import parse_duration
from backend.access.names import fold
from backend.access.origin import origin_allowed
from backend.access.passwords import hash_password, verify_password
from backend.access.ratelimit import LoginRateLimiter, Windows
from backend.access.tokens import new_id, new_token
from backend.auth.types import Principal, Role
from backend.errors import InvalidInputError, RateLimitedError
from backend.rooms.clientids import ClientIdRegistry

COMMENTER = Actor("guest-c", "Carol", "#123456", moderator=False, comments_only=True)


def _comment(body: str, who: Actor = COMMENTER) -> Map:
    author = {"id": who.id, "name": who.name, "color": who.color}
    return Map({"body": body, "author": author, "createdAt": time.time() * 1000, "resolved": False})


def _room() -> Doc:
    doc: Doc = Doc()
    doc.get("files", type=Map)["a.py"] = Text("print(1)\n")
    doc.get("comments", type=Array).append(_comment("first", Actor("u1", "Ann", "#000000", True, False)))
    return doc


def _update_from(room: Doc, change) -> bytes:  # type: ignore[no-untyped-def]
    client: Doc = Doc()
    client.apply_update(room.get_update())
    before = client.get_state()
    change(client)
    return client.get_update(before)


def comments_only(update: bytes, room: Doc, guard: CommentGuard | None = None) -> bytes | None:
    """The update if a commenter may apply it, else None (the room's guard, in process)."""
    guard = guard or CommentGuard(room, ClientIdRegistry(hold_seconds=60))
    try:
        guard.check(update, COMMENTER, ("guest", "c"))
    except CommentRefusedError:
        return None
    return update


def test_comments_only_accepts_comment_edits_and_rejects_the_rest() -> None:
    room = _room()
    add = _update_from(room, lambda d: d.get("comments", type=Array).append(_comment("second")))
    part = comments_only(add, room)
    assert part is not None
    room.apply_update(part)
    assert [dict(m)["body"] for m in room.get("comments", type=Array)] == ["first", "second"]

    edit_file = _update_from(room, lambda d: d.get("files", type=Map)["a.py"].insert(0, "#"))
    assert comments_only(edit_file, room) is None
    delete_file = _update_from(room, lambda d: d.get("files", type=Map).pop("a.py"))
    assert comments_only(delete_file, room) is None
    new_root = _update_from(room, lambda d: d.get("meta", type=Map).__setitem__("title", "x"))
    assert comments_only(new_root, room) is None

    def both(d: Doc) -> None:
        d.get("comments", type=Array).append(_comment("sneaky"))
        d.get("files", type=Map)["a.py"].insert(0, "#")

    assert comments_only(_update_from(room, both), room) is None


def test_comments_only_drops_pending_structs() -> None:
    """An update held back as pending (its dependency unsent) must not integrate later."""
    room = _room()
    client: Doc = Doc()
    client.apply_update(room.get_update())
    s0 = client.get_state()
    client.get("comments", type=Array).append(_comment("one"))
    s1 = client.get_state()
    first = client.get_update(s0)
    client.get("files", type=Map)["a.py"].insert(0, "#")
    second = client.get_update(s1)
    assert comments_only(second, room) is None  # pending: refused whole, nothing kept
    accepted = comments_only(first, room)
    assert accepted is not None
    room.apply_update(accepted)
    assert [dict(m)["body"] for m in room.get("comments", type=Array)] == ["first", "one"]
    assert str(room.get("files", type=Map)["a.py"]) == "print(1)\n"


ROLES = [Role.OWNER, Role.EDITOR, Role.COMMENTER, Role.VIEWER]


@pytest.mark.parametrize("role", ROLES)
def test_authorize_table(role: Role) -> None:
    p = Principal(id="x", name="x", role=role, session="s1")
    expected = {
        Action.READ: True,
        Action.EDIT_DOC: role in (Role.OWNER, Role.EDITOR),
        Action.COMMENT: role != Role.VIEWER,
        Action.TYPE_TERMINAL: role in (Role.OWNER, Role.EDITOR),
        Action.START_TERMINAL: role in (Role.OWNER, Role.EDITOR),
        Action.SHARE_SCREEN: role in (Role.OWNER, Role.EDITOR),
        Action.MANAGE: role == Role.OWNER,
    }
    assert set(expected) == set(ALLOWED)
    for action, allowed in expected.items():
        assert authorize(p, "s1", action) is allowed
        assert authorize(p, "s2", action) is False  # a role holds in its own session only
    assert authorize(None, "s1", Action.READ) is False


def test_origin() -> None:
    def h(**kv: str) -> Headers:
        return Headers(kv)

    assert origin_allowed(h(host="a:8000"), None)  # no Origin: a script
    assert origin_allowed(h(host="a:8000", origin="http://a:8000"), None)
    assert not origin_allowed(h(host="a:8000", origin="http://evil:8000"), None)
    assert not origin_allowed(h(host="a:8000", origin="null"), None)
    assert origin_allowed(h(host="internal:8000", origin="https://tandem.example"), "https://tandem.example/")
    assert not origin_allowed(
        h(host="internal:8000", origin="http://internal:8000"), "https://tandem.example"
    )


def test_durations() -> None:
    assert parse_duration("2h") == 7200 and parse_duration("7d") == 7 * 86400 and parse_duration("90s") == 90
    for bad in ("", "2", "h", "-1h", "0m", "2 hours"):
        with pytest.raises(InvalidInputError):
            parse_duration(bad)


@pytest.mark.anyio
async def test_rate_limiter_counts_before_the_check_and_a_success_gives_back() -> None:
    limiter = LoginRateLimiter(Windows(MemoryStorage(), max_entries=6), 2, 60, ip_max_attempts=3)
    await limiter.attempt("k", "ip1")
    await limiter.attempt("k", "ip1")  # two counted (failed) attempts
    with pytest.raises(RateLimitedError):
        await limiter.attempt("k", "ip1")
    ticket = await limiter.attempt("k", "ip2")  # another address has its own budget for "k"
    await limiter.succeeded(ticket, "k", "ip2")  # ...and a success takes its attempt back
    await limiter.attempt("j", "ip2")
    await limiter.attempt("l", "ip2")
    await limiter.attempt("m", "ip2")
    with pytest.raises(RateLimitedError, match="from your address"):  # spraying usernames
        await limiter.attempt("n", "ip2")
    for i in range(10):  # bounded memory
        await limiter.attempt(f"other-{i}", f"ip-{i}")
    assert len(limiter.windows) == 6


def test_folded_names_catch_lookalikes() -> None:
    same = ["alice", "Alice", "ALICE", "aIice", "a1ice", "al.ice", "\u0430lice", "ali\u200bce", "\u00c1lice"]
    assert {fold(n) for n in same} == {fold("alice")}
    assert fold("\uff21\uff2c\uff29\uff23\uff25") == fold("alice")  # fullwidth, NFKC
    assert fold("rnallory") == fold("mallory")
    assert len({fold(n) for n in ["alice", "bob", "carol", "alicia", "Bob Smith"]}) == 5


def test_passwords() -> None:
    h = hash_password("hunter2hunter2")
    assert h.startswith("$argon2id$") and "hunter2" not in h
    assert verify_password(h, "hunter2hunter2") and not verify_password(h, "nope")
    assert not verify_password(None, "anything")


def test_ids_and_tokens_never_start_like_a_cli_option() -> None:
    # 2,000 draws: with a plain token_urlsafe about 1 in 32 starts with "-" or "_".
    values = [new_id() for _ in range(1000)] + [new_token() for _ in range(1000)]
    assert all(v[0].isalnum() for v in values)
    assert len(set(values)) == len(values)
    assert {len(new_id()), len(new_token())} == {16, 43}


def test_accounts_from_before_name_keys_still_block_lookalikes() -> None:
    from sqlmodel import Session, SQLModel, create_engine

    from backend.access import accounts
    from backend.access.models import Account

    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as db:
        # Two old accounts that fold alike (allowed before): both stay, lookups still work.
        for account_id, name in (("a1", "alice"), ("a2", "Alice"), ("a3", "bob")):
            db.add(Account(id=account_id, username=name, password_hash="x"))
        db.commit()
        assert accounts.name_taken_by(db, "ALICE") == "alice"
        assert accounts.name_taken_by(db, "b0b") == "bob"
        assert accounts.name_taken_by(db, "carol") is None
