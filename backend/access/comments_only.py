"""Enforce "a commenter writes only the `comments` array" on a Yjs update.

A Yjs item names its parent only when it has no left/right origin, so which root type an update
touches cannot be read off its bytes; it is known only once the update is integrated. So the
update is applied to a scratch `Doc` primed with the room's state, with deep observers on every
other root type: any event there (an insert, a delete, a format) or a new root other than
`comments` rejects the whole update. What is applied to the room is not the client's bytes but the
scratch doc's diff (`get_update(state before)`), and an update that leaves structs "pending" (missing
their dependencies) is refused whole, so nothing held back can slip into another root later.

Cost: O(size of the document) per commenter update (priming the scratch doc). Commenters write
rarely (one comment, one reply), editors and viewers never take this path.
"""

from __future__ import annotations

from pycrdt import Doc, Map, get_state

from backend.errors import ProtocolError
from backend.rooms.protocol import StrictDecoder

COMMENTS = "comments"


def comments_only(update: bytes, doc: Doc) -> bytes | None:
    """The part of `update` to apply to `doc`, or None when it touches anything but `comments`."""
    scratch: Doc = Doc()
    scratch.apply_update(doc.get_update())
    before = scratch.get_state()
    roots = set(scratch.keys())
    touched: list[str] = []
    subscriptions = []
    for name in roots - {COMMENTS}:
        # Any type reading is fine for the scratch doc: only whether an event fires matters.
        root = scratch.get(name, type=Map)
        subscriptions.append(root.observe_deep(lambda _events, name=name: touched.append(name)))
    try:
        scratch.apply_update(update)
    except ValueError as exc:
        raise ProtocolError(f"update failed to apply: {exc}") from exc
    if touched or set(scratch.keys()) - roots - {COMMENTS} or _left_pending(update, scratch):
        return None
    # Pending deletions (of items not seen yet) are not in this diff, so they cannot hit later
    # items of other roots either.
    return scratch.get_update(before)


def _left_pending(update: bytes, doc: Doc) -> bool:
    """Whether some structs of `update` wait for missing dependencies (yrs would keep them, and
    its `get_update` would carry them on)."""
    have = _decode_state_vector(doc.get_state())
    return any(
        have.get(client, 0) < clock for client, clock in _decode_state_vector(get_state(update)).items()
    )


def _decode_state_vector(sv: bytes) -> dict[int, int]:
    decoder = StrictDecoder(sv)
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())}
