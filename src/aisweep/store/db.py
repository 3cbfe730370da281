"""The results store: runs, services, findings and capped observations in SQLite (default) or PostgreSQL,
written as results stream in and committed at least every second, so a killed run keeps what it found. Response
bodies and the texts findings share across services are stored once."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeGuard

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
    texts,
)

_SQLITE_SERVICE = (
    "INSERT INTO services (run_id, position, host, port, scheme, hostname, product, version, version_confidence,"
    " auth_tier, confidence, record) VALUES (:run_id, :position, :host, :port, :scheme, :hostname, :product,"
    " :version, :version_confidence, :auth_tier, :confidence, :record) ON CONFLICT (run_id, host, port) DO NOTHING"
)
# A finding's keys as `Finding.to_dict` writes them, in its order. When every finding of a record has exactly these
# keys with string values, the findings table is their one copy and the record JSON keeps only their number;
# findings of any other shape stay in the record JSON (as they all did before schema 5), so every record reads
# back as it was written.
_FINDING_KEYS = ("id", "severity", "title", "category", "control", "evidence", "remediation", "fingerprint")
# Texts shorter than this stay in their row: a reference and a lookup would save next to nothing.
_SHORT_TEXT = 24
_TEXT_CACHE = 20_000  # distinct texts whose ids the writer remembers (forgetting one costs a lookup, not a copy)
# Column order of the finding and observation rows the insert paths write (after run_id and service_id).
_FINDING_COLUMNS = (
    "finding_id",
    "severity",
    "control",
    "category",
    "fingerprint",
    "title",
    "title_ref",
    "evidence",
    "evidence_ref",
    "remediation",
    "remediation_ref",
)
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
_SQLITE_TEXT = "INSERT INTO texts (sha256, text) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING"
_SQLITE_TEXT_ID = "SELECT id FROM texts WHERE sha256 = ?"
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
        self._text_ids: dict[str, int] = {}  # text -> id in `texts`, for the writer
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
        stored = {k: v for k, v in record.items() if k != "observations"}
        found = record.get("findings")
        tabular: list[dict[str, str]] = []
        if _tabular(found):
            stored["findings"] = len(found)  # in place: the key keeps its position in the record
            tabular = found
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
            "record": json.dumps(stored),
        }
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
            service_id = self._add_sqlite(conn, row, tabular, observation_rows, body_rows)
        else:
            service_id = self._add_generic(conn, row, tabular, observation_rows, body_rows)
        if service_id is None:
            return None  # already stored (a resumed run reaching a target it had finished)
        self._pending += 1
        self._maybe_commit()
        return service_id

    def _finding_rows(
        self,
        row: dict[str, Any],
        service_id: int,
        found: list[dict[str, str]],
        text_id: Callable[[str], int],
    ) -> list[tuple[Any, ...]]:
        """The findings table's rows: each shared text as "" and its id in `texts` (`text_id` finds or adds it)."""
        run_id, host = row["run_id"], row["host"]
        name = row["hostname"] or host
        ids = self._text_ids

        def cells(text: str) -> tuple[str, int | None]:
            # A text naming the service's own address (the plain-HTTP evidence) is never shared: as a reference
            # it would only add a row to `texts`, at a random place in its index.
            if len(text) < _SHORT_TEXT or host in text or name in text:
                return text, None
            ref = ids.get(text)
            if ref is None:
                if len(ids) >= _TEXT_CACHE:
                    ids.clear()
                ref = ids[text] = text_id(text)
            return "", ref

        return [
            (
                run_id,
                service_id,
                f["id"],
                f["severity"],
                f["control"],
                f["category"],
                f["fingerprint"],
                *cells(f["title"]),
                *cells(f["evidence"]),
                *cells(f["remediation"]),
            )
            for f in found
        ]

    def _add_sqlite(
        self,
        conn: Connection,
        row: dict[str, Any],
        found: list[dict[str, str]],
        obs_rows: list[tuple[Any, ...]],
        body_rows: list[tuple[str, bytes]],
    ) -> int | None:
        """The SQLite path: plain DB-API statements inside the writer's transaction (SQLAlchemy's per-statement
        compilation costs more than the insert itself at thousands of services per second)."""
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

        def text_id(text: str) -> int:
            sha = hashlib.sha256(text.encode()).hexdigest()
            cur.execute(_SQLITE_TEXT, (sha, text))
            if cur.rowcount == 1:
                return int(cur.lastrowid)
            return int(cur.execute(_SQLITE_TEXT_ID, (sha,)).fetchone()[0])

        try:
            cur.execute(_SQLITE_SERVICE, row)
            if cur.rowcount != 1:
                return None
            service_id = int(cur.lastrowid)
            if found:
                cur.executemany(_SQLITE_FINDING, self._finding_rows(row, service_id, found, text_id))
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
        found: list[dict[str, str]],
        obs_rows: list[tuple[Any, ...]],
        body_rows: list[tuple[str, bytes]],
    ) -> int | None:
        result = conn.execute(
            self._insert(services).values(**row).on_conflict_do_nothing(index_elements=["run_id", "host", "port"])
        )
        if not (result.inserted_primary_key and result.rowcount):
            return None
        service_id = int(result.inserted_primary_key[0])

        def text_id(text: str) -> int:
            sha = hashlib.sha256(text.encode()).hexdigest()
            added = conn.execute(
                self._insert(texts).values(sha256=sha, text=text).on_conflict_do_nothing(index_elements=["sha256"])
            )
            if added.inserted_primary_key and added.inserted_primary_key[0] is not None and added.rowcount:
                return int(added.inserted_primary_key[0])
            return int(conn.execute(sa.select(texts.c.id).where(texts.c.sha256 == sha)).scalar_one())

        if found:
            rows = self._finding_rows(row, service_id, found, text_id)
            names = ("run_id", "service_id", *_FINDING_COLUMNS)
            conn.execute(findings.insert(), [dict(zip(names, r, strict=True)) for r in rows])
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
        """The run's records in the order they were stored, each as `add_service` was given it (less observations).

        Streams: the services and the findings are read side by side, both in service order, and merged."""
        listing = sa.select(services.c.id, services.c.record).where(services.c.run_id == run_id).order_by(services.c.id)
        with self.engine.connect() as conn:
            stream = conn.execution_options(stream_results=True)
            rows = iter(stream.execute(_findings_query(run_id)))
            pending = next(rows, None)
            shared = _SharedTexts(conn)
            for service_id, text in stream.execute(listing):
                record = json.loads(text)
                found: list[dict[str, Any]] = []
                while pending is not None and pending[0] <= service_id:
                    if pending[0] == service_id:
                        found.append(shared.finding(pending))
                    pending = next(rows, None)
                count = record.get("findings")
                if type(count) is int:  # schema 5: the findings table holds them; earlier rows hold a list
                    if count != len(found):
                        raise StoreError(
                            f"{self.url}: service {service_id} of run {run_id} has {len(found)} of its {count} "
                            "findings; the database is damaged"
                        )
                    record["findings"] = found
                yield record

    def count(self, table: str, run_id: str) -> int:
        tbl = metadata.tables[table]
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(tbl).where(tbl.c.run_id == run_id)).scalar() or 0
            )


