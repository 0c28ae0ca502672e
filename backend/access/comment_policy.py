"""What a write inside `comments` may be, and who may make it.

The structure (the page's `web/src/room/comments.js`): `comments` is an array of thread maps;
a thread has `id`, `file`, `anchorStart`, `anchorEnd`, `author`, `body`, `createdAt`, `resolved`
and a `replies` array of reply maps (`id`, `author`, `body`, `createdAt`). Nothing else.

Who (like GitHub review threads):
- anyone who may comment creates threads and replies as themselves: `author` must be the
  principal's `{id, name, color}` and `createdAt` a number (ms since epoch) near server time;
- a thread or reply is edited (`body`) only by its author; `author`, `createdAt`, `id`, `file`,
  the anchors and `replies` never change after creation;
- a thread is resolved or reopened by its author or a moderator (editor, owner);
- a thread or reply is deleted by its author or a moderator; deleting a thread takes its replies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.access.comment_index import CommentIndex, Located, Place, author_id
from backend.access.yupdate import ANY, DELETED, ID, JSON_, TYPE, Y_ARRAY, Y_MAP, Item, Update
from backend.errors import CommentRefusedError

THREAD_KEYS = {"id", "file", "anchorStart", "anchorEnd", "author", "body", "createdAt", "resolved", "replies"}
REPLY_KEYS = {"id", "author", "body", "createdAt"}
REQUIRED = {"author", "body", "createdAt"}
MAX_SHORT = 1024  # ids, paths, anchors


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    name: str
    color: str
    moderator: bool  # may resolve and delete anyone's threads (editors, owners)
    comments_only: bool  # may write nothing outside `comments` (commenters)


@dataclass(frozen=True, slots=True)
class CommentLimits:
    future_ms: float = 300_000
    max_age_ms: float = 7 * 86_400_000
    max_body_chars: int = 20_000


def check(
    update: Update,
    located: list[Located],
    index: CommentIndex,
    actor: Actor,
    now_ms: float,
    limits: CommentLimits,
    already_deleted: Callable[[int, int, int], bool],
) -> None:
    """Raise `CommentRefusedError` unless every struct and deletion of `update` is allowed.

    `already_deleted(client, clock, end)`: the doc has deleted that whole range (a client's sync
    re-sends its entire delete set; re-sending a deletion changes nothing, so it is no one's act)."""
    maps: dict[ID, Item] = {}  # maps (threads, replies) this update creates
    fields: dict[ID, dict[str, Item]] = {}  # map → key → new value written by this update
    for item, where in zip(update.items, located, strict=True):
        if not isinstance(where, Place):
            if actor.comments_only:
                raise CommentRefusedError(f"writes outside comments ({where})")
            continue
        _check_shape(item, where, index, update)
        if item.content_ref == TYPE and item.type_ref == Y_MAP:
            maps[(item.client, item.clock)] = item
        if where.key is not None and where.parent is not None:
            fields.setdefault(where.parent, {})[where.key] = item
    for map_id, written in fields.items():
        created = map_id in maps
        node = None if created else index.find(map_id)
        for key, item in written.items():
            if item.content_ref == DELETED:
                continue
            _check_value(key, item, actor, now_ms, limits, created)
            if created:
                continue
            owner = None if node is None else node.author
            if key == "body" and owner == actor.id:
                continue
            if key == "resolved" and (owner == actor.id or actor.moderator):
                continue
            raise CommentRefusedError(f"may not change {key!r} of this comment")
    for map_id in maps:
        written = fields.get(map_id, {})
        missing = REQUIRED - written.keys()
        if missing:
            raise CommentRefusedError(f"a new comment without {sorted(missing)}")
    _check_deletes(update, located, index, actor, fields, already_deleted)


def _check_shape(item: Item, where: Place, index: CommentIndex, update: Update) -> None:
    content = item.content_ref
    if content == DELETED:
        return
    if where.depth in (0, 2):
        if where.key is not None or content != TYPE or item.type_ref != Y_MAP:
            raise CommentRefusedError("comments and replies are maps")
        if where.depth == 2 and _parent_key(where, index, update) != "replies":
            raise CommentRefusedError("a reply belongs in `replies`")
        return
    if where.depth in (1, 3):
        keys = THREAD_KEYS if where.depth == 1 else REPLY_KEYS
        if where.key not in keys:
            raise CommentRefusedError(f"unknown comment field {where.key!r}")
        if where.key == "replies":
            if content != TYPE or item.type_ref != Y_ARRAY:
                raise CommentRefusedError("`replies` is an array")
        elif content not in (ANY, JSON_) or item.length != 1:
            raise CommentRefusedError(f"{where.key!r} is a plain value")
        return
    raise CommentRefusedError("comments nest two levels at most")


def _parent_key(where: Place, index: CommentIndex, update: Update) -> str | None:
    assert where.parent is not None
    node = index.find(where.parent)
    if node is not None:
        return node.place.key
    for item in update.items:
        if (item.client, item.clock) == where.parent:
            return item.parent_sub
    return None


def _check_value(
    key: str, item: Item, actor: Actor, now_ms: float, limits: CommentLimits, created: bool
) -> None:
    value: Any = item.values[0] if item.values else None
    if key == "author":
        if not created:
            raise CommentRefusedError("the author of a comment never changes")
        if value != {"id": actor.id, "name": actor.name, "color": actor.color}:
            raise CommentRefusedError("a comment's author must be the writer ({id, name, color})")
    elif key == "createdAt":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommentRefusedError("createdAt must be a number (ms since epoch)")
        if not now_ms - limits.max_age_ms <= value <= now_ms + limits.future_ms:
            raise CommentRefusedError("createdAt is too far from the server's time")
    elif key == "body":
        if not isinstance(value, str) or len(value) > limits.max_body_chars:
            raise CommentRefusedError(f"body must be a string of at most {limits.max_body_chars} characters")
    elif key == "resolved":
        if not isinstance(value, bool):
            raise CommentRefusedError("resolved must be true or false")
    elif key in ("anchorStart", "anchorEnd"):
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SHORT):
            raise CommentRefusedError(f"{key} must be a string")
    elif key in ("id", "file") and (not isinstance(value, str) or len(value) > MAX_SHORT):
        raise CommentRefusedError(f"{key} must be a string")


