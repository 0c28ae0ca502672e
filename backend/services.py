"""The services a running app holds, built in the lifespan (no import-time state)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from backend.auth.types import Authenticator
from backend.rooms.manager import RoomManager
from backend.settings import Settings
from backend.store.types import DocumentStore


@dataclass
class Services:
    settings: Settings
    engine: Engine
    store: DocumentStore
    rooms: RoomManager
    authenticator: Authenticator
