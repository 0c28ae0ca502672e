"""The wheel built from a clean checkout carries the front end, installs in a fresh venv and serves
a landing page whose every asset loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, TEST_THROTTLES, free_port, wait_until
from tests.test_ops_conventions import page_refs

pytestmark = pytest.mark.node  # the wheel build runs `node web/build.mjs`


def clean_checkout(dest: Path) -> Path:
    """The files git knows (committed or not, ignored ones left out: no web/static/dist), with the
    pinned npm packages linked in as `npm ci` would have put them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    assert not (dest / "web/static/dist").exists()
    (dest / "web/node_modules").symlink_to((ROOT / "web/node_modules").resolve())
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("tandem-*.whl")
    return wheel


def fresh_venv(path: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed; its dependencies come from this test's environment
    through a path line (not an install: bounded in time, no registry)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    py = path / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Appended after the venv's own site-packages, and without running that directory's .pth files,
    # so the checkout's editable install stays invisible and `backend` resolves to the wheel.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    return path


def test_wheel_from_a_clean_checkout_serves_its_pages(tmp_path: Path) -> None:
    wheel = build_wheel(clean_checkout(tmp_path / "src"), tmp_path / "out")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("web/static/dist/manifest.json"))
    for key, built in manifest.items():
        if not key.startswith("_"):
            assert f"web/static/dist/{built}" in names, built
    assert not any("node_modules" in n for n in names)
    # The schema migrations ship in the package (`tandem serve` below runs them from the wheel).
    shipped = {"env.py", "script.py.mako", "versions/0001_baseline.py"}
    assert {f"backend/store/migrations/{name}" for name in shipped} <= names

    venv = fresh_venv(tmp_path / "venv", wheel)
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import backend; print(backend.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where
    version = subprocess.run(
        [str(venv / "bin/tandem"), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert version.stdout.startswith("tandem "), version.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TANDEM_SANDBOX": "off", **TEST_THROTTLES}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - the child owns it
    args = ["serve", "--no-auth", "--port", str(port), "--data", str(tmp_path / "data")]
    proc = subprocess.Popen(
        [str(venv / "bin/tandem"), *args], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    log.close()
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "serve.log").read_text())
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=90, what="the installed tandem to answer /healthz")
        page = httpx.get(base + "/", timeout=10)
        assert page.status_code == 200
        refs = [r for r in page_refs(page.text) if r.startswith("/")]
        scripts = [r for r in refs if r.endswith(".js")]
        assert any("/static/dist/landing-" in r for r in scripts), refs
        for ref in refs:
            assert httpx.get(base + ref, timeout=30).status_code == 200, ref
        # The chunks a script imports are in the wheel too: the landing bundle and the room's.
        for key in ("landing.js", "room.js", "app.css"):
            assert httpx.get(f"{base}/static/dist/{manifest[key]}", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    current = subprocess.run(
        [str(venv / "bin/tandem"), "db", "current", "--data", str(tmp_path / "data")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert current.returncode == 0 and "revision: " in current.stdout, current.stdout + current.stderr


def test_a_wheel_without_node_or_a_bundle_fails_loudly(tmp_path: Path) -> None:
    src = clean_checkout(tmp_path / "src")
    (src / "web/node_modules").unlink()
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path / "out")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "PATH": str(empty)},  # no node
    )
    assert result.returncode != 0
    assert "web/static/dist is missing and cannot be built" in result.stdout + result.stderr
    assert not list(tmp_path.glob("out/*.whl"))
