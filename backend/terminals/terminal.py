"""`run_terminal`: one terminal of an active session, from its first shell to its hang-up.

The shell runs in a `TerminalHub` (every client attaches to it); the doc's `terminals` entry
follows the hub's status, exit and size through the hub's state listener (no subscription: the
server takes no subscriber slot and never receives output). A terminal that had a shell before
(saved at its end, or left in the doc by a killed server) starts with that shell's scrollback
and a line saying how it ended; at the end, this shell's is saved the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

import anyio

from backend.settings import Settings
from backend.terminals import doc_mirror
from backend.terminals import previous as previous_shell
from backend.terminals.active import ActiveSession, Terminal
from sandbox import SandboxError, StateEvent, TerminalHub

log = logging.getLogger("tandem.terminals")


async def run_terminal(
    entry: ActiveSession, term: Terminal, settings: Settings, *, shutting_down: Callable[[], bool]
) -> None:
    """Run `term` until its scope is cancelled; `term.ready` is set once clients may attach."""
    s = settings
    hub_seen: TerminalHub | None = None

    def mirror(event: StateEvent) -> None:
        doc = entry.live_doc()
        if doc is not None:
            doc_mirror.apply_event(doc, term.name, event)

    try:
        with term.scope:
            await entry.ready.wait()
            doc = entry.live_doc()
            if entry.error is not None or doc is None:
                raise entry.error or SandboxError(f"session {entry.name!r} did not start")
            previous = await anyio.to_thread.run_sync(previous_shell.take, s, entry.name, term.name)
            if previous is None and term.name in entry.stale:
                previous = previous_shell.PreviousShell(None, "server restart")
            entry.stale.discard(term.name)
            async with TerminalHub(
                partial(entry.start_pty, term.name),
                name=f"{entry.name}/{term.name}",
                scrollback_bytes=s.terminal_scrollback_bytes,
                subscriber_max_bytes=s.terminal_subscriber_queue_bytes,
                flow_pause_bytes=s.terminal_flow_pause_bytes,
                flow_pause_max=s.terminal_flow_pause_max_seconds,
                max_subscribers=s.terminal_max_subscribers,
                max_input_bytes=s.terminal_max_input_bytes,
                preamble=previous.preamble() if previous is not None else b"",
                on_state=mirror,
            ) as hub:
                term.hub = hub_seen = hub
                doc_mirror.open_terminal(doc, term.name, term.opened_by, hub)
                if previous is not None:
                    doc_mirror.set_previous(doc, term.name, previous.doc_fields())
                term.detached_since = anyio.current_time()
                term.ready.set()
                await anyio.sleep_forever()
    except Exception as exc:
        log.warning(
            "terminal %s/%s failed: %s",
            entry.name,
            term.name,
            exc,
            exc_info=not isinstance(exc, SandboxError),
        )
        term.error = exc
    finally:
        term.hub = None if term.error is not None else term.hub
        term.ready.set()
        if entry.terminals.get(term.name) is term:
            del entry.terminals[term.name]
            entry.empty_since = anyio.current_time()
        doc = entry.live_doc()
        if doc is not None:
            doc_mirror.remove_terminal(doc, term.name)
        if hub_seen is not None:
            await _remember_end(settings, entry.name, term, hub_seen, shutting_down())
        term.done.set()


async def _remember_end(
    settings: Settings, session: str, term: Terminal, hub: TerminalHub, shutting_down: bool
) -> None:
    """Keep why and when this shell ended, and its scrollback, for the terminal's next shell."""
    if shutting_down:
        reason = "server restart"
    elif term.error is not None:
        reason = f"the sandbox failed: {term.error}"[:200]
    else:
        reason = term.end_reason or "the terminal was closed"
    ended = previous_shell.PreviousShell(time.time(), reason, hub.scrollback())
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(previous_shell.save, settings, session, term.name, ended)
