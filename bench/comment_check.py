"""`python -m bench.comment_check`: what checking a commenter's update costs, by document size.

The old filter replayed every commenter update on a scratch copy of the whole document; the room
guard (`backend.access.comments_only`) decodes the update and looks its references up in an
index of the comments subtree. Prints, for documents of growing size: the guard's one-time index
build at load, the per-update check of a new comment (median of 40), what feeding an editor's
one-character edit to the index costs, and the old scratch-copy check for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from pycrdt import Array, Doc, Map, Text

from backend.access.comment_policy import Actor
from backend.access.comments_only import CommentGuard
from backend.rooms.clientids import ClientIdRegistry

CAROL = Actor("guest-c", "Carol", "#333333", moderator=False, comments_only=True)


def _doc(megabytes: int, comments: int) -> Doc:
    doc: Doc = Doc()
    files = doc.get("files", type=Map)
    for n in range(megabytes * 10):
        files[f"f{n}.py"] = Text(("x = 1  # padding\n" * 6200)[:100_000])
    text = files["f0.py"]
    for n in range(2000):  # typed edits: many small structs
        text.insert((n * 37) % 90_000, "y")
    for n in range(comments):
        doc.get("comments", type=Array).append(_thread(f"old {n}"))
    return doc


def _thread(body: str) -> Map:
    author = {"id": CAROL.id, "name": CAROL.name, "color": CAROL.color}
    fields = {"id": body, "file": "f0.py", "body": body, "author": author, "resolved": False}
    return Map(fields | {"createdAt": time.time() * 1000, "replies": Array()})


def _old_filter(update: bytes, doc: Doc) -> None:
    scratch: Doc = Doc()
    scratch.apply_update(doc.get_update())
    scratch.apply_update(update)


def _timed(fn: Callable[..., object], *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _measure(mb: int, rounds: int) -> str:
    doc = _doc(mb, comments=200)
    size = len(doc.get_update()) / 1e6
    t0 = time.perf_counter()
    guard = CommentGuard(doc, ClientIdRegistry(60))
    build_s = time.perf_counter() - t0
    doc.observe(lambda e: guard.applied(e.update))
    client: Doc = Doc()
    client.apply_update(doc.get_update())
    checks, feeds, olds = [], [], []
    for n in range(rounds):
        before = client.get_state()
        client.get("comments", type=Array).append(_thread(f"new {n}"))
        update = client.get_update(before)
        checks.append(_timed(guard.check, update, CAROL, ("guest", "c")))
        if n < 5:
            olds.append(_timed(_old_filter, update, doc))
        doc.apply_update(update)
        editor: Doc = Doc()
        editor.apply_update(doc.get_update(editor.get_state()))
        before = editor.get_state()
        editor.get("files", type=Map)["f0.py"].insert(n, "z")
        feeds.append(_timed(guard.applied, editor.get_update(before)))
    return (
        f"{size:7.1f} {build_s * 1e3:15.1f} {statistics.median(checks) * 1e6:9.0f} "
        f"{statistics.median(feeds) * 1e6:14.0f} {statistics.median(olds) * 1e3:14.1f}"
    )


def run(sizes: list[int], rounds: int) -> None:
    print(f"{'doc MB':>7} {'index build ms':>15} {'check µs':>9} {'index feed µs':>14} {'old filter ms':>14}")
    for mb in sizes:
        print(_measure(mb, rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    run(args.sizes, args.rounds)
