"""File sync on a 1 MiB file: a one-line change is one small edit, and no diff runs on the event loop.

The diff of a big file costs tens of milliseconds: it runs in a worker thread against a snapshot
of the doc's text. People typing meanwhile move the doc; their small change is followed on the loop
(`merge.follow`, a bounded diff of what they typed), a big one sends the merge back to the thread.
Asserted by thread identity, never by time (bench/textdiff_bench.py has the figures).
"""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Map, Text, TextEvent

from sandbox.filesync import WorkspaceSync, diff, merge
from sandbox.filesync.textdiff import CHAR_REFINE_LIMIT, Edit, small_diff
from tests.support import eventually

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def _big_text() -> str:
    rng = random.Random(5)
    lines: list[str] = []
    size = 0
    while size < MiB:
        line = f"    value_{len(lines)} = compute({len(lines)}, {rng.random():.6f})  # é note\n"
        lines.append(line)
        size += len(line.encode())
    return "".join(lines)


def _one_line_changed(text: str) -> str:
    middle = text.index("value_10000 = compute")
    return text[:middle] + text[middle:].replace("compute", "compute_v2", 1)


def test_a_one_line_change_in_a_1_mib_file_is_one_small_edit() -> None:
    old = _big_text()
    new = _one_line_changed(old)
    edits = diff(old, new)
    at = old.index("value_10000 = compute") + len("value_10000 = compute")
    assert edits == [Edit(at, at, "_v2")]


def test_a_small_diff_refuses_what_the_loop_should_not_diff() -> None:
    old = _big_text()
    assert small_diff(old, "# typed\n" + old) == [Edit(0, 0, "# typed\n")]
    assert small_diff(old, old) == []
    pasted = "x" * (CHAR_REFINE_LIMIT + 1)
    assert small_diff(old, old[:500] + pasted + old[500:]) is None


class DiffSpy:
    """Wraps `merge.diff`: records the thread of every call, and can hold the first one."""

    def __init__(self, real: Callable[[str, str], list[Edit]]) -> None:
        self.real = real
        self.threads: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def hold_first(self) -> None:
        self.release.clear()

    def __call__(self, old: str, new: str) -> list[Edit]:
        self.threads.append(threading.get_ident())
        self.entered.set()
        assert self.release.wait(30), "the test never released the diff"
        return self.real(old, new)


@pytest.fixture
async def big_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Doc, Path, DiffSpy]]:
    spy = DiffSpy(merge.diff)
    monkeypatch.setattr(merge, "diff", spy)
    root = tmp_path / "ws"
    root.mkdir()
    (root / "big.py").write_text(_big_text())
    doc = Doc()
    sync = WorkspaceSync(doc, root, debounce=0.02, max_file_bytes=2 * MiB)
    async with anyio.create_task_group() as tg:
        await tg.start(sync.run)
        yield doc, root, spy
        tg.cancel_scope.cancel()


def _text_events(files: Map[Any]) -> tuple[list[list[dict[str, Any]]], int]:
    deltas: list[list[dict[str, Any]]] = []

    def seen(events: list[Any]) -> None:
        deltas.extend(list(e.delta) for e in events if isinstance(e, TextEvent))

    return deltas, files.observe_deep(seen)


async def test_a_disk_change_is_diffed_in_a_worker_thread_and_lands_as_a_small_edit(
    big_synced: tuple[Doc, Path, DiffSpy],
) -> None:
    doc, root, spy = big_synced
    files: Map[Any] = doc.get("files", type=Map)
    old = str(files["big.py"])
    new = _one_line_changed(old)
    deltas, subscription = _text_events(files)
    (root / "big.py").write_text(new)
    await eventually(lambda: str(files["big.py"]) == new)
    files.unobserve(subscription)
    loop_thread = threading.get_ident()
    assert spy.threads and loop_thread not in spy.threads
    # One transaction, one small edit: a retain up to the change, then 3 characters inserted.
    assert len(deltas) == 1
    inserted = [op["insert"] for op in deltas[0] if "insert" in op]
    assert inserted == ["_v2"] and not any("delete" in op for op in deltas[0])


async def test_doc_edits_made_while_the_diff_runs_are_followed_without_a_diff_on_the_loop(
    big_synced: tuple[Doc, Path, DiffSpy],
) -> None:
    doc, root, spy = big_synced
    files: Map[Any] = doc.get("files", type=Map)
    text: Text = files["big.py"]
    old = str(text)
    new = _one_line_changed(old)
    spy.hold_first()
    (root / "big.py").write_text(new)
    assert await anyio.to_thread.run_sync(spy.entered.wait, 30)
    text.insert(0, "# typed meanwhile\n")  # a person types while the thread diffs the snapshot
    spy.release.set()
    merged = "# typed meanwhile\n" + new
    await eventually(lambda: str(text) == merged)
    # Both sides kept, and the merge written back to disk.
    await eventually(lambda: (root / "big.py").read_text() == merged)
    # The small doc change was followed on the loop: one diff of the disk change, in a worker thread.
    assert len(spy.threads) == 1 and threading.get_ident() not in spy.threads


async def test_a_big_doc_change_during_the_diff_sends_the_merge_back_to_the_thread(
    big_synced: tuple[Doc, Path, DiffSpy],
) -> None:
    doc, root, spy = big_synced
    files: Map[Any] = doc.get("files", type=Map)
    text: Text = files["big.py"]
    old = str(text)
    new = _one_line_changed(old)
    spy.hold_first()
    (root / "big.py").write_text(new)
    assert await anyio.to_thread.run_sync(spy.entered.wait, 30)
    pasted = "# pasted\n" * (CHAR_REFINE_LIMIT // 9 + 1)  # more than the loop may diff
    text.insert(0, pasted)
    spy.release.set()
    merged = pasted + new
    await eventually(lambda: str(text) == merged)
    await eventually(lambda: (root / "big.py").read_text() == merged)
    assert len(spy.threads) >= 2 and threading.get_ident() not in spy.threads
