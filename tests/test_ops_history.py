"""Version history: edit, snapshot, edit more, restore a file to the snapshot. Every open client
shows the restored content and keeps editing; the history lists the restore. Viewers read only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pycrdt import Array, Doc, Map, Text

from tests.access_client import Http, add_comment, yclient
from tests.pyclient import pycrdt_client
from tests.support import TandemServer, running_server
from tests.support import eventually as until

pytestmark = pytest.mark.anyio

HISTORY_ENV = {
    "TANDEM_HISTORY_IDLE_SECONDS": "0.3",
    "TANDEM_HISTORY_POLL_SECONDS": "0.1",
    "TANDEM_HISTORY_MAX_INTERVAL_SECONDS": "600",
}


@pytest.fixture(scope="module")
def history_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    data = tmp_path_factory.mktemp("data")
    with running_server(data, database_url, "--sandbox", "off", env=HISTORY_ENV) as srv:
        yield srv


def files(doc: Doc) -> dict[str, str]:
    return {k: str(v) for k, v in doc.get("files", type=Map).items()}


def versions(http: Http, room: str, **params: Any) -> list[dict[str, Any]]:
    r = http.get(f"/api/sessions/{room}/history", params=params)
    assert r.status_code == 200, r.text
    return r.json()["versions"]  # type: ignore[no-any-return]


async def wait_versions(http: Http, room: str, count: int) -> list[dict[str, Any]]:
    with anyio.fail_after(20):
        while len(found := versions(http, room)) < count:
            await anyio.sleep(0.05)
    return found


async def test_edit_snapshot_edit_restore_file(history_server: TandemServer) -> None:
    room = f"hist-{uuid.uuid4().hex[:8]}"
    http = Http(history_server.http_url)
    async with (
        pycrdt_client(history_server.ws_url, room) as (doc_a, prov_a),
        pycrdt_client(history_server.ws_url, room) as (doc_b, prov_b),
    ):
        await prov_a.synced.wait()
        await prov_b.synced.wait()
        fa = doc_a.get("files", type=Map)
        fa["src/app.py"] = Text("def main():\n    return 1\n")
        fa["README.md"] = Text("# demo\n")
        await until(lambda: files(doc_b) == files(doc_a))
        # Idle for history_idle_seconds: an automatic version.
        v1 = (await wait_versions(http, room, 1))[0]
        assert v1["kind"] == "auto"
        assert v1["files"] == ["README.md", "src/app.py"]
        assert v1["authors"], v1
        snapshot = files(doc_a)

        # Edit more, from both clients.
        app_a = fa["src/app.py"]
        app_a.insert(len(app_a), "\ndef extra():\n    return 2\n")
        fb = doc_b.get("files", type=Map)
        readme_b = fb["README.md"]
        readme_b.insert(len(readme_b), "more docs\n")
        await until(lambda: files(doc_b) == files(doc_a) and "extra" in files(doc_b)["src/app.py"])
        v2 = (await wait_versions(http, room, 2))[0]
        assert set(v2["files"]) == {"README.md", "src/app.py"}
        assert versions(http, room, file="README.md")[0]["id"] == v2["id"]

        # The diff from v1 to now shows the new function.
        diff = http.get(f"/api/sessions/{room}/history/{v1['id']}/diff", params={"file": "src/app.py"}).json()
        assert diff["files"][0]["status"] == "changed"
        assert "+def extra():" in diff["files"][0]["diff"]
        old = http.get(f"/api/sessions/{room}/history/{v1['id']}/file", params={"path": "src/app.py"}).json()
        assert old["content"] == snapshot["src/app.py"]

        # Restore one file: a new change on top, every open client converges.
        r = http.post(f"/api/sessions/{room}/history/{v1['id']}/restore", json={"file": "src/app.py"})
        assert r.status_code == 200, r.text
        assert r.json()["restored"] == ["src/app.py"]
        await until(
            lambda: files(doc_a)["src/app.py"] == snapshot["src/app.py"] == files(doc_b)["src/app.py"]
        )
        assert files(doc_a)["README.md"] == "# demo\nmore docs\n"  # the other file keeps its edits

        # Both keep editing the restored file.
        app_a.insert(len(app_a), "# after restore (a)\n")
        app_b = fb["src/app.py"]
        await until(lambda: "(a)" in str(app_b))
        app_b.insert(0, "# top (b)\n")
        await until(lambda: str(app_a).startswith("# top (b)\n"))
        assert files(doc_a) == files(doc_b)

        listed = versions(http, room)
        restore = next(v for v in listed if v["kind"] == "restore")
        assert f"version {v1['id']}" in restore["note"] and restore["files"] == ["src/app.py"]
        # The replaced state was kept too: nothing is rewritten.
        assert any(v["id"] == v2["id"] for v in listed)
        # A fresh client (and the store) sees the same document.
    async with pycrdt_client(history_server.ws_url, room) as (doc_c, prov_c):
        await prov_c.synced.wait()
        await until(lambda: files(doc_c).get("src/app.py", "").startswith("# top (b)\n"))


async def test_whole_session_restore_and_manual_version(history_server: TandemServer) -> None:
    room = f"hist-all-{uuid.uuid4().hex[:8]}"
    http = Http(history_server.http_url)
    async with pycrdt_client(history_server.ws_url, room) as (doc, prov):
        await prov.synced.wait()
        f = doc.get("files", type=Map)
        f["a.txt"] = Text("alpha\n")
        await anyio.sleep(0.1)
        manual = http.post(f"/api/sessions/{room}/history")
        assert manual.status_code == 201, manual.text
        assert manual.json()["kind"] == "manual"
        f["b.txt"] = Text("beta\n")
        a = f["a.txt"]
        a.insert(0, "changed ")
        diff_url = f"/api/sessions/{room}/history/{manual.json()['id']}/diff"
        await until(lambda: len(http.get(diff_url).json()["files"]) == 2)  # the server has both edits
        r = http.post(f"/api/sessions/{room}/history/{manual.json()['id']}/restore", json={})
        assert r.status_code == 200, r.text
        assert sorted(r.json()["restored"]) == ["a.txt", "b.txt"]
        await until(lambda: files(doc) == {"a.txt": "alpha\n"})
    assert http.get(f"/api/sessions/{room}/history/999999/diff").status_code == 404


@contextmanager
def owned_session(tmp_path: Path, database_url: str, title: str) -> Iterator[tuple[TandemServer, Http, str]]:
    """An authenticated server with history on, an owner signed up, and the owner's new session."""
    with running_server(
        tmp_path / "data", database_url, "--sandbox", "off", auth=True, env=HISTORY_ENV
    ) as srv:
        owner = Http(srv.http_url)
        owner.signup(f"owner{uuid.uuid4().hex[:6]}", "correct horse battery")
        yield srv, owner, owner.post("/api/sessions", json={"title": title}).json()["id"]


