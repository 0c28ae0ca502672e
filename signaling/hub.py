"""The signaling hub: participants of each session, sharing state, topology, and message routing.

Messages go only between participants of one session. Each participant has its own bounded outbox
(the route drains it), so one slow browser never stalls the others. Topology per share: the
browsers connect directly (mesh) while the audience is small; past `mesh_max_viewers` — or when a
viewer asks for the light tier — the sharer publishes once to the relay and every viewer subscribes
there. The switch is sticky for the rest of that share (no flapping) and clients follow `sharing`.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from signaling.errors import (
    ForbiddenError,
    MessageError,
    MessageRateError,
    NotJoinedError,
    RelayError,
    SignalingError,
    UnknownPeerError,
)
from signaling.ice import IceConfig
from signaling.messages import (
    RELAY,
    Answer,
    CandidateMsg,
    Join,
    Leave,
    Offer,
    Share,
    Watch,
    error_frame,
    frame,
    parse_client_message,
    sends_video,
)
from signaling.types import Candidate, Identity, MediaRelay, Outbox

log = logging.getLogger("tandem.signal")

Mode = Literal["mesh", "relay"]
# Close codes the hub asks for (the route maps nothing: these are the values sent).
CLOSE_NORMAL = 1000
CLOSE_ABUSE = 4429  # too many bad messages (backend.closecodes.SIGNAL_ABUSE)
CLOSE_FORBIDDEN = 4403


@dataclass(frozen=True)
class HubLimits:
    max_message_bytes: int = 64 * 1024
    max_errors: int = 20  # bad messages per connection before it is closed
    messages_per_second: float = 50.0
    message_burst: int = 200
    max_participants_per_session: int = 200
    mesh_max_viewers: int = 3  # beyond: the relay (when there is one)


@dataclass(eq=False)
class Participant:
    id: str
    session: str
    identity: Identity
    outbox: Outbox
    joined: bool = False
    sharing: bool = False
    mode: Mode = "mesh"  # of this participant's share
    watching: dict[str, bool] = field(default_factory=dict)  # sharer id -> light tier
    errors: int = 0
    _tokens: float = 0.0
    _refilled: float = field(default_factory=time.monotonic)

    def public(self) -> dict[str, Any]:
        i = self.identity
        return {
            "id": self.id,
            "userId": i.user_id,
            "name": i.name,
            "color": i.color,
            "role": i.role,
            "sharing": self.sharing,
            "mode": self.mode if self.sharing else None,
        }

    def send(self, text: str) -> None:
        self.outbox.offer(text)  # a full outbox closes the connection itself


class SignalingHub:
    def __init__(self, relay: MediaRelay | None, ice: IceConfig, limits: HubLimits) -> None:
        self.relay = relay
        self.ice = ice
        self.limits = limits
        self.sessions: dict[str, dict[str, Participant]] = {}

    # -- connections -------------------------------------------------------------------------------

    def connect(self, session: str, identity: Identity, outbox: Outbox) -> Participant:
        peers = self.sessions.setdefault(session, {})
        if len(peers) >= self.limits.max_participants_per_session:
            raise SignalingError("this session's screen share is full")
        pid = secrets.token_urlsafe(6)
        p = Participant(pid, session, identity, outbox, _tokens=float(self.limits.message_burst))
        peers[pid] = p
        return p

    async def disconnect(self, p: Participant) -> None:
        peers = self.sessions.get(p.session, {})
        if peers.pop(p.id, None) is None:
            return
        if not peers:
            self.sessions.pop(p.session, None)
        if p.sharing:
            await self._stop_share(p)
        for sharer_id in list(p.watching):
            sharer = peers.get(sharer_id)
            if sharer is not None:
                sharer.send(frame("watch", **{"from": p.id}, on=False))
        if self.relay is not None:
            try:
                await self.relay.drop_peer(p.session, p.id)
            except RelayError as exc:
                log.warning("session=%r peer=%s: relay cleanup failed: %s", p.session, p.id, exc)
        if p.joined:
            self._broadcast(p.session, frame("leave", **{"from": p.id}))

    async def update_identity(self, p: Participant, identity: Identity) -> None:
        """Access changed (role change): a participant who may no longer share stops sharing."""
        p.identity = identity
        if p.sharing and not identity.may_share:
            await self._stop_share(p)

    def participants(self, session: str) -> list[Participant]:
        return list(self.sessions.get(session, {}).values())

    # -- messages ----------------------------------------------------------------------------------

    async def handle(self, p: Participant, text: str) -> None:
        """One text frame from `p`: its effect, or an `error` back (repeated abuse closes)."""
        try:
            self._take_token(p)
            message = parse_client_message(text, self.limits.max_message_bytes)
            if not isinstance(message, Join) and not p.joined:
                raise NotJoinedError("send `join` first")
            await self._dispatch(p, message)
        except SignalingError as exc:
            p.errors += 1
            log.info("session=%r peer=%s: %s (%s)", p.session, p.id, exc.code, exc)
            p.send(error_frame(exc.code, str(exc)))
            if p.errors > self.limits.max_errors:
                p.outbox.close(CLOSE_ABUSE, "too many bad signaling messages")

    def _take_token(self, p: Participant) -> None:
        now = time.monotonic()
        p._tokens = min(
            float(self.limits.message_burst),
            p._tokens + (now - p._refilled) * self.limits.messages_per_second,
        )
        p._refilled = now
        if p._tokens < 1:
            raise MessageRateError(f"at most {self.limits.messages_per_second:g} messages per second")
        p._tokens -= 1

    async def _dispatch(self, p: Participant, m: Any) -> None:
        if isinstance(m, Join):
            self._join(p)
        elif isinstance(m, Leave):
            await self.disconnect(p)
            p.outbox.close(CLOSE_NORMAL, "left")
        elif isinstance(m, Share):
            await self._share(p, m)
        elif isinstance(m, Watch):
            self._watch(p, m)
        elif isinstance(m, Offer | Answer | CandidateMsg):
            if m.to == RELAY:
                await self._to_relay(p, m)
            else:
                self._to_peer(p, m)

    def _join(self, p: Participant) -> None:
        if p.joined:
            raise MessageError("already joined")
        p.joined = True
        others = [q for q in self.participants(p.session) if q.joined and q is not p]
        p.send(
            frame(
                "peers",
                id=p.id,
                you=p.public(),
                peers=[q.public() for q in others],
                iceServers=self.ice.servers_for(p.identity.user_id),
                meshMaxViewers=self.limits.mesh_max_viewers,
                relay=self.relay is not None,
            )
        )
        for q in others:
            q.send(frame("join", **{"from": p.id}, peer=p.public()))

    async def _share(self, p: Participant, m: Share) -> None:
        if not m.on:
            if p.sharing:
                await self._stop_share(p)
            return
        if not p.identity.may_share:
            raise ForbiddenError("your role may not share its screen")
        if not p.sharing:
            p.sharing, p.mode = True, "mesh"
            self._announce(p)

    async def _stop_share(self, p: Participant) -> None:
        p.sharing, p.mode = False, "mesh"
        for q in self.participants(p.session):
            q.watching.pop(p.id, None)
        if self.relay is not None:
            try:
                await self.relay.unpublish(p.session, p.id)
            except RelayError as exc:
                log.warning("session=%r peer=%s: unpublish failed: %s", p.session, p.id, exc)
        self._broadcast(p.session, frame("sharing", **{"from": p.id}, on=False))

    def _announce(self, sharer: Participant) -> None:
        self._broadcast(sharer.session, frame("sharing", **{"from": sharer.id}, on=True, mode=sharer.mode))

    def _watch(self, p: Participant, m: Watch) -> None:
        sharer = self._peer(p, m.to)
        if not m.on:
            if p.watching.pop(sharer.id, None) is not None:
                sharer.send(frame("watch", **{"from": p.id}, on=False))
            return
        if not sharer.sharing:
            raise UnknownPeerError(f"{m.to} is not sharing")
        if sharer is p:
            raise MessageError("you cannot watch your own share")
        p.watching[sharer.id] = m.light
        before = sharer.mode
        self._retopologize(sharer)
        sharer.send(frame("watch", **{"from": p.id}, on=True, light=m.light))
        if sharer.mode != before:
            log.info("session=%r: %s's share moves to the relay", sharer.session, sharer.id)
            self._announce(sharer)  # everyone (the sharer included) follows the switch
        else:
            p.send(frame("sharing", **{"from": sharer.id}, on=True, mode=sharer.mode))

    def _retopologize(self, sharer: Participant) -> None:
        if self.relay is None or sharer.mode == "relay":
            return
        audience = self.participants(sharer.session)
        viewers = [q.watching[sharer.id] for q in audience if sharer.id in q.watching]
        if len(viewers) > self.limits.mesh_max_viewers or any(viewers):
            sharer.mode = "relay"

    def _peer(self, p: Participant, pid: str) -> Participant:
        q = self.sessions.get(p.session, {}).get(pid)
        if q is None or not q.joined:
            raise UnknownPeerError(f"no peer {pid} in this session")
        return q

    def _to_peer(self, p: Participant, m: Offer | Answer | CandidateMsg) -> None:
        q = self._peer(p, m.to)
        if q is p:
            raise MessageError("cannot signal yourself")
        fields = m.model_dump(exclude={"to", "type"}, exclude_none=True)
        if isinstance(m, Offer | Answer) and sends_video(m.sdp) and not p.identity.may_share:
            raise ForbiddenError("your role may not send media")
        q.send(frame(m.type, **{"from": p.id}, **fields))

    async def _to_relay(self, p: Participant, m: Offer | Answer | CandidateMsg) -> None:
        relay = self.relay
        if relay is None:
            raise RelayError("this server has no media relay")
        stream = m.stream or p.id
        if isinstance(m, Answer):
            raise MessageError("the relay never offers: nothing to answer")
        if isinstance(m, CandidateMsg):
            c = m.candidate
            candidate = None if c is None else Candidate(c.candidate, c.sdpMid, c.sdpMLineIndex)
            await relay.add_candidate(p.session, p.id, stream, candidate)
            return
        if stream == p.id:
            if not p.identity.may_share:
                raise ForbiddenError("your role may not publish a screen share")
            if not p.sharing:
                raise MessageError("send `share` before publishing")
            sdp = await relay.publish(p.session, p.id, m.sdp)
        else:
            if sends_video(m.sdp) and not p.identity.may_share:
                raise ForbiddenError("your role may not send media")
            sharer = self._peer(p, stream)
            if not sharer.sharing:
                raise UnknownPeerError(f"{stream} is not sharing")
            p.watching.setdefault(sharer.id, m.light)
            sdp = await relay.subscribe(p.session, stream, p.id, m.sdp, m.light)
        p.send(frame("answer", **{"from": RELAY}, stream=stream, sdp=sdp))

    def _broadcast(self, session: str, text: str) -> None:
        for q in self.participants(session):
            if q.joined:
                q.send(text)
