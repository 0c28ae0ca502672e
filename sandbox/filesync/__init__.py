"""Workspace file sync: the `files` map of a session's doc <-> its workspace directory.

Needs pycrdt, pathspec and fast-diff-match-patch (inotify through ctypes), never `backend`:
the backend hands in the room's live `Doc`.
"""

from . import merge
from .safe_fs import SafeRoot, split_path
from .textdiff import Edit, apply_edits, decode_text, diff, rebase
from .workspace_sync import WorkspaceSync

__all__ = [
    "Edit",
    "SafeRoot",
    "WorkspaceSync",
    "apply_edits",
    "decode_text",
    "diff",
    "merge",
    "rebase",
    "split_path",
]
