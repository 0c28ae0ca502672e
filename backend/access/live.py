"""Access changes reach open connections: each node polls `access_change` and re-checks.

Whoever changes access (this node's API, another node, `tandem link revoke` in another process)
appends a row to `access_change` in the same transaction. Every `access_poll_seconds` each node
reads the rows after the last id it saw (a primary-key range scan: cheap however many sessions
exist) and, for each affected session live on this node, resolves every connection's principal
again: a changed role replaces the principal (read-only from the next message), lost access
closes the connection with 4403, a deleted session closes it with 4404 and drops the room.
The watcher hands each changed session to the session lifecycle (backend.lifecycle), whose first
listener is the rooms' (`RoomAccess`, below), then terminals and screen share.
Expiry needs no writer: each poll also re-checks the sessions whose share links or guest passes
expired since the previous poll, so an open `?token=` connection ends within a poll of its
link's expiry (and of its last use, which records a change).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import anyio
from pycrdt import create_awareness_message
from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from backend import closecodes
from backend.access.identity import recheck
from backend.access.models import AccessChange, CodingSession, Guest, ShareLink
from backend.auth.types import Principal
from backend.errors import AccessDeniedError, SessionNotFoundError, TandemError
from backend.lifecycle import SessionLifecycle
from backend.rooms.manager import RoomManager
from backend.rooms.room import Room
from backend.settings import Settings
from backend.store.models import utcnow
from backend.store.types import DocumentStore

log = logging.getLogger("tandem.access")

PRUNE_EVERY_SECONDS = 60.0


class AccessWatcher:
    def __init__(self, engine: Engine, settings: Settings, lifecycle: SessionLifecycle) -> None:
        self.engine = engine
        self.settings = settings
        # Rooms, terminals and signaling re-check their own connections when called with a
        # session id: `backend.access.identity.recheck` (or `Authenticator.recheck`) does it.
        self.lifecycle = lifecycle
        self.last_id = 0
        # Links and guest passes expire without anyone writing a change: each poll also finds
        # those whose expiry passed since the previous poll (indexed range scans).
        self.expiry_checked_at = utcnow()

    def _latest_id(self) -> int:
        with Session(self.engine) as db:
            return int(db.exec(select(func.max(AccessChange.id))).one() or 0)

    def _changes_since(self, last_id: int) -> list[tuple[int, str]]:
        with Session(self.engine) as db:
            rows = db.exec(
                select(AccessChange.id, AccessChange.session_id)
                .where(col(AccessChange.id) > last_id)
                .order_by(col(AccessChange.id))
                .limit(10_000)
            ).all()
        return [(int(i), s) for i, s in rows if i is not None]

    def _expired_between(self, since: datetime, until: datetime) -> list[str]:
        """Sessions with a link or guest pass whose expiry falls in (since, until]."""
        with Session(self.engine) as db:
            links = db.exec(
                select(ShareLink.session_id).where(
                    col(ShareLink.expires_at) > since,
                    col(ShareLink.expires_at) <= until,
                    col(ShareLink.revoked_at).is_(None),
                )
            ).all()
            guests = db.exec(
                select(Guest.session_id).where(col(Guest.expires_at) > since, col(Guest.expires_at) <= until)
            ).all()
        return list(dict.fromkeys([*links, *guests]))

    def _prune(self) -> None:
        cutoff = utcnow() - timedelta(seconds=self.settings.access_change_retention_seconds)
        with Session(self.engine) as db:
            db.execute(delete(AccessChange).where(col(AccessChange.created_at) < cutoff))
            db.commit()

    async def run(self) -> None:
        self.last_id = await anyio.to_thread.run_sync(self._latest_id)
        pruned_at = time.monotonic()
        while True:
            await anyio.sleep(self.settings.access_poll_seconds)
            try:
                await self.poll_once()
                if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                    pruned_at = time.monotonic()
                    await anyio.to_thread.run_sync(self._prune)
            except Exception:
                log.exception("access poll failed (retrying in %.1fs)", self.settings.access_poll_seconds)

    async def poll_once(self) -> None:
        rows = await anyio.to_thread.run_sync(self._changes_since, self.last_id)
        now = utcnow()
        expired = await anyio.to_thread.run_sync(self._expired_between, self.expiry_checked_at, now)
        self.expiry_checked_at = now
        if rows:
            self.last_id = rows[-1][0]
        for session_id in dict.fromkeys([*(s for _, s in rows), *expired]):
            await self.lifecycle.access_changed(session_id)


class RoomAccess:
    """The rooms' session listener (backend.lifecycle): clients re-checked, a deleted room dropped."""

    def __init__(self, engine: Engine, rooms: RoomManager, store: DocumentStore) -> None:
        self.engine = engine
        self.rooms = rooms
        self.store = store

    async def access_changed(self, session: str) -> None:
        room = self.rooms.rooms.get(session)
        if room is not None:
            await self.recheck_room(room)

    async def session_deleted(self, session: str) -> None:
        """Close the room's clients (4404), flush-and-forget the room, then delete what the flush
        wrote: a deleted session leaves no document behind."""
        room = self.rooms.rooms.get(session)
        if room is not None:
            for client in list(room.clients):
                client.close(closecodes.NOT_FOUND, "this session was deleted")
            await self.rooms.unload(room)
        await anyio.to_thread.run_sync(self.store.delete, session)

    def _recheck_all(self, principals: list[Principal]) -> list[Principal | TandemError]:
        results: list[Principal | TandemError] = []
        with Session(self.engine) as db:
            for principal in principals:
                try:
                    results.append(recheck(db, principal))
                except (AccessDeniedError, SessionNotFoundError) as exc:
                    results.append(exc)
        return results

    def _exists(self, session_id: str) -> bool:
        with Session(self.engine) as db:
            return db.get(CodingSession, session_id) is not None

    async def recheck_room(self, room: Room) -> None:
        clients = [c for c in room.clients if isinstance(c.principal, Principal) and c.principal.session]
        results = await anyio.to_thread.run_sync(self._recheck_all, [c.principal for c in clients])
        deleted = not clients and not await anyio.to_thread.run_sync(self._exists, room.name)
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, Principal):
                if result != client.principal:
                    log.info(
                        "room=%r %s: role %s -> %s", room.name, result.id, client.principal.role, result.role
                    )
                    client.principal = result
                    restamped = room.awareness.restamp_owner(client)
                    if restamped is not None:
                        room.broadcast(create_awareness_message(restamped))
                        if room.link is not None:  # other nodes relay this client's presence too
                            room.link.publish_awareness(restamped)
            elif isinstance(result, SessionNotFoundError):
                deleted = True
                client.close(closecodes.NOT_FOUND, "this session was deleted")
            else:
                log.info("room=%r %s: access removed", room.name, client.principal.id)
                client.close(closecodes.FORBIDDEN, str(result))
        if deleted:  # deleted on another node (or by the CLI): its room goes here too
            await self.session_deleted(room.name)
