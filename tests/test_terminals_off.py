"""Terminals off: `TANDEM_SANDBOX=off`, or `auto` without the image — /term closes with 4503 and
`/api/sandbox` says why and how to turn terminals on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import TandemServer
from tests.termclient import get_json, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


@pytest.fixture
def off_srv(tmp_path: Path) -> Iterator[TandemServer]:
    with sandbox_server(tmp_path / "data", mode="off") as srv:
        yield srv


@pytest.fixture
def no_image_srv(tmp_path: Path) -> Iterator[TandemServer]:
    with sandbox_server(
        tmp_path / "data",
        mode="auto",
        TANDEM_SANDBOX_IMAGE="tandem-no-such-image:latest",
        TANDEM_SANDBOX_BUILD_MISSING="false",
    ) as srv:
        yield srv


async def test_sandbox_off_closes_term_with_a_clear_code(off_srv: TandemServer) -> None:
    body = await get_json(off_srv.http_url + "/api/sandbox")
    assert body["enabled"] is False and body["mode"] == "off"
    assert "TANDEM_SANDBOX=off" in body["reason"]
    async with term_client(term_url(off_srv, "any-session")) as c:
        code, reason = await c.closed()
    assert code == 4503 and "off" in reason
    error = c.controls[0]
    assert error["type"] == "error" and error["code"] == "sandbox_off"


async def test_auto_without_the_image_says_how_to_build_it(no_image_srv: TandemServer) -> None:
    body = await get_json(no_image_srv.http_url + "/api/sandbox")
    assert body["enabled"] is False and body["mode"] == "auto" and body["phase"] == "image_missing"
    assert "tandem-no-such-image:latest" in body["reason"]
    assert "tandem sandbox build-image" in body["hint"]
    async with term_client(term_url(no_image_srv, "s")) as c:
        assert (await c.closed())[0] == 4503
