"""#14 findings 9b and 11 from a terminal, against a real server and container: what the
terminal writes cannot grow the doc past the disk -> doc limits (the rest is listed in `blobs`
with a reason), and a symlink to /usr planted in the workspace adds no inotify watch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pycrdt import Map

from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as wait_for
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

MAX_FILES = 40
MAX_DOC_BYTES = 200_000


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {"TANDEM_FILESYNC_MAX_FILES": str(MAX_FILES), "TANDEM_FILESYNC_MAX_DOC_BYTES": str(MAX_DOC_BYTES)}
    with sandbox_server(tmp_path_factory.mktemp("limits-data"), **env) as server:
        yield server


def inotify_watches(pid: int) -> int:
    """Watches held by the process's inotify instances, read from /proc (what the kernel counts)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        total += sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))
    return total


async def test_terminal_writes_stop_at_the_doc_limits(srv: TandemServer) -> None:
    session = new_session()
    async with (
        term_client(term_url(srv, session)) as term,
        pycrdt_client(srv.ws_url, session) as (doc, provider),
    ):
        await provider.synced.wait()
        await term.read_until(b"$ ")
        files, blobs = doc.get("files", type=Map), doc.get("blobs", type=Map)
        # 5 x 60 KB of text against a 200 KB doc limit: 3 fit.
        await term.run(
            "for i in 1 2 3 4 5; do head -c 60000 /dev/zero | tr '\\0' a > big$i.txt; sleep 0.1; done; "
            "echo big-$((1+1))",
            "big-2",
        )
        await wait_for(lambda: len([k for k in blobs.keys() if k.startswith("big")]) == 2, what="2 blobs")
        assert sorted(k for k in files.keys() if k.startswith("big")) == ["big1.txt", "big2.txt", "big3.txt"]
        assert {blobs[k]["reason"] for k in blobs.keys()} == {"doc_too_large"}
        # 60 small files against a 40-file limit (3 text files are in already).
        await term.run(
            "mkdir many && for i in $(seq 1 60); do echo $i > many/f$i.txt; done; echo many-$((2+2))",
            "many-4",
        )
        await wait_for(lambda: len(files) == MAX_FILES, what="the file limit")
        await wait_for(lambda: sum(1 for k in blobs.keys() if k.startswith("many/")) == 60 - (MAX_FILES - 3))
        assert {blobs[k]["reason"] for k in blobs.keys() if k.startswith("many/")} == {"too_many_files"}
        assert sum(len(str(files[k]).encode()) for k in files.keys()) <= MAX_DOC_BYTES


async def test_a_symlink_to_usr_adds_no_watch(srv: TandemServer) -> None:
    assert srv.proc is not None
    session = new_session()
    async with (
        term_client(term_url(srv, session)) as term,
        pycrdt_client(srv.ws_url, session) as (doc, provider),
    ):
        await provider.synced.wait()
        await term.read_until(b"$ ")
        files = doc.get("files", type=Map)
        before = inotify_watches(srv.proc.pid)
        # In the container /usr is the image's; on the host the same link names the host's /usr.
        await term.run(
            "ln -s /usr usr-link && mkdir -p src/a && echo x > src/a/m.py; echo ln-$((3+3))", "ln-6"
        )
        await wait_for(lambda: "src/a/m.py" in files, what="the file beside the link")
        after = inotify_watches(srv.proc.pid)
        assert after - before <= 2  # src and src/a; nothing under /usr
        assert not any(k.startswith("usr-link") for k in files.keys())
