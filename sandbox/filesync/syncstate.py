"""The state `WorkspaceSync.__init__` sets, declared once for the classes it is made of
(`DiskToDoc`, `StartupReconcile`): annotations only, so each part type-checks on its own."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import anyio
from pycrdt import Doc, Map

from .safe_fs import SafeRoot


class SyncState:
    _doc: Doc
    _files: Map[Any]
    _blobs: Map[Any]
    root: Path
    _fs: SafeRoot
    _origin: Hashable
    _max_file: int
    _max_files: int
    _max_doc_bytes: int
    _last: dict[str, str]
    _sizes: dict[str, int]
    _text_sizes: dict[str, int]
    _text_total: int
    _blocked: set[str]
    _dirty: set[str]
    _dirty_event: anyio.Event
    _lock: anyio.Lock
    disk_changes: int
    watches: int
    conflicts: int
    _base: dict[str, str]
    _root_dev: int | None
    _gone: bool
