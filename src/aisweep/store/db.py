"""The results store: runs, services, findings and capped observations in SQLite (default) or PostgreSQL,
written as results stream in and committed at least every second, so a killed run keeps what it found."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aisweep import __version__
from aisweep.errors import StoreError
from aisweep.store.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    bodies,
    findings,
    metadata,
    observations,
    runs,
    services,
)

_SQLITE_SERVICE = (
    "INSERT INTO services (run_id, position, host, port, scheme, hostname, product, version, version_confidence,"
    " auth_tier, confidence, record) VALUES (:run_id, :position, :host, :port, :scheme, :hostname, :product,"
    " :version, :version_confidence, :auth_tier, :confidence, :record) ON CONFLICT (run_id, host, port) DO NOTHING"
)
# Column order of the finding and observation rows built in `add_service` (after run_id, service_id is inserted).
_FINDING_COLUMNS = ("finding_id", "severity", "control", "title", "evidence", "remediation", "fingerprint")
_OBSERVATION_COLUMNS = (
    "method",
    "path",
    "outcome",
    "status",
    "headers",
    "body",
    "truncated",
    "elapsed_ms",
    "body_sha",
)


def _sqlite_insert(table: str, columns: tuple[str, ...]) -> str:
    names = ("run_id", "service_id", *columns)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


_SQLITE_FINDING = _sqlite_insert("findings", _FINDING_COLUMNS)
_SQLITE_OBSERVATION = _sqlite_insert("observations", _OBSERVATION_COLUMNS)
_SQLITE_BODY = "INSERT INTO bodies (sha256, body) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING"
_COMMIT_SECONDS = 1.0
_COMMIT_ROWS = 500


def database_url(path_or_url: str) -> str:
    if "://" in path_or_url:
        return path_or_url
    return f"sqlite:///{Path(path_or_url).expanduser()}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    """Open (and migrate) a database; one writer per process."""

    def __init__(self, path_or_url: str = "aisweep.db") -> None:
        self.url = database_url(path_or_url)
        try:
            self.engine: Engine = sa.create_engine(self.url, future=True)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._migrate()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open results database {path_or_url}: {exc.__class__.__name__}: {exc}") from None
        self._conn: Connection | None = None
        self._pending = 0
        self._last_commit = time.monotonic()

    # -- schema ------------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT)")
            )
            current = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the database was written by a newer aisweep (schema {current} > {SCHEMA_VERSION}); upgrade"
                )
            for version, step in MIGRATIONS:
                if version > current:
                    step(conn)
                    conn.execute(
                        sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :t)"),
                        {"v": version, "t": _now()},
                    )

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() or 0)

    # -- writing -----------------------------------------------------------------------------------------------
    def _writer(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
            self._conn.begin()
        return self._conn

    def _maybe_commit(self, force: bool = False) -> None:
        if self._conn is None:
            return
        now = time.monotonic()
        if force or self._pending >= _COMMIT_ROWS or now - self._last_commit >= _COMMIT_SECONDS:
            self._conn.commit()
            self._conn.begin()
            self._pending = 0
            self._last_commit = now

    def start_run(self, command: str, targets: list[str], settings: dict[str, Any]) -> str:
        run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        with self.engine.begin() as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    started_at=_now(),
                    status="running",
                    command=command,
                    targets=json.dumps(targets[:1000]),
                    settings=json.dumps(settings),
                    counters="{}",
                    tool_version=__version__,
                )
            )
        return run_id

    def _insert(self, table: sa.Table) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def add_service(self, run_id: str, record: dict[str, Any]) -> int | None:
        """Store one service record (with its findings and observations); None when the run already has it."""
        conn = self._writer()
        target = record["target"]
        row = {
            "run_id": run_id,
            "position": record.get("position"),
            "host": target["host"],
            "port": target["port"],
            "scheme": target["scheme"],
            "hostname": target.get("hostname"),
            "product": record["product"],
            "version": record.get("version"),
            "version_confidence": record.get("version_confidence"),
            "auth_tier": record["auth"]["tier"],
            "confidence": record.get("confidence"),
            "record": json.dumps({k: v for k, v in record.items() if k != "observations"}),
        }
        finding_rows = [
            (
                run_id,
                f["id"],
                f["severity"],
                f["control"],
                f["title"],
                f["evidence"],
                f["remediation"],
                f["fingerprint"],
            )
            for f in record.get("findings") or ()
        ]
        observation_rows: list[tuple[Any, ...]] = []
        body_rows: list[tuple[str, bytes]] = []
        for o in record.get("observations") or ():
            body = o.get("body")
            if body is None and "body_b64" in o:
                body = base64.b64decode(o["body_b64"])
            sha = o.get("body_sha")
            if sha is not None and body is not None:
                body_rows.append((sha, body))  # the first sighting of this content: stored once in `bodies`
            headers = o["headers"]
            observation_rows.append(
                (
                    run_id,
                    o["method"],
                    o["path"],
                    o["outcome"],
                    o["status"],
                    headers if isinstance(headers, str) else json.dumps(headers),
                    b"" if sha is not None else (body or b""),
                    bool(o["truncated"]),
                    o["elapsed_ms"],
                    sha,
                )
            )
        if self.engine.dialect.name == "sqlite":
            service_id = self._add_sqlite(conn, row, finding_rows, observation_rows, body_rows)
        else:
            service_id = self._add_generic(conn, row, finding_rows, observation_rows, body_rows)
        if service_id is None:
            return None  # already stored (a resumed run reaching a target it had finished)
        self._pending += 1
        self._maybe_commit()
        return service_id

    @staticmethod
    def _add_sqlite(
        conn: Connection,
        row: dict[str, Any],
        finding_rows: list[tuple[Any, ...]],
        obs_rows: list[tuple[Any, ...]],
        body_rows: list[tuple[str, bytes]],
    ) -> int | None:
        """The SQLite path: plain DB-API statements inside the writer's transaction (SQLAlchemy's per-statement
        compilation costs more than the insert itself at thousands of services per second)."""
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(_SQLITE_SERVICE, row)
            if cur.rowcount != 1:
                return None
            service_id = int(cur.lastrowid)
            if finding_rows:
                cur.executemany(_SQLITE_FINDING, [(r[0], service_id, *r[1:]) for r in finding_rows])
            if body_rows:
                cur.executemany(_SQLITE_BODY, body_rows)
            if obs_rows:
                cur.executemany(_SQLITE_OBSERVATION, [(r[0], service_id, *r[1:]) for r in obs_rows])
        finally:
            cur.close()
        return service_id

    def _add_generic(
        self,
        conn: Connection,
        row: dict[str, Any],
        finding_rows: list[tuple[Any, ...]],
        obs_rows: list[tuple[Any, ...]],
        body_rows: list[tuple[str, bytes]],
    ) -> int | None:
        result = conn.execute(
            self._insert(services).values(**row).on_conflict_do_nothing(index_elements=["run_id", "host", "port"])
        )
        if not (result.inserted_primary_key and result.rowcount):
            return None
        service_id = int(result.inserted_primary_key[0])
        if finding_rows:
            conn.execute(findings.insert(), _rows(("run_id", *_FINDING_COLUMNS), finding_rows, service_id))
        for sha, body in body_rows:
            conn.execute(
                self._insert(bodies).values(sha256=sha, body=body).on_conflict_do_nothing(index_elements=["sha256"])
            )
        if obs_rows:
            conn.execute(observations.insert(), _rows(("run_id", *_OBSERVATION_COLUMNS), obs_rows, service_id))
        return service_id

    def update_counters(self, run_id: str, counters: dict[str, Any]) -> None:
        conn = self._writer()
        conn.execute(runs.update().where(runs.c.id == run_id).values(counters=json.dumps(counters)))
        self._maybe_commit()

    def save_checkpoint(self, run_id: str, checkpoint: dict[str, Any], counters: dict[str, Any]) -> None:
        """Store resume state and counters in the same transaction as the services written before them."""
        conn = self._writer()
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(checkpoint=json.dumps(checkpoint), counters=json.dumps(counters))
        )
        self._maybe_commit()

    def update_settings(self, run_id: str, settings: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(settings=json.dumps(settings)))

    def reopen_run(self, run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(status="running", finished_at=None))

    def finish_run(self, run_id: str, counters: dict[str, Any], status: str = "finished") -> None:
        conn = self._writer()
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(finished_at=_now(), status=status, counters=json.dumps(counters))
        )
        self._maybe_commit(force=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.commit()
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    # -- reading -----------------------------------------------------------------------------------------------
    def latest_run(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(runs.c.id).order_by(runs.c.started_at.desc(), runs.c.id.desc())).scalar()

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            return None
        info = dict(row)
        for key in ("targets", "settings", "counters", "checkpoint"):
            info[key] = json.loads(info[key] or "null")
        return info

    def service_records(self, run_id: str) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                sa.select(services.c.record).where(services.c.run_id == run_id).order_by(services.c.id)
            )
            for (text,) in result:
                yield json.loads(text)

    def count(self, table: str, run_id: str) -> int:
        tbl = metadata.tables[table]
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(tbl).where(tbl.c.run_id == run_id)).scalar() or 0
            )


def _rows(names: tuple[str, ...], rows: list[tuple[Any, ...]], service_id: int) -> list[dict[str, Any]]:
    return [dict(zip(names, r, strict=True), service_id=service_id) for r in rows]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages (default 2 MiB): index pages stay in memory
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
