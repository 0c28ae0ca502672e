"""Every use of a library's private internals, one module per library (`_compat/<library>.py`).

Each shim names the versions its test ran on (`TESTED`) and checks the installed one at import:
outside the range, a fast path turns itself off (falling back to the public API) or the feature
refuses loudly. Each has a focused test (`tests/test_compat_<library>.py`, and `test_rawframe.py`)
that fails first when an upgrade moves what it relies on.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version


def release(text: str) -> tuple[int, ...]:
    """`1.16.0rc1` -> (1, 16, 0): the numeric release part, enough for a range check."""
    parts: list[int] = []
    for piece in text.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def in_tested_range(dist: str, low: str, below: str) -> bool:
    """Whether the installed `dist` is at least `low` and below `below`."""
    try:
        installed = release(version(dist))
    except PackageNotFoundError:
        return False
    return release(low) <= installed < release(below)


def supported(tested: dict[str, tuple[str, str]], *, otherwise: str | None = None) -> bool:
    """Whether every library in `tested` ({dist: (low, below)}) is installed in its range; if not
    and `otherwise` says what is given up, log it once (at import, where each shim calls this)."""
    ok = all(in_tested_range(dist, *bounds) for dist, bounds in tested.items())
    if not ok and otherwise is not None:
        logging.getLogger("tandem.compat").warning("outside the tested range %s: %s", tested, otherwise)
    return ok
