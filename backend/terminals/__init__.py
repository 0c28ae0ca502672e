"""Shared terminals of a session: the registry of its hubs, its workspace sync, `/term` wiring.

- `registry`: terminals keyed by (session, name), a cap per session, started on first attach by a
  role that may start them; an active session pins its room, runs its container and file sync.
- `doc_mirror`: the doc's `terminals` map (title, status, cols/rows, exit_code, opened_by), server-written.
- `protocol`: the `/term` frames. Input attribution travels as `attribution` control frames to the
  terminal's subscribers (live, per chunk), not in the doc: a doc entry per keystroke would be
  persisted and replayed forever. The page marks the line its cursor is on when one arrives.
- `policy`: who may type / start (asked on every frame); `availability`: TANDEM_SANDBOX and why off.
"""
