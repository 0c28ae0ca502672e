"""In-process checks of the room's update guard: comment rules, edit-id ownership, and cost.

The end-to-end attacks against a real server are in `test_hardening_yjs.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from backend.access.comment_policy import Actor, CommentRefusedError
from backend.access.comments_only import CommentGuard
from backend.rooms.clientids import ClientIdRegistry

OWNER = Actor("u-owner", "Olga", "#111111", moderator=True, comments_only=False)
EDITOR = Actor("u-ed", "Eve", "#222222", moderator=True, comments_only=False)
CAROL = Actor("guest-c", "Carol", "#333333", moderator=False, comments_only=True)
DAVE = Actor("guest-d", "Dave", "#444444", moderator=False, comments_only=True)


def key(actor: Actor) -> tuple[str, str]:
    return ("user", actor.id)


def author(actor: Actor) -> dict[str, str]:
    return {"id": actor.id, "name": actor.name, "color": actor.color}


def thread(actor: Actor, text: str, **extra: Any) -> Map:
    fields = {"id": text, "file": "a.py", "author": author(actor), "body": text}
    fields |= {"createdAt": time.time() * 1000, "resolved": False, "replies": Array()}
    return Map(fields | extra)


class Room:
    """A doc with the guard wired as `backend.rooms.room.Room` wires it."""

    def __init__(self) -> None:
        self.doc: Doc = Doc()
        self.doc.get("files", type=Map)["a.py"] = Text("print(1)\n" * 10)
        self.ids = ClientIdRegistry(hold_seconds=60)
        self.guard = CommentGuard(self.doc, self.ids)
        self.doc.observe(lambda event: self.guard.applied(event.update))

    def client(self, actor: Actor, client_id: int | None = None) -> Doc:
        """A fresh replica (a refused change must not linger in the next one)."""
        doc = Doc() if client_id is None else Doc(client_id=client_id)
        doc.apply_update(self.doc.get_update())
        return doc

    def send(self, actor: Actor, change: Callable[[Doc], None], client_id: int | None = None) -> bool:
        doc = self.client(actor, client_id)
        before = doc.get_state()
        change(doc)
        update = doc.get_update(before)
        try:
            self.guard.check(update, actor, key(actor))
        except CommentRefusedError:
            return False
        self.doc.apply_update(update)
        return True

    def comments(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.doc.get("comments", type=Array)]


def comments(doc: Doc) -> Array:
    return doc.get("comments", type=Array)


def test_threads_and_replies_as_oneself() -> None:
    room = Room()
    assert room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "hi")))
    assert room.send(DAVE, lambda d: comments(d)[0]["replies"].append(Map(_reply(DAVE, "yes"))))
    assert room.send(EDITOR, lambda d: comments(d).append(thread(EDITOR, "editor's")))
    assert [c["body"] for c in room.comments()] == ["hi", "editor's"]
    assert dict(room.comments()[0]["replies"][0])["body"] == "yes"


def _reply(actor: Actor, body: str, **extra: Any) -> dict[str, Any]:
    return {"id": body, "author": author(actor), "body": body, "createdAt": time.time() * 1000} | extra


@pytest.mark.parametrize(
    "bad",
    [
        {"author": {"id": "u-owner", "name": "Olga", "color": "#111111"}},  # someone else
        {"author": {"id": "guest-c", "name": "alice", "color": "#333333"}},  # another name
        {"createdAt": "not-a-date"},
        {"createdAt": 0},
        {"createdAt": time.time() * 1000 + 3600_000},
        {"body": 42},
        {"resolved": "yes"},
        {"extra": "field"},
    ],
)
def test_forged_or_malformed_comments_are_refused(bad: dict[str, Any]) -> None:
    room = Room()
    assert not room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "x", **bad)))
    assert not room.send(CAROL, lambda d: comments(d).append(Map({"body": "no author"})))
    assert room.comments() == []


def test_editors_forge_no_authors_either() -> None:
    room = Room()
    assert not room.send(EDITOR, lambda d: comments(d).append(thread(EDITOR, "x", author=author(OWNER))))
    assert room.send(EDITOR, lambda d: d.get("files", type=Map)["a.py"].insert(0, "# ok\n"))


def test_who_may_edit_resolve_and_delete() -> None:
    room = Room()
    assert room.send(OWNER, lambda d: comments(d).append(thread(OWNER, "owner's")))
    assert room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "carol's")))
    assert room.send(DAVE, lambda d: comments(d)[1]["replies"].append(Map(_reply(DAVE, "dave's reply"))))

    def setter(i: int, k: str, v: Any) -> Callable[[Doc], None]:
        return lambda d: comments(d)[i].__setitem__(k, v)

    # Carol: edits and resolves her own thread, not the owner's; deletes only her own.
    assert not room.send(CAROL, setter(0, "body", "rewritten"))
    assert not room.send(CAROL, setter(0, "resolved", True))
    assert not room.send(CAROL, lambda d: comments(d).__delitem__(0))
    assert not room.send(CAROL, setter(1, "author", author(DAVE)))
    assert not room.send(CAROL, setter(1, "createdAt", time.time() * 1000))
    assert room.send(CAROL, setter(1, "body", "carol's, edited"))
    assert room.send(CAROL, setter(1, "resolved", True))
    # Dave may not delete Carol's thread, nor edit it; the editor may resolve and delete any.
    assert not room.send(DAVE, lambda d: comments(d).__delitem__(1))
    assert not room.send(DAVE, setter(1, "body", "dave was here"))
    assert room.send(EDITOR, setter(0, "resolved", True))
    assert not room.send(EDITOR, setter(0, "body", "editor rewrote the owner"))
    assert room.send(CAROL, lambda d: comments(d).__delitem__(1))  # her thread, with Dave's reply
    assert [c["body"] for c in room.comments()] == ["owner's"]
    assert room.send(EDITOR, lambda d: comments(d).__delitem__(0))
    assert room.comments() == []


def test_a_commenter_never_writes_under_another_client_id() -> None:
    """Finding 5: items in an editor's id range would make the editor's next edit vanish."""
    room = Room()
    editor_id = 4242
    assert room.send(EDITOR, lambda d: d.get("files", type=Map)["a.py"].insert(0, "#"), client_id=editor_id)
    assert not room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "x")), client_id=editor_id)
    # Nor an id that is only present (in awareness), nor one some earlier, unknown writer used.
    room.ids.note_present(777, key(DAVE))
    assert not room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "x")), client_id=777)
    assert room.send(EDITOR, lambda d: d.get("files", type=Map)["a.py"].insert(0, "#"), client_id=editor_id)
    assert str(room.doc.get("files", type=Map)["a.py"]).startswith("##")
    assert room.comments() == []


def test_a_resync_resends_the_whole_delete_set_harmlessly() -> None:
    room = Room()
    carol = room.client(CAROL)
    assert room.send(EDITOR, lambda d: d.get("files", type=Map)["a.py"].__delitem__(slice(0, 5)))
    carol.apply_update(room.doc.get_update(carol.get_state()))
    comments(carol).append(thread(CAROL, "after a resync"))
    # y-websocket's sync step 2: the new structs and the doc's whole delete set.
    update = carol.get_update(room.doc.get_state())
    room.guard.check(update, CAROL, key(CAROL))
    # A deletion not yet made is refused.
    del carol.get("files", type=Map)["a.py"][0:1]
    with pytest.raises(CommentRefusedError):
        room.guard.check(carol.get_update(room.doc.get_state()), CAROL, key(CAROL))


class CountingDoc:
    """A doc that counts full-state reads (the old filter read the whole doc per update)."""

    def __init__(self, doc: Doc) -> None:
        self._doc = doc
        self.full_reads = 0

    def get_state(self) -> bytes:
        return self._doc.get_state()

    def get_update(self, state: bytes | None = None) -> bytes:
        if state is None:
            self.full_reads += 1
            return self._doc.get_update()
        return self._doc.get_update(state)


def test_checking_a_comment_never_reads_the_whole_document() -> None:
    """Finding 6: the check works on the update (and the index), not on a copy of the doc."""
    doc: Doc = Doc()
    doc.get("files", type=Map)["big.txt"] = Text("x" * 1_000_000)
    counting = CountingDoc(doc)
    guard = CommentGuard(counting, ClientIdRegistry(60))  # type: ignore[arg-type]
    doc.observe(lambda event: guard.applied(event.update))
    assert counting.full_reads == 1  # the index is built once, at load
    client: Doc = Doc()
    client.apply_update(doc.get_update())
    for n in range(20):
        before = client.get_state()
        comments(client).append(thread(CAROL, f"c{n}"))
        update = client.get_update(before)
        guard.check(update, CAROL, key(CAROL))
        doc.apply_update(update)
    assert counting.full_reads == 1
    assert len(comments(doc)) == 20


def test_an_editor_may_resend_someone_elses_edits() -> None:
    """After a crash lost unpersisted updates, a page's sync re-sends everyone's: editors may."""
    room = Room()
    assert room.send(EDITOR, lambda d: d.get("files", type=Map)["a.py"].insert(0, "#"), client_id=99)
    assert room.send(OWNER, lambda d: d.get("files", type=Map)["a.py"].insert(0, "!"), client_id=99)
    assert not room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "x")), client_id=99)
    assert len(room.guard.index) == 0


def test_a_commenters_own_id_is_recognised_after_a_reload() -> None:
    """A server restart forgets who wrote what; the page keeps its client id. Its comments say it."""
    room = Room()
    assert room.send(CAROL, lambda d: comments(d).append(thread(CAROL, "before")), client_id=555)
    assert room.send(EDITOR, lambda d: d.get("files", type=Map)["a.py"].insert(0, "#"), client_id=556)
    reloaded = Room.__new__(Room)
    reloaded.doc = Doc()
    reloaded.doc.apply_update(room.doc.get_update())
    reloaded.ids = ClientIdRegistry(hold_seconds=60)
    reloaded.guard = CommentGuard(reloaded.doc, reloaded.ids)
    reloaded.doc.observe(lambda event: reloaded.guard.applied(event.update))
    assert reloaded.send(CAROL, lambda d: comments(d).append(thread(CAROL, "after")), client_id=555)
    assert not reloaded.send(DAVE, lambda d: comments(d).append(thread(DAVE, "not mine")), client_id=555)
    assert not reloaded.send(CAROL, lambda d: comments(d).append(thread(CAROL, "editor's")), client_id=556)
    assert [c["body"] for c in reloaded.comments()] == ["before", "after"]
