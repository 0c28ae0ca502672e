"""`scripts/install.sh` skips pip, npm and the front-end build while their inputs are unchanged,
and re-runs exactly the step whose inputs changed. The script runs for real on a copy of the
project's files; pip, npm and node are stand-ins that log their calls (the point is the script's
decisions; the real installs are exercised by the fresh-machine test)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support import ROOT

FAKE_PYTHON = """#!/bin/sh
case "$*" in
  -VV) echo "Python 3.11.2 (fake)";;
  -c*) ;;
  *) echo "python $*" >> "$CALLS";;
esac
"""
FAKE_NODE = """#!/bin/sh
case "$*" in
  --version) echo v18.19.0;;
  *) echo "node $*" >> "$CALLS"; mkdir -p static/dist; echo {} > static/dist/manifest.json;;
esac
"""
FAKE_NPM = """#!/bin/sh
echo "npm $*" >> "$CALLS"
mkdir -p node_modules
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", root / "scripts" / "install.sh")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(ROOT / "requirements.lock", root / "requirements.lock")
    web = root / "web"
    shutil.copytree(ROOT / "web" / "src", web / "src")
    for name in ("package.json", "package-lock.json", "build.mjs"):
        shutil.copy(ROOT / "web" / name, web / name)
    for name, text in ((".venv/bin/python", FAKE_PYTHON), ("bin/node", FAKE_NODE), ("bin/npm", FAKE_NPM)):
        path = (root if name.startswith(".venv") else tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return root


def _install(root: Path, tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls.log"
    calls.write_text("")
    env = {**os.environ, "CALLS": str(calls), "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    env.pop("TANDEM_FORCE_INSTALL", None)
    done = subprocess.run(
        ["bash", "scripts/install.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [line.split()[0] + " " + line.split()[1] for line in calls.read_text().splitlines()]


def test_second_install_skips_everything_and_a_change_reinstalls_its_step(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = _install(root, tmp_path)
    # `import backend` is how install.sh checks the package is really installed; the fake says no.
    assert "python -m" in first and "npm ci" in first and "node build.mjs" in first
    (root / ".venv" / "bin" / "python").write_text(
        FAKE_PYTHON.replace('*) echo "python', '-c) ;; *) echo "python')
    )
    assert _install(root, tmp_path) == [], "nothing changed: nothing reinstalled"
    with (root / "web" / "src" / "app.css").open("a") as f:
        f.write("/* a change */\n")
    assert _install(root, tmp_path) == ["node build.mjs"]
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# a change\n")
    assert [c for c in _install(root, tmp_path) if not c.startswith("python -c")] == [
        "python -m",
        "python -m",
    ]
    with (root / "requirements.lock").open("a") as f:  # a new lock re-installs the Python packages
        f.write("# a change\n")
    assert [c for c in _install(root, tmp_path) if not c.startswith("python -c")] == [
        "python -m",
        "python -m",
    ]
    lock = root / "web" / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    assert _install(root, tmp_path) == ["npm ci", "node build.mjs"]
