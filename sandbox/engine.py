"""Reaching the Docker engine: one connect that never raises anything but `SandboxUnavailableError`.

A fresh machine meets every way an engine can be missing or broken — no socket at all (aiodocker
then fails an `assert`), a socket path that does not exist, a socket it may not open, a daemon
that stopped, an engine that answers errors, an engine that never answers. Each becomes a one-line
reason and a hint the page shows, instead of a traceback at start-up.
"""

from __future__ import annotations

import errno
import logging
import os

import aiodocker
import aiohttp
import anyio

from .errors import SandboxUnavailableError

logger = logging.getLogger(__name__)

HINT_INSTALL = "install Docker (Debian: apt-get install docker.io) and start dockerd"
HINT_START = "start the Docker engine (dockerd, or systemctl start docker)"
HINT_PERMISSION = "run Tandem as root or as a user in the docker group (usermod -aG docker USER)"
HINT_BROKEN = "the engine is unhealthy: check `docker info` and dockerd's log"


class EngineUnavailableError(SandboxUnavailableError):
    """`SandboxUnavailableError` with the hint that goes with its reason."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "/var/run/docker.sock"


def _os_error(exc: BaseException) -> OSError | None:
    """The `OSError` under an aiohttp connection error, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, OSError):
            return os_error
        seen = seen.__cause__ or seen.__context__
    return None


def classify(exc: BaseException, timeout: float) -> EngineUnavailableError:
    """One reason and hint for any failure to reach the engine."""
    where = _where()
    if isinstance(exc, EngineUnavailableError):
        return exc
    if isinstance(exc, (AssertionError, ValueError)):
        return EngineUnavailableError(
            "no Docker engine on this machine (no /var/run/docker.sock, DOCKER_HOST unset)", HINT_INSTALL
        )
    if isinstance(exc, TimeoutError):
        return EngineUnavailableError(
            f"the Docker engine at {where} did not answer within {timeout:g}s", HINT_BROKEN
        )
    os_error = _os_error(exc)
    if os_error is not None:
        if os_error.errno in (errno.EACCES, errno.EPERM):
            return EngineUnavailableError(f"permission denied on the Docker socket {where}", HINT_PERMISSION)
        if os_error.errno == errno.ENOENT:
            return EngineUnavailableError(f"the Docker socket {where} does not exist", HINT_START)
        if os_error.errno in (errno.ECONNREFUSED, errno.ENOTSOCK):
            return EngineUnavailableError(f"the Docker engine at {where} is not running", HINT_START)
    if isinstance(exc, aiodocker.DockerError) and exc.status != 900:  # 900: aiodocker's "cannot connect"
        return EngineUnavailableError(
            f"the Docker engine at {where} answered an error: {exc.status} {exc.message}"[:300], HINT_BROKEN
        )
    return EngineUnavailableError(f"the Docker engine at {where} is unreachable: {exc}"[:300], HINT_START)


async def connect_engine(url: str | None = None, *, answer_within: float = 10.0) -> aiodocker.Docker:
    """An open client whose engine answered `/version` within `answer_within` seconds."""
    try:
        docker = aiodocker.Docker(url=url)
    except (AssertionError, ValueError, OSError) as exc:
        raise classify(exc, answer_within) from exc
    try:
        with anyio.fail_after(answer_within):
            await docker.version()
    except (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        with anyio.CancelScope(shield=True):
            await docker.close()
        raise classify(exc, answer_within) from exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            await docker.close()
        raise
    return docker
