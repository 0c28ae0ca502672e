"""`WorkspaceSync`: a session's `files` map (path -> Y.Text) and its workspace directory, both ways.

This module holds the lifecycle and doc -> disk; its parts hold the rest: `disk_to_doc` (what the
watcher reports becomes minimal edits of the doc, diffed in worker threads by `merge`) and
`startup` (the one reconciliation at start, which never overwrites a file nobody saw).

Doc -> disk: document changes mark paths dirty; after `debounce` quiet time each dirty file is
written atomically (temp + rename), only if the disk still holds what was last synced (else the
disk side is merged first). Echo loops are cut by content: `_last[path]` is the text both sides
agreed on, and a change that brings nothing new is dropped. Reads, writes and diffs run in
worker threads; only applying edits runs on the event loop, one file per transaction with a
yield between files, so a `git checkout` of a hundred files never stalls other rooms.
Run as `await sync.run()` in a task group; cancel it to stop (pending writes are flushed first).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from pycrdt import Doc, Map, MapEvent, Text, TextEvent

from ..errors import UnsafePathError
from .disk_to_doc import DiskToDoc
from .ignore import GITIGNORE, IgnoreRules
from .safe_fs import SafeRoot, split_path
from .startup import CONFLICT_SUFFIX, WELCOME_TEXT, StartupReconcile, digest
from .textdiff import decode_text
from .watcher import TreeWatcher

logger = logging.getLogger("sandbox.filesync.workspace_sync")

MiB = 1024 * 1024

__all__ = ["CONFLICT_SUFFIX", "WELCOME_TEXT", "WorkspaceSync", "digest"]


class WorkspaceSync(DiskToDoc, StartupReconcile):
    def __init__(
        self,
        doc: Doc,
        root: Path,
        *,
        owner: tuple[int, int] | None = None,
        debounce: float = 0.1,
        max_file_bytes: int = MiB,
        max_files: int = 10_000,
        max_total_bytes: int = 1024 * MiB,
        max_doc_bytes: int = 256 * MiB,
        max_watches: int = 4096,
        origin: Hashable = "terminal",  # of its doc transactions (Tandem passes its FILE_SYNC)
        base: Mapping[str, str] | None = None,
    ) -> None:
        self._doc = doc
        self._files: Map[Any] = doc.get("files", type=Map)
        self._blobs: Map[Any] = doc.get("blobs", type=Map)
        self._meta: Map[Any] = doc.get("meta", type=Map)
        self.root = root.resolve()
        self._fs = SafeRoot(self.root, owner=owner)
        self._debounce = debounce
        self._max_file = max_file_bytes
        self._max_files = max_files
        self._max_total = max_total_bytes
        self._max_doc_bytes = max_doc_bytes
        self._max_watches = max_watches
        self._origin = origin
        self._rules = IgnoreRules()
        self._last: dict[str, str] = {}  # the text disk and document agreed on at the last sync
        # Digests of what they agreed on when the previous run ended (`agreed()`): at start-up
        # they tell which side changed a file that differs.
        self._base = dict(base or {})
        self._sizes: dict[str, int] = {}  # bytes on disk of every file seen (the size check)
        self._text_sizes: dict[str, int] = {}  # bytes of each disk text file mirrored in the doc
        self._text_total = 0
        self._blocked: set[str] = set()  # binary, oversized, over a limit, or not a regular file
        self._dirty: set[str] = set()
        self._folders_dirty = True  # meta.folders -> mkdir, at start and on change
        self._dirty_event = anyio.Event()
        # Disk reads and writes, and the doc changes they lead to, take turns: a read taken
        # before a write must not be applied after it (it would undo the write in the doc).
        self._lock = anyio.Lock()
        self.writes = 0
        self.disk_changes = 0
        self.conflicts = 0
        self.watches = 0
        # The workspace's file system when the sync started: a file "missing" on another one
        # (the quota mount gone from under us) is not a deletion (`DiskToDoc._check_root`).
        self._root_dev: int | None = None
        self._gone = False

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._root_dev = (await anyio.to_thread.run_sync(os.stat, self.root)).st_dev
        await self._load_rules()
        # The watcher starts before the initial scan, so nothing changed meanwhile is missed.
        skip = lambda d: self._rules.ignored(d, is_dir=True)  # noqa: E731
        watcher = await anyio.to_thread.run_sync(
            lambda: TreeWatcher(self.root, max_watches=self._max_watches, skip_dir=skip)
        )
        self.watches = watcher.watches
        subscription = None
        try:
            await self._initial_sync()
            subscription = self._files.observe_deep(self._on_doc_events)
            folders_subscription = self._meta.observe(self._on_meta_event)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_loop, watcher)
                tg.start_soon(self._flush_loop)
                task_status.started()
        finally:
            if subscription is not None:
                self._files.unobserve(subscription)
                self._meta.unobserve(folders_subscription)
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                if not self._gone:  # never write the doc into whatever is there now
                    await self.flush()
            watcher.close()

    # -- doc -> disk ----------------------------------------------------------------------

    def _on_doc_events(self, events: list[Any]) -> None:
        if events and _origin_of(events[0]) == self._origin:
            return  # our own disk -> doc change: the disk has it (a merge marks itself dirty)
        for event in events:
            # pycrdt sets an event's fields at run time (untyped): read them with getattr.
            path = getattr(event, "path", None)
            if isinstance(event, MapEvent) and not path:
                self._dirty.update(str(k) for k in getattr(event, "keys", {}))
            elif isinstance(event, TextEvent) and path:
                self._dirty.add(str(path[0]))
        if self._dirty:
            self._dirty_event.set()

    def _on_meta_event(self, event: Any) -> None:
        # Empty folders live in meta.folders (a folder with files exists through their paths).
        if "folders" in getattr(event, "keys", {}):
            self._folders_dirty = True
            self._dirty_event.set()

    def _folders(self) -> list[str]:
        value = self._meta.get("folders")
        return [f for f in value if isinstance(f, str) and f] if isinstance(value, list) else []

    async def _make_folders(self) -> None:
        """mkdir every folder of meta.folders (removing one is up to the person: it may hold files)."""
        self._folders_dirty = False
        for rel in self._folders():
            if not self._syncable(rel):
                continue
            try:
                await anyio.to_thread.run_sync(self._fs.make_dirs, rel)
            except (UnsafePathError, OSError) as exc:
                logger.warning("workspace %s: not creating folder %r: %s", self.root, rel, exc)

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty_event.wait()
            await anyio.sleep(self._debounce)  # a burst of keystrokes becomes one write
            self._dirty_event = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every dirty file (and new empty folder) now."""
        if self._folders_dirty:
            await self._make_folders()
        paths, self._dirty = self._dirty, set()
        for rel in sorted(paths):
            await anyio.lowlevel.checkpoint()  # an uncontended lock never yields: other rooms run
            try:
                async with self._lock:
                    conflict = await self._flush_one(rel)
            except (UnsafePathError, OSError) as exc:
                logger.warning("workspace %s: not writing %r: %s", self.root, rel, exc)
                continue
            if conflict:
                # The terminal changed the file since the last sync: merge its change first;
                # the merge re-marks the path dirty when the document still differs.
                self.conflicts += 1
                await self._on_disk_change(rel)

    async def _flush_one(self, rel: str) -> bool:
        """Write (or delete) one file as the doc has it; True when the disk changed meanwhile."""
        if not self._syncable(rel) or rel in self._blocked:
            return False
        ytext = self._files.get(rel)
        if isinstance(ytext, Text):
            text = str(ytext)
            data = text.encode()
            if text == self._last.get(rel) or not self._fits(rel, len(data)):
                return False
            result = await anyio.to_thread.run_sync(self._write_if_unchanged, rel, data, self._last.get(rel))
            logger.debug("workspace %s: doc -> disk %r (%d bytes): %s", self.root, rel, len(data), result)
            if result == "written":
                self._last[rel] = text
                self._sizes[rel] = len(data)
                self._set_text_size(rel, len(data))
        elif ytext is None and rel in self._last:
            result = await anyio.to_thread.run_sync(self._delete_if_unchanged, rel, self._last[rel])
            if result == "written":
                self._last.pop(rel, None)
                self._sizes.pop(rel, None)
                self._set_text_size(rel, None)
        else:
            return False
        return result == "conflict"

    def _fits(self, rel: str, size: int) -> bool:
        if size > self._max_file:
            logger.warning(
                "workspace %s: %r is over %d bytes: kept in the doc only", self.root, rel, self._max_file
            )
            return False
        if sum(self._sizes.values()) - self._sizes.get(rel, 0) + size > self._max_total:
            logger.warning(
                "workspace %s: over its %d-byte limit: %r not written", self.root, self._max_total, rel
            )
            return False
        return True

    def _write_if_unchanged(self, rel: str, data: bytes, expected: str | None) -> str:
        if not self._disk_is(rel, expected):
            return "conflict"
        self.writes += 1  # counted before the file shows: whoever sees it sees the count
        self._fs.write_atomic(rel, data)
        return "written"

    def _delete_if_unchanged(self, rel: str, expected: str) -> str:
        if not self._disk_is(rel, expected):
            return "conflict"
        self.writes += 1
        self._fs.delete(rel)
        return "written"

    def _disk_is(self, rel: str, expected: str | None) -> bool:
        current = self._fs.read(rel, self._max_file)
        if current.problem == "missing":
            return expected is None
        return current.data is not None and decode_text(current.data) == expected

    def _list(self, under: str) -> list[str]:
        """Syncable files of the workspace (or of one directory in it)."""
        skip = lambda d: self._rules.ignored(d, is_dir=True)  # noqa: E731
        return [
            rel
            for rel, _size in self._fs.walk(self._max_files * 2, skip_dir=skip)
            if (not under or rel.startswith(under + "/")) and not self._rules.ignored(rel)
        ]

    async def _load_rules(self) -> None:
        result = await anyio.to_thread.run_sync(self._fs.read, GITIGNORE, 256 * 1024)
        text = decode_text(result.data) if result.data is not None else None
        self._rules = IgnoreRules(text)

    def _syncable(self, rel: str) -> bool:
        try:
            parts = split_path(rel)
        except UnsafePathError:
            return False
        for i in range(1, len(parts)):
            if self._rules.ignored("/".join(parts[:i]), is_dir=True):
                return False
        return not self._rules.ignored(rel)


def _origin_of(event: Any) -> Any:
    """The origin of the transaction an event belongs to (readable only inside the callback)."""
    try:
        return event.transaction.origin
    except (AttributeError, RuntimeError):
        return None
