"""Workspace file sync without a container: minimal diffs, rebasing over concurrent doc edits,
symlink-proof file operations, echo-free round trips, ignore rules and limits."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from pycrdt import Assoc, Doc, Map, StickyIndex, Text

from sandbox.errors import UnsafePathError
from sandbox.filesync import SafeRoot, WorkspaceSync, apply_edits, diff, rebase, split_path
from sandbox.filesync.textdiff import Edit
from sandbox.filesync.watcher import TreeWatcher
from sandbox.filesync.workspace_sync import CONFLICT_SUFFIX, WELCOME_TEXT
from tests.support import eventually as wait_for

pytestmark = pytest.mark.anyio


def _apply(text: str, edits: list[Edit]) -> str:
    for e in reversed(edits):
        text = text[: e.start] + e.text + text[e.end :]
    return text


def _mutate(rng: random.Random, s: str) -> str:
    i = rng.randint(0, len(s))
    j = rng.randint(i, min(len(s), i + 4))
    return s[:i] + rng.choice(["", "Z", "é🎉", "new\nline"]) + s[j:]


def test_diff_applied_to_a_ytext_gives_the_new_text() -> None:
    rng = random.Random(7)
    for _ in range(500):
        old = "".join(rng.choice("ab\né🎉 ") for _ in range(rng.randint(0, 50)))
        new = _mutate(rng, _mutate(rng, old))
        doc = Doc()
        text = doc.get("t", type=Text)
        text += old
        with doc.transaction():
            apply_edits(text, old, diff(old, new))
        assert str(text) == new


def test_diff_of_large_texts_by_lines_and_characters_gives_the_new_text() -> None:
    rng = random.Random(11)
    words = ["alpha", "beta", "é🎉", "", "    return x", "def f():", "# note"]
    for _ in range(60):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) + "\n" for _ in range(400)]
        old = "".join(lines)
        for _ in range(rng.randint(1, 40)):
            k = rng.randrange(len(lines))
            op = rng.random()
            if op < 0.4:
                lines[k] = _mutate(rng, lines[k])
            elif op < 0.7:
                del lines[k]
            else:
                lines.insert(k, rng.choice(words) + " inserted\n")
        new = "".join(lines) if rng.random() < 0.9 else "".join(reversed(lines))
        edits = diff(old, new)
        assert _apply(old, edits) == new
        assert all(e.start <= e.end for e in edits)
        assert all(x.end <= y.start for x, y in itertools.pairwise(edits))


def test_a_rewritten_file_is_one_replacement() -> None:
    old = "".join(f"line {i}\n" for i in range(3000))
    new = "".join(reversed(old.splitlines(keepends=True)))
    assert len(diff(old, new)) == 1


def test_diff_of_a_one_line_change_in_a_big_file_is_small() -> None:
    old = "".join(f"line {i}: some text here\n" for i in range(5000))
    new = old.replace("line 2500: some", "line 2500: SOME")
    assert diff(old, new) == [
        Edit(old.index("some text here\nline 2501"), old.index("some text here\nline 2501") + 4, "SOME")
    ]


def test_rebase_keeps_both_sides_when_they_do_not_overlap() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        base = "".join(rng.choice("abc\n") for _ in range(rng.randint(0, 40)))
        theirs, ours = _mutate(rng, base), _mutate(rng, base)
        moved, dropped = rebase(diff(base, theirs), diff(base, ours))
        if not dropped:
            other_way, _ = rebase(diff(base, ours), diff(base, theirs))
            assert _apply(ours, moved) == _apply(theirs, other_way)


def test_split_path_refuses_escapes() -> None:
    for bad in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a\0b", "..", "a/."]:
        with pytest.raises(UnsafePathError):
            split_path(bad)
    assert split_path("src/app.py") == ("src", "app.py")


def test_safe_root_never_follows_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (root / "link").symlink_to(outside / "secret")
    (root / "dirlink").symlink_to(outside)
    fs = SafeRoot(root)
    assert fs.read("link", 1000).problem == "not_regular"
    assert fs.read("dirlink/secret", 1000).problem == "missing"
    with pytest.raises(UnsafePathError):
        fs.write_atomic("dirlink/planted", b"x")
    fs.write_atomic("link", b"replaced")  # rename replaces the link itself
    assert (outside / "secret").read_text() == "secret" and (root / "link").read_text() == "replaced"
    fs.delete("dirlink")  # unlinks the link, never the directory behind it
    assert outside.is_dir() and not (root / "dirlink").exists()
    os.mkfifo(root / "fifo")
    assert fs.read("fifo", 1000).problem == "not_regular"  # and does not hang
    assert [p for p, _ in fs.walk(100)] == ["link"]


@pytest.fixture
async def synced(tmp_path: Path) -> AsyncIterator[tuple[Doc, Path, WorkspaceSync]]:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "on-disk.txt").write_text("from disk\n")
    (root / "image.png").write_bytes(b"\x89PNG\0\0")
    doc = Doc()
    doc.get("files", type=Map)["from-doc.txt"] = Text("from the doc\n")
    sync = WorkspaceSync(doc, root, debounce=0.02, max_file_bytes=1000, max_total_bytes=100_000)
    async with anyio.create_task_group() as tg:
        await tg.start(sync.run)
        yield doc, root, sync
        tg.cancel_scope.cancel()


async def test_start_up_reconciles_both_ways(synced: tuple[Doc, Path, WorkspaceSync]) -> None:
    doc, root, _ = synced
    files = doc.get("files", type=Map)
    assert str(files["on-disk.txt"]) == "from disk\n"
    assert (root / "from-doc.txt").read_text() == "from the doc\n"
    assert "image.png" not in files and doc.get("blobs", type=Map)["image.png"]["reason"] == "binary"


async def test_concurrent_doc_and_disk_edits_both_survive(synced: tuple[Doc, Path, WorkspaceSync]) -> None:
    doc, root, sync = synced
    files = doc.get("files", type=Map)
    text = files["on-disk.txt"]
    text += "second line\nthird line\n"
    await wait_for(lambda: (root / "on-disk.txt").read_text().endswith("third line\n"))
    cursor = StickyIndex.new(text, len(str(text).encode()) - len(b"third line\n"), Assoc.AFTER)
    writes = sync.writes
    # The doc edits line 1 while the disk edits line 2, before either side has seen the other.
    text.insert(0, ">> ")
    (root / "on-disk.txt").write_text("from disk\nSECOND line\nthird line\n")
    await wait_for(lambda: str(text) == ">> from disk\nSECOND line\nthird line\n")
    await wait_for(lambda: (root / "on-disk.txt").read_text() == str(text))
    assert str(text).encode()[cursor.get_index() :] == b"third line\n"
    # No echo loop: once both sides agree, nothing more is written.
    settled = sync.writes
    assert settled - writes <= 3
    with anyio.move_on_after(0.3):
        await wait_for(lambda: sync.writes != settled)
    assert sync.writes == settled


async def test_ignore_rules_and_limits(synced: tuple[Doc, Path, WorkspaceSync]) -> None:
    doc, root, _ = synced
    files = doc.get("files", type=Map)
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    await wait_for(lambda: ".gitignore" in files)
    (root / "node_modules").mkdir()
    (root / "node_modules" / "x.js").write_text("x")
    (root / "build").mkdir()
    (root / "build" / "out.txt").write_text("x")
    (root / "debug.log").write_text("x")
    (root / "big.txt").write_text("x" * 2000)
    (root / "zz-last.txt").write_text("x")
    await wait_for(lambda: "zz-last.txt" in files)
    assert sorted(files.keys()) == [".gitignore", "from-doc.txt", "on-disk.txt", "zz-last.txt"]
    assert doc.get("blobs", type=Map)["big.txt"]["reason"] == "too_large"
    # The doc never writes over a file it could not read as text.
    files["big.txt"] = Text("small")
    files["zz-after.txt"] = Text("after")
    await wait_for(lambda: (root / "zz-after.txt").exists())
    assert (root / "big.txt").read_text() == "x" * 2000


# -- real projects (#18): first sync never overwrites, limits both ways, no symlink walks ----------


@asynccontextmanager
async def _run_sync(doc: Doc, root: Path, **kwargs: int) -> AsyncIterator[WorkspaceSync]:
    sync = WorkspaceSync(doc, root, debounce=0.02, **kwargs)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(sync.run)
        yield sync
        tg.cancel_scope.cancel()


async def test_first_sync_keeps_the_disk_and_never_drops_the_docs_text(tmp_path: Path) -> None:
    """Finding 1: the page's welcome `main.py` is in the doc, a real `main.py` is on disk."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "main.py").write_text("import app\napp.run()\n")
    (root / "notes.md").write_text("disk notes\n")
    doc = Doc()
    files = doc.get("files", type=Map)
    files["main.py"] = Text(WELCOME_TEXT)
    files["notes.md"] = Text("notes someone typed in the room\n")
    async with _run_sync(doc, root) as sync:
        assert str(files["main.py"]) == "import app\napp.run()\n"  # nobody wrote the welcome file
        assert str(files["notes.md"]) == "disk notes\n"
        conflict = "notes.md" + CONFLICT_SUFFIX
        assert str(files[conflict]) == "notes someone typed in the room\n"
        assert sync.conflicts == 1
        await wait_for(lambda: (root / conflict).exists())
    assert (root / "main.py").read_text() == "import app\napp.run()\n"
    assert (root / "notes.md").read_text() == "disk notes\n"
    assert (root / conflict).read_text() == "notes someone typed in the room\n"
    assert not any(p.name.startswith(".tandem-") for p in root.iterdir())


