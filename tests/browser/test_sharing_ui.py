"""Screen share in the room UI on the authenticated server (tests/browser/sharing.mjs): the
sharer's preview and viewers, a readable "Stop watching", a watcher resuming after a restart."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.browser.ui_support import HERE, Room
from tests.support import running_server

pytestmark = pytest.mark.browser

ENV = {"TANDEM_SANDBOX": "off", "TANDEM_SCREENSHARE_HOST_ADDRESSES": '["127.0.0.1"]'}


def test_sharer_preview_viewers_and_watchers_resume_after_restart(
    built_web: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    with running_server(tmp_path_factory.mktemp("sharing"), None, auth=True, env=ENV) as srv:
        room = Room(srv.http_url)
        room.guest("Bob", "editor")
        log = tmp_path / "sharing.log"
        with open(log, "w") as stderr:
            proc = subprocess.Popen(
                ["node", str(HERE / "sharing.mjs"), "share", srv.http_url],
                cwd=HERE,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "TANDEM_SETUP": json.dumps(room.setup())},
            )
            try:
                assert proc.stdout is not None and proc.stdin is not None
                ready = proc.stdout.readline()  # the scenario's own deadlines bound this
                assert json.loads(ready or "{}") == {"ready": True}, log.read_text()
                srv.stop()
                srv.start()  # same port and data: cookies and the session survive
                proc.stdin.write("done\n")
                proc.stdin.close()
                summary = json.loads(proc.stdout.readline() or "{}")
                assert proc.wait(timeout=120) == 0 and summary.get("ok"), log.read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
    print("sharing:", summary)
