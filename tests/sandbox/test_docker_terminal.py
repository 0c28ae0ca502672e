"""Shared terminals on a real Docker sandbox (busybox test image)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import pytest

from sandbox import Attribution, DockerSandbox, Exited, Resync, Skipped, TerminalHub

from .helpers import next_event_of, read_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.timeout(90)]


async def open_hub(sandbox: DockerSandbox, workspace: Path, **limits: int) -> TerminalHub:
    await sandbox.ensure_container("sess-1", workspace)
    return TerminalHub(partial(sandbox.start_pty, "sess-1", "main"), name="sess-1/main", **limits)


async def test_two_subscribers_see_what_one_types_and_a_late_joiner_gets_scrollback(
    sandbox: DockerSandbox, workspace: Path
) -> None:
    async with await open_hub(sandbox, workspace) as hub:
        async with (
            hub.attach("alice", can_write=True, cols=100, rows=30) as alice,
            hub.attach("bob", can_write=True, cols=100, rows=30) as bob,
        ):
            # The shell echoes the typed line; `$((...))` makes the output differ from it.
            await alice.write(b"echo hi-$((1+1))\n")
            assert b"hi-2" in await read_until(alice, b"hi-2\r\n")
            assert b"hi-2" in await read_until(bob, b"hi-2\r\n")
            async with hub.attach("carol", can_write=False) as carol:
                replay = await carol.receive()
                assert isinstance(replay, Resync) and replay.reason == "join"
                assert b"hi-2\r\n" in replay.data
                assert (replay.cols, replay.rows) == (100, 30)


async def test_a_stalled_subscriber_does_not_delay_the_other(sandbox: DockerSandbox, workspace: Path) -> None:
    async with await open_hub(sandbox, workspace, subscriber_max_events=8) as hub:
        async with (
            hub.attach("stalled", can_write=False) as stalled,
            hub.attach("alice", can_write=True) as alice,
        ):
            await alice.write(b"seq 1 20000; echo done-$((40+2))\n")
            out = await read_until(alice, b"done-42\r\n", within=60)
            assert b"\r\n19999\r\n20000\r\n" in out  # alice got every line, in order
            # `stalled` never read: its queue was dropped, not allowed to grow or block.
            assert stalled.lagging and stalled.queued_events == 0 and stalled.dropped_events > 0
            caught_up = await stalled.receive()  # the ring held all it missed: nothing skipped
            assert isinstance(caught_up, Skipped) and caught_up.nbytes == 0
            assert b"done-42\r\n" in caught_up.data


async def test_input_of_two_authors_is_attributed(sandbox: DockerSandbox, workspace: Path) -> None:
    async with await open_hub(sandbox, workspace) as hub:
        async with (
            hub.attach("alice", can_write=True) as alice,
            hub.attach("bob", can_write=True) as bob,
            hub.attach("viewer", can_write=False) as viewer,
        ):
            await alice.write(b"echo a-$((1+1))\n")
            await read_until(viewer, b"a-2\r\n")
            await bob.write(b"echo b-$((2+2))\n")
            await read_until(viewer, b"b-4\r\n")
            records = hub.attributions
            assert [(r.author_id, r.nbytes) for r in records] == [("alice", 16), ("bob", 16)]
            assert records[0].at <= records[1].at
            async with hub.attach("late", can_write=False) as late:
                assert isinstance(await late.receive(), Resync)
                await alice.write(b"\n")
                event = await next_event_of(late, Attribution)
                assert isinstance(event, Attribution) and event.author_id == "alice"


async def test_exit_status_and_restart(sandbox: DockerSandbox, workspace: Path) -> None:
    async with await open_hub(sandbox, workspace) as hub:
        async with hub.attach("alice", can_write=True) as alice:
            await alice.write(b"exit 7\n")
            assert await next_event_of(alice, Exited) == Exited(7)
            await hub.restart()
            await alice.write(b"echo back-$((3*3))\n")
            await read_until(alice, b"back-9\r\n")


async def test_idle_stop_and_restart_on_demand(sandbox: DockerSandbox, workspace: Path) -> None:
    await sandbox.ensure_container("sess-1", workspace)
    await sandbox.stop("sess-1")
    assert (await sandbox.inspect("sess-1"))["State"]["Running"] is False
    # start_pty brings a stopped container back.
    async with TerminalHub(partial(sandbox.start_pty, "sess-1", "t")) as hub:
        assert (await sandbox.inspect("sess-1"))["State"]["Running"] is True
        async with hub.attach("alice", can_write=True) as alice:
            await alice.write(b"echo up-$((2+3))\n")
            await read_until(alice, b"up-5\r\n")


async def test_reap_orphans_removes_only_unknown_sessions(sandbox: DockerSandbox, tmp_path: Path) -> None:
    for sid in ("keep", "orphan"):
        await sandbox.ensure_container(sid, tmp_path / sid)
    assert await sandbox.reap_orphans(["keep"]) == ["orphan"]
    assert (await sandbox.inspect("keep"))["State"]["Running"] is True
    with anyio.fail_after(30):
        result = await sandbox.run("keep", ["echo", "still-here"])
    assert result.stdout == b"still-here\n"


async def test_a_container_removed_behind_our_back_is_recreated(
    sandbox: DockerSandbox, workspace: Path
) -> None:
    first = await sandbox.ensure_container("sess-1", workspace)
    await sandbox.docker.containers.container(first.container_id).delete(force=True)
    second = await sandbox.ensure_container("sess-1", workspace)
    assert second.container_id != first.container_id
    with anyio.fail_after(30):
        assert (await sandbox.run("sess-1", ["echo", "new"])).stdout == b"new\n"
