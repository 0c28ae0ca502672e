"""Shared terminals of a session: the registry of its hubs, its workspace sync, `/term` wiring.

- `registry`: terminals keyed by (session, name), started on first attach by a role that may start
  them; caps: terminals per session, `max_active_sandboxes` per node. Uses the sandbox only
  through `SandboxBackend` (sandbox/types.py).
- `active`: an active session — its room held, its container running, its file sync — and its
  terminals' table; `terminal`: one terminal's run (hub, previous shell, doc mirror);
  `housekeeping`: idle hang-ups, deactivation, orphan containers.
- `doc_mirror`: the doc's `terminals` map (title, status, cols/rows, exit_code, opened_by),
  server-written from the hub's state events (not a subscriber: no slot, no output).
- `protocol`: the `/term` frames. Input attribution travels as `attribution` control frames to the
  terminal's subscribers (live, per chunk), not in the doc: a doc entry per keystroke would be
  persisted and replayed forever. The page marks the line its cursor is on when one arrives.
- `policy`: who may type / start (asked on every frame); `availability`: TANDEM_SANDBOX and why off.
"""
