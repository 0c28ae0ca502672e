"""Version history without a server: the state key, and the store's one-row-per-state merge
(on SQLite; the same against PostgreSQL from two nodes is tests/test_history_scaleout.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pycrdt import Doc, Map, Text

from backend.history.statekey import _merged, state_key
from backend.history.store import HistoryStore
from backend.store.database import create_tables, make_engine


def edits(doc: Doc, *steps: tuple[str, int, str]) -> list[bytes]:
    """Apply ("ins"|"del", index, text) steps to files["a"], one update each."""
    text = doc.get("files", type=Map)["a"]
    out = []
    for op, index, value in steps:
        before = doc.get_state()
        if op == "ins":
            text.insert(index, value)
        else:
            del text[index : index + len(value)]
        out.append(doc.get_update(before))
    return out


def test_state_key_is_the_state_not_the_text_nor_the_arrival_order() -> None:
    origin = Doc()
    origin.get("files", type=Map)["a"] = Text("hello world")
    base = origin.get_update()
    left, right = Doc(), Doc()
    left.apply_update(base)
    right.apply_update(base)
    from_left = edits(left, ("ins", 0, "A "), ("del", 2, "hello"))
    from_right = edits(right, ("ins", 11, "!"), ("del", 5, " "))
    one, two = Doc(), Doc()
    for update in [base, *from_left, *from_right]:
        one.apply_update(update)
    for update in [base, *from_right, *from_left]:
        two.apply_update(update)
    assert str(one.get("files", type=Map)["a"]) == str(two.get("files", type=Map)["a"])
    assert state_key(one) == state_key(two)
    # A pure deletion moves no clock but is a new state; typing the same text back is another one.
    before = state_key(one)
    edits(one, ("del", 0, "A"))
    deleted = state_key(one)
    edits(one, ("ins", 0, "A"))
    assert len({before, deleted, state_key(one)}) == 3


def test_delete_ranges_are_merged_before_hashing() -> None:
    assert _merged([(5, 2), (0, 3), (3, 2), (9, 0), (6, 4)]) == [(0, 10)]
    assert _merged([(4, 1), (0, 2)]) == [(0, 2), (4, 1)]


def test_one_row_per_state_merges_authors_and_keeps_the_strongest_kind(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    create_tables(engine)
    store = HistoryStore(engine, max_versions=100)
    alice, bob = {"id": "u1", "name": "Alice"}, {"id": "u2", "name": "Bob"}
    first, created = store.add("s", b"\x00\x00", state="k1", kind="auto", authors=[alice], files=["a"])
    assert created
    again, created = store.add(
        "s", b"\x00\x00", state="k1", kind="manual", authors=[bob], files=[], note="cp"
    )
    assert not created and again.id == first.id
    assert (again.kind, again.note, again.files) == ("manual", "cp", '["a"]')
    assert again.authors == '[{"id":"u1","name":"Alice"},{"id":"u2","name":"Bob"}]'
    weaker, _ = store.add("s", b"\x00\x00", state="k1", kind="auto", authors=[alice], files=[])
    assert (weaker.kind, weaker.authors) == ("manual", again.authors)
    other, created = store.add("s", b"\x00\x00", state="k2", kind="auto", authors=[], files=[])
    assert created and other.id != first.id
    assert [v.id for v in store.list("s", 10)] == [other.id, first.id]
    assert store.head("s") is not None and store.head("s").id == other.id  # type: ignore[union-attr]
    engine.dispose()


def test_a_database_from_before_state_keys_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE session_version (id INTEGER PRIMARY KEY, session VARCHAR(512) NOT NULL,"
            " created_at DATETIME NOT NULL, kind VARCHAR(16) NOT NULL, data BLOB NOT NULL,"
            " authors TEXT NOT NULL, files TEXT NOT NULL, note VARCHAR(500) NOT NULL)"
        )
        conn.execute(
            "INSERT INTO session_version VALUES (1, 's', '2026-01-01', 'auto', x'0000', '[]', '[]', '')"
        )
    engine = make_engine(f"sqlite:///{path}")
    create_tables(engine)
    create_tables(engine)  # idempotent
    store = HistoryStore(engine, max_versions=100)
    assert store.add("s", b"\x00\x00", state="k", kind="auto", authors=[], files=[])[1]
    assert not store.add("s", b"\x00\x00", state="k", kind="auto", authors=[], files=[])[1]
    assert [v.id for v in store.list("s", 10)][-1] == 1  # the old row is still there
    engine.dispose()
