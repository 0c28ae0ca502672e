"""`tandem serve` freezes its start-up objects once ready (backend.ops.heap); later garbage is collected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, running_server


def _settled(log: str) -> list[str]:
    return [json.loads(line)["msg"] for line in log.splitlines() if '"heap settled' in line]


def test_serve_freezes_start_up_objects(tmp_path: Path) -> None:
    with running_server(tmp_path / "on", None, env={"TANDEM_LOG_LEVEL": "info"}) as server:
        # Logged in the lifespan before the server answers: no waiting needed once /healthz is up.
        settled = _settled(server.log())
    assert len(settled) == 1
    frozen = int(settled[0].split()[2])
    assert frozen > 10_000  # modules, routes, metadata: the bulk a full collection would walk


def test_the_setting_turns_it_off(tmp_path: Path) -> None:
    env = {"TANDEM_LOG_LEVEL": "info", "TANDEM_GC_FREEZE_AFTER_STARTUP": "false"}
    with running_server(tmp_path / "off", None, env=env) as server:
        assert "ready on" in server.log()
        assert _settled(server.log()) == []


def test_garbage_made_after_settling_is_still_collected() -> None:
    # In a child process: freezing is process-wide and must not touch the test runner's heap.
    script = (
        "import gc, weakref\n"
        "from backend.ops.heap import settle_heap\n"
        "assert settle_heap() > 0\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.other, b.other = b, a\n"
        "ref = weakref.ref(a); del a, b\n"
        "gc.collect()\n"
        "print(ref() is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
