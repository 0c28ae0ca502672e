"""Fresh clone -> shell prompt in the browser, measured on this machine.

    python -m bench.first_run [--image TAG] [--keep]

1. `git clone` this commit into a temporary directory (a newcomer's clone);
2. `bash scripts/serve.sh --no-auth --port P` in it (the README's first command; `--no-auth` only
   so the browser needs no sign-up) — install, front-end build, server up (`/healthz`);
3. headless Chromium opens a room and the terminal panel at once, and waits, without reloading,
   while the server builds the sandbox image (the real Debian minbase by debootstrap, cold: the
   clone's data directory has no cache) until the shell prompt shows.

Prints the time of each step. The image gets a unique tag (never the shared
`tandem-sandbox:latest`) and is removed afterwards unless --keep; so are the session containers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from backend.settings import Settings
from backend.terminals.paths import sandbox_instance

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthz(url: str, proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve.sh exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)  # a benchmark's poll, not a test's synchronization
    raise SystemExit(f"no /healthz within {limit:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.first_run", description=__doc__)
    parser.add_argument("--image", default=f"tandem-firstrun-bench-{uuid.uuid4().hex[:8]}:latest")
    parser.add_argument("--keep", action="store_true", help="keep the clone, the image and the containers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tandem-first-run-"))
    clone = work / "tandem"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    times: dict[str, float] = {}
    t0 = time.monotonic()
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone)], check=True)
    times["clone_s"] = time.monotonic() - t0
    env = {**os.environ, "TANDEM_SANDBOX_IMAGE": args.image, "TANDEM_SANDBOX": "auto"}
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(
        ["bash", "scripts/serve.sh", "--no-auth", "--port", str(port)],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthz(base, proc, 1800)
        times["editor_up_s"] = time.monotonic() - t0
        shell = subprocess.run(
            ["node", str(ROOT / "bench" / "web" / "first_shell.mjs"), base],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if shell.returncode != 0:
            raise SystemExit(f"the browser never got a shell:\n{shell.stderr}")
        result = json.loads(shell.stdout.strip().splitlines()[-1])
        times["shell_prompt_s"] = time.monotonic() - t0
        times["browser_wait_s"] = result["promptMs"] / 1000
        print(json.dumps({"first_run": times, "phases": result["phases"], "image": args.image}))
        print(
            f"fresh clone -> editor up {times['editor_up_s']:.0f}s -> shell prompt in the browser "
            f"{times['shell_prompt_s']:.0f}s (clone {times['clone_s']:.1f}s)"
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        if not args.keep:
            instance = sandbox_instance(Settings(data=clone / "data"))
            ids = subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label=tandem.instance={instance}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
            subprocess.run(["docker", "image", "rm", "-f", args.image], capture_output=True, check=False)
            subprocess.run(["rm", "-rf", str(work)], check=False)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
