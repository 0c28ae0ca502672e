"""Outside `backend.rooms`, a `Room` is used through its public API only (issue #16).

The room's own state is underscore-private; what other packages may use is its methods and the
public attributes listed here. The test reads the source (AST): it fails when code outside
`backend/rooms` reaches a private attribute of `Room` (`room._clients`, `entry.room._pins`...),
and when `Room` gains a public attribute nobody decided to expose.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

# Public attributes (set in `Room.__init__`): read by the metrics (counters, `writer`), the history
# (`doc`, `name`) and tests (`link`); written only inside `backend/rooms`.
PUBLIC_FIELDS = {
    "name",
    "doc",
    "node_id",
    "writer",
    "link",
    "messages_in",
    "messages_out",
    "updates_refused",
    "fanout_histogram",
    "sync_message_max_bytes",
}
# Of those, the ones only `backend/rooms` writes (the others are plain names used elsewhere too).
ROOMS_WRITE_ONLY = PUBLIC_FIELDS - {"name", "doc", "node_id"}


def room_class() -> ast.ClassDef:
    tree = ast.parse((ROOT / "backend/rooms/room.py").read_text())
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Room")


def instance_fields() -> set[str]:
    init = next(n for n in room_class().body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return {
        target.attr
        for node in ast.walk(init)
        for target in (node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }


def private_names() -> set[str]:
    methods = {n.name for n in room_class().body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return {n for n in instance_fields() | methods if n.startswith("_") and not n.startswith("__")}


def outside_sources() -> list[Path]:
    paths = [p for pkg in ("backend", "sandbox", "signaling") for p in (ROOT / pkg).rglob("*.py")]
    return sorted(p for p in paths if "backend/rooms" not in p.relative_to(ROOT).as_posix())


def reaches(source: str, where: str, private: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if not isinstance(node, ast.Attribute):
            continue
        receiver = node.value.id if isinstance(node.value, ast.Name) else None
        if receiver in ("self", "cls"):
            continue
        writing = isinstance(node.ctx, ast.Store | ast.Del)
        if node.attr in private or (writing and node.attr in ROOMS_WRITE_ONLY):
            found.append(f"{where}:{node.lineno}: .{node.attr}")
    return found


def test_the_rooms_public_attributes_are_the_listed_ones() -> None:
    public = {n for n in instance_fields() if not n.startswith("_")}
    assert public == PUBLIC_FIELDS


def test_no_module_outside_rooms_reaches_into_a_room() -> None:
    private = private_names()
    assert {"_clients", "_awareness", "_pins", "_listeners", "_applying"} <= private
    found = [
        hit
        for path in outside_sources()
        for hit in reaches(path.read_text(), str(path.relative_to(ROOT)), private)
    ]
    assert not found, "\n".join(found)


def test_the_check_catches_a_reach() -> None:
    source = "def f(entry):\n    entry.room._pins += 1\n    entry.room.writer = None\n    self._pins = 0\n"
    assert reaches(source, "sample.py", private_names()) == ["sample.py:2: ._pins", "sample.py:3: .writer"]
