"""Minimal edits between two texts, rebased over concurrent edits, applied to a `Y.Text`.

A change made on disk becomes a few insert/delete operations instead of a rewrite, so
every other client's cursors and sticky indices outside the changed span stay on their
text. When the document also changed since the last sync, the disk's edits are rebased
over the document's; a disk edit that overlaps a document edit is dropped (the document
wins there, and the next write-back puts its version on disk).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate, chain
from typing import NamedTuple

import fast_diff_match_patch as dmp
from pycrdt import Text

# Myers' diff (google diff-match-patch in C++, line mode first) gives up after this long and
# returns a coarser diff: a pathological pair of texts never holds the sync for long.
DIFF_TIME_LIMIT = 0.05
# The line diff's own limit (CPU seconds, in C with the GIL released): a real edit of a 1 MiB
# file diffs in about a millisecond; reordered lines (`sort -o`) would search until the limit,
# and a coarser diff of them ends as one replacement anyway.
LINE_DIFF_TIME_LIMIT = 0.02
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


def small_diff(old: str, new: str, limit: int = CHAR_REFINE_LIMIT) -> list[Edit] | None:
    """Character edits from `old` to `new` when, past their common prefix and suffix, at most
    `limit` characters differ (a few keystrokes); None otherwise. Cheap enough for an event
    loop: two C-speed scans of the texts and a diff of at most `limit` characters."""
    if old == new:
        return []
    prefix = common_prefix(old, new)
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if len(a) + len(b) > limit:
        return None
    return [Edit(prefix + e.start, prefix + e.end, e.text) for e in _char_diff(a, b)]


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
    # Rewritten (a checkout to a distant branch, a generator): few lines of `b` exist in `a` at
    # all, and one replacement answers without a search. (Reordered lines pass this check; the
    # line diff's time limit bounds them, and the equal share below catches them.)
    if _shared_chars(a_lines, b_lines) < REWRITE_EQUAL_SHARE * max(len(a), len(b)):
        return [Edit(prefix, prefix + len(a), b)]
    symbols = _symbols(a_lines, b_lines)
    if symbols is None:  # more distinct lines than code points: no line diff possible
        return [Edit(prefix, prefix + len(a), b)]
    # Character offsets of every line start, so an op's extent is a lookup, not a sum.
    a_at = [0, *accumulate(map(len, a_lines))]
    b_at = [0, *accumulate(map(len, b_lines))]
    blocks: list[tuple[int, int, int, int]] = []  # changed blocks: a[s:e] -> b[s2:e2]
    i = j = 0  # line indices into a_lines, b_lines
    equal = 0
    pending_del = pending_ins = 0  # lines of the current changed block
    ops = dmp.diff(*symbols, counts_only=True, timelimit=LINE_DIFF_TIME_LIMIT, cleanup="No", checklines=False)
    for op, count in [*ops, ("=", 0)]:
        if op != "=":
            if op == "-":
                pending_del += count
            else:
                pending_ins += count
            continue
        if pending_del or pending_ins:
            blocks.append((a_at[i], a_at[i + pending_del], b_at[j], b_at[j + pending_ins]))
            i, j = i + pending_del, j + pending_ins
            pending_del = pending_ins = 0
        if count:
            equal += a_at[i + count] - a_at[i]
            i, j = i + count, j + count
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


# The work below runs in a worker thread, but Python code there holds the GIL and so delays
# the event loop's thread; hence whole-list C calls (map, set, dict, join), never a loop per line.


def _shared_chars(a_lines: list[str], b_lines: list[str]) -> int:
    """Characters of the lines of `b` that also occur in `a`: an upper bound of what a line diff
    keeps (order ignored), so a low figure proves a rewrite."""
    common = set(a_lines).intersection(b_lines)
    return sum(map(len, filter(common.__contains__, b_lines)))


def _symbols(a_lines: list[str], b_lines: list[str]) -> tuple[str, str] | None:
    """Each distinct line as one character, as diff-match-patch's line mode does: a diff over
    these strings is a diff over lines. None when there are more distinct lines than characters."""
    distinct = dict.fromkeys(chain(a_lines, b_lines))
    alphabet = _alphabet(len(distinct))
    if alphabet is None:
        return None
    table = dict(zip(distinct, alphabet, strict=False))
    return "".join(map(table.__getitem__, a_lines)), "".join(map(table.__getitem__, b_lines))


_ALPHABET = ""
_ALPHABET_MAX = 0x10FFFF + 1 - 0x800  # every code point but the surrogates


def _alphabet(n: int) -> str | None:
    """The first `n` non-surrogate code points as one string (grown on demand, kept)."""
    global _ALPHABET
    if n > _ALPHABET_MAX:
        return None
    if len(_ALPHABET) < n:
        want = min(_ALPHABET_MAX, max(n, 2 * len(_ALPHABET), 4096))
        low = "".join(map(chr, range(min(want, 0xD800))))
        high = "".join(map(chr, range(0xE000, 0xE000 + max(0, want - 0xD800))))
        _ALPHABET = low + high
    return _ALPHABET[:n]


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
    transaction. pycrdt counts UTF-8 bytes (a Yjs client in the browser counts UTF-16 units);
    the unit is read off the text's length.

    First to last, each offset moved by what the earlier edits changed: Yrs finds an offset
    inside a block by scanning it from the block's start, so last-first order over a file that
    is one big block (a file read from disk) rescans the whole file per edit (50 scattered edits
    in 1 MiB: 23 ms on the event loop, against 2 ms in this order)."""
    unit = _unit(ytext, current)
    shift = 0  # units inserted minus units deleted by the edits applied so far
    offset = last = 0  # `offset`: the unit position of `current[last]` in the original text
    for edit in edits:
        offset += unit(current[last : edit.start])
        length = unit(current[edit.start : edit.end])
        start = offset + shift
        if length:
            del ytext[start : start + length]
        if edit.text:
            ytext.insert(start, edit.text)
            shift += unit(edit.text)
        shift -= length
        offset += length
        last = edit.end


def _unit(ytext: Text, current: str) -> Callable[[str], int]:
    n = len(ytext)
    if n == len(current.encode("utf-8")):
        return lambda s: len(s.encode("utf-8"))
    if n == len(current.encode("utf-16-le")) // 2:
        return lambda s: len(s.encode("utf-16-le")) // 2
    if n == len(current):
        return len
    raise ValueError(f"cannot map offsets: Y.Text length {n} fits no encoding of {len(current)} chars")
