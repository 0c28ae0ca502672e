"""Where each struct of an update sits relative to `comments`, without applying it.

A Yjs item names its parent only when it has no origins; otherwise it sits beside its origin,
in the same parent under the same key. So whether an item lands inside the `comments` subtree
is known by following parent/origin ids to an item whose place is known: one of the same
update, or one already in the doc. `CommentIndex` keeps the id ranges of every item ever
integrated inside `comments` (with its parent, key and depth), fed with every update the room
applies; an id the doc knows and the index does not is outside `comments`. Locating an update's
items costs a dictionary and bisect lookup per item, whatever the size of the document.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.access.yupdate import ID, TYPE, Item, Update

COMMENTS = "comments"


@dataclass(slots=True)
class Place:
    """An item inside `comments`: its parent type's item (None: the root array), key and depth."""

    parent: ID | None
    key: str | None
    depth: int  # 0: an element of `comments`; 1: inside one of those; ...


OUTSIDE = "outside"  # in the doc (or this update), not inside `comments`
MISSING = "missing"  # depends on an item neither the doc nor the update has (pending)
Located = Place | str


@dataclass(slots=True)
class Node:
    start: int
    end: int
    place: Place
    type_ref: int | None  # the item is a shared type (length 1) of this kind
    author: str | None = None  # a map's author id, from its `author` field at creation
    deleted: bool = False


class CommentIndex:
    def __init__(self) -> None:
        self._starts: dict[int, list[int]] = {}
        self._nodes: dict[int, list[Node]] = {}

    def __len__(self) -> int:
        return sum(len(nodes) for nodes in self._nodes.values())

    def find(self, ident: ID) -> Node | None:
        client, clock = ident
        starts = self._starts.get(client)
        if not starts:
            return None
        i = bisect.bisect_right(starts, clock) - 1
        if i < 0:
            return None
        node = self._nodes[client][i]
        return node if clock < node.end else None

    def only_comments_by(self, client: int, end: int, author: str) -> bool:
        """Everything under `client` up to `end` is inside `comments`, and it created at least one
        thread or reply, every one of them authored by `author` (a commenter's id, recognised
        after the room was reloaded)."""
        clock = 0
        maps = 0
        for node in self._nodes.get(client, ()):
            if node.start > clock or clock >= end:
                break
            clock = node.end
            if node.type_ref is not None and node.place.key is None:  # a thread or reply map
                if node.author != author:
                    return False
                maps += 1
        return clock >= end and maps > 0

    def overlapping(self, client: int, clock: int, end: int) -> list[Node]:
        """The nodes of `client` that overlap the clock range [clock, end)."""
        starts = self._starts.get(client)
        if not starts:
            return []
        nodes = self._nodes[client]
        i = max(0, bisect.bisect_right(starts, clock) - 1)
        out = []
        while i < len(nodes) and nodes[i].start < end:
            if nodes[i].end > clock:
                out.append(nodes[i])
            i += 1
        return out

    def add(self, client: int, node: Node) -> None:
        starts = self._starts.setdefault(client, [])
        nodes = self._nodes.setdefault(client, [])
        i = bisect.bisect_right(starts, node.start)
        if i and nodes[i - 1].end > node.start:
            return  # already known (a re-sent range)
        starts.insert(i, node.start)
        nodes.insert(i, node)

    def applied(self, update: Update) -> None:
        """Record the comment items of an update the doc integrated."""
        located = locate(update, self, known=None)
        for item, where in zip(update.items, located, strict=True):
            if isinstance(where, Place):
                self.add(item.client, Node(item.clock, item.end, where, item.type_ref))
        for item, where in zip(update.items, located, strict=True):
            if isinstance(where, Place) and where.key == "author" and where.parent is not None:
                parent = self.find(where.parent)
                if parent is not None and parent.author is None:
                    parent.author = author_id(item)
        for client, clock, length in update.deletes:
            for node in self.overlapping(client, clock, clock + length):
                if clock <= node.start and node.end <= clock + length:
                    node.deleted = True


