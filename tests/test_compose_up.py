"""docker-compose.yml really starts: the images built locally (`scripts/build-images.sh`, no
registry), the app image built again by compose's own `build:` (`up --build`, the same
Dockerfile: its layers are reused), the production shape brought up (two app nodes, Redis,
PostgreSQL, nginx), and through
nginx a user signs up, makes a session and edits it with the official y-websocket client, while
pycrdt clients on each node see every edit; the nodes see each client's own address.

Run alone: `pytest -m compose`. A cold build takes minutes (debootstrap, apt, npm ci, pip);
unchanged images are kept (content-hash labels), so later runs only start containers.

The app's build stages reach npm's and pip's registries over the host's network; when the host
names a CA bundle (SSL_CERT_FILE, PIP_CERT: a TLS-intercepting proxy), it is put in deploy/ca/ for
the build as deploy/ca/README.md says, and taken out afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pycrdt import Text
from websockets.asyncio.client import connect

from sandbox import TEST_IMAGE
from tests.access_client import Http, YClient
from tests.nodeclient import ensure_node_packages, run_node
from tests.support import ROOT, free_port, wait_until
from tests.termclient import ensure_engine_and_image, remove_containers, term_client
from tests.test_build_images import bi as build_images
from tests.test_scaleout_compose import _compose_command

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.compose,
    pytest.mark.docker,
    pytest.mark.node,
    pytest.mark.timeout(2400),
]

SERVICES = ("app1", "app2", "proxy", "redis", "postgres")


@dataclass
class Stack:
    base: str  # the proxy, as a user reaches it
    compose: list[str]
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [*self.compose, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{' '.join(args)}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def container(self, service: str) -> str:
        (cid,) = self.run("ps", "-q", service).split()
        return cid

    def inspect(self, service: str) -> dict[str, Any]:
        out = subprocess.run(
            ["docker", "inspect", self.container(service)], capture_output=True, text=True, check=True
        ).stdout
        return json.loads(out)[0]  # type: ignore[no-any-return]

    def health(self, service: str) -> str:
        return str(self.inspect(service)["State"].get("Health", {}).get("Status", "none"))

    def address(self, service: str) -> str:
        (net,) = self.inspect(service)["NetworkSettings"]["Networks"].values()
        return str(net["IPAddress"])


@pytest.fixture(scope="module")
def build_ca() -> Iterator[None]:
    """The host's CA bundle in deploy/ca/ while the images build (an operator's `cp`)."""
    ca_dir = ROOT / "deploy" / "ca"
    if any(p.suffix in (".crt", ".pem") for p in ca_dir.iterdir()):
        yield  # the operator's own
        return
    named = os.environ.get("SSL_CERT_FILE") or os.environ.get("PIP_CERT")
    if not named or not Path(named).is_file():
        yield
        return
    staged = ca_dir / "compose-test-host.crt"
    shutil.copyfile(named, staged)
    try:
        yield
    finally:
        staged.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def images(build_ca: None) -> None:
    """Build (or find, by content hash) every image the compose file names."""
    assert shutil.which("docker"), "docker is not installed (scripts/test.sh installs it)"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/build-images.sh")], capture_output=True, text=True, timeout=2400
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for tag in ("tandem:latest", "tandem-postgres:latest", "tandem-redis:latest", "tandem-nginx:latest"):
        assert tag in result.stdout, result.stdout


def test_unchanged_images_are_not_rebuilt(images: None) -> None:
    """Every image carries the hash of what it is made from: a second build finds them all."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/build-images.sh")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {row[0]: row[1] for row in rows} == {
        "tandem-debian:bookworm": "cached",
        "tandem:latest": "cached",
        "tandem-postgres:latest": "cached",
        "tandem-redis:latest": "cached",
        "tandem-nginx:latest": "cached",
    }


