"""Docker sandboxes for Tandem sessions: images, containers, PTYs and terminal fan-out.

The backend wires these in; this package never imports `backend`.
"""

from .docker_backend import DockerSandbox
from .docker_pty import DockerPty
from .errors import (
    ContainerError,
    ContainerNotFoundError,
    ImageBuildError,
    ImageMissingError,
    PtyClosedError,
    PtyError,
    QuotaError,
    SandboxError,
    SandboxUnavailableError,
    TerminalClosedError,
    TerminalFullError,
    TerminalInputTooLargeError,
    TerminalPermissionError,
)
from .exec_run import ExecResult
from .local_pty import LocalPty
from .mounts import WorkspaceMounts, workspace_mounts
from .quota import WorkspaceQuota
from .terminal_events import (
    Attribution,
    Exited,
    Output,
    Resized,
    Resync,
    Skipped,
    StateEvent,
    StatusChanged,
    TerminalEvent,
    TerminalStatus,
)
from .terminal_hub import PtyFactory, StateListener, TerminalHub
from .terminal_subscription import TerminalSubscription
from .types import (
    DEFAULT_IMAGE,
    TEST_IMAGE,
    ContainerHandle,
    Pty,
    SandboxBackend,
    SandboxSpec,
)

__all__ = [
    "DEFAULT_IMAGE",
    "TEST_IMAGE",
    "Attribution",
    "ContainerError",
    "ContainerHandle",
    "ContainerNotFoundError",
    "DockerPty",
    "DockerSandbox",
    "ExecResult",
    "Exited",
    "ImageBuildError",
    "ImageMissingError",
    "LocalPty",
    "Output",
    "Pty",
    "PtyClosedError",
    "PtyError",
    "PtyFactory",
    "QuotaError",
    "Resized",
    "Resync",
    "SandboxBackend",
    "SandboxError",
    "SandboxSpec",
    "SandboxUnavailableError",
    "Skipped",
    "StateEvent",
    "StateListener",
    "StatusChanged",
    "TerminalClosedError",
    "TerminalEvent",
    "TerminalFullError",
    "TerminalHub",
    "TerminalInputTooLargeError",
    "TerminalPermissionError",
    "TerminalStatus",
    "TerminalSubscription",
    "WorkspaceMounts",
    "WorkspaceQuota",
    "workspace_mounts",
]
