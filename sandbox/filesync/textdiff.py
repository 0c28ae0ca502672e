"""Minimal edits between two texts, rebased over concurrent edits, applied to a `Y.Text`.

A change made on disk becomes a few insert/delete operations instead of a rewrite, so
every other client's cursors and sticky indices outside the changed span stay on their
text. When the document also changed since the last sync, the disk's edits are rebased
over the document's; a disk edit that overlaps a document edit is dropped (the document
wins there, and the next write-back puts its version on disk).
"""

from __future__ import annotations

import difflib
from typing import NamedTuple

from pycrdt import Text

# Character-level diffing is quadratic in the worst case: above this, diff lines first.
CHAR_DIFF_LIMIT = 4000


class Edit(NamedTuple):
    """Replace `old[start:end]` with `text` (character offsets into the old text)."""

    start: int
    end: int
    text: str


def decode_text(data: bytes) -> str | None:
    """The file as text, or None for binary content (NUL bytes or not UTF-8)."""
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def diff(old: str, new: str) -> list[Edit]:
    """Edits turning `old` into `new`, ascending and non-overlapping."""
    if old == new:
        return []
    # A common prefix and suffix cover the usual single edit (sed -i, a formatter) in O(n).
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    return [Edit(prefix + e.start, prefix + e.end, e.text) for e in _diff_middle(a, b)]


def _diff_middle(a: str, b: str) -> list[Edit]:
    if not a or not b or len(a) + len(b) <= CHAR_DIFF_LIMIT:
        return _opcodes(a, b)
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    a_off = _offsets(a_lines)
    b_off = _offsets(b_lines)
    edits: list[Edit] = []
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        sa, sb = a[a_off[i1] : a_off[i2]], b[b_off[j1] : b_off[j2]]
        if tag == "replace" and len(sa) + len(sb) <= CHAR_DIFF_LIMIT:
            edits += [Edit(a_off[i1] + e.start, a_off[i1] + e.end, e.text) for e in _opcodes(sa, sb)]
        else:
            edits.append(Edit(a_off[i1], a_off[i2], sb))
    return edits


def _opcodes(a: str, b: str) -> list[Edit]:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [Edit(i1, i2, b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def rebase(theirs: list[Edit], ours: list[Edit]) -> tuple[list[Edit], int]:
    """Move `theirs` (edits of a base text) over `ours` (other edits of the same base).

    Returns the edits in the coordinates of the text `ours` produced, and how many of
    `theirs` were dropped because they touch one of `ours`.
    """
    out: list[Edit] = []
    dropped = 0
    for edit in theirs:
        shift = 0
        conflict = False
        for o in ours:
            if o.end < edit.start or (o.end == edit.start and o.start < o.end and edit.start < edit.end):
                shift += len(o.text) - (o.end - o.start)
            elif o.start > edit.end or (o.start == edit.end and edit.start < edit.end and o.start < o.end):
                break
            else:
                conflict = True
                break
        if conflict:
            dropped += 1
        else:
            out.append(Edit(edit.start + shift, edit.end + shift, edit.text))
    return out, dropped


def apply_edits(ytext: Text, current: str, edits: list[Edit]) -> None:
    """Apply `edits` (character offsets into `current`, which `ytext` holds) inside the caller's
    transaction, last first so earlier offsets stay valid. pycrdt counts UTF-8 bytes (a Yjs
    client in the browser counts UTF-16 units); the unit is read off the text's length."""
    unit = _unit(ytext, current)
    for edit in reversed(edits):
        start = unit(current[: edit.start])
        length = unit(current[edit.start : edit.end])
        if length:
            del ytext[start : start + length]
        if edit.text:
            ytext.insert(start, edit.text)


def _unit(ytext: Text, current: str):  # type: ignore[no-untyped-def]
    n = len(ytext)
    if n == len(current.encode("utf-8")):
        return lambda s: len(s.encode("utf-8"))
    if n == len(current.encode("utf-16-le")) // 2:
        return lambda s: len(s.encode("utf-16-le")) // 2
    if n == len(current):
        return len
    raise ValueError(f"cannot map offsets: Y.Text length {n} fits no encoding of {len(current)} chars")
