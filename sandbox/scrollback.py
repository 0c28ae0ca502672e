"""A byte ring holding a terminal's most recent output, replayed to late joiners and laggards."""

from __future__ import annotations

from collections import deque


class ScrollbackRing:
    """Keeps at most `capacity` bytes of the newest output, stored as the frames that made it."""

    def __init__(self, capacity: int = 256 * 1024) -> None:
        if capacity <= 0:
            raise ValueError("scrollback capacity must be positive")
        self._capacity = capacity
        self._frames: deque[bytes] = deque()
        self._size = 0
        self._total = 0  # bytes ever appended: the stream offset just past the newest byte

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return self._size

    @property
    def end(self) -> int:
        """The stream offset just past the newest byte (bytes ever appended)."""
        return self._total

    @property
    def start(self) -> int:
        """The stream offset of the oldest byte still held."""
        return self._total - self._size

    def append(self, data: bytes) -> None:
        if not data:
            return
        self._total += len(data)
        if len(data) >= self._capacity:
            self._frames.clear()
            self._frames.append(data[-self._capacity :])
            self._size = self._capacity
            return
        self._frames.append(data)
        self._size += len(data)
        while self._size > self._capacity:
            first = self._frames.popleft()
            excess = self._size - self._capacity
            if len(first) > excess:
                # Cut the oldest frame instead of dropping it whole, so the ring stays full.
                self._frames.appendleft(first[excess:])
                self._size -= excess
            else:
                self._size -= len(first)

    def snapshot(self) -> bytes:
        return b"".join(self._frames)

    def since(self, offset: int) -> tuple[int, bytes]:
        """(bytes between `offset` and what the ring still holds, the held bytes from `offset` on)."""
        data = self.snapshot()
        if offset >= self.start:
            return 0, data[offset - self.start :]
        return self.start - offset, data

    def clear(self) -> None:
        self._frames.clear()
        self._size = 0
