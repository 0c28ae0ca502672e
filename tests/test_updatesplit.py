"""`backend.rooms.updatesplit`: a Yjs v1 update cut into bounded pieces, checked as a property over
seeded random documents (several writers, concurrent edits, deletions, every content type the
room uses and more) against pycrdt itself and against Yjs in Node: the pieces applied in order,
shuffled, or merged give the same document as the whole update."""

from __future__ import annotations

import base64
import json
import random
import subprocess

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText, merge_updates

from backend.errors import ProtocolError
from backend.rooms.durability import delete_set_of
from backend.rooms.protocol import StrictDecoder
from backend.rooms.updatesplit import split_update
from tests.nodeclient import NODE_DIR
from tests.pyclient import decode_state_vector

WORDS = ["def ", "x", "é", "😀", "\n", "    return 1\n", "日本", "a" * 40, "\t", "🧑‍💻"]
SEEDS = range(40)


def _value(rng: random.Random) -> object:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randrange(-(2**40), 2**40)
    if kind == 1:
        return rng.random() * 1e6
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice(WORDS) * rng.randrange(1, 4)
    if kind == 4:
        return {"k": [1, {"z": None, "s": "é"}], "n": rng.randrange(100)}
    if kind == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
    return [rng.randrange(10), "t", 2.5]


def _edit(doc: Doc, rng: random.Random) -> None:
    files = doc.get("files", type=Map)
    with doc.transaction():
        op = rng.randrange(10)
        keys = sorted(files.keys())
        if op < 2 or not keys:
            words = [rng.choice(WORDS) for _ in range(rng.randrange(1, 8))]
            files[f"src/f{rng.randrange(30)}.py"] = Text("".join(words))
        elif op < 6:
            text = files[rng.choice(keys)]
            if isinstance(text, Text):
                n = len(str(text).encode("utf-16-le")) // 2
                if rng.random() < 0.6 or n == 0:
                    _insert(text, rng)
                else:
                    _delete(text, rng)
        elif op == 6:
            del files[rng.choice(keys)]
        elif op == 7:
            items = doc.get("list", type=Array)
            items.append(_value(rng))
            if len(items) > 3 and rng.random() < 0.3:
                del items[rng.randrange(len(items))]
        elif op == 8:
            doc.get("meta", type=Map)[rng.choice(["title", "main", "n"])] = _value(rng)
        else:
            frag = doc.get("xml", type=XmlFragment)
            frag.children.append(XmlElement("p", {"class": "c"}, [XmlText(rng.choice(WORDS))]))


def _insert(text: Text, rng: random.Random) -> None:
    # pycrdt indexes Text by UTF-8 bytes here; insert at a character boundary.
    content = str(text)
    at = rng.randrange(len(content) + 1)
    text.insert(len(content[:at].encode()), rng.choice(WORDS))


def _delete(text: Text, rng: random.Random) -> None:
    content = str(text)
    if not content:
        return
    start = rng.randrange(len(content))
    end = min(len(content), start + rng.randrange(1, 6))
    a, b = len(content[:start].encode()), len(content[:end].encode())
    del text[a:b]


def _random_doc(seed: int) -> tuple[Doc, bytes]:
    """Three writers editing concurrently, syncing now and then; returns one doc and its whole
    state from the middle of its history (to cut diffs as well as whole states)."""
    rng = random.Random(seed)
    docs = [Doc(client_id=rng.randrange(1, 2**31)) for _ in range(3)]
    middle = b""
    for step in range(rng.randrange(20, 120)):
        _edit(rng.choice(docs), rng)
        if rng.random() < 0.3:
            a, b = rng.sample(docs, 2)
            b.apply_update(a.get_update(b.get_state()))
        if step == 15:
            middle = docs[0].get_update()
    for a in docs:
        for b in docs:
            b.apply_update(a.get_update(b.get_state()))
    return docs[0], middle


def _content(doc: Doc) -> dict[str, object]:
    return {
        "files": {k: str(v) for k, v in doc.get("files", type=Map).items()},
        "list": doc.get("list", type=Array).to_py(),
        "meta": doc.get("meta", type=Map).to_py(),
        "xml": str(doc.get("xml", type=XmlFragment)),
        "state": decode_state_vector(doc.get_state()),
        "deletes": delete_set_of(doc.get_update(doc.get_state())),
    }


