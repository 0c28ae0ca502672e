"""pycrdt internals: the origin of the transaction a doc observer is called in.

pycrdt's `Doc.observe` callback gets a `TransactionEvent` without the origin, and the public
`Transaction.origin` cannot be read there (the commit holds the transaction: "Already mutably
borrowed"). The origin a writer passed to `doc.transaction(origin=...)` is kept in `doc._origins`
under the hash `doc._txn._origin_hash` until the commit ends. Tested on pycrdt 0.14; elsewhere,
or when the attributes are gone, the origin is unknown (None). The room needs it only to name a
server writer's kind: what the room applies itself it knows without this.
Test: tests/test_compat_pycrdt.py.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from backend._compat import supported

TESTED = {"pycrdt": ("0.14", "0.15")}
SUPPORTED = supported(TESTED, otherwise="server writers' origins are not told apart")


def transaction_origin(doc: Doc) -> Any:
    """The origin of the doc's transaction in progress (call it from an observer), or None."""
    if not SUPPORTED:
        return None
    txn = getattr(doc, "_txn", None)
    key = getattr(txn, "_origin_hash", None)
    origins = getattr(doc, "_origins", None)
    if key is None or not isinstance(origins, dict):
        return None
    return origins.get(key)
