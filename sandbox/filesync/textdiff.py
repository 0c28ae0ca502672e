"""Minimal edits between two texts, rebased over concurrent edits, applied to a `Y.Text`.

A change made on disk becomes a few insert/delete operations instead of a rewrite, so
every other client's cursors and sticky indices outside the changed span stay on their
text. When the document also changed since the last sync, the disk's edits are rebased
over the document's; a disk edit that overlaps a document edit is dropped (the document
wins there, and the next write-back puts its version on disk).
"""

from __future__ import annotations

from typing import NamedTuple

import fast_diff_match_patch as dmp
from pycrdt import Text

# Myers' diff (google diff-match-patch in C++, line mode first) gives up after this long and
# returns a coarser diff: a pathological pair of texts never holds the sync for long.
DIFF_TIME_LIMIT = 0.05
# When less than this share of the changed span stays equal, the file was rewritten (a checkout,
# a generator): one replacement is cheaper for every client than many scattered edits.
REWRITE_EQUAL_SHARE = 0.2


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


def common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by comparing halving slices (C speed, not a char loop)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the common suffix, at most `limit` characters."""
    lo, hi = 0, min(len(a), len(b), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def diff(old: str, new: str) -> list[Edit]:
    """Edits turning `old` into `new`, ascending and non-overlapping.

    CPU-bound on large files: callers on an event loop run it in a worker thread."""
    if old == new:
        return []
    # A common prefix and suffix cover the usual single edit (sed -i, a formatter) cheaply.
    prefix = common_prefix(old, new)
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if not a or not b or _mostly_rewritten(a, b):
        return [Edit(prefix, prefix + len(a), b)]
    edits: list[Edit] = []
    pos = 0  # offset into a
    taken = 0  # offset into b
    equal = 0
    for op, length in dmp.diff(a, b, counts_only=True, timelimit=DIFF_TIME_LIMIT, checklines=True):
        if op == "=":
            pos += length
            taken += length
            equal += length
        elif op == "-":
            if edits and edits[-1].end == prefix + pos:  # merge with an adjacent insert/delete
                last = edits.pop()
                edits.append(Edit(last.start, prefix + pos + length, last.text))
            else:
                edits.append(Edit(prefix + pos, prefix + pos + length, ""))
            pos += length
        else:
            text = b[taken : taken + length]
            if edits and edits[-1].end == prefix + pos:
                last = edits.pop()
                edits.append(Edit(last.start, last.end, last.text + text))
            else:
                edits.append(Edit(prefix + pos, prefix + pos, text))
            taken += length
    if equal < REWRITE_EQUAL_SHARE * max(len(a), len(b)):
        return [Edit(prefix, prefix + len(a), b)]
    return edits


def _mostly_rewritten(a: str, b: str) -> bool:
    """Whether few lines of the changed span survive (by line set, linear time): then a diff
    would search long for nothing (Myers is O(N*D)), and one replacement is the answer."""
    a_lines, b_lines = a.splitlines(), b.splitlines()
    if len(a_lines) + len(b_lines) < 20:
        return False
    kept = set(a_lines)
    common = sum(len(line) + 1 for line in b_lines if line in kept)
    return common < REWRITE_EQUAL_SHARE * max(len(a), len(b))


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
    spans: list[tuple[int, int, str]] = []  # (start, length) in the text's unit, one forward pass
    offset = last = 0
    for edit in edits:
        offset += unit(current[last : edit.start])
        length = unit(current[edit.start : edit.end])
        spans.append((offset, length, edit.text))
        offset += length
        last = edit.end
    for start, length, text in reversed(spans):
        if length:
            del ytext[start : start + length]
        if text:
            ytext.insert(start, text)


def _unit(ytext: Text, current: str):  # type: ignore[no-untyped-def]
    n = len(ytext)
    if n == len(current.encode("utf-8")):
        return lambda s: len(s.encode("utf-8"))
    if n == len(current.encode("utf-16-le")) // 2:
        return lambda s: len(s.encode("utf-16-le")) // 2
    if n == len(current):
        return len
    raise ValueError(f"cannot map offsets: Y.Text length {n} fits no encoding of {len(current)} chars")
