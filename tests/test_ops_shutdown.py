"""Graceful restart under editing load: SIGTERM flushes every room, clients see 1012, the process
exits within `shutdown_timeout_seconds`, and clients that reconnect lose nothing."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Text

from tests.pyclient import pycrdt_client
from tests.support import TandemServer

pytestmark = pytest.mark.anyio

SHUTDOWN_TIMEOUT = 10.0


async def read_text(server: TandemServer, room: str, name: str) -> str:
    async with pycrdt_client(server.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        return str(doc.get(name, type=Text))


async def test_sigterm_while_editing_loses_nothing(tmp_path: Path, database_url: str) -> None:
    room = f"ops-term-{uuid.uuid4().hex[:8]}"
    env = {"TANDEM_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT)}
    server = TandemServer(tmp_path / "data", database_url, "--sandbox", "off", env=env).start()
    writers = ["w1", "w2"]
    docs: dict[str, Doc] = {name: Doc() for name in [*writers, "observer"]}
    codes: dict[str, int | None] = {}
    edits = dict.fromkeys(writers, 0)
    observed: dict[str, str] = {}
    all_synced = anyio.Event()
    synced = set()

    async def client(name: str) -> None:
        ws = None
        try:
            async with pycrdt_client(server.ws_url, room, doc=docs[name]) as (doc, provider):
                await provider.synced.wait()
                synced.add(name)
                if len(synced) == 3:
                    all_synced.set()
                ws = provider.channel._ws  # type: ignore[attr-defined]
                if name in writers:
                    text = doc.get(name, type=Text)
                    while ws.close_code is None:
                        text.insert(len(str(text)), chr(ord("a") + edits[name] % 26))
                        edits[name] += 1
                        await anyio.sleep(0.002)
                with anyio.fail_after(SHUTDOWN_TIMEOUT + 5):
                    await ws.wait_closed()
        except* Exception:
            # The provider's tasks fail when the server closes; before that, it is a test failure.
            if ws is None or ws.close_code is None:
                raise
        codes[name] = ws.close_code if ws is not None else None
        if name == "observer":
            observed.update({w: str(docs[name].get(w, type=Text)) for w in writers})

    async with anyio.create_task_group() as tg:
        for name in docs:
            tg.start_soon(client, name)
        with anyio.fail_after(20):
            await all_synced.wait()
            while min(edits.values()) < 150:
                await anyio.sleep(0.01)
        started = time.monotonic()
        code = await anyio.to_thread.run_sync(server.stop, signal.SIGTERM)
        elapsed = time.monotonic() - started
    assert code in (0, -signal.SIGTERM)
    assert elapsed < SHUTDOWN_TIMEOUT + 2, f"stopping took {elapsed:.1f}s"
    assert "every room flushed" in server.log()
    assert codes == dict.fromkeys(docs, 1012), codes

    restarted = TandemServer(tmp_path / "data", database_url, "--sandbox", "off").start()
    try:
        for name in writers:
            persisted = await read_text(restarted, room, name)
            # Everything the server applied (and so fanned out to the observer) was flushed.
            assert persisted.startswith(observed[name]), name
            assert str(docs[name].get(name, type=Text)).startswith(persisted), name
        # The writers reconnect with their documents (as y-websocket does): nothing is lost.
        for name in writers:
            async with pycrdt_client(restarted.ws_url, room, doc=docs[name]) as (_doc, provider):
                await provider.synced.wait()
                expected = str(docs[name].get(name, type=Text))
                with anyio.fail_after(20):
                    while await read_text(restarted, room, name) != expected:
                        await anyio.sleep(0.05)
        assert all(len(str(docs[w].get(w, type=Text))) >= 150 for w in writers)
    finally:
        restarted.stop()
