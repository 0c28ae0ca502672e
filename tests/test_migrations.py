"""Schema migrations (Alembic) on real SQLite and PostgreSQL: a fresh database, a database made
before migrations existed (its rows survive), nodes upgrading at once, and models that agree with
the migrations (a model change without a revision fails here)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from backend.access.names import fold
from backend.access.passwords import hash_password
from backend.access.tokens import hash_token
from backend.settings import Settings
from backend.store import schema
from backend.store.database import make_engine
from tests.access_client import Http
from tests.support import ROOT, postgres_database, run_cli, running_server

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"
BLOB = bytes(range(256)) * 4  # a history row's Yjs update: must come back byte for byte


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (the URL an operator passes as --database-url)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tandem.db'}"
    else:
        with postgres_database() as found:
            yield found


def engine_of(url: str) -> Engine:
    return make_engine(Settings(database_url=url).resolved_database_url())


def make_old_database(engine: Engine, shape: str) -> None:
    """A database as an earlier release left it: its frozen DDL, no version table."""
    lines = (FIXTURES / f"schema_{shape}_{engine.dialect.name}.sql").read_text().splitlines()
    ddl = "\n".join(line for line in lines if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(str.strip, ddl.split(";\n")):
            conn.execute(text(statement))


def seed(engine: Engine) -> None:
    """Rows in the columns every earlier shape has: an account, its session, a link, a version."""
    when = "2026-01-01 00:00:00.000000" if engine.dialect.name == "sqlite" else "2026-01-01 00:00:00+00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account (id, username, password_hash, is_admin, created_at)"
                " VALUES ('acc1', 'alice', :hash, true, :at)"
            ),
            {"hash": hash_password(PASSWORD), "at": when},
        )
        conn.execute(
            text("INSERT INTO account_name_key (key, account_id) VALUES (:key, 'acc1')"),
            {"key": fold("alice")},
        )
        conn.execute(
            text(
                "INSERT INTO session (id, title, owner_id, created_at, updated_at)"
                " VALUES ('sess1', 'Old project', 'acc1', :at, :at)"
            ),
            {"at": when},
        )
        conn.execute(
            text(
                "INSERT INTO share_link (id, session_id, token_hash, role, created_by, created_at, uses)"
                " VALUES ('link1', 'sess1', :hash, 'EDITOR', 'acc1', :at, 3)"
            ),
            {"hash": hash_token("old-token"), "at": when},
        )
        conn.execute(
            text(
                "INSERT INTO session_version (session, created_at, kind, data, authors, files, note)"
                " VALUES ('sess1', :at, 'manual', :data, '[]', '[\"a.py\"]', 'before the upgrade')"
            ),
            {"at": when, "data": BLOB},
        )


def assert_rows_survived(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM account")).scalars().all() == ["alice"]
        assert conn.execute(text("SELECT title FROM session")).scalars().all() == ["Old project"]
        assert conn.execute(text("SELECT uses FROM share_link WHERE id = 'link1'")).scalar_one() == 3
        row = conn.execute(
            text("SELECT data, note, state, base_id, depth, chain_bytes, nbytes FROM session_version")
        ).one()
    assert bytes(row.data) == BLOB and row.note == "before the upgrade"
    # Old rows read as checkpoints: no state key, no base, depth 0, size computed on use.
    assert (row.state, row.base_id, row.depth, row.chain_bytes, row.nbytes) == (None, None, 0, 0, None)


def assert_at_head_and_matches_models(engine: Engine) -> None:
    assert schema.current(engine) == schema.head()
    diff = schema.differences(engine)
    assert diff == [], f"the database differs from the models (a model changed without a migration?): {diff}"


def test_a_fresh_database_is_made_by_the_migrations_exactly_as_the_models_declare(url: str) -> None:
    """The guard for future model changes: migrate an empty database to head, then compare it
    with the models (alembic's autogenerate comparison). A new column or table without a revision
    under backend/store/migrations/versions fails here."""
    engine = engine_of(url)
    try:
        assert schema.current(engine) is None
        schema.upgrade(engine)
        assert_at_head_and_matches_models(engine)
        schema.upgrade(engine)  # a second start changes nothing
        assert schema.current(engine) == schema.head()
    finally:
        engine.dispose()


@pytest.mark.parametrize("shape", ["previous", "older"])
def test_a_database_from_before_migrations_is_upgraded_by_the_cli_and_keeps_its_rows(
    url: str, shape: str, tmp_path: Path
) -> None:
    engine = engine_of(url)
    try:
        make_old_database(engine, shape)
        seed(engine)
        data = tmp_path / "data"
        before = run_cli(data, url, "db", "current", check=False)
        assert before.returncode == 1 and "unversioned" in before.stdout, before.stdout
        upgraded = run_cli(data, url, "db", "upgrade")
        assert f"upgraded unversioned -> {schema.head()}" in upgraded.stdout
        assert_rows_survived(engine)
        assert_at_head_and_matches_models(engine)
        after = run_cli(data, url, "db", "current")
        assert f"revision: {schema.head()}; this release: {schema.head()}" in after.stdout
    finally:
        engine.dispose()


def test_a_database_the_old_start_up_alter_upgraded_gets_the_models_constraint(url: str) -> None:
    """The old start-up code added `state` with a unique *index* to databases from before it; the
    models (and fresh databases) have a unique *constraint*: revision 0002 swaps one for the other,
    so every database ends the same, with its rows and still refusing a duplicate state."""
    engine = engine_of(url)
    try:
        make_old_database(engine, "older")
        with engine.begin() as conn:  # what backend/history/store.py's upgrade_schema did
            conn.execute(text("ALTER TABLE session_version ADD COLUMN state VARCHAR(64)"))
            conn.execute(
                text("CREATE UNIQUE INDEX uq_session_version_state ON session_version (session, state)")
            )
        seed(engine)
        assert schema.upgrade(engine) is None  # unversioned before
        assert_rows_survived(engine)
        assert_at_head_and_matches_models(engine)
        insert = text(
            "INSERT INTO session_version (session, created_at, kind, data, authors, files, note, state)"
            " VALUES ('sess1', '2026-01-02 00:00:00+00:00', 'auto', :data, '[]', '[]', '', 'k')"
        )
        with engine.begin() as conn:
            conn.execute(insert, {"data": b"x"})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"data": b"y"})
    finally:
        engine.dispose()


def test_a_server_started_on_an_old_database_upgrades_it_and_serves_its_data(
    url: str, tmp_path: Path
) -> None:
    engine = engine_of(url)
    try:
        make_old_database(engine, "older")
        seed(engine)
    finally:
        engine.dispose()
    with running_server(tmp_path / "data", url, auth=True) as server:
        http = Http(server.http_url)
        assert http.login("alice", PASSWORD).status_code == 200
        listed = http.get("/api/sessions").json()
        assert [s["title"] for s in listed] == ["Old project"]
        versions = http.get("/api/sessions/sess1/history").json()["versions"]
        assert [v["note"] for v in versions] == ["before the upgrade"]
        new = http.post("/api/sessions", json={"title": "After the upgrade"})
        assert new.status_code == 201, new.text
    engine = engine_of(url)
    try:
        assert_at_head_and_matches_models(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_nodes_upgrading_one_postgres_database_at_once_do_not_race() -> None:
    """Four `tandem db upgrade` processes released together on an empty database (as nodes of a
    fresh deployment start): without the advisory lock they collide on CREATE TYPE/TABLE."""
    with postgres_database() as url:
        script = (
            "import sys\n"
            "from backend.cli import main\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            f"sys.argv = ['tandem', 'db', 'upgrade', '--database-url', {url!r}]\n"
            "main()\n"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        for p in procs:  # every one has imported its modules and waits on its stdin
            assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        for p in procs:  # release them together
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
        assert sum("upgraded empty ->" in out for out in outputs) == 1, outputs  # the others found it done
        engine = engine_of(url)
        try:
            assert_at_head_and_matches_models(engine)
            assert "alembic_version" in inspect(engine).get_table_names()
        finally:
            engine.dispose()
