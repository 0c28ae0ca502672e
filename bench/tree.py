"""`python -m bench.tree`: the room's file tree, milliseconds per change at 2,000 files, in Debian's
headless Chromium against a real `tandem serve` (budget: one frame, 16 ms)."""

from __future__ import annotations

import json
import subprocess

from bench.servers import ROOT, start_tandem


def main() -> None:
    server = start_tandem()
    try:
        base = server.ws_url.replace("ws://", "http://").removesuffix("/yjs")
        out = subprocess.run(
            ["node", str(ROOT / "bench" / "web" / "tree.mjs"), base, "2000", "40"],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
    finally:
        server.stop()
    r = json.loads(out.stdout.strip().splitlines()[-1])
    row = lambda label, key, budget="": f"| {label} | {r[key]['p50']} ms | {r[key]['p99']} ms | {budget} |"  # noqa: E731
    print(f"| tree at {r['files']} files ({r['tree']} rows, {r['rows']} in the DOM) | p50 | p99 | budget |")
    print("|---|---|---|---|")
    print(row("one file added: synchronous", "add_sync_ms", "16 ms"))
    print(row("tree render alone", "render_ms"))
    print(row("one file added: to the next frame", "add_frame_ms"))


if __name__ == "__main__":
    main()