async def test_a_file_crossing_the_size_limit_leaves_the_text_map_and_comes_back(tmp_path: Path) -> None:
    """Finding 7: grown past `max_file_bytes` it is a blob; shrunk, it is text again."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "log.txt").write_text("small\n")
    doc = Doc()
    files, blobs = doc.get("files", type=Map), doc.get("blobs", type=Map)
    async with _run_sync(doc, root, max_file_bytes=1000):
        assert str(files["log.txt"]) == "small\n"
        (root / "log.txt").write_text("x" * 5000)
        await wait_for(lambda: "log.txt" not in files)
        assert blobs["log.txt"] == {"size": 5000, "reason": "too_large"}
        (root / "log.txt").write_text("small again\n")
        await wait_for(lambda: "log.txt" in files and str(files["log.txt"]) == "small again\n")
        assert "log.txt" not in blobs
        # Becoming binary is the same crossing.
        (root / "log.txt").write_bytes(b"\0\1\2")
        await wait_for(lambda: "log.txt" not in files)
        assert blobs["log.txt"]["reason"] == "binary"
    assert (root / "log.txt").read_bytes() == b"\0\1\2"  # leaving the doc never deletes on disk


async def test_disk_to_doc_limits_on_file_count_and_text_bytes(tmp_path: Path) -> None:
    """#14 finding 9b: the terminal cannot grow the doc past the limits the doc side has."""
    root = tmp_path / "ws"
    root.mkdir()
    for i in range(8):
        (root / f"start-{i}.txt").write_text("x" * 100)
    doc = Doc()
    files, blobs = doc.get("files", type=Map), doc.get("blobs", type=Map)
    async with _run_sync(doc, root, max_files=5, max_doc_bytes=450):
        assert len(files) == 4  # 4 x 100 bytes fit in 450; the fifth is over the byte limit
        reasons = {blobs[k]["reason"] for k in blobs.keys()}
        assert len(blobs) == 4 and reasons == {"doc_too_large"}
        for i in range(8):
            (root / f"start-{i}.txt").unlink()
        await wait_for(lambda: len(files) == 0 and len(blobs) == 0)
        for i in range(8):
            (root / f"later-{i}.txt").write_text("y")
        await wait_for(lambda: len(files) == 5)
        await wait_for(lambda: sum(1 for k in blobs.keys() if k.startswith("later-")) == 3)
        assert {blobs[k]["reason"] for k in blobs.keys() if k.startswith("later-")} == {"too_many_files"}
        assert len(files) == 5


