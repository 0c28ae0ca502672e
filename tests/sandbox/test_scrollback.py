from __future__ import annotations

import pytest

from sandbox.scrollback import ScrollbackRing


def test_keeps_everything_under_capacity() -> None:
    ring = ScrollbackRing(10)
    ring.append(b"abc")
    ring.append(b"def")
    assert ring.snapshot() == b"abcdef"
    assert len(ring) == 6


def test_drops_oldest_bytes_past_capacity() -> None:
    ring = ScrollbackRing(10)
    for chunk in (b"0123", b"4567", b"89ab", b"cd"):
        ring.append(chunk)
    assert ring.snapshot() == b"456789abcd"
    assert len(ring) == 10


def test_a_frame_larger_than_the_ring_keeps_its_tail() -> None:
    ring = ScrollbackRing(4)
    ring.append(b"xy")
    ring.append(b"0123456789")
    assert ring.snapshot() == b"6789"


def test_clear_and_bad_capacity() -> None:
    ring = ScrollbackRing(4)
    ring.append(b"ab")
    ring.clear()
    assert ring.snapshot() == b"" and len(ring) == 0
    with pytest.raises(ValueError):
        ScrollbackRing(0)
