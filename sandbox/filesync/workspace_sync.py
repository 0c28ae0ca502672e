"""`WorkspaceSync`: a session's `files` map (path -> Y.Text) and its workspace directory, both ways.

Doc -> disk: document changes mark paths dirty; after `debounce` quiet time each dirty file is
written atomically (temp + rename), only if the disk still holds what was last synced (else the
disk side is merged first). Disk -> doc: a `TreeWatcher` (inotify, never through a symlink)
reports changes made in the terminal or by an operator; each becomes a minimal diff applied to
the file's Y.Text in one transaction whose origin is `origin` ("terminal"). Reads and diffs run
in worker threads; only the apply runs on the event loop, one file per transaction with a yield
between files, so a `git checkout` of a hundred files never stalls other rooms. Echo loops are
cut by content: `_last[path]` is the text both sides agreed on, and a change that brings nothing
new is dropped.

Start-up reconciles once and never overwrites a file nobody saw: files only on disk are added to
the document; files only in the document are written to disk; where both hold different text,
the disk's version is taken (it may be the only copy of someone's work) and the document's own
text, unless it is the generated welcome file, is kept beside it as `<path>.tandem-conflict` —
unless `base` (digests of what both sides held when the previous run ended) shows that only
one side changed: then that side wins, with no conflict.
Binary files, files over `max_file_bytes`, and files beyond the document's limits (`max_files`
text files, `max_doc_bytes` of text) are listed in the `blobs` map with a reason instead — and
a text file that crosses a limit later leaves the `files` map, coming back when it fits again.
Run as `await sync.run()` in a task group; cancel it to stop (pending writes are flushed first).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from pycrdt import Doc, Map, MapEvent, Text, TextEvent

from ..errors import UnsafePathError
from .ignore import GITIGNORE, IgnoreRules
from .safe_fs import ReadResult, SafeRoot, split_path
from .textdiff import Edit, apply_edits, decode_text, diff, rebase
from .watcher import TreeWatcher

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
# The first file of an empty room, written by the page (web/src/room.js): nobody edited it,
# so a workspace file of the same name always wins over it.
WELCOME_TEXT = "# Welcome to Tandem. Everyone in this room edits this file together.\n"
CONFLICT_SUFFIX = ".tandem-conflict"
READ_BATCH = 64  # files read per worker-thread call, and applied per hold of the lock...
READ_BATCH_BYTES = 2 * MiB  # ...or fewer: this many bytes
WATCH_POLL_SECONDS = 0.25  # how long a watcher read waits (bounds how long a stop takes)


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
        max_doc_bytes: int = 256 * MiB,
        max_watches: int = 4096,
        origin: str = "terminal",
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

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
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

    # -- disk -> doc ----------------------------------------------------------------------

    async def _watch_loop(self, watcher: TreeWatcher) -> None:
        while True:
            # No thread while the disk is quiet; one burst's read then takes a worker thread.
            # Not abandoned on cancel: the thread owns the watcher until it returns (<= 0.75 s).
            await watcher.wait_for_events()
            paths = await anyio.to_thread.run_sync(watcher.changes, WATCH_POLL_SECONDS)
            self.watches = watcher.watches
            if not paths:
                continue
            if GITIGNORE in paths:
                await self._load_rules()
            if "" in paths:  # the kernel dropped events: look at everything again
                disk = await anyio.to_thread.run_sync(self._list, "")
                paths = set(disk) | set(self._files.keys()) | set(self._blobs.keys())
            await self.take_disk_changes(p for p in paths if p and self._syncable(p))

    async def _on_disk_change(self, rel: str) -> None:
        await self.take_disk_changes([rel])

    async def take_disk_changes(self, paths: Iterable[str]) -> None:
        """Bring the disk's state of `paths` into the doc: reads in a worker thread, a batch
        at a time; diffs in a worker thread; each file applied in its own transaction."""
        pending = sorted(paths, reverse=True)
        while pending:
            batch = pending[-READ_BATCH:][::-1]
            async with self._lock:
                results = await anyio.to_thread.run_sync(self._read_many, batch)
                del pending[len(pending) - len(results) :]
                for rel, result in self._add_new_texts(results):  # new files: one transaction
                    pending += await self._take_disk_change(rel, result)
                    await anyio.lowlevel.checkpoint()  # other rooms and terminals run between files

    def _read_many(self, paths: list[str]) -> list[tuple[str, ReadResult]]:
        """Read a prefix of `paths`: at least one, at most `READ_BATCH_BYTES` (the doc takes a
        batch of new files in one transaction, which must stay short)."""
        out: list[tuple[str, ReadResult]] = []
        total = 0
        for rel in paths:
            result = self._fs.read(rel, self._max_file)
            out.append((rel, result))
            total += len(result.data or b"")
            if total >= READ_BATCH_BYTES:
                break
        return out

    async def _take_disk_change(self, rel: str, result: ReadResult) -> list[str]:
        """Bring one read of `rel` into the doc; return paths to look at next."""
        logger.debug("workspace %s: disk -> doc %r: %s", self.root, rel, result.problem or result.size)
        self.disk_changes += 1
        if result.problem == "missing":
            self._sizes.pop(rel, None)
            self._set_text_size(rel, None)
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
            under = rel + "/"
            return [k for k in (*self._files.keys(), *self._blobs.keys()) if k.startswith(under)]
        if result.problem == "directory":
            return await anyio.to_thread.run_sync(self._list, rel)
        if result.problem == "not_regular":
            logger.info("workspace %s: %r is a symlink or special file: not synced", self.root, rel)
            self._blocked.add(rel)
            return []
        self._sizes[rel] = result.size
        await self._take_disk_text(rel, result)
        return []

    async def _take_disk_text(self, rel: str, result: ReadResult) -> None:
        text = decode_text(result.data) if result.data is not None else None
        reason = self._refusal(rel, result, text)
        if reason is not None:
            self._leave_text_map(rel, result.size, reason)
            return
        assert text is not None
        self._blocked.discard(rel)
        if self._last.get(rel) == text:
            return  # the echo of a write of ours, or a touch: nothing new (the doc may have moved on)
        for _attempt in range(3):
            ytext = self._files.get(rel)
            if not isinstance(ytext, Text):
                self._add_text(rel, text)
                return
            current = str(ytext)
            base = self._last.get(rel, current)
            # The diffs run in a worker thread against a snapshot; applied only if the doc did
            # not move meanwhile (else diffed again).
            edits, dropped = await anyio.to_thread.run_sync(_merge_edits, base, current, text)
            now = self._files.get(rel)
            if isinstance(now, Text) and str(now) == current:
                ytext = now
                break
        else:
            ytext = self._files.get(rel)
            if not isinstance(ytext, Text):
                self._add_text(rel, text)
                return
            current = str(ytext)
            edits, dropped = _merge_edits(self._last.get(rel, current), current, text)
        self._last[rel] = text
        self._set_text_size(rel, result.size)
        if dropped:
            logger.info("workspace %s: %r: %d terminal edits overlapped doc edits", self.root, rel, dropped)
        if edits or rel in self._blobs:
            with self._doc.transaction(origin=self._origin):
                if rel in self._blobs:
                    del self._blobs[rel]
                apply_edits(ytext, current, edits)
        if str(ytext) != text:  # concurrent document edits survive: write the merge back
            self._dirty.add(rel)
            self._dirty_event.set()

    def _add_text(self, rel: str, text: str) -> None:
        with self._doc.transaction(origin=self._origin):
            if rel in self._blobs:
                del self._blobs[rel]
            self._files[rel] = Text(text)
        self._last[rel] = text
        self._set_text_size(rel, len(text.encode()))

    def _refusal(self, rel: str, result: ReadResult, text: str | None) -> str | None:
        """Why this disk file cannot be text in the doc, or None when it can."""
        if result.problem == "too_large":
            return "too_large"
        if text is None:
            return "binary"
        if rel not in self._files and len(self._files) >= self._max_files:
            return "too_many_files"
        if self._text_total - self._text_sizes.get(rel, 0) + result.size > self._max_doc_bytes:
            return "doc_too_large"
        return None

    def _leave_text_map(self, rel: str, size: int, reason: str) -> None:
        """List `rel` in `blobs` (and take it out of `files`): the disk keeps it, the doc does not."""
        self._blocked.add(rel)
        self._last.pop(rel, None)
        self._set_text_size(rel, None)
        listed = rel in self._blobs or len(self._blobs) < self._max_files
        if not listed:
            logger.info(
                "workspace %s: %r (%s) not listed: %d blobs already", self.root, rel, reason, len(self._blobs)
            )
        with self._doc.transaction(origin=self._origin):
            if rel in self._files:
                del self._files[rel]
            if listed:
                self._blobs[rel] = {"size": size, "reason": reason}

    def _set_text_size(self, rel: str, size: int | None) -> None:
        self._text_total -= self._text_sizes.pop(rel, 0)
        if size is not None:
            self._text_sizes[rel] = size
            self._text_total += size

    # -- start-up -------------------------------------------------------------------------

    async def _initial_sync(self) -> None:
        disk = await anyio.to_thread.run_sync(self._list, "")
        on_disk = set(disk)
        doc_only = [rel for rel in self._files.keys() if rel not in on_disk]
        conflicts_before = self.conflicts
        done = 0
        while done < len(disk):
            async with self._lock:
                results = await anyio.to_thread.run_sync(self._read_many, disk[done : done + READ_BATCH])
                done += len(results)
                rest = self._add_new_texts(results)  # the common case, one transaction a batch
                for rel, result in rest:
                    await self._first_sync_one(rel, result)
                    await anyio.lowlevel.checkpoint()
        for rel in list(self._blobs.keys()):
            if rel not in self._blocked:
                with self._doc.transaction(origin=self._origin):
                    del self._blobs[rel]  # listed by an earlier run, gone from disk since
        self._dirty.update(doc_only)
        await self.flush()
        logger.info(
            "workspace %s: %d files on disk, %d in the doc, %d binary or over a limit, %d conflicts kept",
            self.root,
            len(disk),
            len(self._files),
            len(self._blocked),
            self.conflicts - conflicts_before,
        )

    def _add_new_texts(self, results: list[tuple[str, ReadResult]]) -> list[tuple[str, ReadResult]]:
        """Add the text files the doc lacks in one transaction; return the other results."""
        rest: list[tuple[str, ReadResult]] = []
        added: dict[str, str] = {}
        for rel, result in results:
            text = decode_text(result.data) if result.data is not None else None
            full = len(self._files) + len(added) >= self._max_files
            known = rel in self._files or rel in self._last  # (in _last only: the doc deleted it)
            if text is None or full or known or self._refusal(rel, result, text) is not None:
                rest.append((rel, result))
                continue
            added[rel] = text
            self._sizes[rel] = result.size
            self._last[rel] = text
            self._set_text_size(rel, result.size)
            self._blocked.discard(rel)
        self.disk_changes += len(added)
        if added:
            with self._doc.transaction(origin=self._origin):
                for rel, text in added.items():
                    if rel in self._blobs:
                        del self._blobs[rel]
                    self._files[rel] = Text(text)
        return rest

    async def _first_sync_one(self, rel: str, result: ReadResult) -> None:
        """Never overwrite a file nobody saw: the disk's text wins, a differing doc text is kept."""
        if result.problem in ("missing", "directory", "not_regular"):
            await self._take_disk_change(rel, result)
            return
        ytext = self._files.get(rel)
        text = decode_text(result.data) if result.data is not None else None
        if isinstance(ytext, Text):
            current = str(ytext)
            if current == text:
                self._last[rel] = current
                self._sizes[rel] = result.size
                self._set_text_size(rel, result.size)
                return
            agreed = self._base.get(rel)
            if text is not None and agreed == digest(text):
                # Only the doc changed since the last run (edited while nothing synced): it wins.
                self._last[rel] = text
                self._sizes[rel] = result.size
                self._set_text_size(rel, result.size)
                self._dirty.add(rel)
                return
            doc_unchanged = agreed is not None and agreed == digest(current)
            if not doc_unchanged and current.strip() and current != WELCOME_TEXT:
                self._keep_conflict(rel, current)
        self._sizes[rel] = result.size
        await self._take_disk_text(rel, result)

    def agreed(self) -> dict[str, str]:
        """Digests of the text disk and doc agree on, per file: hand them to the next run as
        `base` (blocking: call in a worker thread once `run` has ended)."""
        return {rel: digest(text) for rel, text in list(self._last.items())}

    def _keep_conflict(self, rel: str, text: str) -> None:
        """Save the doc's differing text of `rel` beside it (`rel.tandem-conflict`), for people."""
        name = rel + CONFLICT_SUFFIX
        n = 1
        while name in self._files:
            existing = self._files.get(name)
            if isinstance(existing, Text) and str(existing) == text:
                return  # the same conflict, kept already
            n += 1
            name = f"{rel}{CONFLICT_SUFFIX}-{n}"
        self.conflicts += 1
        logger.warning(
            "workspace %s: %r differs on disk and in the doc: the disk's text is kept, the doc's is in %r",
            self.root,
            rel,
            name,
        )
        with self._doc.transaction(origin=self._origin):
            self._files[name] = Text(text)
        self._dirty.add(name)

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


def _merge_edits(base: str, current: str, disk: str) -> tuple[list[Edit], int]:
    """The disk's edits (base -> disk) in the coordinates of the doc's `current` text, and how
    many were dropped for overlapping the doc's own edits. CPU-bound: run in a worker thread."""
    if current == disk:
        return [], 0
    theirs = diff(base, disk)
    if current == base:
        return theirs, 0
    return rebase(theirs, diff(base, current))


def _origin_of(event: Any) -> Any:
    """The origin of the transaction an event belongs to (readable only inside the callback)."""
    try:
        return event.transaction.origin
    except (AttributeError, RuntimeError):
        return None


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
