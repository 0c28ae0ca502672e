"""The import graph (grimp, TYPE_CHECKING imports included: they are dependencies of the design too).

No cycle between `backend.routes` and `backend.tunnel` (the tunnel's entry end once imported
`close_with` from `routes.ws_auth`, which reaches the tunnel through `services`); the channel close
helper is a leaf. Among `backend.rooms` modules the one known cycle, room <-> replication, is the
next step (issue #16, item 2: listeners on the room): this test names it so that a new cycle fails,
and so does its removal until the allowance below is dropped.
"""

from __future__ import annotations

import itertools
from functools import cache

import grimp

import backend
from tests.support import ROOT

KNOWN_ROOMS_CYCLES = {("backend.rooms.replication", "backend.rooms.room")}  # next: issue #16 item 2


@cache
def graph() -> grimp.ImportGraph:
    assert backend.__file__ is not None and backend.__file__.startswith(str(ROOT)), backend.__file__
    return grimp.build_graph("backend", "sandbox", "signaling", exclude_type_checking_imports=False)


def chains(importer: str, imported: str) -> set[tuple[str, ...]]:
    return graph().find_shortest_chains(importer=importer, imported=imported, as_packages=True)


def test_no_cycle_between_routes_and_tunnel() -> None:
    up, down = chains("backend.tunnel", "backend.routes"), chains("backend.routes", "backend.tunnel")
    assert not (up and down), f"tunnel -> routes {up} and routes -> tunnel {down}"
    assert not up, f"the tunnel must not import routes: {up}"


def test_the_channel_close_helper_is_a_leaf() -> None:
    imported = graph().find_modules_directly_imported_by("backend.channels.close")
    assert not {m for m in imported if m.split(".")[0] in ("backend", "sandbox", "signaling")}


def test_backend_wires_in_sandbox_and_signaling_never_the_reverse() -> None:
    for package in ("sandbox", "signaling"):
        assert not chains(package, "backend"), package


def test_rooms_modules_have_no_cycle_but_the_known_one() -> None:
    g = graph()
    rooms = sorted(m for m in g.modules if m.startswith("backend.rooms."))
    cycles = {
        (a, b)
        for a, b in itertools.combinations(rooms, 2)
        if g.chain_exists(importer=a, imported=b) and g.chain_exists(importer=b, imported=a)
    }
    assert cycles == KNOWN_ROOMS_CYCLES


def test_ops_never_imports_the_node() -> None:
    """ops/ is handed the parts it reads (TandemCollector, readiness Targets), never the node."""
    for upward in ("backend.node", "backend.app", "backend.routes"):
        assert not chains("backend.ops", upward), upward
