"""Colours within a session: the least-used palette colour for each newcomer, stable per person,
a person's pick (an account's last pick is its default elsewhere), and the API that sets it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlmodel import Session

from backend.access.colors import PALETTE, color_in_session, least_used, pick_color
from backend.store.database import create_tables, make_engine
from tests.access_client import Http
from tests.support import running_server


def _db(tmp_path: Path) -> Session:
    engine = make_engine(f"sqlite:///{tmp_path / 'colors.db'}")
    create_tables(engine)
    return Session(engine)


def test_newcomers_get_distinct_colours_then_the_least_used(tmp_path: Path) -> None:
    with _db(tmp_path) as db:
        first = [color_in_session(db, "s1", f"p{i}") for i in range(len(PALETTE))]
        assert sorted(first) == sorted(PALETTE)  # one person per colour while the palette lasts
        more = [color_in_session(db, "s1", f"q{i}") for i in range(len(PALETTE) + 3)]
        counts = Counter(first + more)
        assert max(counts.values()) - min(counts.values()) <= 1  # then evenly
        assert color_in_session(db, "s1", "p3") == first[3]  # stable for a person
        assert color_in_session(db, "s2", "p3") == PALETTE[0]  # sessions are separate


def test_a_pick_is_kept_and_becomes_the_default_in_new_sessions(tmp_path: Path) -> None:
    with _db(tmp_path) as db:
        color_in_session(db, "s1", "alice")
        pick_color(db, "s1", "alice", PALETTE[5].upper())
        db.commit()
        assert color_in_session(db, "s1", "alice") == PALETTE[5]
        assert color_in_session(db, "s2", "alice") == PALETTE[5]
        # Taken by someone else in a session: the newcomer gets the least used instead.
        color_in_session(db, "s3", "bob", remember=True)
        pick_color(db, "s3", "bob", PALETTE[5])
        db.commit()
        assert color_in_session(db, "s3", "alice") != PALETTE[5]


def test_least_used_breaks_ties_in_palette_order() -> None:
    assert least_used(Counter()) == PALETTE[0]
    assert least_used(Counter({PALETTE[0]: 1})) == PALETTE[1]


def test_me_endpoint_and_colour_pick(tmp_path: Path) -> None:
    with running_server(tmp_path, None, auth=True, env={"TANDEM_SANDBOX": "off"}) as srv:
        owner = Http(srv.http_url)
        owner.signup("alice", "correct horse battery")
        session = owner.post("/api/sessions", json={"title": "t"}).json()["id"]
        token = owner.post(f"/api/sessions/{session}/links", json={"role": "viewer"}).json()["token"]
        guest = Http(srv.http_url)
        guest.join(token, "Bob")
        me = guest.get(f"/api/sessions/{session}/me").json()
        assert me["name"] == "Bob" and me["role"] == "viewer" and me["color"] in PALETTE
        mine = owner.get(f"/api/sessions/{session}/me").json()
        assert mine["name"] == "alice" and mine["color"] != me["color"]
        r = guest.request("PUT", f"/api/sessions/{session}/me/color", json={"color": PALETTE[7]})
        assert r.status_code == 200 and r.json()["color"] == PALETTE[7]
        assert guest.get(f"/api/sessions/{session}/me").json()["color"] == PALETTE[7]
        bad = guest.request("PUT", f"/api/sessions/{session}/me/color", json={"color": "red"})
        assert bad.status_code == 422
        script = Http(srv.http_url)
        r = script.request(
            "PUT", f"/api/sessions/{session}/me/color?token={token}", json={"color": PALETTE[1]}
        )
        assert r.status_code == 422  # a `?token=` client is a new person every time
