"""pycrdt's private transaction origin store (backend/_compat/pycrdt.py): a doc observer still
reads the origin its writer set, in the installed version, and None when the shim is off."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from backend._compat import pycrdt as pycrdt_compat
from backend._compat.pycrdt import transaction_origin
from backend.rooms.origin import FILE_SYNC, Peer


def origins_seen(doc: Doc) -> list[Any]:
    seen: list[Any] = []
    doc.observe(lambda _event: seen.append(transaction_origin(doc)))
    return seen


def test_the_installed_pycrdt_is_in_the_tested_range() -> None:
    assert pycrdt_compat.SUPPORTED


def test_an_observer_reads_the_writers_origin() -> None:
    doc = Doc()
    text = doc.get("t", type=Text)
    seen = origins_seen(doc)
    with doc.transaction(origin=FILE_SYNC):
        text += "a"
    text += "b"  # no origin
    other = Doc()
    other.get("t", type=Text).insert(0, "c")
    with doc.transaction(origin=Peer("n2")):
        doc.apply_update(other.get_update())
    assert seen == [FILE_SYNC, None, Peer("n2")]


def test_off_the_tested_range_the_origin_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pycrdt_compat, "SUPPORTED", False)
    doc = Doc()
    seen = origins_seen(doc)
    with doc.transaction(origin=FILE_SYNC):
        doc.get("t", type=Text).insert(0, "a")
    assert seen == [None]
