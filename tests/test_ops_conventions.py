"""Ops conventions: `tandem --version`, process/platform metrics and build info, the API docs
served without a CDN and carrying the package's version, a CHANGELOG."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import ROOT, TandemServer, running_server
from tests.test_ops_metrics import scrape

VERSION = version("tandem")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    with running_server(tmp_path_factory.mktemp("conventions"), None) as server:
        yield server


class _Refs(HTMLParser):
    """Every URL a page makes the browser load: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href", "spec-url"):
            if a.get(key) and (tag != "a"):
                self.urls.append(a[key] or "")


def page_refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    # Swagger UI's bundle is started by an inline script naming the document it loads.
    parser.urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    return parser.urls


def test_version_flag_prints_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"tandem {VERSION} ")


def test_process_platform_gc_and_build_metrics(server: TandemServer) -> None:
    samples = scrape(server.http_url)
    assert samples["process_resident_memory_bytes"] > 0
    assert samples["process_open_fds"] > 0
    assert samples["process_cpu_seconds_total"] >= 0
    assert any(k.startswith("python_info{") for k in samples)
    assert any(k.startswith("python_gc_collections_total{") for k in samples)
    build = [k for k in samples if k.startswith("tandem_build_info{")]
    assert len(build) == 1
    assert f'version="{VERSION}"' in build[0]
    assert f'pycrdt="{version("pycrdt")}"' in build[0]
    assert f'python="{sys.version_info.major}.{sys.version_info.minor}.' in build[0]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_another_origin(server: TandemServer, path: str) -> None:
    r = httpx.get(server.http_url + path, timeout=10)
    assert r.status_code == 200
    refs = page_refs(r.text)
    assert len(refs) >= 2, refs  # the script and the OpenAPI document at least
    for ref in refs:
        parts = urlsplit(ref)
        assert not parts.scheme and not parts.netloc, f"{path} loads {ref} from another origin"
        asset = httpx.get(server.http_url + ref, timeout=30)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    assert "//" not in re.sub(r"<!--.*?-->", "", r.text, flags=re.S).replace("http://www.w3", "")


def test_openapi_carries_the_package_version(server: TandemServer) -> None:
    info = httpx.get(server.http_url + "/openapi.json", timeout=10).json()["info"]
    assert info["title"] == "Tandem"
    assert info["version"] == VERSION


def test_changelog_has_unreleased_and_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert headings[0] == "Unreleased"
    assert VERSION in headings
    assert Path(ROOT / "LICENSE").exists()
