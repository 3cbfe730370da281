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
from aisweep.store.schema import MIGRATIONS, SCHEMA_VERSION, findings, metadata, observations, runs, services

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
        conn = self._writer()
        target = record["target"]
        row = conn.execute(
            self._insert(services)
            .values(
                run_id=run_id,
                position=record.get("position"),
                host=target["host"],
                port=target["port"],
                scheme=target["scheme"],
                hostname=target.get("hostname"),
                product=record["product"],
                version=record.get("version"),
                version_confidence=record.get("version_confidence"),
                auth_tier=record["auth"]["tier"],
                confidence=record.get("confidence"),
                record=json.dumps({k: v for k, v in record.items() if k != "observations"}),
            )
            .on_conflict_do_nothing(index_elements=["run_id", "host", "port"])
        )
        service_id = row.inserted_primary_key[0] if row.inserted_primary_key and row.rowcount else None
        if service_id is None:
            return None  # already stored (a resumed run reaching a target it had finished)
        if record.get("findings"):
            conn.execute(
                findings.insert(),
                [
                    {
                        "run_id": run_id,
                        "service_id": service_id,
                        "finding_id": f["id"],
                        "severity": f["severity"],
                        "control": f["control"],
                        "title": f["title"],
                        "evidence": f["evidence"],
                        "remediation": f["remediation"],
                        "fingerprint": f["fingerprint"],
                    }
                    for f in record["findings"]
                ],
            )
        if record.get("observations"):
            conn.execute(
                observations.insert(),
                [
                    {
                        "run_id": run_id,
                        "service_id": service_id,
                        "method": o["method"],
                        "path": o["path"],
                        "outcome": o["outcome"],
                        "status": o["status"],
                        "headers": json.dumps(o["headers"]),
                        "body": base64.b64decode(o["body_b64"]),
                        "truncated": bool(o["truncated"]),
                        "elapsed_ms": o["elapsed_ms"],
                    }
                    for o in record["observations"]
                ],
            )
        self._pending += 1
        self._maybe_commit()
        return int(service_id)

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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
