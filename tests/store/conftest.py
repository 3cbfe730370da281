"""Store fixtures: a throwaway PostgreSQL server on 127.0.0.1 for the tests that run on both databases.

`AISWEEP_TEST_POSTGRES=postgresql+psycopg://user@host:port/` uses a server you run instead (each test gets a new
database on it). Without one, the fixture starts its own from the installed PostgreSQL binaries, and skips with the
reason when they or the driver (`pip install 'aisweep[postgres]'`) are missing."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from aisweep.store.db import Store
from tests.conftest import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server URL without a database name."""
    given = os.environ.get("AISWEEP_TEST_POSTGRES")
    if given:
        yield given.rstrip("/") + "/"
        return
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed (pip install 'aisweep[postgres]')")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin)")
    as_user: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="aisweep-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as its own account
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(data)
            pytest.skip("running as root and there is no `postgres` account to run PostgreSQL as")
        os.chown(data, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data / "db"), "-U", "aisweep", "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace').strip()[-300:]}")
    try:
        yield f"postgresql+psycopg://aisweep@127.0.0.1:{port}/"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the test server."""
    name = "aisweep_" + secrets.token_hex(4)
    admin = sa.create_engine(postgres_server + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield postgres_server + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@dataclass(frozen=True)
class Backend:
    """One database and insert path the store supports."""

    name: str  # sqlite (its DB-API fast path), sqlite-generic (the SQLAlchemy path PostgreSQL takes), postgresql
    url: str

    def open(self) -> Store:
        store = Store(self.url)
        if self.name == "sqlite-generic":
            store._add_sqlite = store._add_generic  # type: ignore[method-assign]
        return store


@pytest.fixture(params=["sqlite", "sqlite-generic", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A new, empty database for each store backend and insert path."""
    if request.param == "postgresql":
        return Backend("postgresql", str(request.getfixturevalue("postgres_url")))
    return Backend(str(request.param), f"sqlite:///{tmp_path / 'store.db'}")
