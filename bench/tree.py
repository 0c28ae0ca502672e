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
    print(
        f"| tree at {r['files']} files ({r['tree']} rows, {r['rows']} in the DOM) | p50 | p99 | budget |\n|---|---|---|---|"
    )
    print(
        f"| one file added: synchronous | {r['add_sync_ms']['p50']} ms | {r['add_sync_ms']['p99']} ms | 16 ms |"
    )
    print(f"| tree render alone | {r['render_ms']['p50']} ms | {r['render_ms']['p99']} ms | |")
    print(
        f"| one file added: to the next frame | {r['add_frame_ms']['p50']} ms | {r['add_frame_ms']['p99']} ms | |"
    )


if __name__ == "__main__":
    main()
