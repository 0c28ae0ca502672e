"""`max_active_sandboxes` (#16 item 6), at 1, on a real server with real Docker (busybox): a second
session's terminal is refused with a message the panel shows, everything else keeps working, and
the refused session gets its sandbox once the first one's is deactivated."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from pycrdt import Map, Text

from backend.settings import Settings
from backend.terminals.paths import workspace_dir
from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as wait_for
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.timeout(180)]

REFUSAL = "all 1 sandboxes are in use; try again when one frees"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    # Detached terminals are hung up after 1 s, so the first session frees its sandbox quickly.
    env = {"TANDEM_MAX_ACTIVE_SANDBOXES": "1", "TANDEM_TERMINAL_DETACHED_CLOSE_SECONDS": "1"}
    with sandbox_server(tmp_path_factory.mktemp("sandbox-limit"), **env) as server:
        yield server


async def _refused(srv: TandemServer, session: str) -> tuple[dict[str, object], int, str]:
    async with term_client(term_url(srv, session)) as client:
        error = await client.control_until(lambda m: m["type"] in ("error", "resync"))
        code, reason = await client.closed()
    return error, code, reason


async def test_one_sandbox_too_many_is_refused_clearly_and_nothing_else_breaks(srv: TandemServer) -> None:
    first, second = new_session(), new_session()
    async with term_client(term_url(srv, first)) as a:
        await a.run("echo first-$((1+1))", "first-2")
        error, code, reason = await _refused(srv, second)
        assert error == {"type": "error", "code": "sandboxes_full", "message": REFUSAL}
        assert (code, reason) == (1013, REFUSAL)  # 1013: the page retries, showing the message
        # The active session opens another terminal (no new sandbox), and its first one answers.
        async with term_client(term_url(srv, first, "other")) as other:
            await other.run("echo other-$((2+2))", "other-4")
        await a.run("echo still-$((3+3))", "still-6")
        # The refused session's room edits and syncs its workspace as ever (no container needed).
        async with pycrdt_client(srv.ws_url, second) as (doc, provider):
            await provider.synced.wait()
            doc.get("files", type=Map)["notes.txt"] = Text("kept\n")
            notes = workspace_dir(Settings(data=srv.data), second) / "notes.txt"
            await wait_for(lambda: notes.exists() and notes.read_text() == "kept\n", timeout=15)
    # Nobody watches the first session's terminal: it is hung up, the session deactivated, and
    # the second session's terminal starts (polled with a deadline, as the page retries).
    with anyio.fail_after(90):
        while True:
            async with term_client(term_url(srv, second)) as b:
                first_frame = await b.control_until(lambda m: m["type"] in ("error", "resync"))
                if first_frame["type"] == "resync":
                    out = await b.run("cat notes.txt; echo second-$((4+4))", "second-8")
                    assert b"kept" in out
                    # Now the first session is the one refused.
                    error, code, _ = await _refused(srv, first)
                    assert error["code"] == "sandboxes_full" and code == 1013
                    break
                assert first_frame["message"] == REFUSAL
            await anyio.sleep(0.2)
