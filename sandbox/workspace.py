"""Host-side preparation of a session's workspace before it is bind-mounted."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .types import SandboxSpec

logger = logging.getLogger(__name__)


def prepare_workspace(workspace: Path, spec: SandboxSpec) -> None:
    """Create the workspace and, when allowed and running as root, give it to the sandbox user.

    The container runs as `spec.uid`, so files the host wrote as root would be read-only
    inside the terminal; chowning only what differs keeps repeated calls cheap.
    """
    workspace.mkdir(parents=True, exist_ok=True)
    if not spec.chown_workspace:
        return
    if os.geteuid() != 0:
        if workspace.stat().st_uid != spec.uid:
            logger.info("not root: leaving %s owned by uid %d", workspace, workspace.stat().st_uid)
        return
    for dirpath, dirnames, filenames in os.walk(workspace):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if (st.st_uid, st.st_gid) != (spec.uid, spec.gid):
                os.lchown(path, spec.uid, spec.gid)
