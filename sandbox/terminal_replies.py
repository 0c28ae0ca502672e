"""Input a terminal emulator sends by itself, not its user: answers to the program's queries.

Every attached xterm.js answers a query such as the cursor position report (`ESC [ 6 n`, which
busybox ash sends with each prompt). With two typists the shell would get two answers, and the
second lands on the command line as text; and an answer is not typing, so it must not mark its
author as "typing". The hub forwards such frames from one subscriber only and never attributes
them (`TerminalHub.write`).
"""

from __future__ import annotations

import re

# One or more complete replies and nothing else: cursor position (CPR), device status, primary
# and secondary device attributes (DA1/DA2), mode reports (DECRPM), OSC colour answers, focus
# in/out. A keystroke never produces these whole (arrow keys are `ESC [ A`, no digits before).
_REPLY = rb"""
    \x1b\[\d+;\d+R                     # CPR
  | \x1b\[[0-3]n                       # DSR status
  | \x1b\[[?>][\d;]*c                  # DA1 / DA2
  | \x1b\[\??[\d;]+\$y                 # DECRPM
  | \x1b\][0-9]+;[^\x07\x1b]*(?:\x07|\x1b\\)   # OSC answers (colours)
  | \x1b\[[IO]                         # focus in / out
"""
_REPLIES = re.compile(rb"(?:" + _REPLY + rb")+", re.VERBOSE)


def is_terminal_reply(data: bytes) -> bool:
    return bool(data) and _REPLIES.fullmatch(data) is not None
