"""Signaling over `/signal/{session}` against a real server: join/leave, routing to the named peer
only, every error case, abuse, glare, vanished peers, the mesh -> relay switch, roles."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
from websockets.exceptions import InvalidStatus

from backend import closecodes
from signaling.hub import CLOSE_ABUSE
from tests.access_client import Http
from tests.signalclient import SignalClient
from tests.support import TandemServer, running_server

pytestmark = pytest.mark.anyio

SDP_RECV = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n"
SDP_SEND = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n"
ENV = {
    "TANDEM_SANDBOX": "off",
    "TANDEM_SCREENSHARE_HOST_ADDRESSES": '["127.0.0.1"]',
    "TANDEM_SIGNAL_MAX_ERRORS": "5",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with running_server(tmp_path_factory.mktemp("signal"), None, env=ENV) as server:
        yield server


def room() -> str:
    return f"sig-{uuid.uuid4().hex[:8]}"


async def test_join_lists_peers_and_leave_tells_the_others(srv: TandemServer) -> None:
    s = room()
    async with SignalClient.connect(srv.http_url, s) as a:
        assert a.welcome["peers"] == [] and a.welcome["iceServers"] == []
        assert a.welcome["you"]["role"] == "editor" and a.welcome["relay"] is True
        async with SignalClient.connect(srv.http_url, s) as b:
            assert [p["id"] for p in b.welcome["peers"]] == [a.id]
            joined = await a.expect("join")
            assert joined["from"] == b.id and joined["peer"]["name"]
            await b.send(type="leave")
            assert await b.closed() == closecodes.NORMAL
            assert (await a.expect("leave"))["from"] == b.id


async def test_messages_reach_the_named_peer_only(srv: TandemServer) -> None:
    s = room()
    async with (
        SignalClient.connect(srv.http_url, s) as a,
        SignalClient.connect(srv.http_url, s) as b,
        SignalClient.connect(srv.http_url, s) as c,
        SignalClient.connect(srv.http_url, room()) as other,
    ):
        await a.send(type="offer", to=b.id, sdp=SDP_RECV)
        got = await b.expect("offer")
        assert got == {"type": "offer", "from": a.id, "sdp": SDP_RECV, "light": False}
        cand = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
        await b.send(type="candidate", to=a.id, candidate=cand)
        assert (await a.expect("candidate"))["candidate"] == cand
        await b.send(type="answer", to=a.id, sdp=SDP_RECV)
        assert (await a.expect("answer"))["from"] == b.id
        assert not [m for m in await c.nothing() if m["type"] in ("offer", "answer", "candidate")]
        # A peer of another session is unknown here, whatever its id.
        await other.send(type="offer", to=a.id, sdp=SDP_RECV)
        assert (await other.expect("error"))["code"] == "unknown_peer"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_message"),
        (json.dumps({"type": "teleport"}), "bad_message"),
        (json.dumps({"type": "offer", "to": "x"}), "bad_message"),  # no sdp
        (json.dumps({"type": "offer", "to": "../x", "sdp": "v=0"}), "bad_message"),
        (json.dumps({"type": "offer", "to": "nobody", "sdp": "v=0"}), "unknown_peer"),
        (json.dumps({"type": "answer", "to": "relay", "sdp": "v=0"}), "bad_message"),
        (json.dumps({"type": "watch", "to": "nobody"}), "unknown_peer"),
        (json.dumps({"type": "join"}), "bad_message"),  # twice
        (json.dumps({"type": "offer", "to": "x", "sdp": "v" * 70_000}), "too_big"),
        ("[1, 2]", "bad_message"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_lives(
    srv: TandemServer, frame: str, code: str
) -> None:
    async with SignalClient.connect(srv.http_url, room()) as a:
        await a.send_raw(frame)
        assert (await a.expect("error"))["code"] == code
        await a.send(type="share", on=True)  # still served
        assert (await a.expect("sharing"))["from"] == a.id


async def test_messages_before_join_and_binary_frames(srv: TandemServer) -> None:
    async with SignalClient.connect(srv.http_url, room(), join=False) as a:
        await a.send(type="share", on=True)
        assert (await a.expect("error"))["code"] == "not_joined"
        await a.send_raw(b"\x00\x01")
        assert (await a.expect("error"))["code"] == "bad_message"


async def test_repeated_abuse_closes_with_a_named_code(srv: TandemServer) -> None:
    async with SignalClient.connect(srv.http_url, room()) as a:
        for _ in range(6):  # TANDEM_SIGNAL_MAX_ERRORS=5
            await a.send_raw("{")
        assert await a.closed() == CLOSE_ABUSE == closecodes.SIGNAL_ABUSE
        assert sum(m["type"] == "error" for m in a.backlog) >= 5


async def test_glare_both_offers_are_delivered(srv: TandemServer) -> None:
    """Both sides offer at once: the server relays both; perfect negotiation (the polite viewer
    rolls back) resolves it in the browsers."""
    s = room()
    async with SignalClient.connect(srv.http_url, s) as a, SignalClient.connect(srv.http_url, s) as b:
        await a.send(type="offer", to=b.id, sdp=SDP_RECV)
        await b.send(type="offer", to=a.id, sdp=SDP_RECV)
        assert (await a.expect("offer"))["from"] == b.id
        assert (await b.expect("offer"))["from"] == a.id


async def test_sharing_watch_and_the_switch_to_the_relay(srv: TandemServer) -> None:
    s = room()
    async with SignalClient.connect(srv.http_url, s) as sharer, AsyncExitStack() as stack:
        await sharer.send(type="share", on=True)
        assert (await sharer.expect("sharing"))["mode"] == "mesh"
        viewers = []
        for i in range(4):
            v = await stack.enter_async_context(SignalClient.connect(srv.http_url, s))
            viewers.append(v)
            assert next(p for p in v.welcome["peers"] if p["sharing"])["id"] == sharer.id
            await v.send(type="watch", to=sharer.id)
            assert (await sharer.expect("watch", lambda m, v=v: m["from"] == v.id))["on"] is True
            mode = (await v.expect("sharing", lambda m: m["from"] == sharer.id))["mode"]
            assert mode == ("mesh" if i < 3 else "relay")  # a fourth viewer: everyone moves
        assert (await sharer.expect("sharing", lambda m: m.get("mode") == "relay"))["on"] is True
        for v in viewers[:3]:
            assert (await v.expect("sharing", lambda m: m.get("mode") == "relay"))["from"] == sharer.id
        await viewers[0].ws.close()  # a viewer vanishes: the sharer hears it
        assert (await sharer.expect("watch", lambda m: m["from"] == viewers[0].id))["on"] is False
        for v in viewers[1:]:
            assert (await v.expect("leave"))["from"] == viewers[0].id
        await sharer.ws.close()  # the sharer vanishes: its share ends for everyone
        for v in viewers[1:]:
            assert await v.expect("sharing", lambda m: m["from"] == sharer.id and not m["on"])
            assert await v.expect("leave", lambda m: m["from"] == sharer.id)
            await v.ws.close()


async def test_bad_paths_and_origins_are_refused(srv: TandemServer) -> None:
    async with SignalClient.connect(srv.http_url, "a/b", join=False) as a:  # %2F: one segment, fine
        await a.join()
    url = srv.http_url.replace("http", "ws")
    from websockets.asyncio.client import connect

    async with connect(url + "/signal/a/b") as ws:
        await ws.wait_closed()
        assert ws.close_code == closecodes.BAD_REQUEST
    with pytest.raises(InvalidStatus):
        async with connect(url + "/signal/x", origin="http://evil.example"):  # type: ignore[arg-type]
            pass


# -- roles (accounts and share links) -----------------------------------------------------------


@pytest.fixture(scope="module")
def auth_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with running_server(tmp_path_factory.mktemp("signal-auth"), None, auth=True, env=ENV) as server:
        yield server


@pytest.fixture(scope="module")
def links(auth_srv: TandemServer) -> tuple[str, dict[str, str]]:
    owner = Http(auth_srv.http_url)
    owner.signup(f"owner-{uuid.uuid4().hex[:6]}", "correct horse battery")
    sid = owner.post("/api/sessions", json={"title": "share"}).json()["id"]
    tokens = {
        r: owner.post(f"/api/sessions/{sid}/links", json={"role": r}).json()["token"]
        for r in ("editor", "viewer")
    }
    return sid, tokens


async def test_a_viewer_may_watch_but_never_share_or_send_media(
    auth_srv: TandemServer, links: tuple[str, dict[str, str]]
) -> None:
    sid, tokens = links
    async with (
        SignalClient.connect(auth_srv.http_url, sid, token=tokens["editor"]) as editor,
        SignalClient.connect(auth_srv.http_url, sid, token=tokens["viewer"]) as viewer,
    ):
        assert viewer.welcome["you"]["role"] == "viewer"
        await viewer.send(type="share", on=True)
        assert (await viewer.expect("error"))["code"] == "forbidden"
        await viewer.send(type="offer", to="relay", stream=viewer.id, sdp=SDP_SEND)  # publish
        assert (await viewer.expect("error"))["code"] == "forbidden"
        await viewer.send(type="offer", to=editor.id, sdp=SDP_SEND)  # media to a browser
        assert (await viewer.expect("error"))["code"] == "forbidden"
        await editor.send(type="share", on=True)
        assert (await viewer.expect("sharing"))["from"] == editor.id
        await viewer.send(type="watch", to=editor.id)
        assert (await editor.expect("watch"))["from"] == viewer.id
        await viewer.send(type="offer", to=editor.id, sdp=SDP_RECV)  # a viewer's recvonly offer passes
        assert (await editor.expect("offer"))["from"] == viewer.id


async def test_no_credentials_are_refused(auth_srv: TandemServer, links: tuple[str, dict[str, str]]) -> None:
    sid, _ = links
    with pytest.raises(InvalidStatus):
        async with SignalClient.connect(auth_srv.http_url, sid, join=False):
            pass
    async with SignalClient.connect(auth_srv.http_url, sid, join=False, token="wrong") as bad:
        assert await bad.closed() == closecodes.UNAUTHORIZED


def test_turn_credentials_are_coturn_style() -> None:
    import base64
    import hashlib
    import hmac

    from signaling.ice import IceConfig

    ice = IceConfig(["stun:t.example:3478", "turn:t.example:3478"], "s3cret", 600)
    stun, turn = ice.servers_for("alice", now=1000)
    assert stun == {"urls": ["stun:t.example:3478"]}
    assert turn["username"] == "1600:alice"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1600:alice", hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert IceConfig([]).servers_for("bob") == []


def test_which_sdp_sends_media() -> None:
    from signaling.messages import sends_video

    assert sends_video(SDP_SEND)
    assert not sends_video(SDP_RECV)
    assert sends_video("v=0\r\nm=video 9 X 96\r\n")  # no direction: sendrecv
    assert not sends_video("v=0\r\nm=application 9 X 5000\r\n")
    assert sends_video(SDP_RECV + "m=audio 9 X 111\r\na=sendrecv\r\n")
    assert not sends_video("v=0\na=recvonly\nm=video 9 X 96\n")  # the session-level direction
    assert sends_video("v=0\na=recvonly\nm=video 9 X 96\na=sendonly\n")  # the section's wins


# Offers that read as "receive only" to a lax parser and as "send" to a browser.
CRAFTED_SENDING = {
    # Port 0 + bundle-only is a live bundled section (RFC 8843), not a rejected one.
    "bundle-only port 0": SDP_RECV + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=sendonly\r\n",
    "port 0": "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n",
    # A browser keeps `x\x0ba=recvonly` as one unknown line: the section stays sendrecv.
    "vertical tab": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\x0ba=recvonly\r\n",
    "form feed": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\x0ca=recvonly\r\n",
    "U+2028": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\u2028a=recvonly\r\n",
    "NEL": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\x85a=recvonly\r\n",
    "lone CR": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\ra=recvonly\r\n",
    "trailing space": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly \r\n",
    "two directions": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=recvonly\r\n",
    "NUL": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\x00\r\n",
}


@pytest.mark.parametrize("name", sorted(CRAFTED_SENDING))
def test_crafted_sdp_is_never_read_as_receive_only(name: str) -> None:
    from signaling.errors import MessageError
    from signaling.messages import sends_video

    try:
        assert sends_video(CRAFTED_SENDING[name])
    except MessageError:
        pass  # refused as malformed: as good


async def test_a_viewer_cannot_send_media_with_a_crafted_offer(
    auth_srv: TandemServer, links: tuple[str, dict[str, str]]
) -> None:
    sid, tokens = links
    async with SignalClient.connect(auth_srv.http_url, sid, token=tokens["editor"]) as editor:
        await editor.send(type="share", on=True)
        for name, sdp in CRAFTED_SENDING.items():
            # A fresh viewer per offer (TANDEM_SIGNAL_MAX_ERRORS=5 would close a reused one).
            async with SignalClient.connect(auth_srv.http_url, sid, token=tokens["viewer"]) as viewer:
                # To the sharer's browser, and to the relay as a "viewer" offer: refused both ways.
                await viewer.send(type="offer", to=editor.id, sdp=sdp)
                assert (await viewer.expect("error"))["code"] in ("forbidden", "bad_message"), name
                await viewer.send(type="offer", to="relay", stream=editor.id, sdp=sdp)
                assert (await viewer.expect("error"))["code"] in ("forbidden", "bad_message"), name
        # The honest recvonly offer still passes, and it is the first offer the editor sees.
        async with SignalClient.connect(auth_srv.http_url, sid, token=tokens["viewer"]) as viewer:
            await viewer.send(type="offer", to=editor.id, sdp=SDP_RECV)
            offer = await editor.expect("offer")
            assert offer["from"] == viewer.id and offer["sdp"] == SDP_RECV
