"""Which versions go when a session's history is over its caps, and which survivors must become
checkpoints because the version they are a delta on goes.

Pure planning over (id, kind, base, bytes) rows; `store.py` carries the plan out in one
transaction. Order as before deltas existed: the oldest automatic versions first, manual ones
and restores last; the newest versions are never pruned (a recorder's next delta is based on
its last version). A survivor whose base goes is rewritten as a checkpoint, which costs about a
checkpoint's size: the plan counts that, so pruning a checkpoint also prunes the deltas on it
rather than re-materializing them one by one (which would free nothing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

KEPT_KINDS = ("restore", "manual")  # pruned last


@dataclass(frozen=True, slots=True)
class RowMeta:
    id: int
    kind: str
    base_id: int | None
    nbytes: int


@dataclass
class PrunePlan:
    victims: list[int] = field(default_factory=list)
    rebase: list[int] = field(default_factory=list)  # survivors to rewrite as checkpoints


def plan(rows: list[RowMeta], *, max_versions: int, max_bytes: int, keep_newest: int) -> PrunePlan:
    """`rows` oldest first. Victims until the session is within both caps (or only the newest
    `keep_newest` remain)."""
    total = sum(r.nbytes for r in rows)
    if len(rows) <= max_versions and total <= max_bytes:
        return PrunePlan()
    ids = {r.id for r in rows}
    size = {r.id: r.nbytes for r in rows}
    root: dict[int, int] = {}
    children: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        if r.base_id is not None and r.base_id in ids:
            root[r.id] = root.get(r.base_id, r.base_id)
            children[r.base_id].append(r.id)
        else:
            root[r.id] = r.id

    def growth(row_id: int) -> int:  # what rewriting it as a checkpoint adds, about
        return max(0, size[root[row_id]] - size[row_id])

    protected = {r.id for r in rows[-keep_newest:]} if keep_newest > 0 else set()
    order = sorted((r for r in rows if r.id not in protected), key=lambda r: (r.kind in KEPT_KINDS, r.id))
    victims: set[int] = set()
    rebase: set[int] = set()
    freed = 0
    for r in order:
        if len(rows) - len(victims) <= max_versions and total - freed <= max_bytes:
            break
        victims.add(r.id)
        freed += size[r.id]
        if r.id in rebase:
            rebase.discard(r.id)
            freed += growth(r.id)
        for child in children[r.id]:
            if child not in victims and child not in rebase:
                rebase.add(child)
                freed -= growth(child)
    return PrunePlan(victims=sorted(victims), rebase=sorted(rebase))
