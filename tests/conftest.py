from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import TandemServer, postgres_database, running_server
from tests.termclient import unmount_under


def _unmount_test_workspaces() -> None:
    """Quota images a killed test server left mounted under pytest's temporary directories
    would make pytest's own clean-up of old runs fail (EBUSY): unmount them, before and after."""
    import tempfile

    base = Path(tempfile.gettempdir())
    for tmp in base.glob("pytest-of-*"):
        unmount_under(tmp)


def pytest_sessionstart(session: pytest.Session) -> None:
    _unmount_test_workspaces()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _unmount_test_workspaces()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'tandem.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    """One real server per module and database, shared by its tests (each uses its own rooms)."""
    with running_server(tmp_path_factory.mktemp("data"), database_url) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TandemServer]:
    """A real server with accounts and share links (no `--no-auth`), one per module and database."""
    with running_server(tmp_path_factory.mktemp("data"), database_url, auth=True) as srv:
        yield srv


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
