"""Disk -> doc, a part of `WorkspaceSync`: what the watcher reports becomes edits of the doc.

Reads run in worker threads a batch at a time; each changed text file becomes a minimal diff
(`merge`, in a worker thread) applied to its Y.Text in one transaction whose origin is the
sync's (Tandem's `FILE_SYNC`), so other people's cursors survive; new files of a batch are added in one
transaction. Binary files and files over a limit are listed in the `blobs` map with a reason
instead, and a text file that crosses a limit later leaves the `files` map until it fits again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
from pycrdt import Text

from ..errors import WorkspaceGoneError
from .ignore import GITIGNORE
from .merge import disk_edits, follow
from .safe_fs import ReadResult
from .syncstate import SyncState
from .textdiff import apply_edits, decode_text
from .watcher import TreeWatcher

logger = logging.getLogger("sandbox.filesync.workspace_sync")

MiB = 1024 * 1024
READ_BATCH = 64  # files read per worker-thread call, and applied per hold of the lock...
READ_BATCH_BYTES = 2 * MiB  # ...or fewer: this many bytes
WATCH_POLL_SECONDS = 0.25  # how long a watcher read waits (bounds how long a stop takes)
# A disk change diffed against a doc that kept changing in big steps (a paste, another sync)
# is tried this many times, then left to the next flush.
MERGE_ATTEMPTS = 3


class DiskToDoc(SyncState):
    # One part of `WorkspaceSync` (its state: `SyncState`).

    if TYPE_CHECKING:  # the other parts of WorkspaceSync

        async def _load_rules(self) -> None: ...

        def _syncable(self, rel: str) -> bool: ...

        def _list(self, under: str) -> list[str]: ...

        def _add_new_texts(self, results: list[tuple[str, ReadResult]]) -> list[tuple[str, ReadResult]]: ...

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

    def _check_root(self) -> None:
        """Before a deletion: the workspace is still the file system the sync started on. An
        unmounted quota image leaves the bare directory behind, where every file is "missing";
        deleting them from the doc would lose what everyone sees (the image still has them)."""
        try:
            dev: int | None = os.stat(self.root).st_dev
        except OSError:
            dev = None
        if dev != self._root_dev:
            self._gone = True
            logger.error(
                "workspace %s: its file system changed under the sync (unmounted?): sync stopped, "
                "the document keeps every file",
                self.root,
            )
            raise WorkspaceGoneError(f"workspace {self.root} changed under the sync")

    async def _take_disk_change(self, rel: str, result: ReadResult) -> list[str]:
        """Bring one read of `rel` into the doc; return paths to look at next."""
        logger.debug("workspace %s: disk -> doc %r: %s", self.root, rel, result.problem or result.size)
        self.disk_changes += 1
        if result.problem == "missing":
            self._check_root()
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
        for _attempt in range(MERGE_ATTEMPTS):
            ytext = self._files.get(rel)
            if not isinstance(ytext, Text):
                self._add_text(rel, text)
                return
            current = str(ytext)
            base = self._last.get(rel, current)
            # The diff runs in a worker thread against a snapshot (never on the loop: a big file
            # takes tens of milliseconds); people may type meanwhile.
            edits, dropped = await anyio.to_thread.run_sync(disk_edits, base, current, text)
            now = self._files.get(rel)
            if not isinstance(now, Text):
                continue
            # The doc had not changed since the last sync: the edits give exactly the disk's text.
            exact = current == base
            now_text = str(now)
            if now_text != current:  # the doc moved: carry the edits over its small change, or diff again
                followed = follow(edits, current, now_text)
                if followed is None:
                    continue
                edits, dropped = followed[0], dropped + followed[1]
                current, exact = now_text, False
            ytext = now
            break
        else:
            # The doc keeps changing in big steps: the next flush finds the disk differing from
            # what was last synced and merges again (`flush` -> conflict -> `_on_disk_change`).
            logger.info(
                "workspace %s: %r changed in the doc during every merge: retrying later", self.root, rel
            )
            self._dirty.add(rel)
            self._dirty_event.set()
            return
        self._last[rel] = text
        self._set_text_size(rel, result.size)
        if dropped:
            logger.info("workspace %s: %r: %d terminal edits overlapped doc edits", self.root, rel, dropped)
        if edits or rel in self._blobs:
            with self._doc.transaction(origin=self._origin):
                if rel in self._blobs:
                    del self._blobs[rel]
                apply_edits(ytext, current, edits)
        # Concurrent document edits survive: write the merge back (a 1 MiB str() is skipped when
        # the result is known to be the disk's text).
        if not (exact and not dropped) and str(ytext) != text:
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
