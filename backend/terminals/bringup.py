"""Bringing terminals up in a running server: wait for an engine, build a missing image.

`SandboxBringUp.until_ready` returns once a Docker engine answers and the sandbox image exists,
keeping the `StatusBoard` current meanwhile (the page polls it): the engine's absence with the
reason it fails, `serve.sh` installing one, the image build's progress and last log line, a
failed build with why and how to retry. A failed build is not retried by itself (it would fail
the same way); `retry()` (POST /api/sandbox/build) or an image built by the CLI ends the wait.
"""

from __future__ import annotations

import logging

import aiodocker
import anyio

from backend.settings import Settings
from backend.terminals.availability import BUILD_HINT, Phase, StatusBoard
from backend.terminals.image_build import build_image, build_lock, engine_install_line, shared_progress
from sandbox import ImageBuildError, SandboxError, SandboxUnavailableError
from sandbox.engine import EngineUnavailableError, connect_engine
from sandbox.images import image_exists

log = logging.getLogger("tandem.sandbox")

RETRY_HINT = "retry from the terminal panel (admins), or run `tandem sandbox build-image` on the server"


class SandboxBringUp:
    def __init__(self, settings: Settings, board: StatusBoard) -> None:
        self.settings = settings
        self.board = board
        self._failed = False
        self._forced = False
        self._retry = anyio.Event()
        self._last_reason: str | None = None

    def retry(self) -> None:
        """Build again after a failure (or now, when building missing images is off)."""
        self._failed = False
        self._forced = True
        self._retry.set()

    async def require(self) -> None:
        """`TANDEM_SANDBOX=docker`: the engine and the image now, or a `SandboxError` saying why."""
        try:
            docker = await connect_engine(answer_within=self.settings.sandbox_engine_timeout_seconds)
        except EngineUnavailableError as exc:
            raise SandboxUnavailableError(f"TANDEM_SANDBOX=docker, but {exc.reason}; {exc.hint}") from exc
        try:
            present = await image_exists(docker, self.settings.sandbox_image)
        finally:
            await docker.close()
        if not present:
            raise SandboxError(
                f"TANDEM_SANDBOX=docker, but the image {self.settings.sandbox_image} is missing; {BUILD_HINT}"
            )

    async def ready_now(self) -> bool:
        """One look: engine up and image present (the board says what is missing otherwise)."""
        try:
            docker = await connect_engine(answer_within=self.settings.sandbox_engine_timeout_seconds)
        except EngineUnavailableError as exc:
            self._engine_off(exc)
            return False
        try:
            if await image_exists(docker, self.settings.sandbox_image):
                return True
        except (aiodocker.DockerError, OSError) as exc:
            self._say("waiting_for_engine", f"the Docker engine failed to list images: {exc}"[:300], None)
            return False
        finally:
            await docker.close()
        self._image_missing()
        return False

    async def until_ready(self) -> None:
        while not await self.ready_now():
            wanted = (self.settings.sandbox_build_missing and not self._failed) or self._forced
            missing = self.board.status.phase == "image_missing"
            installing = engine_install_line(self.settings) if missing else None
            if installing is not None and not installing.startswith("failed"):
                # serve.sh is still installing what the build needs (debootstrap): wait for it.
                self._say(
                    "installing_engine", "installing what the sandbox image build needs", None, installing
                )
            elif missing and wanted:
                self._forced = False
                await self._build()
                continue
            await self._wait()

    async def _build(self) -> None:
        lock = build_lock(self.settings)
        if not await anyio.to_thread.run_sync(lock.try_acquire):
            fraction, line = await anyio.to_thread.run_sync(shared_progress, self.settings)
            self.board.set(
                "building_image",
                f"another Tandem process is building the image {self.settings.sandbox_image}",
                progress=fraction,
                log=line or f"waiting for the build lock {lock.path}",
            )
            await self._wait()
            return
        try:
            self.board.set(
                "building_image", f"building the sandbox image {self.settings.sandbox_image}", progress=0.0
            )
            await build_image(self.settings, self.board.progress)
        except (ImageBuildError, SandboxUnavailableError, OSError) as exc:
            self._failed = True
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else None
            log.error("building the sandbox image %s failed: %s", self.settings.sandbox_image, exc)
            self.board.set("failed", f"building the sandbox image failed: {reason}", RETRY_HINT, log=last)
        finally:
            lock.release()

    def _engine_off(self, exc: EngineUnavailableError) -> None:
        installing = engine_install_line(self.settings)
        if installing is not None and not installing.startswith("failed"):
            self._say(
                "installing_engine", "the Docker engine is being installed and started", None, installing
            )
        else:
            self._say("waiting_for_engine", exc.reason, exc.hint, installing)

    def _image_missing(self) -> None:
        if self._failed:
            return  # keep the failure (and its reason) on the board until a retry
        hint = "it is built automatically; wait here" if self.settings.sandbox_build_missing else BUILD_HINT
        self._say("image_missing", f"the sandbox image {self.settings.sandbox_image} is missing", hint)

    def _say(self, phase: Phase, reason: str, hint: str | None, line: str | None = None) -> None:
        if reason != self._last_reason:
            log.warning("terminals are off: %s%s", reason, f" ({hint})" if hint else "")
            self._last_reason = reason
        self.board.set(phase, reason, hint, log=line)

    async def _wait(self) -> None:
        with anyio.move_on_after(self.settings.sandbox_probe_interval_seconds):
            await self._retry.wait()
        if self._retry.is_set():
            self._retry = anyio.Event()
