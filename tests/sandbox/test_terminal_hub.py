"""TerminalHub logic against a scriptable fake PTY: fan-out, coalescing, lag, resize, exit."""

from __future__ import annotations

import anyio
import pytest

from sandbox import (
    Attribution,
    Exited,
    Output,
    PtyClosedError,
    Resized,
    Resync,
    Skipped,
    StatusChanged,
    TerminalClosedError,
    TerminalFullError,
    TerminalHub,
    TerminalInputTooLargeError,
    TerminalPermissionError,
)
from tests.support import eventually

from .fakes import FakePtyFactory
from .helpers import next_event_of, read_until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_every_subscriber_sees_output_and_late_joiners_get_the_ring() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory) as hub:
        async with hub.attach("a", can_write=True) as a, hub.attach("b", can_write=False) as b:
            first = await a.receive()
            assert isinstance(first, Resync) and first.reason == "join" and first.data == b""
            factory.current.emit(b"hello ")
            factory.current.emit(b"world\r\n")
            assert b"hello world" in await read_until(a, b"world")
            assert b"hello world" in await read_until(b, b"world")
        async with hub.attach("late", can_write=False) as late:
            replay = await late.receive()
            assert isinstance(replay, Resync) and replay.reason == "join"
            assert replay.data == b"hello world\r\n"
            assert replay.status == "running" and replay.exit_status is None


async def test_output_is_coalesced_into_frames_up_to_frame_bytes() -> None:
    factory = FakePtyFactory()
    # A long interval: after the first flush only the size threshold can flush.
    async with TerminalHub(factory, frame_bytes=1000, frame_interval=30.0) as hub:
        async with hub.attach("a", can_write=True) as a:
            await a.receive()  # join resync
            factory.current.emit(b"x" * 10)
            assert await next_event_of(a, Output) == Output(b"x" * 10)  # quiet line: sent at once
            for _ in range(100):
                factory.current.emit(b"y" * 10)  # 100 reads ...
            frame = await next_event_of(a, Output)
            assert frame == Output(b"y" * 1000)  # ... one frame
            assert hub.frames_sent == 2


async def test_a_pending_tail_is_flushed_by_the_timer() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory, frame_bytes=1000, frame_interval=0.01) as hub:
        async with hub.attach("a", can_write=True) as a:
            factory.current.emit(b"one")
            await read_until(a, b"one")
            factory.current.emit(b"two")
            factory.current.emit(b"three")
            assert await read_until(a, b"three") == b"twothree"


async def test_scrollback_is_bounded() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory, scrollback_bytes=16, frame_bytes=8) as hub:
        async with hub.attach("a", can_write=True) as a:
            factory.current.emit(b"0123456789abcdefghij")
            await read_until(a, b"ij")
            assert hub.scrollback() == b"456789abcdefghij"


async def test_a_stalled_subscriber_catches_up_from_the_ring_and_never_blocks_the_others() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory, subscriber_max_events=4) as hub:
        async with hub.attach("stalled", can_write=False) as stalled, hub.attach("a", can_write=True) as a:
            await a.receive()
            for i in range(20):
                factory.current.emit(f"line {i}\r\n".encode())
                await read_until(a, f"line {i}\r\n".encode())  # one frame per line, all delivered
            assert stalled.lagging and stalled.queued_events == 0
            assert stalled.dropped_events > 0
            caught_up = await stalled.receive()
            # The ring still held everything it missed: no byte skipped, no screen reset.
            assert isinstance(caught_up, Skipped) and caught_up.nbytes == 0
            assert caught_up.data == b"".join(f"line {i}\r\n".encode() for i in range(20))
            assert caught_up.status == "running" and not stalled.lagging
            factory.current.emit(b"after\r\n")
            assert await next_event_of(stalled, Output) == Output(b"after\r\n")
            assert stalled.skipped_bytes == 0 and stalled.resyncs == 1


async def test_a_laggard_beyond_the_ring_gets_a_skip_count_and_the_tail_from_a_line_start() -> None:
    factory = FakePtyFactory()
    hub = TerminalHub(factory, scrollback_bytes=64, subscriber_max_bytes=40, frame_bytes=10)
    async with hub, hub.attach("stalled", can_write=False) as stalled, hub.attach("a", can_write=True) as a:
        await a.receive()
        await stalled.receive()  # its join replay
        lines = b"".join(f"line-{i:03d}\n".encode() for i in range(30))  # 9 bytes a line
        for i in range(30):
            factory.current.emit(lines[i * 9 : i * 9 + 9])
            await read_until(a, lines[i * 9 : i * 9 + 9])
        assert stalled.lagging
        skipped = await stalled.receive()
        assert isinstance(skipped, Skipped)
        # Missed: all 270 bytes; delivered: the ring's newest whole lines; the rest is counted.
        assert skipped.data.startswith(b"line-") and lines.endswith(skipped.data)
        assert skipped.nbytes + len(skipped.data) == len(lines) and skipped.nbytes > 0
        assert stalled.skipped_bytes == skipped.nbytes


