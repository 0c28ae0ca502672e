"""`python -m bench.pageload`: the room's first file visible after navigation (p50/p99) and the
landing page's JS over the wire, in Debian's headless Chromium against a real `tandem serve`."""

from __future__ import annotations

import json
import subprocess

from bench.servers import ROOT, start_tandem


def main() -> None:
    server = start_tandem()
    try:
        base = server.ws_url.replace("ws://", "http://").removesuffix("/yjs")
        out = subprocess.run(
            ["node", str(ROOT / "bench" / "web" / "pageload.mjs"), base, "10"],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
    finally:
        server.stop()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    ff = result["first_file_ms"]
    print("| metric | value | budget |\n|---|---|---|")
    print(f"| room: first file visible p50 / p99 | {ff['p50']} / {ff['p99']} ms | 2000 ms |")
    print(f"| landing page JS transferred | {result['landing_js_bytes'] / 1024:.1f} KiB | 100 KiB gzip |")


if __name__ == "__main__":
    main()