@pytest.fixture(scope="module")
def stack(images: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    anyio.run(ensure_engine_and_image)
    instance = f"compose-{uuid.uuid4().hex[:8]}"
    data = tmp_path_factory.mktemp("compose") / "data"
    data.mkdir()
    os.chown(data, 1000, 1000)  # the app image's user
    port = free_port()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"tandemtest{uuid.uuid4().hex[:8]}",
        "TANDEM_HTTP_PORT": str(port),
        "TANDEM_DATA_DIR": str(data),
        "TANDEM_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TANDEM_SANDBOX": "docker",  # terminals on this host's engine, the busybox test image
        "POSTGRES_PASSWORD": uuid.uuid4().hex,
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
    }
    for name in ("TANDEM_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE", "NGINX_IMAGE"):
        env.pop(name, None)  # the compose file's defaults: the images just built
    # The nodes' terminals: the small busybox image, labelled for cleanup; no loop-mounted quota
    # (it needs root, the app is uid 1000).
    override = data.parent / "terminals.yml"
    sandbox = {
        "TANDEM_SANDBOX_IMAGE": TEST_IMAGE,
        "TANDEM_SANDBOX_INSTANCE": instance,
        "TANDEM_WORKSPACE_QUOTA": "off",
    }
    override.write_text(json.dumps({"services": {n: {"environment": sandbox} for n in ("app1", "app2")}}))
    compose = [*_compose_command(), "-f", str(ROOT / "docker-compose.yml"), "-f", str(override)]
    # The same apt options build-images.sh passed: the same build arguments reuse its layers.
    env["TANDEM_APT_OPTIONS"] = build_images.apt_options()
    env.pop("TANDEM_BASE_IMAGE", None)
    stack = Stack(f"http://127.0.0.1:{port}", compose, env)
    try:
        # As the README says: compose builds the app image itself (`build:`), then starts.
        up = subprocess.run(
            [*compose, "up", "-d", "--build"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Building app1" in up.stdout + up.stderr, up.stdout + up.stderr
        wait_until(
            lambda: all(stack.health(s) == "healthy" for s in SERVICES),
            timeout=240,
            what="every service healthy",
        )
        yield stack
    finally:
        logs = subprocess.run(
            [*stack.compose, "logs", "--tail", "40"], env=env, cwd=ROOT, capture_output=True
        )
        print(logs.stdout.decode(errors="replace")[-6000:])
        stack.run("down", "-v", "--remove-orphans", timeout=300)
        anyio.run(remove_containers, instance)
        shutil.rmtree(data.parent, ignore_errors=True)


def test_every_service_healthy_and_healthz_through_the_proxy(stack: Stack) -> None:
    assert {s: stack.health(s) for s in SERVICES} == dict.fromkeys(SERVICES, "healthy")
    r = httpx.get(f"{stack.base}/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert httpx.get(f"{stack.base}/metrics", timeout=10).status_code == 404  # the proxy keeps it in
    page = httpx.get(f"{stack.base}/", timeout=10)
    assert page.status_code == 200 and "Tandem" in page.text
    # The app runs unprivileged.
    user = subprocess.run(
        ["docker", "exec", stack.container("app1"), "id", "-u"], capture_output=True, text=True, check=True
    )
    assert user.stdout.strip() == "1000"
    # ...and reaches the engine through the socket's group (DOCKER_GID), as sandboxes need.
    ping = subprocess.run(
        ["docker", "exec", stack.container("app1"), "python", "-c", ENGINE_PING],
        capture_output=True,
        text=True,
    )
    assert ping.stdout.strip() == "OK", ping.stdout + ping.stderr


def test_the_app_image_has_pg_dump_and_no_build_tools_or_ca(stack: Stack) -> None:
    """The runtime stage only: pg_dump for backups; no Node, npm, compiler, pip or build CA."""
    app = stack.container("app1")
    dump = subprocess.run(["docker", "exec", app, "pg_dump", "--version"], capture_output=True, text=True)
    assert dump.returncode == 0 and "PostgreSQL" in dump.stdout, dump.stdout + dump.stderr
    probe = (
        "for t in node npm gcc cc pip pip3; do command -v $t; done; ls -d /build-ca* /src 2>/dev/null; true"
    )
    found = subprocess.run(["docker", "exec", app, "sh", "-c", probe], capture_output=True, text=True)
    assert found.stdout.strip() == "", found.stdout
    # The nodes run the image compose's `up --build` (re)built and tagged.
    running = stack.inspect("app1")["Image"]
    built = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", "tandem:latest"], capture_output=True, text=True
    ).stdout.strip()
    assert built == running


ENGINE_PING = """
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/var/run/docker.sock")
s.sendall(b"GET /_ping HTTP/1.0\\r\\n\\r\\n")
print(s.recv(4096).split(b"\\r\\n\\r\\n", 1)[1].decode())
"""


@asynccontextmanager
async def on_node(stack: Stack, service: str, sid: str, cookie: str):  # type: ignore[no-untyped-def]
    """A pycrdt client on one node, straight to its container (Host: its service name, which the
    compose file allows), so which node it is on is known."""
    url = f"ws://{service}:8000/yjs/{sid}"
    headers = {"cookie": cookie}
    async with connect(url, host=stack.address(service), port=8000, additional_headers=headers) as ws:
        client = YClient(ws)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.run)
            with anyio.fail_after(30):
                await client.synced.wait()
            yield client
            tg.cancel_scope.cancel()


async def text_becomes(client: YClient, predicate: Any, timeout: float = 30) -> str:
    with anyio.fail_after(timeout):
        while not predicate(text := str(client.doc.get("t", type=Text))):
            await anyio.sleep(0.02)
    return text


async def test_signup_session_and_yjs_across_both_nodes(stack: Stack) -> None:
    ensure_node_packages()
    owner = Http(stack.base)
    owner.signup("owner", "correct horse battery")
    sid = str(owner.post("/api/sessions", json={"title": "compose"}).json()["id"])
    link = owner.post(f"/api/sessions/{sid}/links", json={"role": "editor"})
    assert link.status_code == 201, link.text
    token = link.json()["token"]
    cookie = owner.cookie_header()

    async with on_node(stack, "app1", sid, cookie) as a, on_node(stack, "app2", sid, cookie) as b:
        # The official client, through nginx (either node): both nodes get its edit.
        ws_base = stack.base.replace("http", "ws") + "/yjs"
        await anyio.to_thread.run_sync(
            lambda: run_node(
                "client.mjs", "write", "--url", ws_base, "--room", sid, "--token", token, "--text", "PROXY "
            )
        )
        await text_becomes(a, lambda t: "PROXY" in t)
        await text_becomes(b, lambda t: "PROXY" in t)
        # An edit on one node is seen on the other, both ways.
        await a.edit(lambda d: d.get("t", type=Text).insert(0, "ONE "))
        await text_becomes(b, lambda t: "ONE" in t)
        await b.edit(lambda d: d.get("t", type=Text).insert(0, "TWO "))
        final = await text_becomes(a, lambda t: "TWO" in t)
        assert sorted(final.split()) == ["ONE", "PROXY", "TWO"]

    # A fresh official client through the proxy reads the whole document.
    result = await anyio.to_thread.run_sync(
        lambda: run_node(
            "client.mjs",
            "read",
            "--url",
            ws_base,
            "--room",
            sid,
            "--token",
            token,
            "--expect-length",
            str(len(final)),
        )
    )
    assert sorted(result["text"].split()) == ["ONE", "PROXY", "TWO"]


async def test_a_terminal_opens_through_the_proxy(stack: Stack) -> None:
    owner = Http(stack.base)
    owner.signup("shell", "correct horse battery")
    sid = str(owner.post("/api/sessions", json={"title": "terminal"}).json()["id"])
    url = stack.base.replace("http", "ws") + f"/term/{sid}/main"
    async with term_client(url, additional_headers={"cookie": owner.cookie_header()}) as term:
        out = await term.run("echo compose-$((6 * 7))", "compose-42", within=60)
        # The sandbox's /workspace is the session's directory on the host (the data directory
        # sits at the same path inside the nodes and out): a file written in the terminal is there.
        await term.run("echo from-the-terminal > probe.txt; echo wrote-$((1 + 1))", "wrote-2", within=60)
    assert b"compose-42" in out
    data = Path(stack.env["TANDEM_DATA_DIR"])
    found = [p for p in data.rglob("probe.txt") if sid in str(p)]
    assert [p.read_text() for p in found] == ["from-the-terminal\n"], list(data.rglob("*"))[:50]


LOGIN_FROM_CONTAINER = """
import http.cookiejar, json, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
head = {"Host": "localhost"}
csrf_url = urllib.request.Request("http://proxy/api/auth/csrf", headers=head)
csrf = json.load(opener.open(csrf_url))["csrf_token"]
body = json.dumps({"username": "limited", "password": "wrong password"}).encode()
req = urllib.request.Request("http://proxy/api/auth/login", data=body, headers={
    **head, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
try:
    print(opener.open(req).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


def test_the_nodes_see_each_clients_own_address(stack: Stack) -> None:
    """nginx overwrites X-Forwarded-For with the peer's address and the nodes trust it
    (TANDEM_TRUSTED_PROXIES): failed logins lock this client's address even when it claims
    another each time, and leave a client at another address alone."""
    user = Http(stack.base)
    user.signup("limited", "correct horse battery")
    codes: list[int] = []
    for i in range(40):
        r = user.post(
            "/api/auth/login",
            json={"username": "limited", "password": "wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
        )
        codes.append(r.status_code)
        if codes[-4:] == [429] * 4:  # locked on every node (round robin)
            break
    assert codes[0] == 401 and codes[-4:] == [429] * 4, codes
    # From the app1 container (another address on the compose network), through the proxy.
    other = subprocess.run(
        ["docker", "exec", stack.container("app1"), "python", "-c", LOGIN_FROM_CONTAINER],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.stdout.strip() == "401", other.stdout + other.stderr


async def test_a_killed_node_loses_nothing_acknowledged(stack: Stack) -> None:
    """Last (it kills app1): an edit acknowledged by both nodes survives app1's death; nginx sends
    every new client to app2, where the official client reads it and writes on."""
    ensure_node_packages()
    owner = Http(stack.base)
    owner.signup("survivor", "correct horse battery")
    sid = str(owner.post("/api/sessions", json={"title": "kill"}).json()["id"])
    token = owner.post(f"/api/sessions/{sid}/links", json={"role": "editor"}).json()["token"]
    cookie = owner.cookie_header()
    ws_base = stack.base.replace("http", "ws") + "/yjs"
    async with on_node(stack, "app2", sid, cookie) as b:
        async with on_node(stack, "app1", sid, cookie) as a:
            await a.edit(lambda d: d.get("t", type=Text).insert(0, "BEFORE "))
            await text_becomes(b, lambda t: "BEFORE" in t)  # app2 has it: acknowledged
            subprocess.run(["docker", "kill", stack.container("app1")], check=True, capture_output=True)
            with anyio.fail_after(30):
                await a.closed.wait()
        for _ in range(4):  # round robin: every request lands on the live node
            assert httpx.get(f"{stack.base}/healthz", timeout=10).status_code == 200
        await anyio.to_thread.run_sync(
            lambda: run_node(
                "client.mjs", "write", "--url", ws_base, "--room", sid, "--token", token, "--text", "AFTER"
            )
        )
        final = await text_becomes(b, lambda t: "AFTER" in t)
    assert final == "BEFORE AFTER"
