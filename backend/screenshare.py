"""Screen share wiring: the signaling hub and the aiortc relay, built from settings; it is a
session listener (backend.lifecycle) that re-checks open signaling connections when a session's
access changes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from backend import closecodes
from backend.access.authorize import Action, authorize
from backend.auth.types import Authenticator, Principal
from backend.errors import AccessDeniedError, SessionNotFoundError
from backend.settings import Settings
from signaling import IceConfig, Participant, SignalingHub
from signaling.hub import HubLimits
from signaling.relay import AiortcRelay, RelayConfig
from signaling.types import Identity

log = logging.getLogger("tandem.signal")


def identity_of(principal: Principal, session: str) -> Identity:
    return Identity(
        user_id=principal.id,
        name=principal.name,
        color=principal.color,
        role=str(principal.role),
        may_share=authorize(principal, session, Action.SHARE_SCREEN),
    )


@dataclass
class ScreenShareService:
    hub: SignalingHub
    relay: AiortcRelay | None
    authenticator: Authenticator
    principals: dict[Participant, Principal] = field(default_factory=dict)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, authenticator: Authenticator
    ) -> AsyncIterator[ScreenShareService]:
        async with AsyncExitStack() as stack:
            relay = None
            if settings.screenshare_relay:
                config = RelayConfig(
                    ice_urls=settings.screenshare_relay_ice_urls,
                    host_addresses=settings.screenshare_host_addresses,
                    viewer_queue_frames=settings.relay_viewer_queue_frames,
                    keyframe_interval_seconds=settings.relay_keyframe_interval_seconds,
                    max_streams=settings.relay_max_streams,
                    max_viewers_per_stream=settings.relay_max_viewers_per_stream,
                    light_fps=settings.light_fps,
                    light_height=settings.light_height,
                    light_bitrate=settings.light_bitrate,
                )
                relay = await stack.enter_async_context(AiortcRelay.open(config))
            ice = IceConfig(
                settings.screenshare_ice_urls,
                settings.screenshare_turn_secret,
                settings.screenshare_turn_ttl_seconds,
            )
            limits = HubLimits(
                max_message_bytes=settings.signal_max_message_bytes,
                max_errors=settings.signal_max_errors,
                messages_per_second=settings.signal_messages_per_second,
                message_burst=settings.signal_message_burst,
                max_participants_per_session=settings.signal_max_participants_per_session,
                mesh_max_viewers=settings.screenshare_mesh_max_viewers,
            )
            yield cls(SignalingHub(relay, ice, limits), relay, authenticator)

    async def access_changed(self, session: str) -> None:
        """New roles apply at once, lost access closes (4403/4404)."""
        for p in self.hub.participants(session):
            principal = self.principals.get(p)
            if principal is None:
                continue
            try:
                fresh = await self.authenticator.recheck(principal)
            except SessionNotFoundError:
                p.outbox.close(closecodes.NOT_FOUND, "this session was deleted")
                continue
            except AccessDeniedError as exc:
                p.outbox.close(closecodes.FORBIDDEN, str(exc))
                continue
            if fresh != principal:
                log.info("session=%r %s: signaling role -> %s", session, fresh.id, fresh.role)
                self.principals[p] = fresh
                await self.hub.update_identity(p, identity_of(fresh, session))

    async def session_deleted(self, session: str) -> None:
        """Nothing is kept per session: its connections close (4404) on the access change."""
        return None
