"""Version history stores deltas, records no empty versions, and credits terminal typists.

Real `tandem serve` (SQLite), real pycrdt clients; the terminal test runs a real Docker shell.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from tests.access_client import Http
from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as until
from tests.termclient import sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

HISTORY_ENV = {
    "TANDEM_HISTORY_IDLE_SECONDS": "0.3",
    "TANDEM_HISTORY_POLL_SECONDS": "0.1",
    "TANDEM_HISTORY_MAX_INTERVAL_SECONDS": "600",
}


def versions(http: Http, room: str) -> list[dict[str, Any]]:
    r = http.get(f"/api/sessions/{room}/history")
    assert r.status_code == 200, r.text
    return r.json()["versions"]  # type: ignore[no-any-return]


def stored(data: Path, room: str) -> list[tuple[int, int | None, int]]:
    """(id, base_id, bytes) of every stored version, oldest first."""
    with sqlite3.connect(data / "tandem.db") as conn:
        rows = conn.execute(
            "SELECT id, base_id, length(data) FROM session_version WHERE session = ? ORDER BY id", (room,)
        ).fetchall()
    return [(int(i), b, int(n)) for i, b, n in rows]


def files(doc: Doc) -> dict[str, str]:
    return {k: str(v) for k, v in doc.get("files", type=Map).items()}


async def test_versions_after_the_first_are_small_deltas_and_no_version_is_empty(tmp_path: Path) -> None:
    room = f"delta-{uuid.uuid4().hex[:8]}"
    big = {f"src/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" * 400 for i in range(30)}  # ~0.35 MB
    with_server = TandemServer(tmp_path, None, "--sandbox", "off", env=HISTORY_ENV).start()
    try:
        http = Http(with_server.http_url)
        async with pycrdt_client(with_server.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            fmap = doc.get("files", type=Map)
            for path, text in big.items():
                fmap[path] = Text(text)
            await until(lambda: len(versions(http, room)) == 1, what="the first version")
            for step in range(3):
                text = fmap[f"src/m{step}.py"]
                text.insert(0, f"# step {step}\n")
                want = step + 2
                await until(lambda: len(versions(http, room)) == want, what=f"version {want}")  # noqa: B023
            # A change no file shows (the session's title): no version of its own.
            doc.get("meta", type=Map)["title"] = "renamed"
            snapshot = files(doc)
        listed = versions(http, room)
        assert [v["files"] for v in listed] == [["src/m2.py"], ["src/m1.py"], ["src/m0.py"], sorted(big)]
        rows = stored(tmp_path, room)
        first_bytes = rows[0][2]
        assert rows[0][1] is None and first_bytes > 300_000  # a checkpoint: the whole document
        assert all(base == prev[0] for (_, base, _), prev in zip(rows[1:], rows, strict=False))
        assert all(nbytes < 1_000 for _, _, nbytes in rows[1:]), rows  # one-line edits: tiny deltas
        # Each version still reads back as it was: the oldest's file, through the diff route.
        old = http.get(
            f"/api/sessions/{room}/history/{listed[-1]['id']}/file", params={"path": "src/m0.py"}
        ).json()
        assert old["content"] == big["src/m0.py"]
        newest = http.get(f"/api/sessions/{room}/history/{listed[0]['id']}/diff").json()
        assert newest["files"] == []  # the newest version is what the server holds now
    finally:
        with_server.stop()  # the shutdown unloads the room: the title change makes no version
    again = TandemServer(tmp_path, None, "--sandbox", "off", env=HISTORY_ENV).start()
    try:
        http = Http(again.http_url)
        assert len(versions(http, room)) == 4, versions(http, room)
        async with pycrdt_client(again.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            await until(lambda: files(doc) == snapshot)
            assert doc.get("meta", type=Map).get("title") == "renamed"  # kept, just not a version
            # The room loaded in a state after the newest version's (the title): the next version
            # is still a delta on it, not a copy of the whole document.
            doc.get("files", type=Map)["src/m3.py"].insert(0, "# after the restart\n")
            await until(lambda: len(versions(http, room)) == 5, what="a version after the restart")
        rows = stored(tmp_path, room)
        assert rows[-1][1] == rows[-2][0] and rows[-1][2] < 1_000, rows
        newest = versions(http, room)[0]
        assert newest["files"] == ["src/m3.py"]
        back = http.get(f"/api/sessions/{room}/history/{newest['id']}/file", params={"path": "src/m3.py"})
        assert back.json()["content"] == "# after the restart\n" + big["src/m3.py"]
    finally:
        again.stop()


@pytest.fixture(scope="module")
def term_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with sandbox_server(tmp_path_factory.mktemp("typed"), **HISTORY_ENV) as server:
        yield server


@pytest.mark.docker
async def test_files_changed_from_a_terminal_are_credited_to_who_typed(term_srv: TandemServer) -> None:
    session = f"typed-{uuid.uuid4().hex[:8]}"
    srv = term_srv
    http = Http(srv.http_url)
    async with term_client(term_url(srv, session) + "?name=Alice") as alice:
        await alice.read_until(b"$ ")
        await alice.run("echo hello > from-alice.txt; echo made-$((1+1))", "made-2")

        def credited() -> list[dict[str, Any]]:
            return [v for v in versions(http, session) if "from-alice.txt" in v["files"]]

        await until(lambda: bool(credited()), timeout=60, what="a version with the terminal's file")
        version = credited()[0]
        assert [a["name"] for a in version["authors"]] == ["Alice"], version
    listed = versions(http, session)
    # Opening the terminal changed the doc (its `terminals` entry) but no file: no version.
    assert all(v["files"] for v in listed), listed
