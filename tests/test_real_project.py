"""A real project in a session's workspace (#18), against a real server and real Docker.

The workspace is built from this environment's own site-packages (more than 1,000 files, text
and binary, plus a symlink to /usr). Covered: the project is in the doc as soon as the room
opens, with no container (finding 2); a real `main.py` is never replaced by the page's welcome
file, even when the doc had that file first (finding 1); a file grown past the size limit in
the terminal leaves the text map and comes back when it shrinks (finding 7)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import aiodocker
import pytest
from pycrdt import Map, Text

from sandbox.container_config import LABEL_INSTANCE, LABEL_SESSION
from sandbox.filesync.workspace_sync import WELCOME_TEXT
from tests.projects import copy_packages, text_files
from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as wait_for
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

MAIN_PY = "from pip._internal.cli.main import main\n\nif __name__ == '__main__':\n    main()\n"
MAX_FILE = 64 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    env = {"TANDEM_FILESYNC_MAX_FILE_BYTES": str(MAX_FILE), "TANDEM_ROOM_IDLE_UNLOAD_SECONDS": "0.5"}
    with sandbox_server(tmp_path_factory.mktemp("realproj-data"), **env) as server:
        yield server


def _workspace(srv: TandemServer, session: str) -> Path:
    return srv.data / "workspaces" / session  # new_session() names need no quoting


def _build_project(root: Path) -> tuple[dict[str, bytes], int]:
    """Copy the packages, add `main.py` and a link to /usr; return the text files that fit the
    limit (path -> bytes), and the number of files copied."""
    copy_packages(root)
    (root / "main.py").write_text(MAIN_PY)
    os.symlink("/usr", root / "usr-link")
    return text_files(root, MAX_FILE)


async def _containers_of(srv: TandemServer, session: str) -> list[object]:
    labels = [f"{LABEL_SESSION}={session}", f"{LABEL_INSTANCE}={srv.env['TANDEM_SANDBOX_INSTANCE']}"]
    async with aiodocker.Docker() as docker:
        return list(await docker.containers.list(all=True, filters=json.dumps({"label": labels})))


async def test_a_real_project_opens_whole_and_keeps_its_files(srv: TandemServer) -> None:
    session = new_session()
    root = _workspace(srv, session)
    texts, copied = _build_project(root)
    assert copied >= 1000 and len(texts) >= 1000
    # Finding 2: the room opens with the project in it, and no container was started for that.
    async with pycrdt_client(srv.ws_url, session) as (doc, provider):
        await provider.synced.wait()
        files, blobs = doc.get("files", type=Map), doc.get("blobs", type=Map)
        assert set(files.keys()) == set(texts)
        assert all(str(files[k]).encode() == v for k, v in texts.items())
        assert len(blobs) > 0 and all(blobs[k]["reason"] in ("binary", "too_large") for k in blobs.keys())
        assert not any(k.startswith("usr-link") for k in (*files.keys(), *blobs.keys()))
        assert await _containers_of(srv, session) == []
        # Finding 1: the page writes its welcome file only into an empty room, and main.py is
        # the project's own.
        assert str(files["main.py"]) == MAIN_PY
        # Finding 7, through the terminal: a file grows past the limit, then shrinks again.
        (root / "notes.txt").write_text("first notes\n")
        await wait_for(lambda: "notes.txt" in files and str(files["notes.txt"]) == "first notes\n")
        async with term_client(term_url(srv, session)) as term:
            await term.read_until(b"$ ")
            out = await term.run("cat main.py; echo end-$((1+1))", "end-2")
            assert "from pip._internal.cli.main import main" in out.decode()
            await term.run(
                f"yes 0123456789 | head -c {MAX_FILE + 1000} >> notes.txt; echo grown-$((2+2))", "grown-4"
            )
            await wait_for(lambda: "notes.txt" not in files and "notes.txt" in blobs)
            assert blobs["notes.txt"]["reason"] == "too_large"
            await term.run("echo 'short again' > notes.txt; echo short-$((3+3))", "short-6")
            await wait_for(lambda: "notes.txt" in files and str(files["notes.txt"]) == "short again\n")
            assert "notes.txt" not in blobs
    assert (root / "main.py").read_text() == MAIN_PY
    assert all((root / k).read_bytes() == v for k, v in texts.items())


async def test_a_welcome_file_in_the_doc_never_replaces_the_projects_main_py(srv: TandemServer) -> None:
    """Finding 1 as it happened: the doc holds the page's welcome `main.py` from an empty room;
    the project's own `main.py` reaches the workspace while the room is unloaded; then an editor
    opens the room and a terminal starts."""
    session = new_session()
    root = _workspace(srv, session)
    async with pycrdt_client(srv.ws_url, session) as (doc, provider):
        await provider.synced.wait()
        files = doc.get("files", type=Map)
        assert len(files) == 0  # an empty workspace: the page's first file, as web/src/room.js writes it
        files["main.py"] = Text(WELCOME_TEXT)
        await wait_for(lambda: (root / "main.py").exists())
    await wait_for(lambda: f"room {session!r} unloaded" in srv.log())
    (root / "main.py").write_text(MAIN_PY)
    (root / "lib.py").write_text("VALUE = 1\n")
    async with pycrdt_client(srv.ws_url, session) as (doc, provider):
        await provider.synced.wait()
        files = doc.get("files", type=Map)
        assert str(files["main.py"]) == MAIN_PY and str(files["lib.py"]) == "VALUE = 1\n"
        assert not any(k.endswith(".tandem-conflict") for k in files.keys())  # nobody wrote the welcome
        async with term_client(term_url(srv, session)) as term:
            await term.read_until(b"$ ")
            out = await term.run("cat main.py; echo end-$((1+1))", "end-2")
            assert "from pip._internal.cli.main import main" in out.decode()
            assert "Welcome to Tandem" not in out.decode()
    assert (root / "main.py").read_text() == MAIN_PY
