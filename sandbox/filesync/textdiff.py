"""Minimal edits between two texts, rebased over concurrent edits, applied to a `Y.Text`.

A change made on disk becomes a few insert/delete operations instead of a rewrite, so
every other client's cursors and sticky indices outside the changed span stay on their
text. When the document also changed since the last sync, the disk's edits are rebased
over the document's; a disk edit that overlaps a document edit is dropped (the document
wins there, and the next write-back puts its version on disk).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import NamedTuple

import fast_diff_match_patch as dmp
from pycrdt import Text

# Myers' diff (google diff-match-patch in C++, line mode first) gives up after this long and
# returns a coarser diff: a pathological pair of texts never holds the sync for long.
DIFF_TIME_LIMIT = 0.05
# Changed blocks up to this many characters (both sides) are diffed by character, up to a
# budget per file; beyond it a changed block of lines is replaced whole.
CHAR_REFINE_LIMIT = 4000
REFINE_BUDGET = 64 * 1024
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

    Lines first (Myers' diff over lines, each line one symbol), then characters inside small
    changed blocks; a large changed block is replaced whole. CPU-bound on large files: callers
    on an event loop run it in a worker thread."""
    if old == new:
        return []
    # A common prefix and suffix cover the usual single edit (sed -i, a formatter) cheaply.
    prefix = common_prefix(old, new)
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if not a or not b or len(a) + len(b) <= CHAR_REFINE_LIMIT:
        return [Edit(prefix + e.start, prefix + e.end, e.text) for e in _char_diff(a, b)]
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    # Rewritten (a checkout to a distant branch, a generator): Myers' search is O(N*D) and
    # would run into its time limit; a linear estimate spots it, and one replacement answers.
    if _in_order_chars(a_lines, b_lines) < REWRITE_EQUAL_SHARE * max(len(a), len(b)):
        return [Edit(prefix, prefix + len(a), b)]
    a_sym, b_sym = _symbols(a_lines, b_lines)
    blocks: list[tuple[int, int, int, int]] = []  # changed blocks: a[s:e] -> b[s2:e2]
    i = j = 0  # line indices into a_lines, b_lines
    pos = taken = 0  # character offsets into a, b
    equal = 0
    pending_del = pending_ins = 0  # lines of the current changed block
    ops = dmp.diff(a_sym, b_sym, counts_only=True, timelimit=DIFF_TIME_LIMIT, cleanup="No")
    for op, count in [*ops, ("=", 0)]:
        if op != "=":
            if op == "-":
                pending_del += count
            else:
                pending_ins += count
            continue
        if pending_del or pending_ins:
            pos2 = pos + sum(map(len, a_lines[i : i + pending_del]))
            taken2 = taken + sum(map(len, b_lines[j : j + pending_ins]))
            blocks.append((pos, pos2, taken, taken2))
            i, j, pos, taken = i + pending_del, j + pending_ins, pos2, taken2
            pending_del = pending_ins = 0
        if count:
            length = sum(map(len, a_lines[i : i + count]))
            i, j, pos, taken, equal = i + count, j + count, pos + length, taken + length, equal + length
    # Rewritten (a checkout, a generator): one replacement, no character work at all.
    if equal < REWRITE_EQUAL_SHARE * max(len(a), len(b)):
        return [Edit(prefix, prefix + len(a), b)]
    edits: list[Edit] = []
    budget = REFINE_BUDGET
    for s1, e1, s2, e2 in blocks:
        sa, sb = a[s1:e1], b[s2:e2]
        cost = len(sa) + len(sb)
        if cost <= budget:  # character edits inside the changed lines, while the budget lasts
            budget -= cost
            edits += [Edit(prefix + s1 + e.start, prefix + s1 + e.end, e.text) for e in _char_diff(sa, sb)]
        else:
            edits.append(Edit(prefix + s1, prefix + e1, sb))
    return edits


def _in_order_chars(a_lines: list[str], b_lines: list[str]) -> int:
    """Characters of `b` lines found in `a` in the same order, nearly where expected (a greedy
    lower bound of what a diff keeps; a line found far ahead is skipped, not jumped to)."""
    where: dict[str, list[int]] = {}
    for n, line in enumerate(a_lines):
        where.setdefault(line, []).append(n)
    reach = 64 + len(a_lines) // 10
    at = kept = 0
    for line in b_lines:
        found = where.get(line)
        if not found:
            continue
        k = bisect.bisect_left(found, at)
        if k < len(found) and found[k] - at <= reach:
            at = found[k] + 1
            kept += len(line)
    return kept


def _symbols(a_lines: list[str], b_lines: list[str]) -> tuple[str, str]:
    """Each distinct line as one character (skipping the surrogate range), as diff-match-patch's
    line mode does: a diff over these strings is a diff over lines."""
    table: dict[str, str] = {}

    def encode(lines: list[str]) -> str:
        out = []
        for line in lines:
            sym = table.get(line)
            if sym is None:
                n = len(table)
                sym = table[line] = chr(n if n < 0xD800 else n + 0x800)
            out.append(sym)
        return "".join(out)

    return encode(a_lines), encode(b_lines)


def _char_diff(a: str, b: str) -> list[Edit]:
    """Character edits for a small changed block; a large one is replaced whole."""
    if not a or not b or len(a) + len(b) > CHAR_REFINE_LIMIT:
        return [Edit(0, len(a), b)]
    edits: list[Edit] = []
    pos = taken = 0
    for op, length in dmp.diff(a, b, counts_only=True, timelimit=DIFF_TIME_LIMIT):
        if op == "=":
            pos += length
            taken += length
        elif op == "-":
            if edits and edits[-1].end == pos:  # merge with an adjacent insert/delete
                last = edits.pop()
                edits.append(Edit(last.start, pos + length, last.text))
            else:
                edits.append(Edit(pos, pos + length, ""))
            pos += length
        else:
            text = b[taken : taken + length]
            if edits and edits[-1].end == pos:
                last = edits.pop()
                edits.append(Edit(last.start, last.end, last.text + text))
            else:
                edits.append(Edit(pos, pos, text))
            taken += length
    return edits


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


def _unit(ytext: Text, current: str) -> Callable[[str], int]:
    n = len(ytext)
    if n == len(current.encode("utf-8")):
        return lambda s: len(s.encode("utf-8"))
    if n == len(current.encode("utf-16-le")) // 2:
        return lambda s: len(s.encode("utf-16-le")) // 2
    if n == len(current):
        return len
    raise ValueError(f"cannot map offsets: Y.Text length {n} fits no encoding of {len(current)} chars")
