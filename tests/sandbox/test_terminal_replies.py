"""A terminal's own answers to queries are told apart from typing (sandbox.terminal_replies)."""

from __future__ import annotations

import pytest

from sandbox.terminal_replies import is_terminal_reply


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (b"\x1b[24;80R", True),
        (b"\x1b[0n", True),
        (b"\x1b[?1;2c\x1b[>0;276;0c", True),
        (b"\x1b]11;rgb:0000/0000/0000\x07", True),
        (b"\x1b[I", True),
        (b"\x1b[A", False),  # arrow up
        (b"ls\r", False),
        (b"\x1b[24;80Rls", False),  # a reply with typing after it is typing
        (b"", False),
    ],
)
def test_terminal_replies_are_told_from_typing(data: bytes, reply: bool) -> None:
    assert is_terminal_reply(data) is reply
