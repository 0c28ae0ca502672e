"""Version history: snapshots of a session's document, their diffs against now, and restores."""
