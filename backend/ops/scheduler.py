"""Scheduled backups: every `backup_interval_seconds` into `backup_dir`, pruned by the retention policy.

Runs only when `TANDEM_BACKUP_DIR` is set. Nodes sharing the directory coordinate through it: each
waits for the interval since the newest backup there; a rare duplicate falls in the same retention
bucket and is pruned by the next run (pruning tolerates files another node already removed).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio

from backend.ops import backup, retention
from backend.ops.counters import NodeStats
from backend.settings import Settings
from backend.store.private import private_dir

log = logging.getLogger("tandem.backup")


def existing_backups(directory: Path) -> dict[datetime, Path]:
    out: dict[datetime, Path] = {}
    for path in directory.glob("tandem-*"):
        when = backup.parse_backup_name(path.name)
        if when is not None and path.is_file():
            out[when] = path
    return out


def run_once(settings: Settings, tiers: list[retention.Tier], now: datetime) -> Path:
    """One backup now, then prune what the policy no longer keeps (blocking: run in a thread)."""
    assert settings.backup_dir is not None
    url = settings.resolved_database_url()
    target = settings.backup_dir / backup.backup_name(url, now)
    backup.backup(url, target)
    found = existing_backups(settings.backup_dir)
    for when in retention.to_prune(found, now, tiers):
        log.info("backup %s pruned by the retention policy", found[when].name)
        found[when].unlink(missing_ok=True)
    return target


class BackupScheduler:
    def __init__(self, settings: Settings, stats: NodeStats) -> None:
        self.settings = settings
        self.stats = stats
        self.tiers = retention.parse_policy(settings.backup_retention)  # fail at start-up, not at 3 a.m.

    async def run(self) -> None:
        s = self.settings
        assert s.backup_dir is not None
        private_dir(s.backup_dir)
        while True:
            found = await anyio.to_thread.run_sync(existing_backups, s.backup_dir)
            last = max(found, default=None)
            wait = 0.0
            if last is not None:
                wait = max(1.0, s.backup_interval_seconds - (datetime.now(UTC) - last).total_seconds())
            await anyio.sleep(wait)
            started = time.monotonic()
            try:
                target = await anyio.to_thread.run_sync(run_once, s, self.tiers, datetime.now(UTC))
            except Exception:
                self.stats.backup_failures += 1
                log.exception("scheduled backup into %s failed; retrying in 60 s", s.backup_dir)
                await anyio.sleep(min(60.0, s.backup_interval_seconds))
                continue
            self.stats.backups += 1
            self.stats.last_backup_unixtime = time.time()
            log.info("backup written: %s (%.1f s)", target, time.monotonic() - started)