_STR = frozenset({str})


def _tabular(found: Any) -> TypeGuard[list[dict[str, str]]]:
    """Whether the findings table can hold these findings exactly (see _FINDING_KEYS)."""
    if type(found) is not list:
        return False
    for f in found:
        if type(f) is not dict or tuple(f) != _FINDING_KEYS or not _STR.issuperset(map(type, f.values())):
            return False
    return True


def _findings_query(run_id: str) -> sa.Select[Any]:
    """A run's findings in service order, then in the order each service's list had them."""
    f = findings
    return (
        sa.select(
            f.c.service_id,
            f.c.finding_id,
            f.c.severity,
            f.c.category,
            f.c.control,
            f.c.fingerprint,
            f.c.title,
            f.c.title_ref,
            f.c.evidence,
            f.c.evidence_ref,
            f.c.remediation,
            f.c.remediation_ref,
        )
        .select_from(services.join(f, f.c.service_id == services.c.id))
        .where(services.c.run_id == run_id)
        .order_by(services.c.id, f.c.id)
    )


class _SharedTexts:
    """The texts findings reference by id, each read once (bounded): a loaded report holds one string per text."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.known: dict[int, str] = {}

    def __call__(self, ref: int) -> str:
        text = self.known.get(ref)
        if text is None:
            text = self.conn.execute(sa.select(texts.c.text).where(texts.c.id == ref)).scalar()
            if text is None:
                raise StoreError(f"finding text {ref} is missing from the texts table; the database is damaged")
            if len(self.known) >= _TEXT_CACHE:
                self.known.clear()
            self.known[ref] = text
        return text

    def finding(self, row: Any) -> dict[str, Any]:
        """A finding dict from a `_findings_query` row, in `Finding.to_dict`'s key order."""
        _, finding_id, severity, category, control, fingerprint, title, t_ref, evidence, e_ref, remedy, r_ref = row
        return {
            "id": finding_id,
            "severity": severity,
            "title": title if t_ref is None else self(t_ref),
            "category": category,
            "control": control,
            "evidence": evidence if e_ref is None else self(e_ref),
            "remediation": remedy if r_ref is None else self(r_ref),
            "fingerprint": fingerprint,
        }


def _rows(names: tuple[str, ...], rows: list[tuple[Any, ...]], service_id: int) -> list[dict[str, Any]]:
    return [dict(zip(names, r, strict=True), service_id=service_id) for r in rows]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages (default 2 MiB): index pages stay in memory
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
