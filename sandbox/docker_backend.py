"""`DockerSandbox`: one hardened container per session, PTYs by `docker exec`.

Lifecycle: `ensure_container` creates (or reuses) the session's container; `start_pty`
restarts it on demand when idle-stopped; an owned background task stops containers that
have had no PTY for `idle_timeout`; `reap_orphans` removes containers of sessions that no
longer exist. Use as `async with DockerSandbox(spec) as sandbox:`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiodocker
import aiohttp
import anyio
from aiodocker.containers import DockerContainer
from anyio.abc import TaskGroup

from .container_config import (
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_SESSION,
    PTY_ENV,
    container_config,
    container_name,
)
from .docker_pty import DockerPty
from .engine import connect_engine
from .errors import (
    ContainerError,
    ContainerNotFoundError,
    ImageMissingError,
    SandboxUnavailableError,
)
from .exec_run import ExecResult, exec_run
from .mounts import WorkspaceMounts
from .quota import WorkspaceQuota
from .types import ContainerHandle, SandboxSpec
from .workspace import prepare_workspace

logger = logging.getLogger(__name__)


@dataclass
class _Session:
    handle: ContainerHandle
    container: DockerContainer
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    ptys: set[DockerPty] = field(default_factory=set)
    last_used: float = 0.0


class DockerSandbox:
    """The Docker implementation of `SandboxBackend`."""

    def __init__(
        self,
        spec: SandboxSpec | None = None,
        *,
        docker_url: str | None = None,
        instance: str = "default",
        idle_timeout: float | None = 1800.0,
        idle_check_interval: float = 60.0,
        stop_timeout: int = 5,
        max_ptys_per_session: int = 16,
        quota: WorkspaceQuota | None = None,
        mounts: WorkspaceMounts | None = None,
        engine_timeout: float = 10.0,
    ) -> None:
        self.spec = spec or SandboxSpec()
        # Shared with the file sync (the same file system for both); from `quota` alone when
        # this sandbox is used by itself. No quota: plain workspace directories.
        self.mounts = mounts if mounts is not None else WorkspaceMounts(quota)
        self._mounted: set[Path] = set()  # workspaces this sandbox holds a mount of (running containers)
        self._docker_url = docker_url
        self._instance = instance
        self._idle_timeout = idle_timeout
        self._idle_check_interval = idle_check_interval
        self._stop_timeout = stop_timeout
        self._max_ptys = max_ptys_per_session
        self._engine_timeout = engine_timeout
        self._sessions: dict[str, _Session] = {}
        self._create_lock = anyio.Lock()
        self._docker: aiodocker.Docker | None = None
        self._tg: TaskGroup | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> DockerSandbox:
        # Any way the engine is missing or broken is a SandboxUnavailableError (sandbox.engine).
        self._docker = await connect_engine(self._docker_url, answer_within=self._engine_timeout)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self._idle_timeout is not None:
            self._tg.start_soon(self._idle_loop, name="sandbox-idle-stop")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None and self._docker is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.CancelScope(shield=True):
                await self.stop_all()
                await self._docker.close()

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            raise SandboxUnavailableError("DockerSandbox used outside `async with`")
        return self._docker

    async def ping(self) -> None:
        await self.docker.version()

    # -- containers -----------------------------------------------------------------------

    async def ensure_container(self, session_id: str, workspace: Path) -> ContainerHandle:
        workspace = await anyio.to_thread.run_sync(workspace.resolve)
        async with self._create_lock:
            session = self._sessions.get(session_id)
        if session is not None and session.handle.workspace == workspace:
            try:
                async with session.lock:
                    await self._ensure_running(session)
                return session.handle
            except ContainerNotFoundError:
                logger.warning("container %s vanished; recreating it", session.handle.name)
        name = container_name(session_id, self._instance)
        existing = await self._lookup(name)
        if existing is not None:
            # A container left running (a crash, another node, a deactivated session) must not
            # race the host's walk of the workspace: stop every process of it first.
            await self._halt(existing, name)
        await self._mount(workspace)
        await anyio.to_thread.run_sync(prepare_workspace, workspace, self.spec)
        container = await self._reuse_or_create(existing, session_id, workspace)
        handle = ContainerHandle(session_id, container.id, name, workspace)
        session = _Session(handle, container, last_used=anyio.current_time())
        async with session.lock:
            await self._ensure_running(session)
        async with self._create_lock:
            self._sessions[session_id] = session
        return handle

    async def _lookup(self, name: str) -> DockerContainer | None:
        try:
            return await self.docker.containers.get(name)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise ContainerError(f"cannot look up {name}: {exc}") from exc
            return None

    async def _halt(self, container: DockerContainer, name: str) -> None:
        try:
            if container["State"]["Running"]:
                logger.info("stopping container %s before touching its workspace", name)
                await container.stop(t=self._stop_timeout)
        except aiodocker.DockerError as exc:
            if exc.status not in (304, 404):
                raise ContainerError(f"cannot stop {name}: {exc}") from exc

    async def _reuse_or_create(
        self, existing: DockerContainer | None, session_id: str, workspace: Path
    ) -> DockerContainer:
        name = container_name(session_id, self._instance)
        config = container_config(self.spec, session_id, workspace, self._instance)
        if existing is not None:
            # Reuse only an identical container; a changed spec or workspace means recreate.
            if (
                existing["Config"].get("Image") == self.spec.image
                and existing["HostConfig"].get("Binds") == config["HostConfig"]["Binds"]
            ):
                return existing
            await self._delete(existing, name)
        try:
            return await self.docker.containers.create(config, name=name)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise ImageMissingError(
                    f"image {self.spec.image} is missing; build it with "
                    "`tandem sandbox build-image` (or `python -m sandbox.images build-test`)"
                ) from exc
            raise ContainerError(f"cannot create {name}: {exc}") from exc

    async def _ensure_running(self, session: _Session) -> None:
        try:
            info = await session.container.show()
            if not info["State"]["Running"]:
                # Never start on a bare directory: the quota's file system first.
                await self._mount(session.handle.workspace)
                logger.info("starting container %s", session.handle.name)
                await session.container.start()
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise ContainerNotFoundError(f"container {session.handle.name} is gone") from exc
            raise ContainerError(f"cannot start {session.handle.name}: {exc}") from exc
        session.last_used = anyio.current_time()

    def _session(self, session_id: str) -> _Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise ContainerNotFoundError(
                f"session {session_id!r} has no container; call ensure_container first"
            ) from None

    async def stop(self, session_id: str) -> None:
        session = self._session(session_id)
        async with session.lock:
            for pty in list(session.ptys):
                await pty.aclose()
            try:
                await session.container.stop(t=self._stop_timeout)
            except aiodocker.DockerError as exc:
                if exc.status not in (304, 404):  # already stopped / gone
                    raise ContainerError(f"cannot stop {session.handle.name}: {exc}") from exc
            await self._unmount(session.handle.workspace)

    async def stop_all(self) -> None:
        """Stop every container this sandbox ran (shutdown), concurrently and bounded in time.

        A deactivated session's container would otherwise keep running with whatever its
        users left behind, and race the next start's workspace preparation.
        """
        async with anyio.create_task_group() as tg:
            for session_id in list(self._sessions):
                tg.start_soon(self._stop_logged, session_id)

    async def _stop_logged(self, session_id: str) -> None:
        with anyio.move_on_after(self._stop_timeout + 15) as scope:
            try:
                await self.stop(session_id)
            except (ContainerError, aiodocker.DockerError, aiohttp.ClientError, OSError) as exc:
                logger.warning("container of session %r not stopped: %s", session_id, exc)
        if scope.cancelled_caught:
            logger.warning("container of session %r: stop timed out", session_id)

    async def _mount(self, workspace: Path) -> None:
        if workspace not in self._mounted:
            await self.mounts.acquire(workspace)
            self._mounted.add(workspace)

    async def _unmount(self, workspace: Path) -> None:
        if workspace in self._mounted:
            self._mounted.discard(workspace)
            await self.mounts.release(workspace)

    async def discard_workspace(self, workspace: Path) -> None:
        """A deleted session's workspace: unmount it and delete its quota image (after `remove`)."""
        self._mounted.discard(workspace)
        await self.mounts.discard(workspace)

    async def remove(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            async with session.lock:
                for pty in list(session.ptys):
                    await pty.aclose()
                await self._delete(session.container, session.handle.name)
        # A container this sandbox never held (left by an earlier run of the server) goes too.
        name = container_name(session_id, self._instance)
        existing = await self._lookup(name)
        if existing is not None:
            await self._delete(existing, name)

    async def _delete(self, container: DockerContainer, name: str) -> None:
        try:
            await container.delete(force=True, v=True)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise ContainerError(f"cannot remove {name}: {exc}") from exc

    async def _managed(self) -> list[DockerContainer]:
        filters = {"label": [f"{LABEL_MANAGED}=1", f"{LABEL_INSTANCE}={self._instance}"]}
        return await self.docker.containers.list(all=True, filters=json.dumps(filters))

    async def managed_sessions(self) -> set[str]:
        return {(c["Labels"] or {}).get(LABEL_SESSION, "") for c in await self._managed()}

    async def reap_orphans(self, known_session_ids: Collection[str]) -> list[str]:
        known = set(known_session_ids)
        reaped: list[str] = []
        for container in await self._managed():
            session_id = (container["Labels"] or {}).get(LABEL_SESSION, "")
            if session_id in known:
                continue
            logger.info("reaping orphan container %s (session %r)", container.id[:12], session_id)
            await self._delete(container, container.id[:12])
            self._sessions.pop(session_id, None)
            reaped.append(session_id)
        return reaped

    async def inspect(self, session_id: str) -> dict[str, Any]:
        """The engine's view of the session's container (for status pages and tests)."""
        return await self._session(session_id).container.show()

    # -- PTYs and commands ----------------------------------------------------------------

    async def start_pty(self, session_id: str, terminal: str, cols: int, rows: int) -> DockerPty:
        session = self._session(session_id)
        async with session.lock:
            if len(session.ptys) >= self._max_ptys:
                raise ContainerError(f"session {session_id!r} already has {self._max_ptys} terminals")
            await self._ensure_running(session)
            pty = await DockerPty.start(
                session.container,
                self.spec.shell,
                user=f"{self.spec.uid}:{self.spec.gid}",
                cols=cols,
                rows=rows,
                env={**PTY_ENV, "TANDEM_TERMINAL": terminal},
                on_close=lambda p: self._pty_closed(session, p),
            )
            session.ptys.add(pty)
        return pty

    def _pty_closed(self, session: _Session, pty: DockerPty) -> None:
        session.ptys.discard(pty)
        session.last_used = anyio.current_time()

    async def run(self, session_id: str, argv: list[str]) -> ExecResult:
        """Run a command to completion as the sandbox user (no TTY, bounded output).

        Bound the wait with `anyio.fail_after` around the call.
        """
        session = self._session(session_id)
        async with session.lock:
            await self._ensure_running(session)
        session.last_used = anyio.current_time()
        return await exec_run(
            session.container,
            argv,
            user=f"{self.spec.uid}:{self.spec.gid}",
            env=PTY_ENV,
        )

    # -- idle stop ------------------------------------------------------------------------

    async def stop_idle(self) -> list[str]:
        """Stop running containers with no PTY for `idle_timeout`; return their sessions."""
        if self._idle_timeout is None:
            return []
        now = anyio.current_time()
        stopped = []
        for session_id, session in list(self._sessions.items()):
            if session.ptys or now - session.last_used < self._idle_timeout:
                continue
            info = await session.container.show()
            if info["State"]["Running"]:
                logger.info("stopping idle container %s", session.handle.name)
                await self.stop(session_id)
                stopped.append(session_id)
        return stopped

    async def _idle_loop(self) -> None:
        while True:
            await anyio.sleep(self._idle_check_interval)
            try:
                await self.stop_idle()
            except (aiodocker.DockerError, ContainerError) as exc:
                logger.warning("idle sweep failed, will retry: %s", exc)
