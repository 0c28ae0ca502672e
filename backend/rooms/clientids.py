"""Who a Yjs client id belongs to, per room: presence slots and edit-id ranges are never shared.

A y-websocket page uses one client id for both its document edits and its awareness entry. Two
things make that id someone's: writing document items under it (kept for the room's life: an
edit id range stays its author's), and an awareness entry (kept while the connection lives, and
`hold_seconds` after, so a viewer cannot step into a person's slot the moment they disconnect and
be followed or shown as them). A principal reconnecting gets its own ids back.

Owners are principal keys (`owner_key`): stable across a principal's reconnections, never equal
for two people. `--no-auth` connections all share one key (everyone is trusted there).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

ANONYMOUS = "anonymous"


def owner_key(connection: Any) -> Hashable:
    """The key of the principal behind a connection (its `principal` attribute, if any)."""
    principal = getattr(connection, "principal", None)
    if principal is None:
        return ANONYMOUS
    kind = str(getattr(principal, "kind", ""))
    if kind == "anonymous" or not kind:
        return ANONYMOUS
    # A share link's bearers get a fresh principal id per connection: its link id (`ref`) is stable.
    return (kind, getattr(principal, "ref", "") or principal.id)


class ClientIdRegistry:
    def __init__(self, hold_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold = hold_seconds
        self._clock = clock
        self._authors: dict[int, Hashable] = {}  # edit ids: permanent for the room's life
        self._present: dict[int, Hashable] = {}  # awareness ids of live connections
        self._held: dict[int, tuple[Hashable, float]] = {}  # released awareness ids: until when

    def owner(self, client_id: int) -> Hashable | None:
        author = self._authors.get(client_id)
        if author is not None:
            return author
        present = self._present.get(client_id)
        if present is not None:
            return present
        held = self._held.get(client_id)
        if held is not None:
            if held[1] > self._clock():
                return held[0]
            del self._held[client_id]
        return None

    def author(self, client_id: int) -> Hashable | None:
        """Whose edits the id carries, when this room saw them arrive (None: unknown)."""
        return self._authors.get(client_id)

    def may_use(self, client_id: int, key: Hashable) -> bool:
        owner = self.owner(client_id)
        return owner is None or owner == key

    def note_author(self, client_id: int, key: Hashable) -> None:
        self._authors.setdefault(client_id, key)

    def note_present(self, client_id: int, key: Hashable) -> None:
        self._present[client_id] = key
        self._held.pop(client_id, None)

    def release(self, client_id: int) -> None:
        """A connection left: its presence slot stays its principal's for `hold_seconds`."""
        key = self._present.pop(client_id, None)
        if key is not None and self._hold > 0:
            self._held[client_id] = (key, self._clock() + self._hold)
        if len(self._held) > 4 * len(self._present) + 1024:
            now = self._clock()
            self._held = {cid: h for cid, h in self._held.items() if h[1] > now}
