"""Shared terminals of a session: the registry of its hubs, its workspace sync, `/term` wiring."""
