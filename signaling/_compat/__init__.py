"""Every use of aiortc's and aioice's private internals, one module per library.

Same convention as `backend._compat` (signaling never imports backend, so the small range check is
its own): each shim names the versions its test ran on (`TESTED`) and `require()` refuses loudly,
with a `RelayError` naming the pin, when the installed version is outside that range. The tests are
tests/test_compat_aiortc.py and tests/test_compat_aioice.py (with tests/test_relay_internals.py).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from signaling.errors import RelayError


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


def require(dist: str, low: str, below: str) -> None:
    """Raise `RelayError` unless the installed `dist` is at least `low` and below `below`."""
    try:
        installed = version(dist)
    except PackageNotFoundError as exc:
        raise RelayError(f"{dist} is not installed (tested: >={low},<{below})") from exc
    if not release(low) <= release(installed) < release(below):
        raise RelayError(f"{dist} {installed} is outside the tested range >={low},<{below}: pin it")
