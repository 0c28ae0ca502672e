"""Which workspace paths are never synced: `.git/`, `node_modules/`, our temp files, and the
patterns of the workspace's top-level `.gitignore` (git's own matching rules, via pathspec)."""

from __future__ import annotations

import logging

import pathspec

from .safe_fs import is_temp_name

logger = logging.getLogger(__name__)

ALWAYS_IGNORED_DIRS = frozenset({".git", "node_modules"})
GITIGNORE = ".gitignore"
MAX_GITIGNORE_LINES = 2000


class IgnoreRules:
    def __init__(self, gitignore: str | None = None) -> None:
        self._spec: pathspec.GitIgnoreSpec | None = None
        if gitignore:
            lines = gitignore.splitlines()[:MAX_GITIGNORE_LINES]
            try:
                self._spec = pathspec.GitIgnoreSpec.from_lines(lines)
            except ValueError as exc:  # a malformed pattern: sync everything rather than nothing
                logger.warning("ignoring an unparsable .gitignore: %s", exc)

    def ignored(self, rel: str, *, is_dir: bool = False) -> bool:
        parts = rel.split("/")
        if any(p in ALWAYS_IGNORED_DIRS for p in parts) or is_temp_name(parts[-1]):
            return True
        if self._spec is None:
            return False
        return self._spec.match_file(rel + "/" if is_dir else rel)
