"""The room server's answers to the adversarial review (issue 14, findings 4, 5, 7, 8 and the
presence takeover): each attack is run against a real `tandem serve` with raw WebSocket clients.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, create_awareness_message, create_update_message
from websockets.asyncio.client import connect

from backend import closecodes
from backend.rooms.awareness import encode_awareness
from tests.access_client import Http, YClient, add_comment, insert_file, ws_url, yclient
from tests.support import TandemServer, running_server
from tests.support import eventually as until

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
LIMITS = {
    "TANDEM_AWARENESS_MAX_STATE_BYTES": "4096",
    "TANDEM_AWARENESS_MAX_CLIENT_IDS": "2",
    "TANDEM_AWARENESS_RATE_PER_SECOND": "5",
    "TANDEM_AWARENESS_BURST": "10",
}


@dataclass
class World:
    server: TandemServer
    sid: str
    http: dict[str, Http] = field(default_factory=dict)

    def cookie(self, who: str) -> str | None:
        return self.http[who].cookie_header() or None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("hardening")
    with running_server(data, f"sqlite:///{data / 'db.sqlite'}", auth=True, env=LIMITS) as server:
        owner = Http(server.http_url)
        owner.signup(f"owner-{uuid.uuid4().hex[:6]}", PASSWORD)
        sid = owner.post("/api/sessions", json={"title": "hardening"}).json()["id"]
        w = World(server, sid, {"owner": owner})
        for role in ("editor", "commenter", "viewer"):
            link = owner.post(f"/api/sessions/{sid}/links", json={"role": role}).json()
            guest = Http(server.http_url)
            guest.join(link["token"], f"{role} guest")
            w.http[role] = guest
        yield w


def awareness_frame(entries: list[tuple[int, int, Any]]) -> bytes:
    return create_awareness_message(encode_awareness([(c, k, json.dumps(s)) for c, k, s in entries]))


async def close_code_after(w: World, who: str, frames: list[bytes]) -> int | None:
    url = ws_url(w.server.ws_url, w.sid)
    async with connect(url, additional_headers={"cookie": w.cookie(who) or ""}, max_size=None) as ws:
        for frame in frames:
            try:
                await ws.send(frame)
            except Exception:  # noqa: BLE001 - closed by the server mid-burst: the code says why
                break
        try:
            async for _ in ws:
                pass
        except Exception:  # noqa: BLE001 - the close frame is what is asserted
            pass
        return ws.close_code


# -- finding 4: presence is bounded ----------------------------------------------------------


async def test_presence_over_its_bounds_closes_and_stores_nothing(world: World) -> None:
    async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("owner")) as watcher:
        await until(lambda: watcher.synced.is_set())
        big = {"blob": "x" * 5000}
        assert await close_code_after(world, "viewer", [awareness_frame([(9001, 1, big)])]) == 1009
        # One message with three client ids (limit 2): refused whole, even its small entries.
        three = [(9002, 1, {"a": 1}), (9003, 1, {"a": 2}), (9004, 1, {"a": 3})]
        assert await close_code_after(world, "viewer", [awareness_frame(three)]) == 1009
        # Faster than the bucket (10 at once, 5/s): closed with the rate code.
        flood = [awareness_frame([(9005, n, {"n": n})]) for n in range(1, 200)]
        assert await close_code_after(world, "viewer", flood) == closecodes.PRESENCE_RATE
        # Within bounds: stored and relayed.
        async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("viewer")) as ok:
            await ok.set_awareness({"file": "main.py"})
            await until(lambda: watcher.awareness.get(ok.doc.client_id, {}).get("file") == "main.py")
    async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("owner")) as fresh:
        await until(lambda: fresh.synced.is_set())
        await fresh.set_awareness({})
        await until(lambda: fresh.doc.client_id in fresh.awareness)
        assert not {9001, 9002, 9003, 9004} & fresh.awareness.keys()


# -- finding 7: the server's own entry cannot be faked ---------------------------------------


async def test_a_client_state_never_carries_the_servers_key(world: World) -> None:
    async with (
        yclient(world.server.ws_url, world.sid, cookie=world.cookie("owner")) as watcher,
        yclient(world.server.ws_url, world.sid, cookie=world.cookie("viewer")) as viewer,
    ):
        await viewer.set_awareness({"tandem": {"durable": "AAAA", "node": "fake"}, "file": "x"})
        await until(lambda: watcher.awareness.get(viewer.doc.client_id, {}).get("file") == "x")
        assert "tandem" not in watcher.awareness[viewer.doc.client_id]


# -- presence takeover -------------------------------------------------------------------------


async def test_a_viewer_cannot_take_a_disconnected_persons_presence_slot(world: World) -> None:
    async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("owner")) as watcher:
        async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("editor")) as editor:
            slot = editor.doc.client_id
            await editor.set_awareness({"file": "editor.py"})
            await until(lambda: watcher.awareness.get(slot, {}).get("file") == "editor.py")
        await until(lambda: slot not in watcher.awareness)
        async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("viewer")) as viewer:
            await viewer.ws.send(awareness_frame([(slot, 50, {"file": "taken.py"})]))
            await viewer.set_awareness({"file": "own.py"})  # handled after the attempt
            await until(lambda: watcher.awareness.get(viewer.doc.client_id, {}).get("file") == "own.py")
            assert slot not in watcher.awareness
        # The editor, reconnecting with the same id, gets its slot back.
        async with yclient(world.server.ws_url, world.sid, cookie=world.cookie("editor")) as again:
            await again.ws.send(awareness_frame([(slot, 60, {"file": "back.py"})]))
            await until(lambda: watcher.awareness.get(slot, {}).get("file") == "back.py")
            assert watcher.awareness[slot]["user"]["name"] == "editor guest"


# -- finding 5: a commenter cannot take an editor's edit ids --------------------------------


async def test_a_commenter_cannot_write_under_an_editors_client_id(world: World) -> None:
    base = world.server.ws_url
    path = f"ids-{uuid.uuid4().hex[:6]}.py"
    async with (
        yclient(base, world.sid, cookie=world.cookie("editor")) as editor,
        yclient(base, world.sid, cookie=world.cookie("commenter")) as commenter,
    ):
        await until(lambda: editor.synced.is_set() and commenter.synced.is_set())
        await editor.edit(insert_file(path, "one\n"))
        await until(lambda: path in commenter.doc.get("files", type=Map))
        # The crafted update: a well-formed comment under the editor's id, at its next clock.
        me = await commenter.whoami()
        forged: Doc = Doc(client_id=editor.doc.client_id)
        forged.apply_update(commenter.doc.get_update())
        before = forged.get_state()
        add_comment("taken ids", me)(forged)
        await commenter.ws.send(create_update_message(forged.get_update(before)))
        await editor.edit(insert_file(path, "two\n"))
        await commenter.set_awareness({"marker": 1})
        await until(lambda: editor.awareness.get(commenter.doc.client_id, {}).get("marker") == 1)
    async with yclient(base, world.sid, cookie=world.cookie("owner")) as probe:
        await until(lambda: probe.synced.is_set() and "two" in probe.file_text(path))
        assert probe.file_text(path) == "one\ntwo\n"
        assert all(dict(c).get("body") != "taken ids" for c in probe.doc.get("comments", type=Array))


# -- finding 8: comments are stamped and owned -----------------------------------------------


async def commenter_sends(w: World, make: Any) -> None:
    """On a fresh connection (a refused update's successors would depend on it): `make(me, doc)`
    returns the change; returns once the server has handled it."""
    async with yclient(w.server.ws_url, w.sid, cookie=w.cookie("commenter")) as commenter:
        await until(lambda: commenter.synced.is_set())
        me = await commenter.whoami()
        await commenter.edit(make(me, commenter.doc))
        marker = uuid.uuid4().hex
        await commenter.set_awareness({"marker": marker})  # frames are handled in order
        await until(lambda: commenter.awareness.get(commenter.doc.client_id, {}).get("marker") == marker)


async def test_comments_are_the_writers_own_and_well_formed(world: World) -> None:
    base = world.server.ws_url
    tag = uuid.uuid4().hex[:6]
    async with yclient(base, world.sid, cookie=world.cookie("owner")) as owner:
        await until(lambda: owner.synced.is_set())
        owner_id = await owner.whoami()
        await owner.edit(add_comment(f"owner's {tag}", owner_id))
        await until(lambda: f"owner's {tag}" in _bodies(owner))

    def index_of(doc: Doc) -> int:
        return [str(dict(c).get("body")) for c in doc.get("comments", type=Array)].index(f"owner's {tag}")

    attacks = [
        lambda me, d: add_comment(f"as alice {tag}", {**me, "name": "alice"}),
        lambda me, d: add_comment(f"as owner {tag}", owner_id),
        lambda me, d: _comment_with(f"bad date {tag}", me, createdAt="not-a-date"),
        lambda me, d: lambda doc: doc.get("comments", type=Array).__delitem__(index_of(doc)),
        lambda me, d: lambda doc: doc.get("comments", type=Array)[index_of(doc)].__setitem__("body", "mine"),
        lambda me, d: (
            lambda doc: doc.get("comments", type=Array)[index_of(doc)].__setitem__("resolved", True)
        ),
    ]
    for attack in attacks:
        await commenter_sends(world, attack)
    await commenter_sends(world, lambda me, d: add_comment(f"fine {tag}", me))
    async with yclient(base, world.sid, cookie=world.cookie("owner")) as probe:
        await until(lambda: probe.synced.is_set() and f"fine {tag}" in _bodies(probe))
        assert [b for b in _bodies(probe) if tag in b] == [f"owner's {tag}", f"fine {tag}"]
        thread = probe.doc.get("comments", type=Array)[index_of(probe.doc)]
        assert dict(thread)["body"] == f"owner's {tag}" and dict(thread)["resolved"] is False


def _bodies(client: YClient) -> list[str]:
    return [str(dict(c).get("body")) for c in client.doc.get("comments", type=Array)]


def _comment_with(body: str, author: dict[str, Any], **fields: Any) -> Any:
    def change(doc: Doc) -> None:
        values = {"id": body[:16], "file": "main.py", "body": body, "resolved": False, "author": author}
        values |= {"createdAt": time.time() * 1000, "replies": Array()} | fields
        doc.get("comments", type=Array).append(Map(values))

    return change
