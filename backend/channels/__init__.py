"""WebSocket channels (`/term`, `/signal`, the tunnel's entry end): one runner, one close helper.

`close` is a leaf (no backend imports but close codes), so routes, tunnels and the runner share it
without an import cycle; `runner` owns the pumps, the per-channel counters, the logging and the
close on any exception.
"""
