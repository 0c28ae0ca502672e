"""aioice internals: which local addresses it offers as host candidates.

aioice 0.13 has no option for it, and it always leaves out 127.0.0.1, so a relay on a loopback-only
test machine (or a netns with only `lo`) could never connect. `restrict_host_addresses` replaces its
module-level `aioice.ice.get_host_addresses` (process-wide: the relay is the only aioice user in the
server). Empty: aioice's own choice (every interface but loopback) — the right thing on a LAN.
Test: tests/test_compat_aioice.py.
"""

from __future__ import annotations

import aioice.ice

from signaling._compat import require
from signaling.errors import RelayError

TESTED = ("aioice", "0.13", "0.14")

_original = getattr(aioice.ice, "get_host_addresses", None)


def restrict_host_addresses(addresses: list[str]) -> None:
    require(*TESTED)
    if _original is None or not hasattr(aioice.ice, "get_host_addresses"):
        raise RelayError("aioice.ice.get_host_addresses is gone: pin aioice==0.13.0")
    if not addresses:
        aioice.ice.get_host_addresses = _original
        return
    chosen = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
