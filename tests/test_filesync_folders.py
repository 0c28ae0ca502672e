"""Empty folders (the doc's `meta.folders`, made with "+ Folder") reach the workspace directory."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from pycrdt import Doc, Map

from sandbox.filesync import WorkspaceSync
from tests.support import eventually as wait_for

pytestmark = pytest.mark.anyio


async def test_empty_folders_are_made_on_disk_at_start_and_when_added(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    doc = Doc()
    meta = doc.get("meta", type=Map)
    meta["folders"] = ["docs/drafts"]
    sync = WorkspaceSync(doc, root, debounce=0.02)
    async with anyio.create_task_group() as tg:
        await tg.start(sync.run)
        assert (root / "docs" / "drafts").is_dir()
        meta["folders"] = ["docs/drafts", "src/pkg", "link/escape", "../up"]
        await wait_for(lambda: (root / "src" / "pkg").is_dir())
        tg.cancel_scope.cancel()
    # Never through a symlink, never outside the workspace.
    assert not (tmp_path / "outside" / "escape").exists()
    assert not (tmp_path / "up").exists()
