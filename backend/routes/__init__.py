"""Route modules: each only wires (authenticate -> authorize -> hand over)."""
