"""The room's awareness registry: who is here, owned per connection, validated before relay.

pycrdt's `Awareness` trusts its input (an IndexError on a truncated update, any JSON relayed);
here a connection may only set or remove the client ids it introduced (and never one that is
another principal's, see `clientids`), every state must be a JSON object (or null) without the
server's own key (`tandem`), and what is relayed is re-encoded from the validated entries.

Presence is bounded per connection (`PresenceLimits`): one state's size, the client ids held, and
a token bucket on messages. A message over a bound closes the connection (`LimitExceededError`)
and stores nothing of it: the whole message is checked before any entry is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import Encoder

from backend import closecodes
from backend.errors import LimitExceededError, ProtocolError
from backend.rooms.clientids import ClientIdRegistry, owner_key
from backend.rooms.origin import Peer
from backend.rooms.protocol import AwarenessEntry

# Rewrites a client's state before it is stored and relayed (the server stamps `user` there).
StateStamp = Callable[[Hashable, dict[str, Any]], dict[str, Any]]

# The key of the server's own entry (durability); a client state never carries it.
SERVER_KEY = "tandem"


@dataclass(frozen=True, slots=True)
class PresenceLimits:
    max_state_bytes: int = 16 * 1024
    max_client_ids: int = 4
    rate_per_second: float = 20.0
    burst: float = 60.0


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


@dataclass(slots=True)
class _Entry:
    clock: int
    state_json: str  # "null" once removed
    owner: Hashable | None


def encode_awareness(entries: Iterable[tuple[int, int, str]]) -> bytes:
    items = list(entries)
    encoder = Encoder()
    encoder.write_var_uint(len(items))
    for client_id, clock, state_json in items:
        encoder.write_var_uint(client_id)
        encoder.write_var_uint(clock)
        data = state_json.encode()
        encoder.write_var_uint(len(data))
        encoder.stream.append(data)
    return encoder.to_bytes()


class RoomAwareness:
    def __init__(
        self,
        server_client_id: int,
        stamp: StateStamp | None = None,
        *,
        limits: PresenceLimits | None = None,
        client_ids: ClientIdRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server_client_id = server_client_id
        self._entries: dict[int, _Entry] = {}
        self._stamp = stamp
        self.limits = limits or PresenceLimits()
        self.client_ids = client_ids or ClientIdRegistry(hold_seconds=0)
        self._clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        # The client ids each connection holds: a tuple (usually of one), not a set (216 bytes
        # each, one per idle client).
        self._ids_of: dict[Hashable, tuple[int, ...]] = {}
        self.refused_entries = 0  # entries for another principal's client id (a metric)

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if e.state_json != "null")

    def states(self) -> dict[int, dict[str, Any]]:
        return {cid: json.loads(e.state_json) for cid, e in self._entries.items() if e.state_json != "null"}

    def _take_token(self, owner: Hashable) -> None:
        limits = self.limits
        now = self._clock()
        bucket = self._buckets.get(owner)
        if bucket is None:
            bucket = self._buckets[owner] = _Bucket(limits.burst, now)
        bucket.tokens = min(limits.burst, bucket.tokens + (now - bucket.at) * limits.rate_per_second)
        bucket.at = now
        if bucket.tokens < 1:
            raise LimitExceededError(
                f"awareness updates over {limits.rate_per_second:g}/s", closecodes.PRESENCE_RATE
            )
        bucket.tokens -= 1

    def _admitted(self, entries: list[AwarenessEntry], owner: Hashable) -> list[AwarenessEntry]:
        """The entries this connection may set; raises, storing nothing, when one breaks a bound."""
        limits = self.limits
        key = owner_key(owner)
        held = self._ids_of.get(owner, ())
        new_ids: set[int] = set()
        admitted = []
        for item in entries:
            if item.client_id == self.server_client_id:
                continue
            size = len(item.state_json.encode())
            if size > limits.max_state_bytes:
                raise LimitExceededError(
                    f"awareness state of {size} bytes (limit {limits.max_state_bytes})",
                    closecodes.MESSAGE_TOO_BIG,
                )
            current = self._entries.get(item.client_id)
            if current is not None and current.owner not in (None, owner):
                self.refused_entries += 1
                continue  # another connection's presence: never let this one change it
            if item.client_id not in held and not self.client_ids.may_use(item.client_id, key):
                self.refused_entries += 1
                continue  # another principal's id (a live or recent presence, or their edits)
            if item.client_id not in held:
                new_ids.add(item.client_id)
            admitted.append(item)
        if len(held) + len(new_ids) > limits.max_client_ids:
            raise LimitExceededError(
                f"{len(held) + len(new_ids)} awareness client ids (limit {limits.max_client_ids})",
                closecodes.MESSAGE_TOO_BIG,
            )
        return admitted

    def apply(self, entries: list[AwarenessEntry], owner: Hashable) -> bytes | None:
        """Apply a client's entries; return the encoded update to relay, or None if nothing changed."""
        self._take_token(owner)
        admitted = self._admitted(entries, owner)
        validated = [(item, self._validated(item.state_json, owner)) for item in admitted]
        key = owner_key(owner)
        accepted: list[tuple[int, int, str]] = []
        for item, state_json in validated:
            current = self._entries.get(item.client_id)
            removing = state_json == "null"
            if current is None:
                if removing:
                    continue
            elif not (
                item.clock > current.clock
                or (item.clock == current.clock and removing and current.state_json != "null")
            ):
                continue
            self._entries[item.client_id] = _Entry(item.clock, state_json, owner)
            accepted.append((item.client_id, item.clock, state_json))
            ids = self._ids_of.get(owner, ())
            if removing:  # the page said goodbye for this id: free it (held for its principal)
                if item.client_id in ids:
                    self._ids_of[owner] = tuple(i for i in ids if i != item.client_id)
                self.client_ids.release(item.client_id)
            else:
                if item.client_id not in ids:
                    self._ids_of[owner] = (*ids, item.client_id)
                self.client_ids.note_present(item.client_id, key)
        return encode_awareness(accepted) if accepted else None

    def _validated(self, state_json: str, owner: Hashable) -> str:
        try:
            state = json.loads(state_json) if state_json else None
        except ValueError as exc:
            raise ProtocolError("awareness state is not JSON") from exc
        if state is None:
            return "null"
        if not isinstance(state, dict):
            raise ProtocolError("awareness state is not a JSON object")
        forged = state.pop(SERVER_KEY, None) is not None  # only the server's own entry says it
        if self._stamp is not None:
            state = self._stamp(owner, state)
        elif not forged:
            return state_json
        return json.dumps(state, separators=(",", ":"), ensure_ascii=False)

    def restamp_owner(self, owner: Hashable) -> bytes | None:
        """Stamp a connection's states again (its identity changed, e.g. a new role); the update to relay."""
        if self._stamp is None:
            return None
        changed: list[tuple[int, int, str]] = []
        for client_id, entry in self._entries.items():
            if entry.owner is owner and entry.state_json != "null":
                state_json = self._validated(entry.state_json, owner)
                if state_json != entry.state_json:
                    entry.clock += 1
                    entry.state_json = state_json
                    changed.append((client_id, entry.clock, state_json))
        return encode_awareness(changed) if changed else None

    def remove_owner(self, owner: Hashable) -> bytes | None:
        """Forget every client id a closed connection introduced; return the removal to relay."""
        removed: list[tuple[int, int, str]] = []
        for client_id, entry in list(self._entries.items()):
            if entry.owner is owner or entry.owner == owner:
                del self._entries[client_id]
                if entry.state_json != "null":
                    removed.append((client_id, entry.clock + 1, "null"))
        for client_id in self._ids_of.pop(owner, ()):
            self.client_ids.release(client_id)
        self._buckets.pop(owner, None)
        return encode_awareness(removed) if removed else None

    def set_server_state(self, state: dict[str, Any]) -> bytes:
        entry = self._entries.get(self.server_client_id)
        clock = 0 if entry is None else entry.clock + 1
        state_json = json.dumps(state, separators=(",", ":"))
        self._entries[self.server_client_id] = _Entry(clock, state_json, None)
        return encode_awareness([(self.server_client_id, clock, state_json)])

    def apply_remote(self, entries: list[AwarenessEntry], owner: Peer) -> bytes | None:
        """Apply entries relayed by another node (validated and stamped there); owner: that node."""
        accepted: list[tuple[int, int, str]] = []
        for item in entries:
            if item.client_id == self.server_client_id:
                continue
            current = self._entries.get(item.client_id)
            removing = item.state_json == "null"
            if current is None:
                if removing:
                    continue
            elif current.owner is not None and not isinstance(current.owner, Peer):
                continue  # a local connection's presence: only that connection changes it
            elif not (
                item.clock > current.clock
                or (item.clock == current.clock and removing and current.state_json != "null")
            ):
                continue
            self._entries[item.client_id] = _Entry(item.clock, item.state_json, owner)
            accepted.append((item.client_id, item.clock, item.state_json))
        return encode_awareness(accepted) if accepted else None

    def remove_remote_except(self, owner: Peer, keep: set[int]) -> bytes | None:
        """Forget that node's entries not in `keep` (its full list after a repair: removals that
        were lost while the bus was down); return the removal to relay."""
        removed: list[tuple[int, int, str]] = []
        for client_id, entry in list(self._entries.items()):
            if entry.owner == owner and client_id not in keep:
                del self._entries[client_id]
                if entry.state_json != "null":
                    removed.append((client_id, entry.clock + 1, "null"))
        return encode_awareness(removed) if removed else None

    def encode_local(self) -> bytes | None:
        """The live states of this node's own connections (what another node asks for on join)."""
        live = [
            (cid, e.clock, e.state_json)
            for cid, e in self._entries.items()
            if e.state_json != "null" and e.owner is not None and not isinstance(e.owner, Peer)
        ]
        return encode_awareness(live) if live else None

    def encode_all(self) -> bytes | None:
        live = [(cid, e.clock, e.state_json) for cid, e in self._entries.items() if e.state_json != "null"]
        return encode_awareness(live) if live else None