async def test_the_watcher_never_follows_a_symlink_and_bounds_its_watches(tmp_path: Path) -> None:
    """#14 finding 11: a link to /usr in the workspace adds no watch and no file."""
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    os.symlink("/usr", root / "usr-link")
    os.symlink("/usr", root / "src" / "deeper-link")
    for i in range(6):
        (root / f"dir{i}").mkdir()
    doc = Doc()
    files = doc.get("files", type=Map)
    async with _run_sync(doc, root) as sync:
        assert sync.watches == 9  # root, src, src/pkg, dir0..dir5
        (root / "src" / "pkg" / "m.py").write_text("x = 1\n")
        (root / "new-dir").mkdir()
        (root / "new-dir" / "inside.txt").write_text("in a new directory\n")
        await wait_for(lambda: "src/pkg/m.py" in files and "new-dir/inside.txt" in files)
        assert sync.watches == 10
        assert not any(k.startswith(("usr-link", "src/deeper-link")) for k in files.keys())
    async with _run_sync(Doc(), root, max_watches=3) as sync:
        assert sync.watches == 3


async def test_a_checkout_of_many_files_converges(tmp_path: Path) -> None:
    """Finding 3 (behaviour; the timing is in bench/real_project.py): 120 files rewritten at once."""
    root = tmp_path / "ws"
    root.mkdir()
    rng = random.Random(5)
    originals = {f"pkg/m{i}.py": "".join(f"def f{j}(): return {j}\n" for j in range(300)) for i in range(120)}
    (root / "pkg").mkdir()
    for rel, text in originals.items():
        (root / rel).write_text(text)
    doc = Doc()
    files = doc.get("files", type=Map)
    async with _run_sync(doc, root):
        assert len(files) == 120
        wanted = {}
        for n, (rel, text) in enumerate(originals.items()):
            if n % 3 == 0:  # a rewrite
                wanted[rel] = "".join(f"x{rng.random()}\n" for _ in range(200))
            else:  # scattered line edits
                lines = text.splitlines(keepends=True)
                for j in rng.sample(range(len(lines)), 5):
                    lines[j] = f"# changed {j}\n"
                wanted[rel] = "".join(lines)
            (root / rel).write_text(wanted[rel])
        await wait_for(lambda: all(str(files[k]) == v for k, v in wanted.items()), timeout=60)


