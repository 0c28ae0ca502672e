"""The create request for a session's container, built only from the allow-listed spec."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from .types import SandboxSpec

LABEL_MANAGED = "tandem.managed"
LABEL_SESSION = "tandem.session"
LABEL_INSTANCE = "tandem.instance"
WORKSPACE = "/workspace"
HOME = "/home/user"
# Keeps the container alive with nothing but busybox/coreutils; tini (Init) reaps zombies.
KEEPALIVE = ["/bin/sh", "-c", "while :; do sleep 3600; done"]
PTY_ENV = {
    "TERM": "xterm-256color",
    "HOME": HOME,
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PS1": r"\u@tandem:\w\$ ",
}


def container_config(spec: SandboxSpec, session_id: str, workspace: Path, instance: str) -> dict[str, Any]:
    """The full create request: every field comes from the allow-listed spec."""
    tmpfs_opts = "rw,nosuid,nodev"
    return {
        "Image": spec.image,
        "Cmd": KEEPALIVE,
        "User": f"{spec.uid}:{spec.gid}",
        "WorkingDir": WORKSPACE,
        "Env": [f"{k}={v}" for k, v in PTY_ENV.items() if k != "PS1"],
        "Hostname": "tandem",
        "Labels": {LABEL_MANAGED: "1", LABEL_SESSION: session_id, LABEL_INSTANCE: instance},
        "NetworkDisabled": not spec.network,
        "StopSignal": "SIGTERM",
        "HostConfig": {
            "Binds": [f"{workspace}:{WORKSPACE}:rw"],
            "CapDrop": ["ALL"],
            # Docker's default seccomp profile applies because none is named here.
            "SecurityOpt": ["no-new-privileges:true"],
            "ReadonlyRootfs": True,
            "Tmpfs": {
                "/tmp": f"{tmpfs_opts},mode=1777,size={spec.tmp_bytes}",
                HOME: f"{tmpfs_opts},mode=0700,uid={spec.uid},gid={spec.gid},size={spec.home_bytes}",
            },
            "Memory": spec.memory_bytes,
            "MemorySwap": spec.effective_swap_bytes,
            "PidsLimit": spec.pids_limit,
            "NanoCpus": spec.nano_cpus,
            "NetworkMode": "bridge" if spec.network else "none",
            "Init": True,
            "IpcMode": "private",
            "RestartPolicy": {"Name": "no"},
            "LogConfig": {"Type": "none", "Config": {}},
        },
    }


def container_name(session_id: str, instance: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", session_id).strip("-.")[:40] or "session"
    digest = hashlib.sha256(f"{instance}\0{session_id}".encode()).hexdigest()[:10]
    return f"tandem-{slug}-{digest}"