async def test_the_reader_waits_for_a_lone_slow_reader_who_then_gets_every_byte() -> None:
    factory = FakePtyFactory()
    hub = TerminalHub(
        factory, frame_bytes=1000, subscriber_max_bytes=5000, flow_pause_bytes=3000, flow_pause_max=60.0
    )
    async with hub, hub.attach("slow", can_write=True) as slow:
        await slow.receive()
        chunks = [bytes([65 + i % 26]) * 1000 for i in range(100)]
        chunks.append(b"END")
        for chunk in chunks:
            factory.current.emit(chunk)
        # Nobody reads: the reader stops at the pause threshold instead of overflowing the backlog.
        await eventually(lambda: hub.flow_pauses >= 1 and slow.backlog_bytes >= 3000)
        assert not slow.lagging
        got = await read_until(slow, b"END", within=10)
        assert got == b"".join(chunks) and slow.resyncs == 0


async def test_one_stalled_subscriber_does_not_pace_a_fast_one_and_a_mirror_never_does() -> None:
    factory = FakePtyFactory()
    hub = TerminalHub(
        factory, frame_bytes=1000, subscriber_max_bytes=5000, flow_pause_bytes=3000, flow_pause_max=60.0
    )
    async with (
        hub,
        hub.attach("mirror", can_write=False, wants_output=False) as mirror,
        hub.attach("stalled", can_write=False) as stalled,
        hub.attach("fast", can_write=True) as fast,
    ):
        await fast.receive()
        chunks = [bytes([97 + i % 26]) * 1000 for i in range(100)]
        chunks.append(b"END")
        for chunk in chunks:
            factory.current.emit(chunk)
        got = await read_until(fast, b"END", within=10)
        assert got == b"".join(chunks)  # the fast one got every byte while the other never read
        assert stalled.lagging and mirror.backlog_bytes == 0
        assert isinstance(await mirror.receive(), Resync)  # its join; then no output at all
        factory.current.finish(0)
        assert await next_event_of(mirror, Exited) == Exited(0)


async def test_input_is_attributed_and_viewers_cannot_type() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory, attribution_history=2, max_input_bytes=8) as hub:
        async with hub.attach("alice", can_write=True) as alice, hub.attach("bob", can_write=False) as bob:
            await alice.write(b"ls\r")
            await hub.write("carol", b"pwd\r")
            assert factory.current.written == [b"ls\r", b"pwd\r"]
            first = await next_event_of(bob, Attribution)
            second = await next_event_of(bob, Attribution)
            assert (first.author_id, first.nbytes) == ("alice", 3)
            assert (second.author_id, second.nbytes) == ("carol", 4)
            await hub.write("dave", b"x")
            assert [r.author_id for r in hub.attributions] == ["carol", "dave"]  # bounded
            with pytest.raises(TerminalPermissionError):
                await bob.write(b"rm -rf /\r")
            with pytest.raises(TerminalInputTooLargeError):
                await alice.write(b"123456789")


async def test_terminal_replies_go_through_once_and_are_never_typing() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory) as hub:
        async with (
            hub.attach("viewer", can_write=False) as _viewer,
            hub.attach("alice", can_write=True) as alice,
            hub.attach("bob", can_write=True) as bob,
        ):
            cpr, da = b"\x1b[24;1R", b"\x1b[?1;2c"
            await alice.write(cpr)  # the first subscriber that may type answers for the room
            await bob.write(cpr)  # bob's xterm answered the same query: dropped
            await bob.write(da + cpr)
            await bob.write(b"\x1b[A")  # an arrow key is typing, from anyone
            assert factory.current.written == [cpr, b"\x1b[A"]
            assert [(r.author_id, r.nbytes) for r in hub.attributions] == [("bob", 3)]


