"""Backups: `tandem backup` while clients edit, `tandem restore` into a fresh data directory (or an
empty PostgreSQL database) gives every session back identical; the retention policy prunes right."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from pycrdt import Text

from backend.ops.retention import EPOCH, Tier, parse_policy, to_prune
from tests.pyclient import pycrdt_client
from tests.support import TandemServer, postgres_database, run_cli, running_server

# -- retention (pure) ---------------------------------------------------------------------------

POLICY = parse_policy("6h:2d,1d:30d,7d:90d")


def test_parse_policy() -> None:
    assert POLICY == [
        Tier(timedelta(hours=6), timedelta(days=2)),
        Tier(timedelta(days=1), timedelta(days=30)),
        Tier(timedelta(days=7), timedelta(days=90)),
    ]
    for bad in ("", "6h", "6x:2d", "0h:1d", "6h:2d,junk"):
        with pytest.raises(ValueError):
            parse_policy(bad)


def test_retention_keeps_the_seeds_plan() -> None:
    """Every 6 h for 200 days, pruning after each backup as the scheduler does."""
    start = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    kept: set[datetime] = set()
    now = start
    for _ in range(200 * 4):
        kept.add(now)
        kept -= to_prune(kept, now, POLICY)
        now += timedelta(hours=6)
    now -= timedelta(hours=6)
    ages = sorted(now - t for t in kept)
    assert max(ages) <= timedelta(days=90 + 7)  # nothing beyond the weekly tier (bucket-aligned)
    # The last 2 days: every 6-hourly backup.
    assert sum(1 for a in ages if a < timedelta(days=2)) == 8
    # The last 30 days: at least one per day.
    days = {(now - a).date() for a in ages if a < timedelta(days=30)}
    assert len(days) >= 30
    # Beyond 30 days: about one a week, not more.
    old = [a for a in ages if a > timedelta(days=31)]
    assert 7 <= len(old) <= 10
    assert len(kept) <= 8 + 30 + 14


def test_retention_edge_cases() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert to_prune([], now, POLICY) == set()
    ancient = now - timedelta(days=400)
    assert to_prune([ancient], now, POLICY) == set()  # the newest is always kept
    two = [ancient, now - timedelta(days=401)]
    assert to_prune(two, now, POLICY) == {now - timedelta(days=401)}
    same_slot = [now - timedelta(minutes=10), now - timedelta(minutes=20)]
    # Both in one 6-hour bucket and one day: only the newer survives.
    assert to_prune(same_slot, now, POLICY) == {now - timedelta(minutes=20)}


# -- backup and restore against real servers ---------------------------------------------------


async def read_room(server: TandemServer, room: str) -> str:
    async with pycrdt_client(server.ws_url, room) as (doc, provider):
        await provider.synced.wait()
        return str(doc.get("t", type=Text))


async def edit_rooms(
    server: TandemServer, rooms: list[str], stop: anyio.Event, edits: dict[str, int]
) -> None:
    async def one(room: str) -> None:
        async with pycrdt_client(server.ws_url, room) as (doc, provider):
            await provider.synced.wait()
            text = doc.get("t", type=Text)
            while not stop.is_set():
                text.insert(len(str(text)), chr(ord("a") + edits[room] % 26))
                edits[room] += 1
                await anyio.sleep(0.003)
            # Let the last edits reach the server before leaving.
            with anyio.fail_after(20):
                while await read_room(server, room) != str(text):
                    await anyio.sleep(0.05)

    async with anyio.create_task_group() as tg:
        for room in rooms:
            tg.start_soon(one, room)


@pytest.mark.anyio
async def test_backup_while_editing_and_restore(tmp_path: Path, database_url: str) -> None:
    rooms = [f"bk-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    edits = dict.fromkeys(rooms, 0)
    hot, cold = tmp_path / "hot.backup", tmp_path / "cold.backup"
    with running_server(tmp_path / "data", database_url, "--sandbox", "off") as server:
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(edit_rooms, server, rooms, stop, edits)
            with anyio.fail_after(20):
                while min(edits.values()) < 100:
                    await anyio.sleep(0.01)
            # While everyone types: the backup is a consistent snapshot, taken online.
            out = await anyio.to_thread.run_sync(lambda: server.cli("backup", str(hot)))
            assert "backup written" in out.stdout
            stop.set()
        # At rest (every edit persisted within the group-commit window): a second backup.
        await anyio.sleep(0.5)
        await anyio.to_thread.run_sync(lambda: server.cli("backup", str(cold)))
        live = {room: await read_room(server, room) for room in rooms}
    assert all(len(text) >= 100 for text in live.values())

    for backup, identical in ((cold, True), (hot, False)):
        if database_url.startswith("sqlite"):
            target_data, target_url = tmp_path / f"restored-{backup.stem}", None
            restored = await _restore_and_read(backup, target_data, target_url, rooms)
        else:
            with postgres_database() as target_url:
                restored = await _restore_and_read(
                    backup, tmp_path / f"restored-{backup.stem}", target_url, rooms
                )
        for room in rooms:
            if identical:
                assert restored[room] == live[room], room
            else:  # mid-edit: a prefix of the final text, never a torn or empty document
                assert live[room].startswith(restored[room]) and len(restored[room]) > 0, room


async def _restore_and_read(backup: Path, data: Path, url: str | None, rooms: list[str]) -> dict[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    out = run_cli(data, url, "restore", str(backup))
    assert "restored" in out.stdout
    # A second restore into the now non-empty target is refused.
    again = run_cli(data, url, "restore", str(backup), check=False)
    assert again.returncode == 1 and "empty" in again.stderr
    with running_server(data, url, "--sandbox", "off") as server:
        return {room: await read_room(server, room) for room in rooms}


def test_scheduled_backup_runs_and_prunes(tmp_path: Path) -> None:
    """A server with TANDEM_BACKUP_DIR backs up at start (no backup yet) and prunes old files."""
    import httpx

    from tests.test_ops_metrics import scrape

    backups = tmp_path / "backups"
    backups.mkdir()
    now = datetime.now(UTC)
    # Two stale backups in the same old week: the policy keeps at most the newer one.
    week = timedelta(days=7)
    mid_week = EPOCH + ((now - timedelta(days=60) - EPOCH) // week) * week + timedelta(days=3)
    stale = [mid_week, mid_week + timedelta(hours=1)]
    for when in stale:
        (backups / f"tandem-{when.strftime('%Y%m%dT%H%M%SZ')}.db").write_bytes(b"old")
    env = {"TANDEM_BACKUP_DIR": str(backups), "TANDEM_BACKUP_INTERVAL_SECONDS": "3600"}
    with running_server(tmp_path / "data", None, "--sandbox", "off", env=env) as server:
        from tests.support import wait_until

        wait_until(lambda: scrape(server.http_url)["tandem_backups_total"] == 1, timeout=20, what="a backup")
        assert scrape(server.http_url)["tandem_last_backup_timestamp_seconds"] > 0
        assert httpx.get(server.http_url + "/readyz").status_code == 200
    names = sorted(p.name for p in backups.iterdir())
    fresh = [
        n
        for n in names
        if n.endswith(".db") and n not in {f"tandem-{w.strftime('%Y%m%dT%H%M%SZ')}.db" for w in stale}
    ]
    assert len(fresh) == 1 and (backups / fresh[0]).read_bytes().startswith(b"SQLite format 3")
    assert len(names) == 2  # the fresh one, and the newest stale one (its week's representative)


def test_two_nodes_backing_up_into_one_name_at_once_both_succeed(tmp_path: Path) -> None:
    """Nodes sharing a backup volume may start the same scheduled backup in the same second (same
    file name): each writes its own partial file, and the last complete copy wins."""
    import sqlite3
    import threading

    from backend.ops.backup import backup

    db = tmp_path / "tandem.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x text)")
        conn.executemany("insert into t values (?)", [("x" * 200,)] * 5000)
    target = tmp_path / "backups" / "tandem-20261202T000000Z.db"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def node() -> None:
        start.wait()
        for _ in range(5):
            try:
                backup(f"sqlite:///{db}", target)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite3.connect(target) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (5000,)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no partial file left
