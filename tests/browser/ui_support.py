"""Setup for the room-UI scenarios against the default, authenticated server: an owner account,
a session, share links per role and guests who joined by link, through the REST API (the
UI-only journey test walks the same steps in the browser). Each Node scenario gets the cookies
of every person in `TANDEM_SETUP` (JSON) and sets them in its own browser contexts."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.access_client import Http
from tests.support import TandemServer, running_server

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def auth_server(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    data = tmp_path_factory.mktemp("browser-ui-data")
    with running_server(data, None, auth=True, env={"TANDEM_SANDBOX": "off"}) as srv:
        yield srv


class Room:
    """One session: its owner (an account) and people who joined it by link, each a cookie jar."""

    _accounts = 0

    def __init__(self, base: str, owner: str = "alice", title: str = "Review") -> None:
        self.base = base
        self.owner = Http(base)
        Room._accounts += 1
        self.owner_name = owner if Room._accounts == 1 else f"{owner}{Room._accounts}"
        self.owner.signup(self.owner_name, "correct horse battery")
        r = self.owner.post("/api/sessions", json={"title": title})
        assert r.status_code == 201, r.text
        self.session: str = r.json()["id"]
        self.people: dict[str, list[dict[str, str]]] = {self.owner_name: self._cookies(self.owner)}
        self.links: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _cookies(http: Http) -> list[dict[str, str]]:
        return [{"name": c.name, "value": c.value or ""} for c in http.client.cookies.jar]

    def link(self, role: str) -> dict[str, Any]:
        if role not in self.links:
            r = self.owner.post(f"/api/sessions/{self.session}/links", json={"role": role})
            assert r.status_code == 201, r.text
            self.links[role] = r.json()
        return self.links[role]

    def guest(self, name: str, role: str) -> str:
        """A guest who typed `name` on the join page of a `role` link."""
        http = Http(self.base)
        http.join(self.link(role)["token"], name)
        self.people[name] = self._cookies(http)
        return name

    def setup(self, **extra: Any) -> dict[str, Any]:
        return {"session": self.session, "owner": self.owner_name, "people": self.people, **extra}


def run_ui(
    script: str, name: str, base_url: str, setup: dict[str, Any], timeout: float = 180
) -> dict[str, Any]:
    """Run one scenario of a Node script; its last stdout line is a JSON summary."""
    proc = subprocess.run(
        ["node", str(HERE / script), name, base_url],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TANDEM_SETUP": json.dumps(setup)},
    )
    if proc.returncode != 0:
        pytest.fail(f"scenario {name} failed (exit {proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