def test_many_watchers_share_one_inotify_instance(tmp_path: Path) -> None:
    """More workspaces than the kernel's default 128 inotify instances per user, each seeing
    only its own changes."""
    roots = [tmp_path / f"ws{i}" for i in range(150)]
    watchers = []
    for root in roots:
        root.mkdir()
        watchers.append(TreeWatcher(root, max_watches=10))
    try:
        (roots[149] / "a.txt").write_text("x")
        assert watchers[149].changes(5.0) == {"a.txt"}
        assert watchers[0].changes(0.05) == set()
    finally:
        for watcher in watchers:
            watcher.close()


async def test_the_sync_base_tells_which_side_changed_while_nothing_synced(tmp_path: Path) -> None:
    """With the previous run's `agreed()` as `base`, a file changed on one side only is taken
    from that side without a conflict copy; changed on both, both are kept."""
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("doc-side.txt", "disk-side.txt", "both.txt"):
        (root / name).write_text(f"{name} v1\n")
    doc = Doc()
    files = doc.get("files", type=Map)
    async with _run_sync(doc, root) as sync:
        assert len(files) == 3
    base = sync.agreed()
    doc_side, both = files["doc-side.txt"], files["both.txt"]
    doc_side += "typed while no sync ran\n"
    both += "doc edit\n"
    (root / "disk-side.txt").write_text("disk-side.txt v2\n")
    (root / "both.txt").write_text("both.txt disk edit\n")
    async with _run_sync(doc, root, base=base) as sync:  # type: ignore[arg-type]
        assert str(files["doc-side.txt"]) == "doc-side.txt v1\ntyped while no sync ran\n"
        assert str(files["disk-side.txt"]) == "disk-side.txt v2\n"
        assert str(files["both.txt"]) == "both.txt disk edit\n"
        assert str(files["both.txt" + CONFLICT_SUFFIX]) == "both.txt v1\ndoc edit\n"
        assert sync.conflicts == 1
        await wait_for(lambda: (root / "doc-side.txt").read_text().endswith("typed while no sync ran\n"))


async def test_idle_syncs_hold_no_worker_thread_and_still_see_disk_changes(tmp_path: Path) -> None:
    """A node holds hundreds of loaded rooms: a quiet workspace must not hold one of anyio's worker
    threads (room loads and every other `to_thread` call queue behind them), yet a change made
    on disk still reaches the doc."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    roots = [tmp_path / f"ws{i}" for i in range(6)]
    docs = [Doc() for _ in roots]
    async with AsyncExitStack() as stack:
        for root, doc in zip(roots, docs, strict=True):
            root.mkdir()
            await stack.enter_async_context(_run_sync(doc, root))
        await wait_for(lambda: limiter.borrowed_tokens == 0, timeout=10, what="no worker thread borrowed")
        for i, root in enumerate(roots):
            (root / "late.txt").write_text(f"written on disk {i}\n")
        for i, doc in enumerate(docs):
            files, want = doc.get("files", type=Map), f"written on disk {i}\n"
            await wait_for(lambda f=files, w=want: "late.txt" in f and str(f["late.txt"]) == w)
        await wait_for(lambda: limiter.borrowed_tokens == 0, timeout=10, what="threads given back")
