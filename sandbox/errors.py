"""Exceptions raised by the sandbox package; the backend maps them to close codes and messages."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class: anything the sandbox refuses or fails to do."""


class SandboxUnavailableError(SandboxError):
    """No Docker engine answers (terminals are off; the page says why)."""


class ImageMissingError(SandboxError):
    """The sandbox image is not present and no registry can supply it."""


class ImageBuildError(SandboxError):
    """Building a sandbox image (rootfs or `docker build`) failed."""


class ContainerNotFoundError(SandboxError):
    """A session has no container yet: call `ensure_container` first."""


class ContainerError(SandboxError):
    """The engine refused to create, start, stop or remove a session's container."""


class PtyError(SandboxError):
    """A PTY could not be started, written to or resized."""


class PtyClosedError(PtyError):
    """The PTY has exited or was closed; start a new one."""


class TerminalClosedError(SandboxError):
    """The terminal hub is not running (not entered, exited or shut down)."""


class TerminalFullError(SandboxError):
    """The terminal already has its maximum number of subscribers."""


class TerminalPermissionError(SandboxError):
    """A read-only subscriber (a viewer) tried to type into the terminal."""


class TerminalInputTooLargeError(SandboxError):
    """One input write exceeded the terminal's per-write limit."""


class UnsafePathError(SandboxError):
    """A workspace path is malformed, escapes the root, or passes through a symlink."""


class QuotaError(SandboxError):
    """The workspace quota (a loop-mounted image) could not be set up, mounted or removed."""


class WorkspaceGoneError(SandboxError):
    """The workspace's file system changed under a running sync (unmounted, replaced): its files
    are not gone, the sync lost sight of them; it stops instead of deleting them from the doc."""
