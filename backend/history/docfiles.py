"""The `files` map of a session's document: read it, compare it, and restore it as a new change.

A restore never rewrites history: it computes, per file, the minimal edits from the current
`Y.Text` to the old content (`sandbox.filesync.textdiff`) and applies them in one transaction on
the live doc, so every open client receives an ordinary update and converges, cursors outside the
changed spans stay put, and the previous state stays in the log and in the history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pycrdt import Doc, Map, Text

from backend.rooms.origin import Origin
from sandbox.filesync.textdiff import apply_edits, diff

FILES = "files"


def files_of(doc: Doc) -> dict[str, str]:
    """Every text file of the document: path -> content."""
    files = doc.get(FILES, type=Map)
    return {str(path): str(value) for path, value in files.items() if isinstance(value, Text)}


def decode(update: bytes) -> dict[str, str]:
    """The files of a stored version (`doc.get_update()` bytes)."""
    doc: Doc = Doc()
    if update:
        doc.apply_update(update)
    return files_of(doc)


def fingerprints(files: dict[str, str]) -> dict[str, str]:
    """Content hashes, to tell which files changed between versions without keeping the texts."""
    return {path: hashlib.blake2b(text.encode(), digest_size=16).hexdigest() for path, text in files.items()}


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths added, removed or changed between two fingerprint maps."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def restore(doc: Doc, old: dict[str, str], paths: Iterable[str] | None, origin: Origin) -> list[str]:
    """Make the given paths (None: every file) match `old`, in one transaction; return what changed.

    A path absent from `old` is removed from the document; one absent from the document is created.
    """
    files = doc.get(FILES, type=Map)
    current = files_of(doc)
    targets = sorted(set(paths) if paths is not None else current.keys() | old.keys())
    changed: list[str] = []
    with doc.transaction(origin=origin):
        for path in targets:
            want = old.get(path)
            have = current.get(path)
            if want == have:
                continue
            changed.append(path)
            if want is None:
                del files[path]
            elif have is None:
                files[path] = Text(want)
            else:
                ytext = files[path]
                assert isinstance(ytext, Text)
                apply_edits(ytext, have, diff(have, want))
    return changed
