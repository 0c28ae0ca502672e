"""Where a disk change lands in the document: the disk's edits, moved over the doc's own.

`disk_edits` is the full diff work (CPU-bound on big files: callers on an event loop run it in a
worker thread, against a snapshot of the doc's text). When the doc moved while that ran (people
type), `follow` carries the result over the doc's newer text on the loop, as long as what the
doc changed meanwhile is small enough to diff there in well under a millisecond; otherwise the
caller diffs again in the thread. Pure functions: safe in any thread.
"""

from __future__ import annotations

from .textdiff import Edit, diff, rebase, small_diff


def disk_edits(base: str, current: str, disk: str) -> tuple[list[Edit], int]:
    """The disk's edits (base -> disk) in the coordinates of the doc's `current` text, and how
    many were dropped for overlapping the doc's own edits (base -> current)."""
    if current == disk:
        return [], 0
    theirs = diff(base, disk)
    if current == base:
        return theirs, 0
    return rebase(theirs, diff(base, current))


def follow(edits: list[Edit], current: str, now: str) -> tuple[list[Edit], int] | None:
    """`edits` of `current`, moved over the doc's change current -> now (edits that touch it are
    dropped: the doc wins there). None when that change is too large to diff on the loop."""
    moved = small_diff(current, now)
    if moved is None:
        return None
    return rebase(edits, moved)
