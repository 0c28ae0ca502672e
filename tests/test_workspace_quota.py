"""Finding 9 (first part), against a real server and container: the session's /workspace is a
file system of the quota's size. Writing past it from the terminal fails with ENOSPC inside the
container, the host holds at most the quota, and the room, its doc and its terminal live on."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from pycrdt import Map, Text

from backend.settings import Settings
from backend.terminals.paths import workspace_dir
from sandbox.quota import WorkspaceQuota
from tests.pyclient import pycrdt_client
from tests.support import TandemServer, eventually
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="loop mounts need root (CI runs as root)"),
]

QUOTA = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    data = tmp_path_factory.mktemp("quota") / "data"
    env = {"TANDEM_WORKSPACE_QUOTA": "loop", "TANDEM_WORKSPACE_MAX_BYTES": str(QUOTA)}
    with sandbox_server(data, **env) as server:
        yield server


async def test_writing_past_the_quota_fails_with_enospc_and_the_room_lives(srv: TandemServer) -> None:
    session = new_session()
    workspace = workspace_dir(Settings(data=srv.data), session)
    image = WorkspaceQuota.image_of(workspace)
    async with pycrdt_client(srv.ws_url, session) as (doc, _):
        doc.get("files", type=Map)["keep.txt"] = Text("kept\n")
        async with term_client(term_url(srv, session)) as editor:
            await editor.read_until(b"$ ")
            await eventually(lambda: (workspace / "keep.txt").exists(), timeout=15)
            assert os.path.ismount(workspace)
            out = await editor.run(
                "dd if=/dev/zero of=big bs=1M count=200; echo dd-rc=$?; echo done-$((1+1))",
                "done-2",
                within=60,
            )
            assert b"No space left on device" in out
            assert b"dd-rc=1" in out
            # The host: the file and the image's real blocks are both within the quota.
            assert (workspace / "big").stat().st_size <= QUOTA
            assert image.stat().st_blocks * 512 <= QUOTA
            assert image.stat().st_size == QUOTA
            # The terminal, the file sync and the doc all still work once space is freed.
            await editor.run("rm big; echo after > after.txt; cat keep.txt; echo ok-$((2+2))", "ok-4")
            assert b"kept" in editor.output
            files = doc.get("files", type=Map)
            await eventually(
                lambda: "after.txt" in files and str(files["after.txt"]) == "after\n", timeout=15
            )
    # A new client still loads the whole room.
    async with pycrdt_client(srv.ws_url, session) as (fresh, _):
        fresh_files = fresh.get("files", type=Map)
        await eventually(lambda: {"keep.txt", "after.txt"} <= set(fresh_files.keys()), timeout=15)


async def test_a_workspace_from_before_the_quota_keeps_its_files(srv: TandemServer) -> None:
    """An install upgraded to the quota: the plain directory's files move into the new image."""
    session = new_session()
    workspace = workspace_dir(Settings(data=srv.data), session)
    (workspace / "dir").mkdir(parents=True)
    (workspace / "dir" / "old.bin").write_bytes(b"\x00binary from before\n")
    (workspace / "link").symlink_to("/etc/passwd")
    async with term_client(term_url(srv, session)) as editor:
        await editor.read_until(b"$ ")
        assert os.path.ismount(workspace)
        out = await editor.run(
            "cat dir/old.bin; readlink link; df -k . | tail -1; echo end-$((1+2))", "end-3"
        )
        assert b"binary from before" in out and b"/etc/passwd" in out
        df = re.search(rb"(\d+)\s+\d+\s+\d+\s+\d+%\s+/workspace", out)
        assert (
            df is not None and int(df.group(1)) * 1024 <= QUOTA
        )  # df inside the container sees the quota's file system


async def test_a_workspace_unmounted_under_the_sync_loses_nothing_from_the_doc(srv: TandemServer) -> None:
    """Someone unmounts the quota image under a live room (an operator, a cleanup script): the
    bare directory below has none of the files, which must not read as everyone deleting them.
    The sync stops and says so; the document keeps every file."""
    import subprocess

    session = new_session()
    workspace = workspace_dir(Settings(data=srv.data), session)
    async with pycrdt_client(srv.ws_url, session) as (doc, _):
        files = doc.get("files", type=Map)
        files["keep.txt"] = Text("kept\n")
        files["also.txt"] = Text("also\n")
        # Both written (a flush writes in name order: also.txt, then keep.txt) before the unmount.
        await eventually(lambda: all((workspace / n).exists() for n in ("also.txt", "keep.txt")), timeout=15)
        assert os.path.ismount(workspace)
        subprocess.run(["umount", "-l", str(workspace)], check=True)
        assert not (workspace / "keep.txt").exists()
        # The next change the sync looks at (the bare directory: the files "missing").
        (workspace / "new.txt").write_text("on the bare directory\n")
        keep = files["keep.txt"]
        keep.insert(len(keep), "more\n")
        await eventually(lambda: "changed under the sync" in srv.log(), timeout=20)
        assert str(files["keep.txt"]) == "kept\nmore\n" and str(files["also.txt"]) == "also\n"
    async with pycrdt_client(srv.ws_url, session) as (fresh, _):
        fresh_files = fresh.get("files", type=Map)
        await eventually(lambda: {"keep.txt", "also.txt"} <= set(fresh_files.keys()), timeout=15)
