"""The room's guard on client updates: edit ids stay their owners', comments follow their rules.

Every client update is decoded (`yupdate`) and located against the room's `CommentIndex`
before the room applies it, so the check costs in proportion to the update, never to the
document (the old filter replayed each commenter update on a scratch copy of the whole doc):

- a commenter may only write under client ids it introduced: new to the doc, and no one else's
  presence (an editor may write anything anyway, and re-sends everyone's edits a crashed server
  lost; the ids it introduces are noted as its own all the same);
- no update may leave structs "pending" (missing dependencies): they would integrate later,
  unchecked; a commenter writes only inside `comments` and deletes only comment items;
- every role's writes inside `comments` follow `comment_policy` (authors, times, who may edit,
  resolve and delete).

The index is fed by the room with every update the doc integrates (`applied`), whatever its
origin (clients, other nodes, the server's file sync), so it always covers the whole doc.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

from pycrdt import Doc

from backend.access.comment_index import COMMENTS, MISSING, CommentIndex, locate
from backend.access.comment_policy import Actor, CommentLimits, CommentRefusedError, check
from backend.access.yupdate import decode_state_vector, decode_update
from backend.rooms.clientids import ClientIdRegistry

log = logging.getLogger("tandem.comments")

# How a root named `comments` appears in an update (a parent-info 1, then the name as a string).
_ROOT_BYTES = b"\x01" + bytes([len(COMMENTS)]) + COMMENTS.encode()

__all__ = ["COMMENTS", "CommentGuard", "CommentRefusedError"]


class CommentGuard:
    def __init__(
        self,
        doc: Doc,
        client_ids: ClientIdRegistry,
        limits: CommentLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.doc = doc
        self.client_ids = client_ids
        self.limits = limits or CommentLimits()
        self._clock = clock
        self.index = CommentIndex()
        # Once per room load: the doc's existing comment items (skipped when it has none).
        self.applied(doc.get_update())

    def applied(self, update: bytes) -> None:
        """The doc integrated `update` (any origin): index its comment items."""
        if not len(self.index) and _ROOT_BYTES not in update:
            return  # nothing can be inside comments yet
        try:
            self.index.applied(decode_update(update))
        except Exception:
            # The doc's own encoding: cannot fail unless yrs and this decoder disagree. Called from
            # the doc observer, so it never raises into the update being applied.
            log.exception("comments index: cannot index an integrated update (%d bytes)", len(update))

    def check(self, update: bytes, actor: Actor, key: Hashable) -> None:
        """Raise `CommentRefusedError` (or `ProtocolError` for bytes that are no update) unless
        `actor` (whose principal key is `key`) may apply `update`; if it may, its new client ids
        are this principal's from here on (the room applies it right after)."""
        known = decode_state_vector(self.doc.get_state())
        decoded = decode_update(update)
        ends = {client: end for client, (_start, end) in decoded.ranges.items()}
        self._refuse_foreign_ids(ends, known, actor, key)
        # Items the doc already has change nothing: only the new ones are judged.
        decoded.items = [i for i in decoded.items if i.end > known.get(i.client, 0)]
        located = locate(decoded, self.index, known)
        if decoded.skipped or MISSING in located:
            # yrs would hold such structs back and integrate them, unchecked, when the missing
            # ones arrive; a y-websocket client never sends them (its updates are causal).
            raise CommentRefusedError("update with missing dependencies")
        check(decoded, located, self.index, actor, self._clock() * 1000, self.limits, self._deleted_in_doc())
        self._note_ids(ends, known, key)

    def _refuse_foreign_ids(
        self, ends: dict[int, int], known: dict[int, int], actor: Actor, key: Hashable
    ) -> None:
        if not actor.comments_only:
            # An editor may write anything anyway, and after a crash lost unpersisted updates its
            # page re-sends everyone's (its sync step 2 carries every struct the server lacks).
            return
        for client, end in ends.items():
            have = known.get(client, 0)
            if end <= have:
                continue  # nothing new under this id (an echo)
            if not self.client_ids.may_use(client, key):
                raise CommentRefusedError(f"client id {client} is another person's")
            if not have:
                continue  # a new id: this principal's from now on
            author = self.client_ids.author(client)
            if author == key:
                continue
            # Edits from before this room was loaded (a server restart, the page kept its id):
            # the id is theirs only if all it ever wrote is their own comments.
            if author is None and self.index.only_comments_by(client, have, actor.id):
                continue
            raise CommentRefusedError(f"client id {client} has edits this principal did not make")

    def _note_ids(self, ends: dict[int, int], known: dict[int, int], key: Hashable) -> None:
        for client, end in ends.items():
            if end > known.get(client, 0):
                self.client_ids.note_author(client, key)

    def _deleted_in_doc(self) -> Callable[[int, int, int], bool]:
        """A lazy test "the doc has deleted this range" (its delete set, read once per check)."""
        ranges: dict[int, list[tuple[int, int]]] | None = None

        def deleted(client: int, clock: int, end: int) -> bool:
            nonlocal ranges
            if ranges is None:
                ranges = {}
                for c, start, length in decode_update(self.doc.get_update(self.doc.get_state())).deletes:
                    ranges.setdefault(c, []).append((start, start + length))
            for start, stop in ranges.get(client, ()):
                if start <= clock and end <= stop:
                    return True
            return False

        return deleted
