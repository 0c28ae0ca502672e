"""aioice's module-level `get_host_addresses` (signaling/_compat/aioice.py): still what candidate
gathering calls in the installed aioice, replaced and restored by `restrict_host_addresses`."""

from __future__ import annotations

import aioice.ice
import pytest

from signaling._compat import aioice as aioice_compat
from signaling._compat import require
from signaling._compat.aioice import restrict_host_addresses
from signaling.errors import RelayError


def test_gathering_still_asks_the_module_level_function() -> None:
    assert "get_host_addresses" in aioice.ice.Connection.gather_candidates.__code__.co_names


def test_restrict_and_restore() -> None:
    original = aioice_compat._original  # aioice's own (another test may have restricted it)
    before = aioice.ice.get_host_addresses
    try:
        restrict_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(False, True) == ["::1"]
        restrict_host_addresses([])
        assert aioice.ice.get_host_addresses is original
    finally:
        aioice.ice.get_host_addresses = before


def test_another_version_is_refused_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    require(*aioice_compat.TESTED)  # the installed one passes
    monkeypatch.setattr(aioice_compat, "TESTED", ("aioice", "0.14", "0.15"))
    with pytest.raises(RelayError, match="outside the tested range"):
        restrict_host_addresses(["127.0.0.1"])
    with pytest.raises(RelayError, match="not installed"):
        require("no-such-distribution", "0", "1")