def _check_deletes(
    update: Update,
    located: list[Located],
    index: CommentIndex,
    actor: Actor,
    fields: dict[ID, dict[str, Item]],
    already_deleted: Callable[[int, int, int], bool],
) -> None:
    """Every deleted id must be a comment item this actor may delete (or its own new item)."""
    own: dict[int, list[tuple[Item, Located]]] = {}
    for item, where in zip(update.items, located, strict=True):
        own.setdefault(item.client, []).append((item, where))

    def _harmless(client: int, start: int, stop: int) -> bool:
        return _own_cover(own, client, start, stop) or already_deleted(client, start, stop)

    deleted_maps: dict[ID, tuple[Place, str | None]] = {}  # deleted thread/reply map → place, author
    deleted: list[tuple[ID, Place, int | None]] = []  # (first id, place, type_ref)
    for client, clock, length in update.deletes:
        end = clock + length
        covered = clock
        for node in index.overlapping(client, clock, end):
            if actor.comments_only and node.start > covered and not _harmless(client, covered, node.start):
                raise CommentRefusedError("deletes outside comments")
            covered = max(covered, node.end)
            if node.deleted:
                continue
            deleted.append(((client, node.start), node.place, node.type_ref))
            if node.type_ref == Y_MAP:
                deleted_maps[(client, node.start)] = (node.place, node.author)
        if actor.comments_only and covered < end and not _harmless(client, covered, end):
            raise CommentRefusedError("deletes outside comments")
    allowed_maps = {
        m for m, (_, author) in deleted_maps.items() if actor.moderator or (author == actor.id and author)
    }
    grew = True
    while grew:  # a map inside a deleted thread (a reply) goes with it
        grew = False
        for m, (place, _) in deleted_maps.items():
            if m not in allowed_maps and _inside(place.parent, allowed_maps, index):
                allowed_maps.add(m)
                grew = True

    def map_deleted(ident: ID | None) -> bool:
        return _inside(ident, allowed_maps, index)

    for ident, place, type_ref in deleted:
        if type_ref == Y_MAP:
            if ident in allowed_maps or map_deleted(place.parent):
                continue
            raise CommentRefusedError("may delete only your own comments")
        if map_deleted(place.parent):
            continue
        replaced = (
            place.parent is not None and place.key is not None and place.key in fields.get(place.parent, {})
        )
        if replaced:
            continue  # the old value of a field this update sets (checked above)
        raise CommentRefusedError("may not delete that part of a comment")


def _inside(ident: ID | None, maps: set[ID], index: CommentIndex) -> bool:
    """`ident` is one of `maps`, or the `replies` array of one."""
    while ident is not None:
        if ident in maps:
            return True
        node = index.find(ident)
        if node is None or node.type_ref == Y_MAP:
            return False
        ident = node.place.parent
    return False


def _own_cover(own: dict[int, list[tuple[Item, Located]]], client: int, clock: int, end: int) -> bool:
    """[clock, end) is made of this update's own comment items (created and deleted at once)."""
    for item, where in own.get(client, ()):
        if item.clock <= clock < item.end and isinstance(where, Place):
            clock = item.end
    return clock >= end


__all__ = ["Actor", "CommentLimits", "CommentRefusedError", "author_id", "check"]
