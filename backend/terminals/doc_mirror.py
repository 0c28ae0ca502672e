"""The doc's `terminals` map, written by the server only: name -> Y.Map {title, status, cols,
rows, exit_code, opened_by {id, name}, started_at, exited_at, previous {ended_at, reason}}. Clients
read it to list terminals; `previous` says the shell is not the one that was there before. It follows
the hub's state events (`TerminalHub(on_state=...)`), never its output."""

from __future__ import annotations

import time
from typing import Any

from pycrdt import Doc, Map

from backend.rooms.origin import TERMINALS as ORIGIN
from sandbox import Exited, Resized, StateEvent, StatusChanged, TerminalHub


def _terminals(doc: Doc) -> Map[Any]:
    return doc.get("terminals", type=Map)


def open_terminal(doc: Doc, name: str, opened_by: dict[str, str], hub: TerminalHub) -> None:
    """The terminal's entry, with the hub's state now (its events update it from here on)."""
    cols, rows = hub.size
    with doc.transaction(origin=ORIGIN):
        _terminals(doc)[name] = Map(
            {
                "title": name,
                "status": hub.status,
                "cols": cols,
                "rows": rows,
                "exit_code": hub.exit_status,
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


def apply_event(doc: Doc, name: str, event: StateEvent) -> None:
    """Mirror one of the hub's state events."""
    if isinstance(event, StatusChanged):
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