async def test_size_is_the_smallest_writer_viewport_and_viewers_never_resize() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory, cols=80, rows=24) as hub:
        async with hub.attach("big", can_write=True, cols=200, rows=60) as big:
            assert hub.size == (200, 60)
            async with hub.attach("viewer", can_write=False, cols=20, rows=5) as viewer:
                assert hub.size == (200, 60)
                await viewer.resize(10, 3)
                assert hub.size == (200, 60)
                async with hub.attach("small", can_write=True, cols=100, rows=80):
                    assert hub.size == (100, 60)
                    assert factory.current.sizes[-1] == (100, 60)
                    joined = await viewer.receive()
                    assert isinstance(joined, Resync) and (joined.cols, joined.rows) == (200, 60)
                    assert await next_event_of(viewer, Resized) == Resized(100, 60)
                assert hub.size == (200, 60)  # the small writer left
            await big.resize(120, 40)
            assert factory.current.sizes[-1] == (120, 40)


async def test_exit_status_is_reported_and_restart_starts_a_new_pty() -> None:
    factory = FakePtyFactory()
    async with TerminalHub(factory) as hub:
        async with hub.attach("a", can_write=True, cols=90, rows=30) as a:
            factory.current.emit(b"bye\r\n")
            factory.current.finish(3)
            assert await next_event_of(a, Exited) == Exited(3)
            assert hub.status == "exited" and await hub.wait_exit() == 3
            with pytest.raises(PtyClosedError):
                await a.write(b"echo\r")
            await hub.restart()
            assert len(factory.ptys) == 2 and factory.current.sizes[0] == (90, 30)
            assert await next_event_of(a, StatusChanged) == StatusChanged("starting")
            assert await next_event_of(a, StatusChanged) == StatusChanged("running")
            await a.write(b"again\r")
            assert factory.current.written == [b"again\r"]
            await hub.restart()  # restarting a live shell hangs it up first
            assert factory.ptys[1].closed and factory.ptys[1].status == 129


async def test_a_state_listener_hears_status_exit_and_size_never_output_and_takes_no_slot() -> None:
    factory = FakePtyFactory()
    heard: list[object] = []
    async with TerminalHub(factory, max_subscribers=1, on_state=heard.append) as hub:
        assert heard == [StatusChanged("running")]
        async with hub.attach("a", can_write=True, cols=90, rows=30) as a:  # the one slot is a client's
            assert await next_event_of(a, Resized) == Resized(90, 30)
            factory.current.emit(b"lots of output\r\n" * 100)
            await read_until(a, b"lots of output")
            factory.current.finish(3)
            await next_event_of(a, Exited)
        assert heard[1:] == [Resized(90, 30), StatusChanged("exited"), Exited(3)]
    assert heard[-1] == StatusChanged("closed")
    assert not any(isinstance(e, Output | Resync | Attribution) for e in heard)

    def failing(event: object) -> None:
        raise RuntimeError("a broken listener")

    async with TerminalHub(FakePtyFactory(), on_state=failing) as hub, hub.attach("b", can_write=True) as b:
        assert hub.status == "running"  # its failures are logged; the terminal runs on
        assert isinstance(await b.receive(), Resync)


async def test_subscriber_limit() -> None:
    factory = FakePtyFactory()
    hub = TerminalHub(factory, max_subscribers=1)
    with pytest.raises(TerminalClosedError):
        async with hub.attach("early", can_write=True):
            pass
    async with hub, hub.attach("a", can_write=True):
        with pytest.raises(TerminalFullError):
            async with hub.attach("b", can_write=True):
                pass


async def test_closing_the_hub_hangs_up_and_ends_every_subscription() -> None:
    factory = FakePtyFactory()
    events: list[object] = []

    async def follow(hub: TerminalHub, attached: anyio.Event) -> None:
        async with hub.attach("a", can_write=True) as sub:
            attached.set()
            async for event in sub:
                events.append(event)

    async with anyio.create_task_group() as tg:
        async with TerminalHub(factory) as hub:
            attached = anyio.Event()
            tg.start_soon(follow, hub, attached)
            with anyio.fail_after(5):
                await attached.wait()
            factory.current.emit(b"last words")
        # leaving the hub closed the subscription, so `follow` ends by itself
    assert factory.current.closed
    assert Output(b"last words") in events
    assert Exited(129) in events
    assert events[-1] == StatusChanged("closed")


async def test_hanging_up_is_not_held_by_a_paused_reader() -> None:
    factory = FakePtyFactory()
    hub = TerminalHub(factory, frame_bytes=100, flow_pause_bytes=200, flow_pause_max=600.0)
    async with hub, hub.attach("asleep", can_write=True) as asleep:
        for _ in range(50):
            factory.current.emit(b"z" * 100)
        await eventually(lambda: hub.flow_pauses >= 1)  # nobody reads: the reader waits
        with anyio.fail_after(10):  # far less than the 600 s pause: the hang-up reads on
            await hub.restart()
        assert factory.ptys[0].closed and asleep.backlog_bytes >= 200