def author_id(item: Item) -> str | None:
    value: Any = item.values[0] if len(item.values) == 1 else None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


class _Items:
    """The update's own items by id."""

    def __init__(self, items: list[Item]) -> None:
        self._by_client: dict[int, tuple[list[int], list[int]]] = {}
        for i, item in enumerate(items):
            starts, indexes = self._by_client.setdefault(item.client, ([], []))
            starts.append(item.clock)  # ascending within a client's block
            indexes.append(i)
        self._items = items

    def find(self, ident: ID) -> int | None:
        entry = self._by_client.get(ident[0])
        if entry is None:
            return None
        starts, indexes = entry
        i = bisect.bisect_right(starts, ident[1]) - 1
        if i < 0:
            return None
        index = indexes[i]
        return index if ident[1] < self._items[index].end else None


def locate(update: Update, index: CommentIndex, known: dict[int, int] | None) -> list[Located]:
    """Where each item of `update` lands. `known`: the doc's state vector (None: every id the
    update refers to is integrated, as for an update the doc has applied)."""
    items = update.items
    own = _Items(items)
    result: list[Located | None] = [None] * len(items)

    def refs(item: Item) -> list[ID]:
        if item.parent_root is not None:
            return []
        if item.parent_id is not None:
            return [item.parent_id]
        return [r for r in (item.origin, item.right_origin) if r is not None]

    def outside_ref(ident: ID) -> Located:
        node = index.find(ident)
        if node is not None:
            return node.place
        if known is None or ident[1] < known.get(ident[0], 0):
            return OUTSIDE
        return MISSING

    for first in range(len(items)):
        if result[first] is not None:
            continue
        # Iterative depth-first walk: an update may chain thousands of items.
        stack = [first]
        visiting = {first}
        while stack:
            i = stack[-1]
            item = items[i]
            pending = [j for r in refs(item) if (j := own.find(r)) is not None and result[j] is None]
            if pending:
                j = pending[0]
                if j in visiting:  # a cycle: no valid update has one
                    result[i] = MISSING
                    stack.pop()
                    continue
                visiting.add(j)
                stack.append(j)
                continue
            stack.pop()
            result[i] = _place_of(item, refs(item), own, result, outside_ref, index, items)
    return [r if r is not None else MISSING for r in result]


def _place_of(
    item: Item,
    refs: list[ID],
    own: _Items,
    result: list[Located | None],
    outside_ref: Callable[[ID], Located],
    index: CommentIndex,
    items: list[Item],
) -> Located:
    if item.parent_root is not None:
        return Place(None, item.parent_sub, 0) if item.parent_root == COMMENTS else OUTSIDE
    places: list[Located] = []
    for r in refs:
        j = own.find(r)
        found = result[j] if j is not None else outside_ref(r)
        places.append(found if found is not None else MISSING)
    if not places:
        return MISSING
    if MISSING in places:
        return MISSING
    if OUTSIDE in places:
        return OUTSIDE
    if item.parent_id is not None:
        # The parent must be a type item inside comments.
        j = own.find(item.parent_id)
        if j is not None:
            parent_type = items[j].content_ref == TYPE and items[j].clock == item.parent_id[1]
        else:
            node = index.find(item.parent_id)
            parent_type = node is not None and node.type_ref is not None and node.start == item.parent_id[1]
        if not parent_type:
            return OUTSIDE
        depth = places[0].depth + 1  # type: ignore[union-attr]
        return Place(item.parent_id, item.parent_sub, depth)
    first = places[0]
    assert isinstance(first, Place)
    for other in places[1:]:
        assert isinstance(other, Place)
        if (other.parent, other.key) != (first.parent, first.key):
            return OUTSIDE  # origins in two different places: not a valid insertion
    return Place(first.parent, first.key, first.depth)
