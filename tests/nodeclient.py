"""Run the official y-websocket client scripts in tests/node and parse their one JSON line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"


def ensure_node_packages() -> None:
    """Fail (never skip) when Node or the pinned packages are missing: scripts/test.sh installs them."""
    assert shutil.which("node"), "node is not installed"
    if not (NODE_DIR / "node_modules" / "y-websocket").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)


def run_node(script: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    """Run `node tests/node/SCRIPT ARGS`; return its JSON result, raising with its output on failure."""
    proc = subprocess.run(
        ["node", str(NODE_DIR / script), *args, "--timeout", str(int(timeout))],
        capture_output=True,
        text=True,
        timeout=timeout + 15,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or not result.get("ok"):
        raise AssertionError(
            f"{script} {' '.join(args)} failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}"
        )
    return result
