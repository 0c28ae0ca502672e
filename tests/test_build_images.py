"""scripts/build_images.py's pure parts: the mirror it takes from the host's apt sources, the
content hash that decides whether an image is rebuilt and what goes into the app's.
(tests/test_compose_up.py builds the images for real.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.support import ROOT


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_images", ROOT / "scripts" / "build_images.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_images", module)
    spec.loader.exec_module(module)
    return module


bi = load()


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n# URIs: http://old.example/debian\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
    )
    assert bi.host_mirror([sources]) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources_with_options(tmp_path: Path) -> None:
    listed = tmp_path / "sources.list"
    listed.write_text(
        "deb http://mirror.example/debian-security bookworm-security main\n"
        "deb [signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert bi.host_mirror([tmp_path / "missing", listed]) == "http://one.example/debian"


def test_without_sources_the_sandbox_default_mirror(tmp_path: Path) -> None:
    from sandbox.images import DEFAULT_MIRROR

    assert bi.host_mirror([tmp_path / "missing"]) == DEFAULT_MIRROR


def test_content_hash_follows_names_contents_and_inputs(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "entrypoint.sh").write_text("#!/bin/sh\n")
    files = bi.dir_files(tmp_path)
    first = bi.hash_files(files, tmp_path, "base-id")
    assert bi.hash_files(list(reversed(files)), tmp_path, "base-id") == first  # order-free
    assert bi.hash_files(files, tmp_path, "other-base-id") != first
    (tmp_path / "entrypoint.sh").write_text("#!/bin/sh\nset -eu\n")
    assert bi.hash_files(files, tmp_path, "base-id") != first
    (tmp_path / "entrypoint.sh").rename(tmp_path / "start.sh")
    assert bi.hash_files(bi.dir_files(tmp_path), tmp_path, "base-id") != first


def test_app_sources_are_what_git_knows_without_the_built_bundle() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in bi.app_source_files()}
    assert "backend/app.py" in names and "requirements.lock" in names and "web/build.mjs" in names
    assert not any(n.startswith(("web/static/dist/", "web/node_modules/")) for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)  # tests do not rebuild the image
    assert "README.md" not in names


def test_app_inputs_are_the_dockerfile_the_sources_and_the_context_rules() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in bi.app_build_inputs()}
    assert {
        "deploy/images/app/Dockerfile",
        ".dockerignore",
        "backend/app.py",
        "web/package-lock.json",
    } <= names
    assert not any(n.startswith("deploy/ca/") for n in names)  # build-time trust, not image content
