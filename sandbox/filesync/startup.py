"""Start-up, a part of `WorkspaceSync`: reconcile the doc and the disk once, losing nothing.

Files only on disk are added to the document; files only in the document are written to disk;
where both hold different text, the disk's version is taken (it may be the only copy of someone's
work) and the document's own text, unless it is the generated welcome file, is kept beside it as
`<path>.tandem-conflict` — unless `base` (digests of what both sides held when the previous run
ended, from `agreed()`) shows that only one side changed: then that side wins, with no conflict.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
from pycrdt import Text

from .disk_to_doc import READ_BATCH
from .safe_fs import ReadResult
from .syncstate import SyncState
from .textdiff import decode_text

logger = logging.getLogger("sandbox.filesync.workspace_sync")

# The first file of an empty room, written by the page (web/src/room.js): nobody edited it,
# so a workspace file of the same name always wins over it.
WELCOME_TEXT = "# Welcome to Tandem. Everyone in this room edits this file together.\n"
CONFLICT_SUFFIX = ".tandem-conflict"


class StartupReconcile(SyncState):
    # One part of `WorkspaceSync` (its state: `SyncState`).

    if TYPE_CHECKING:  # the other parts of WorkspaceSync

        def _list(self, under: str) -> list[str]: ...

        def _read_many(self, paths: list[str]) -> list[tuple[str, ReadResult]]: ...

        async def flush(self) -> None: ...

        def _refusal(self, rel: str, result: ReadResult, text: str | None) -> str | None: ...

        def _set_text_size(self, rel: str, size: int | None) -> None: ...

        async def _take_disk_change(self, rel: str, result: ReadResult) -> list[str]: ...

        async def _take_disk_text(self, rel: str, result: ReadResult) -> None: ...

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


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
