"""Files in both directions through a real server and container: doc -> /workspace, a `sed -i`
in the terminal -> a minimal change in the doc (a sticky index held by another client stays
on its text), and planted symlinks never followed by the server. Real Docker (no skip)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Assoc, Map, StickyIndex, Text, TextEvent

from tests.pyclient import pycrdt_client
from tests.support import TandemServer
from tests.support import eventually as wait_for
from tests.termclient import new_session, sandbox_server, term_client, term_url

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with sandbox_server(tmp_path_factory.mktemp("files-data")) as server:
        yield server


async def test_doc_edit_appears_in_the_container(srv: TandemServer) -> None:
    session = new_session()
    async with term_client(term_url(srv, session)) as term:
        await term.read_until(b"$ ")
        async with pycrdt_client(srv.ws_url, session) as (doc, provider):
            await provider.synced.wait()
            files = doc.get("files", type=Map)
            files["src/hello.py"] = Text("print('hello from the doc')\n")
            out = await term.run(
                "until [ -f src/hello.py ]; do sleep 0.05; done; cat src/hello.py; echo end-$((1+1))", "end-2"
            )
            assert "print('hello from the doc')" in out.decode()
            # A later keystroke in the doc is written too (debounced, atomically).
            files["src/hello.py"].insert(0, "# edited\n")
            out = await term.run(
                "until grep -q edited src/hello.py; do sleep 0.05; done; "
                "head -1 src/hello.py; echo end-$((2+2))",
                "end-4",
            )
            assert "# edited" in out.decode()
            # Deleting the file in the doc deletes it on disk.
            del files["src/hello.py"]
            await term.run("while [ -f src/hello.py ]; do sleep 0.05; done; echo gone-$((3+3))", "gone-6")


async def test_sed_in_the_terminal_is_a_minimal_change_and_cursors_survive(srv: TandemServer) -> None:
    session = new_session()
    lines = [f"line {i}: alpha beta gamma" for i in range(40)] + ["TARGET is here", "the end"]
    original = "\n".join(lines) + "\n"
    async with term_client(term_url(srv, session)) as term:
        await term.read_until(b"$ ")
        async with (
            pycrdt_client(srv.ws_url, session) as (doc_a, prov_a),
            pycrdt_client(srv.ws_url, session) as (doc_b, prov_b),
        ):
            await prov_a.synced.wait()
            await prov_b.synced.wait()
            doc_a.get("files", type=Map)["notes.txt"] = Text(original)
            files_b = doc_b.get("files", type=Map)
            await wait_for(lambda: "notes.txt" in files_b and str(files_b["notes.txt"]) == original)
            text_b = files_b["notes.txt"]
            # Client B's cursor sits on "TARGET", far below the line sed will change.
            cursor = StickyIndex.new(text_b, original.index("TARGET"), Assoc.AFTER)
            deltas: list[Any] = []
            sub = text_b.observe(lambda e: deltas.append(e.delta) if isinstance(e, TextEvent) else None)
            await term.run("until [ -f notes.txt ]; do sleep 0.05; done; echo ready-$((1+1))", "ready-2")
            await term.run(
                "sed -i 's/line 3: alpha/line 3: ALPHA-CHANGED/' notes.txt; echo sed-$((2+3))", "sed-5"
            )
            expected = original.replace("line 3: alpha", "line 3: ALPHA-CHANGED")
            await wait_for(lambda: str(text_b) == expected)
            text_b.unobserve(sub)
            # The cursor is still on "TARGET" (a wholesale re-seed would have moved it).
            assert str(text_b)[cursor.get_index() :].startswith("TARGET")
            # And the change arrived as a small edit, not a rewrite of the file.
            inserted = sum(len(op.get("insert", "")) for delta in deltas for op in delta)
            deleted = sum(op.get("delete", 0) for delta in deltas for op in delta)
            assert inserted <= len("ALPHA-CHANGED") and deleted <= len("alpha"), deltas


async def test_new_and_deleted_files_in_the_terminal_reach_the_doc(srv: TandemServer) -> None:
    session = new_session()
    async with term_client(term_url(srv, session)) as term:
        await term.read_until(b"$ ")
        async with pycrdt_client(srv.ws_url, session) as (doc, provider):
            await provider.synced.wait()
            files = doc.get("files", type=Map)
            blobs = doc.get("blobs", type=Map)
            await term.run(
                "mkdir -p pkg && echo 'x = 1' > pkg/mod.py && "
                "printf 'a\\000b' > data.bin && echo ok-$((4+4))",
                "ok-8",
            )
            await wait_for(lambda: "pkg/mod.py" in files and "data.bin" in blobs)
            assert str(files["pkg/mod.py"]) == "x = 1\n"
            assert "data.bin" not in files  # binary: listed, not synced as text
            await term.run(
                "mkdir -p node_modules/x .git && echo 1 > node_modules/x/i.js && echo 2 > .git/HEAD", "$ "
            )
            await term.run("echo '*.log' > .gitignore && echo noise > debug.log && echo z > after.txt", "$ ")
            await wait_for(lambda: "after.txt" in files)
            assert not any(k.startswith(("node_modules/", ".git/")) or k == "debug.log" for k in files.keys())
            await term.run("rm pkg/mod.py; echo rm-$((1+2))", "rm-3")
            await wait_for(lambda: "pkg/mod.py" not in files)


async def test_symlinks_planted_in_the_workspace_are_not_followed(srv: TandemServer, tmp_path: Path) -> None:
    session = new_session()
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host secret\n")
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    async with term_client(term_url(srv, session)) as term:
        await term.read_until(b"$ ")
        async with pycrdt_client(srv.ws_url, session) as (doc, provider):
            await provider.synced.wait()
            files = doc.get("files", type=Map)
            # Links to host paths (dangling inside the container, real on the host).
            await term.run(
                f"ln -s {secret} leak.txt && ln -s {host_dir} linkdir && echo b > barrier1.txt", "$ "
            )
            await wait_for(lambda: "barrier1.txt" in files)
            assert "leak.txt" not in files and not any(k.startswith("linkdir/") for k in files.keys())
            # Writes from the doc through the links are refused.
            with doc.transaction():
                files["leak.txt"] = Text("overwritten by the doc\n")
                files["linkdir/planted.txt"] = Text("planted\n")
                files["zz-barrier2.txt"] = Text("b2\n")
            await term.run("until [ -f zz-barrier2.txt ]; do sleep 0.05; done; echo b2-$((3+4))", "b2-7")
    assert secret.read_text() == "host secret\n"
    assert list(host_dir.iterdir()) == []
    assert all("host secret" not in str(files[k]) for k in files.keys())