async def test_viewers_read_history_editors_restore(tmp_path: Path, database_url: str) -> None:
    with owned_session(tmp_path, database_url, "history") as (srv, owner, sid):
        viewer_token = owner.post(f"/api/sessions/{sid}/links", json={"role": "viewer"}).json()["token"]
        async with yclient(srv.ws_url, sid, cookie=owner.cookie_header()) as client:
            await client.edit(lambda d: d.get("files", type=Map).__setitem__("main.py", Text("print(1)\n")))
            await until(lambda: len(versions(owner, sid)) >= 1, timeout=20)
        version = versions(owner, sid)[0]
        assert version["authors"][0]["name"].startswith("owner")
        viewer = httpx.Client(base_url=srv.http_url)
        r = viewer.get(f"/api/sessions/{sid}/history", params={"token": viewer_token})
        assert r.status_code == 200 and r.json()["versions"][0]["id"] == version["id"]
        denied = Http(srv.http_url).post(
            f"/api/sessions/{sid}/history/{version['id']}/restore", params={"token": viewer_token}, json={}
        )
        assert denied.status_code == 403, denied.text
        assert httpx.get(f"{srv.http_url}/api/sessions/{sid}/history").status_code == 401
        ok = owner.post(f"/api/sessions/{sid}/history/{version['id']}/restore", json={})
        assert ok.status_code == 200, ok.text


async def test_a_commenter_who_only_commented_is_not_an_author(tmp_path: Path, database_url: str) -> None:
    with owned_session(tmp_path, database_url, "credits") as (srv, owner, sid):
        token = owner.post(f"/api/sessions/{sid}/links", json={"role": "commenter"}).json()["token"]
        guest = Http(srv.http_url)
        guest.join(token, "Carla Commenter")
        # The comment first, then the owner's edit: both fall in the version the edit makes.
        async with yclient(srv.ws_url, sid, cookie=guest.cookie_header()) as commenter:
            await until(lambda: commenter.synced.is_set())
            await commenter.edit(add_comment("looks good", await commenter.whoami()))
            async with yclient(srv.ws_url, sid, cookie=owner.cookie_header()) as client:
                await until(lambda: client.synced.is_set())
                await until(lambda: len(list(client.doc.get("comments", type=Array))) == 1)
                await client.edit(
                    lambda d: d.get("files", type=Map).__setitem__("main.py", Text("print(1)\n"))
                )
                await until(lambda: any(v["files"] for v in versions(owner, sid)), timeout=20)
        credited = [a["name"] for v in versions(owner, sid) for a in v["authors"]]
        assert credited and all(name.startswith("owner") for name in credited), credited
