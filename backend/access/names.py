"""Names that look alike fold to one key, so nobody can pass for somebody else.

`Alice` next to `alice`, `aIice`, `a1ice`, `alice` spelt with a Cyrillic a (U+0430), or with
a zero-width space all read as "alice" on screen. `fold` maps a name to a skeleton: Unicode NFKC, case
folded, accents and invisible characters dropped, separators dropped, and the usual lookalikes
(Cyrillic and Greek letters shaped like Latin ones, 0/o, 1/l/I/i/|, rn/m, vv/w) mapped to one
letter: a simple version of Unicode's confusable skeleton (UTS #39). Two names with one
skeleton are the same name: usernames are unique by it, and a guest may not take an account's
name or another participant's name in the session.
"""

from __future__ import annotations

import unicodedata

# Lookalikes of Latin letters (lowercase: applied after case folding), written as escapes so the
# source shows which is which: Cyrillic, Greek, then Latin letters and digits read as others.
_LOOKALIKES = (
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445\u0456\u0457\u0458\u0455\u04bb\u0501\u051b\u051d\u0261\u0475\u04cf"
    "\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u03f2\u03c9"
    "\u0131\u0142\u00f8\u0111\u012701i|5$@"
)
_LATIN = "abeekmhopctyxlljshdqwgvlabenlkvoptuxcwllodholllssa"
_CONFUSABLES = str.maketrans(_LOOKALIKES, _LATIN)

_MULTI = (("rn", "m"), ("vv", "w"))
_DROPPED = {" ", "_", ".", "-", "'", "`", "\u00b4", "\u00b7", "\u2022"}


def fold(name: str) -> str:
    """The skeleton of a display name or username (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        category = unicodedata.category(ch)
        if category in ("Mn", "Me", "Cf", "Cc") or category.startswith("Z") or ch in _DROPPED:
            continue  # accents, zero-width and control characters, spaces and separators
        kept.append(ch)
    skeleton = "".join(kept).translate(_CONFUSABLES)
    for pair, single in _MULTI:
        skeleton = skeleton.replace(pair, single)
    return skeleton
