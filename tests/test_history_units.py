"""Version history without a server: the state key, and the store's one-row-per-state merge
(on SQLite; the same against PostgreSQL from two nodes is tests/test_history_scaleout.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pycrdt import Doc, Map, Text

from backend.errors import HistoryChainError
from backend.history.docfiles import files_of
from backend.history.pruning import RowMeta, plan
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


def _doc_with(files: dict[str, str]) -> Doc:
    doc = Doc()
    fmap = doc.get("files", type=Map)
    for path, text in files.items():
        fmap[path] = Text(text)
    return doc


def _big(i: int) -> str:
    return f"line {i} of a file that makes the document large enough to matter\n" * 400


def test_versions_are_deltas_on_a_checkpoint_and_decode_exactly(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    create_tables(engine)
    store = HistoryStore(engine, max_versions=100)
    doc = _doc_with({f"f{i}.txt": _big(i) for i in range(20)})  # ~0.5 MB
    first, _ = store.add("s", doc.get_update(), state=state_key(doc), kind="auto", authors=[], files=[])
    base, sv, expected = first, doc.get_state(), {first.id: files_of(doc)}
    rows = [first]
    for step in range(5):
        text = doc.get("files", type=Map)[f"f{step}.txt"]
        text.insert(0, f"edit {step}\n")
        delta = doc.get_update(sv)
        row, created = store.add(
            "s",
            delta,
            state=state_key(doc),
            kind="auto",
            authors=[],
            files=[f"f{step}.txt"],
            base_id=base.id,
            depth=step + 1,
            chain_bytes=len(delta),
        )
        assert created and row.base_id == base.id and row.nbytes == len(delta) < 200
        expected[row.id] = files_of(doc)
        base, sv = row, doc.get_state()
        rows.append(row)
    for row in rows:  # every version decodes to exactly its files, through its chain
        assert store.files_at(store.get("s", row.id)) == expected[row.id]  # type: ignore[arg-type]
    last = store.get("s", rows[-1].id)
    assert last is not None
    rebuilt = Doc()
    rebuilt.apply_update(store.full_update(last))
    assert files_of(rebuilt) == expected[last.id]
    # The table holds one copy of the document plus a few hundred bytes, not six copies.
    assert store.total_bytes("s") < len(first.data) + 1000
    head = store.head("s")
    assert head is not None and (head.id, head.depth) == (rows[-1].id, 5)
    with pytest.raises(HistoryChainError):  # a delta on a version that is gone is refused
        store.add("s", b"\x00\x00", state="x", kind="auto", authors=[], files=[], base_id=999_999)
    engine.dispose()


def test_the_size_cap_prunes_the_oldest_and_rebases_what_stays(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    create_tables(engine)
    doc = _doc_with({f"f{i}.txt": _big(i) for i in range(4)})
    size = len(doc.get_update())
    store = HistoryStore(engine, max_versions=1000, max_bytes=int(size * 2.5))
    expected: dict[int, dict[str, str]] = {}
    base_id: int | None = None
    sv = b""
    for step in range(40):
        text = doc.get("files", type=Map)[f"f{step % 4}.txt"]
        text.insert(0, f"edit {step}\n")
        checkpoint = step % 10 == 0  # a checkpoint every 10 versions
        data = doc.get_update() if checkpoint else doc.get_update(sv)
        row, _ = store.add(
            "s",
            data,
            state=state_key(doc),
            kind="manual" if step == 1 else "auto",
            authors=[],
            files=[],
            base_id=None if checkpoint else base_id,
            depth=0 if checkpoint else step % 10,
        )
        assert row.id is not None
        expected[row.id] = files_of(doc)
        base_id, sv = row.id, doc.get_state()
        assert store.total_bytes("s") <= int(size * 2.5) + size  # within a checkpoint of the cap
    kept = store.list("s", 100)
    kept_ids = {v.id for v in kept}
    assert set(sorted(expected)[-8:]) <= kept_ids  # the newest versions are never pruned
    assert len(kept) < 40 and max(kept_ids) == max(expected)
    for version in kept:  # everything left still decodes to its own files
        row = store.get("s", version.id)
        assert row is not None and store.files_at(row) == expected[version.id]
    engine.dispose()


def test_prune_plan_takes_a_checkpoint_with_its_deltas_instead_of_rebasing_each() -> None:
    rows = [RowMeta(1, "auto", None, 1000)]
    rows += [RowMeta(i, "auto", i - 1, 10) for i in range(2, 6)]  # deltas 2..5 on 1
    rows += [RowMeta(6, "auto", None, 1000)] + [RowMeta(i, "auto", i - 1, 10) for i in range(7, 10)]
    todo = plan(rows, max_versions=100, max_bytes=1100, keep_newest=2)
    assert todo.victims == [1, 2, 3, 4, 5] and todo.rebase == []
    # Only a few versions over the count: the oldest deltas go, the survivor becomes a checkpoint.
    rows2 = [RowMeta(1, "auto", None, 1000)] + [RowMeta(i, "auto", i - 1, 10) for i in range(2, 6)]
    todo = plan(rows2, max_versions=4, max_bytes=10**9, keep_newest=2)
    assert todo.victims == [1] and todo.rebase == [2]
    # Manual versions and restores go last.
    rows3 = [RowMeta(1, "manual", None, 10), RowMeta(2, "auto", None, 10), RowMeta(3, "auto", None, 10)]
    assert plan(rows3, max_versions=2, max_bytes=10**9, keep_newest=1).victims == [2]


def test_full_copies_from_before_deltas_read_as_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _doc_with({"a.py": "print('old')\n"})
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE session_version (id INTEGER PRIMARY KEY, session VARCHAR(512) NOT NULL,"
            " created_at DATETIME NOT NULL, kind VARCHAR(16) NOT NULL, data BLOB NOT NULL,"
            " authors TEXT NOT NULL, files TEXT NOT NULL, note VARCHAR(500) NOT NULL, state VARCHAR(64))"
        )
        conn.execute(
            "INSERT INTO session_version VALUES (1, 's', '2026-01-01', 'auto', ?, '[]', '[]', '', ?)",
            (old.get_update(), state_key(old)),
        )
    engine = make_engine(f"sqlite:///{path}")
    create_tables(engine)
    store = HistoryStore(engine, max_versions=100)
    row = store.get("s", 1)
    assert row is not None and row.base_id is None and row.nbytes is None
    assert store.files_at(row) == {"a.py": "print('old')\n"}
    assert store.total_bytes("s") == len(old.get_update())
    sv = old.get_state()
    text = old.get("files", type=Map)["a.py"]
    text.insert(len(text), "print('new')\n")
    delta, _ = store.add(
        "s",
        old.get_update(sv),
        state=state_key(old),
        kind="auto",
        authors=[],
        files=["a.py"],
        base_id=1,
        depth=1,
    )
    assert store.files_at(delta) == {"a.py": "print('old')\nprint('new')\n"}
    engine.dispose()
