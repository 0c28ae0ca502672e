"""`WorkspaceSync`: a session's `files` map (path -> Y.Text) and its workspace directory, both ways.

Doc -> disk: document changes mark paths dirty; after `debounce` quiet time each dirty file is
written atomically (temp + rename), only if the disk still holds what was last synced (else the
disk side is merged first). Disk -> doc: a `watchfiles` watcher reports changes made in the
terminal; each becomes a minimal diff applied to the file's Y.Text in one transaction whose
origin is `origin` ("terminal"). Echo loops are cut by content: `_last[path]` is the text both
sides agreed on, and a change that brings nothing new is dropped.

Start-up reconciles once: the document wins for files it holds (their text is written to disk),
files only on disk are added to the document, binary and oversized files are listed in the
`blobs` map instead of being synced as text. Run as `await sync.run()` in a task group; cancel
it to stop (pending writes are flushed first).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import anyio
from pycrdt import Doc, Map, MapEvent, Text, TextEvent
from watchfiles._rust_notify import RustNotify  # watchfiles' documented low-level backend

from ..errors import UnsafePathError
from .ignore import GITIGNORE, IgnoreRules
from .safe_fs import ReadResult, SafeRoot, split_path
from .textdiff import apply_edits, decode_text, diff, rebase

logger = logging.getLogger(__name__)

MiB = 1024 * 1024


class WorkspaceSync:
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
        origin: str = "terminal",
        force_polling: bool = False,
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
        self._origin = origin
        self._force_polling = force_polling
        self._rules = IgnoreRules()
        self._last: dict[str, str] = {}  # the text disk and document agreed on at the last sync
        self._sizes: dict[str, int] = {}  # bytes on disk of every file seen (the size check)
        self._blocked: set[str] = set()  # binary, oversized or not a regular file on disk
        self._dirty: set[str] = set()
        self._folders_dirty = True  # meta.folders -> mkdir, at start and on change
        self._dirty_event = anyio.Event()
        # Disk reads and writes, and the doc changes they lead to, take turns: a read taken
        # before a write must not be applied after it (it would undo the write in the doc).
        self._lock = anyio.Lock()
        self.writes = 0
        self.disk_changes = 0
        self.conflicts = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        # The watcher starts before the initial scan, so nothing changed meanwhile is missed.
        watcher = await anyio.to_thread.run_sync(
            lambda: RustNotify([str(self.root)], False, self._force_polling, 300, True, True)
        )
        stop = threading.Event()
        subscription = None
        try:
            await self._initial_sync()
            subscription = self._files.observe_deep(self._on_doc_events)
            folders_subscription = self._meta.observe(self._on_meta_event)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_loop, watcher, stop)
                tg.start_soon(self._flush_loop)
                task_status.started()
        finally:
            stop.set()
            if subscription is not None:
                self._files.unobserve(subscription)
                self._meta.unobserve(folders_subscription)
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await self.flush()
            watcher.close()

    # -- doc -> disk ----------------------------------------------------------------------

    def _on_doc_events(self, events: list[Any]) -> None:
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
                self.writes += 1
        elif ytext is None and rel in self._last:
            result = await anyio.to_thread.run_sync(self._delete_if_unchanged, rel, self._last[rel])
            if result == "written":
                self._last.pop(rel, None)
                self._sizes.pop(rel, None)
                self.writes += 1
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
        self._fs.write_atomic(rel, data)
        return "written"

    def _delete_if_unchanged(self, rel: str, expected: str) -> str:
        if not self._disk_is(rel, expected):
            return "conflict"
        self._fs.delete(rel)
        return "written"

    def _disk_is(self, rel: str, expected: str | None) -> bool:
        current = self._fs.read(rel, self._max_file)
        if current.problem == "missing":
            return expected is None
        return current.data is not None and decode_text(current.data) == expected

    # -- disk -> doc ----------------------------------------------------------------------

    async def _watch_loop(self, watcher: RustNotify, stop: threading.Event) -> None:
        while True:
            changes = await anyio.to_thread.run_sync(
                watcher.watch, 50, 10, 1000, stop, abandon_on_cancel=True
            )
            if not isinstance(changes, set):
                continue  # "timeout": poll the stop event again
            paths = {self._relative(path) for _, path in changes}
            if GITIGNORE in paths:
                await self._load_rules()
            for rel in sorted(p for p in paths if p is not None):
                if self._syncable(rel):
                    await self._on_disk_change(rel)

    def _relative(self, path: str) -> str | None:
        rel = os.path.relpath(path, self.root)
        return None if rel == "." or rel.startswith("..") else rel.replace(os.sep, "/")

    async def _on_disk_change(self, rel: str) -> None:
        pending = [rel]
        while pending:
            path = pending.pop()
            async with self._lock:
                pending += await self._take_disk_change(path)

    async def _take_disk_change(self, rel: str) -> list[str]:
        """Bring the disk's state of `rel` into the doc; return paths to look at next."""
        result = await anyio.to_thread.run_sync(self._fs.read, rel, self._max_file)
        logger.debug("workspace %s: disk -> doc %r: %s", self.root, rel, result.problem or result.size)
        # From here on no await: the diff is computed and applied against the document as it
        # is now, so no client update interleaves.
        self.disk_changes += 1
        if result.problem == "missing":
            self._sizes.pop(rel, None)
            self._blocked.discard(rel)
            # Only a file that was on disk is deleted from the doc: a new one the doc has not
            # written yet stays.
            synced = self._last.pop(rel, None) is not None
            with self._doc.transaction(origin=self._origin):
                if synced and rel in self._files:
                    del self._files[rel]
                if rel in self._blobs:
                    del self._blobs[rel]
            # A directory moved or removed as a whole: look at what the doc had under it.
            return [k for k in self._files.keys() if k.startswith(rel + "/")]
        if result.problem == "directory":
            return await anyio.to_thread.run_sync(self._list, rel)
        if result.problem == "not_regular":
            logger.info("workspace %s: %r is a symlink or special file: not synced", self.root, rel)
            self._blocked.add(rel)
            return []
        self._sizes[rel] = result.size
        self._take_disk_text(rel, result)
        return []

    def _take_disk_text(self, rel: str, result: ReadResult) -> None:
        text = decode_text(result.data) if result.data is not None else None
        if text is None:
            self._blocked.add(rel)
            reason = "too_large" if result.problem == "too_large" else "binary"
            with self._doc.transaction(origin=self._origin):
                self._blobs[rel] = {"size": result.size, "reason": reason}
            return
        self._blocked.discard(rel)
        if self._last.get(rel) == text:
            return  # the echo of a write of ours, or a touch: nothing new (the doc may have moved on)
        ytext = self._files.get(rel)
        with self._doc.transaction(origin=self._origin):
            if rel in self._blobs:
                del self._blobs[rel]
            if not isinstance(ytext, Text):
                self._files[rel] = Text(text)
                self._last[rel] = text
                return
            current = str(ytext)
            base = self._last.get(rel, current)
            self._last[rel] = text
            if current == text:
                return
            theirs = diff(base, text)
            edits, dropped = (theirs, 0) if current == base else rebase(theirs, diff(base, current))
            if dropped:
                logger.info(
                    "workspace %s: %r: %d terminal edits overlapped doc edits", self.root, rel, dropped
                )
            apply_edits(ytext, current, edits)
        if str(ytext) != text:  # concurrent document edits survive: write the merge back
            self._dirty.add(rel)
            self._dirty_event.set()

    # -- start-up -------------------------------------------------------------------------

    async def _initial_sync(self) -> None:
        await self._load_rules()
        disk = await anyio.to_thread.run_sync(self._scan)
        added: dict[str, str] = {}
        blobs: dict[str, dict[str, Any]] = {}
        for rel, result in disk.items():
            self._sizes[rel] = result.size
            text = decode_text(result.data) if result.data is not None else None
            if text is None:
                self._blocked.add(rel)
                blobs[rel] = {"size": result.size, "reason": result.problem or "binary"}
            elif isinstance(self._files.get(rel), Text):
                self._last[rel] = text  # the base; the document's text wins if it differs
                self._dirty.add(rel)
            else:
                added[rel] = text
                self._last[rel] = text
        for rel in self._files.keys():
            if rel not in disk:
                self._dirty.add(rel)
        with self._doc.transaction(origin=self._origin):
            for rel in [k for k in self._blobs.keys() if k not in blobs]:
                del self._blobs[rel]
            for rel, info in blobs.items():
                self._blobs[rel] = info
            for rel, text in added.items():
                self._files[rel] = Text(text)
        await self.flush()
        logger.info(
            "workspace %s: %d files on disk, %d added to the doc, %d binary or large",
            self.root,
            len(disk),
            len(added),
            len(blobs),
        )

    def _scan(self) -> dict[str, ReadResult]:
        return {rel: self._fs.read(rel, self._max_file) for rel in self._list("")}

    def _list(self, under: str) -> list[str]:
        """Syncable files of the workspace (or of one directory in it)."""
        skip = lambda d: self._rules.ignored(d, is_dir=True)  # noqa: E731
        return [
            rel
            for rel, _size in self._fs.walk(self._max_files, skip_dir=skip)
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
