"""WebSocket tunnels between nodes: a client's `/term` or `/signal` connection, accepted by any
node, served by the session's owner node (see backend.bus.leases and `service`)."""
