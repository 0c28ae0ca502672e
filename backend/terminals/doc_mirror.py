"""The doc's `terminals` map, written by the server only: name -> Y.Map {title, status, cols,
rows, exit_code, opened_by {id, name}, started_at, exited_at, previous {ended_at, reason}}. Clients
read it to list terminals; `previous` says the shell is not the one that was there before."""

from __future__ import annotations

import time
from typing import Any

from pycrdt import Doc, Map

from backend.rooms.origin import TERMINALS as ORIGIN
from sandbox import Exited, Resized, Resync, Skipped, StatusChanged, TerminalEvent


def _terminals(doc: Doc) -> Map[Any]:
    return doc.get("terminals", type=Map)


def open_terminal(doc: Doc, name: str, opened_by: dict[str, str]) -> None:
    with doc.transaction(origin=ORIGIN):
        _terminals(doc)[name] = Map(
            {
                "title": name,
                "status": "starting",
                "cols": 80,
                "rows": 24,
                "exit_code": None,
                "opened_by": opened_by,
                "started_at": time.time(),
            }
        )


def _update(doc: Doc, name: str, **fields: Any) -> None:
    entry = _terminals(doc).get(name)
    if not isinstance(entry, Map):
        return
    changed = {k: v for k, v in fields.items() if entry.get(k) != v}
    if changed:
        with doc.transaction(origin=ORIGIN):
            for key, value in changed.items():
                entry[key] = value


def apply_event(doc: Doc, name: str, event: TerminalEvent) -> None:
    """Mirror one hub event seen by the server's own subscription (output is not mirrored)."""
    if isinstance(event, Resync | Skipped):
        _update(doc, name, status=event.status, cols=event.cols, rows=event.rows, exit_code=event.exit_status)
    elif isinstance(event, StatusChanged):
        fields: dict[str, Any] = {"status": event.status}
        if event.status == "running":
            fields["exit_code"] = None  # a restart clears the last exit
        entry = _terminals(doc).get(name)
        if (
            event.status in ("starting", "running")
            and isinstance(entry, Map)
            and entry.get("status") == "exited"
        ):
            code = entry.get("exit_code")
            # Y.Map numbers come back as floats.
            reason = "the shell exited" + (f" (code {int(code)})" if isinstance(code, int | float) else "")
            fields["previous"] = {"ended_at": entry.get("exited_at"), "reason": reason}
        _update(doc, name, **fields)
    elif isinstance(event, Resized):
        _update(doc, name, cols=event.cols, rows=event.rows)
    elif isinstance(event, Exited):
        _update(doc, name, status="exited", exit_code=event.status, exited_at=time.time())


def remove_terminal(doc: Doc, name: str) -> None:
    terminals = _terminals(doc)
    if name in terminals:
        with doc.transaction(origin=ORIGIN):
            del terminals[name]


def set_previous(doc: Doc, name: str, previous: dict[str, object]) -> None:
    _update(doc, name, previous=previous)


def clear_stale(doc: Doc) -> list[str]:
    """Remove the entries left by a previous run of the server (none is live any more); their names."""
    terminals = _terminals(doc)
    stale = list(terminals.keys())
    if stale:
        with doc.transaction(origin=ORIGIN):
            for name in stale:
                del terminals[name]
    return stale