def _one_struct(piece: bytes) -> bool:
    """A piece holding a single struct (one longer than the budget may travel alone)."""
    decoder = StrictDecoder(piece)
    return decoder.read_var_uint() == 1 and decoder.read_var_uint() == 1


def _applied(pieces: list[bytes], base: bytes | None = None) -> Doc:
    doc = Doc()
    if base is not None:
        doc.apply_update(base)
    for piece in pieces:
        doc.apply_update(piece)
    return doc


@pytest.mark.parametrize("seed", SEEDS)
def test_pieces_rebuild_the_document(seed: int) -> None:
    doc, middle = _random_doc(seed)
    whole = doc.get_update()
    want = _content(doc)
    for max_bytes in (96, 200, 700, max(96, len(whole) // 3)):
        pieces = split_update(whole, max_bytes)
        sizes = [len(p) for p in pieces]
        assert all(len(p) <= max_bytes or _one_struct(p) for p in pieces), (max_bytes, sizes)
        assert len(pieces) >= len(whole) // max_bytes  # it did cut
        assert _content(_applied(pieces)) == want
        assert _content(_applied([merge_updates(*pieces)])) == want
    # A diff against an older state (a reconnecting client): its pieces complete that state.
    older = _applied([middle])
    diff = doc.get_update(older.get_state())
    assert _content(_applied(split_update(diff, 128), middle)) == want


def test_a_struct_over_the_budget_travels_alone() -> None:
    doc = Doc()
    files = doc.get("files", type=Map)
    files["small.py"] = Text("x = 1\n")
    files["big.py"] = Text("y" * 5000)
    files["other.py"] = Text("z = 2\n")
    pieces = split_update(doc.get_update(), 1000)
    assert max(len(p) for p in pieces) > 5000 and sum(len(p) > 1000 for p in pieces) == 1
    assert _content(_applied(pieces)) == _content(doc)


def test_small_updates_are_returned_as_they_are() -> None:
    doc = Doc()
    doc.get("files", type=Map)["a.py"] = Text("a")
    update = doc.get_update()
    assert split_update(update, 1 << 20) == [update]


def test_a_truncated_update_is_refused() -> None:
    doc = Doc()
    doc.get("files", type=Map)["a.py"] = Text("a" * 500)
    update = doc.get_update()
    with pytest.raises(ProtocolError):
        split_update(update[:-300], 100)


def test_yjs_applies_the_pieces_to_the_same_document() -> None:
    """The official Yjs: each seed's pieces applied in Node, in order and shuffled (each piece is
    a valid update on its own; Yjs holds what it cannot place yet), equal pycrdt's document."""
    cases = []
    for seed in range(0, 40, 2):
        doc, _ = _random_doc(seed)
        pieces = split_update(doc.get_update(), 150)
        if seed % 4:
            random.Random(seed).shuffle(pieces)
        cases.append(
            {
                "pieces": [base64.b64encode(p).decode() for p in pieces],
                "files": {k: str(v) for k, v in doc.get("files", type=Map).items()},
                "sv": decode_state_vector(doc.get_state()),
            }
        )
    proc = subprocess.run(
        ["node", str(NODE_DIR / "apply_pieces.mjs")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(cases)
    for case, result in zip(cases, results, strict=True):
        assert result["pending"] is False
        assert result["files"] == case["files"]
        assert decode_state_vector(base64.b64decode(result["sv"])) == case["sv"]


def test_the_pages_cutter_makes_the_same_pieces() -> None:
    """web/src/lib/updatesplit.js (the page cuts what it sends) against the Python cutter: the
    same bytes for the same update, so the property above holds for it too."""
    updates = [_random_doc(seed)[0].get_update() for seed in range(0, 40, 3)]
    for max_bytes in (96, 700):
        proc = subprocess.run(
            ["node", str(NODE_DIR / "split_js.mjs")],
            input=json.dumps(
                {"max_bytes": max_bytes, "updates": [base64.b64encode(u).decode() for u in updates]}
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        pieces = json.loads(proc.stdout)
        for update, js in zip(updates, pieces, strict=True):
            assert [base64.b64decode(p) for p in js] == split_update(update, max_bytes)
