"""The bus seam: a room's messages between nodes (`LocalBus` in-process, `RedisBus` across nodes)."""
