"""The store: migrations, streaming writes, and results that survive a killed scan."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aisweep.errors import StoreError
from aisweep.models import Control, Finding, Severity
from aisweep.store.db import Store
from aisweep.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.store.conftest import Backend

RECORD = {
    "target": {"host": "127.0.0.1", "port": 11434, "scheme": "http", "hostname": None, "origin": "cli"},
    "product": "ollama",
    "version": "0.1.32",
    "version_confidence": "exact",
    "confidence": "high",
    "auth": {"tier": "open-read", "evidence": "e", "partial": []},
    "surfaces": {"models": 2},
    "findings": [
        {
            "id": "auth.none",
            "severity": "high",
            "title": "t",
            "category": "authentication",
            "control": "authentication",
            "evidence": "e",
            "remediation": "r",
            "fingerprint": "f" * 32,
        }
    ],
    "observations": [
        {
            "method": "GET",
            "path": "/",
            "request_headers": [],
            "outcome": "ok",
            "status": 200,
            "headers": [["server", "x"]],
            "body_b64": "T2xsYW1hIGlzIHJ1bm5pbmc=",
            "truncated": False,
            "elapsed_ms": 1.0,
            "error": None,
        }
    ],
}


def test_roundtrip(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "a.db"))
    assert store.schema_version == SCHEMA_VERSION
    run = store.start_run("scan", ["127.0.0.1"], {"ports": [11434]})
    store.add_service(run, RECORD)
    store.finish_run(run, {"services": 1})
    store.close()
    again = Store(str(tmp_path / "a.db"))  # reopening does not re-apply migrations
    assert again.latest_run() == run
    info = again.run_info(run)
    assert info is not None and info["status"] == "finished" and info["counters"] == {"services": 1}
    (rec,) = list(again.service_records(run))
    assert rec == {k: v for k, v in RECORD.items() if k != "observations"}
    assert again.count("findings", run) == 1 and again.count("observations", run) == 1
    with sqlite3.connect(tmp_path / "a.db") as db:
        body = db.execute("SELECT body FROM observations").fetchone()[0]
    assert body == b"Ollama is running"
    again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(str(tmp_path / "b.db")).close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (999)"))
    with pytest.raises(StoreError, match="newer aisweep"):
        Store(str(tmp_path / "b.db"))


def test_unwritable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open results database"):
        Store(str(tmp_path / "missing-dir" / "x.db"))


def _scan_cmd(lab, db: Path) -> list[str]:  # type: ignore[no-untyped-def]
    ports = ",".join(str(p) for p in sorted({p for _, p in lab.network.listeners()}))
    return [
        sys.executable,
        "-m",
        "aisweep",
        "scan",
        lab.network.cidr(),
        "-p",
        ports,
        "--db",
        str(db),
        "--rate",
        "150",
        "--workers",
        "1",
        "--seed",
        "5",
        "-q",
        "--format",
        "jsonl",
        "-o",
        str(db.with_suffix(".jsonl")),
    ]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_scan_keeps_what_it_found(lab, tmp_path: Path, sig: int) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "killed.db"
    proc = subprocess.Popen(_scan_cmd(lab, db), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    found = 0
    while time.monotonic() < deadline and found < 3:
        time.sleep(0.5)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    found = conn.execute("SELECT COUNT(*) FROM services").fetchone()[0]
            except sqlite3.OperationalError:
                found = 0
    assert found >= 3, "the scan never reported services"
    proc.send_signal(sig)
    proc.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT record FROM services").fetchall()
        status = conn.execute("SELECT status FROM runs").fetchone()[0]
    assert len(rows) >= found
    for (text,) in rows:
        assert json.loads(text)["product"]
    assert status == ("interrupted" if sig == signal.SIGINT else "running")
    lines = db.with_suffix(".jsonl").read_text().splitlines()
    assert len(lines) >= found - 1 and all(json.loads(line)["target"] for line in lines)


def test_resume_after_kill_finishes_without_rescans_or_duplicates(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from aisweep.lab.demo import compare

    db = tmp_path / "resume.db"
    proc = subprocess.Popen(_scan_cmd(lab, db))
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 400:
        time.sleep(0.3)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    row = conn.execute("SELECT counters FROM runs").fetchone()
                done = json.loads(row[0]).get("targets_done", 0) if row and row[0] else 0
            except sqlite3.OperationalError:
                done = 0
    assert done >= 400, "the scan made no progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        run_id, status, checkpoint = conn.execute("SELECT id, status, checkpoint FROM runs").fetchone()
        before = conn.execute("SELECT COUNT(*) FROM services").fetchone()[0]
    assert status == "running" and json.loads(checkpoint)["0"]["watermark"] > 0

    resumed = subprocess.run(
        [sys.executable, "-m", "aisweep", "scan", "--resume", run_id, "--db", str(db), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(db) as conn:
        status, counters = conn.execute("SELECT status, counters FROM runs").fetchone()
        distinct = conn.execute("SELECT COUNT(DISTINCT host || ':' || port) FROM services").fetchone()[0]
    counters = json.loads(counters)
    rows = list(Store(str(db)).service_records(run_id))
    assert status == "finished"
    assert len(rows) == distinct >= before
    assert counters["targets_done"] == counters["targets_total"]  # nothing counted twice, nothing left out
    cmp = compare(lab.network, rows)
    assert cmp.ok, cmp.problems[:5]


def test_identical_bodies_are_stored_once_and_read_back_for_every_service(tmp_path: Path) -> None:
    from aisweep.runner import BodyDedupe
    from aisweep.store.queries import observations_by_service

    store = Store(str(tmp_path / "d.db"))
    run = store.start_run("scan", ["127.0.0.1"], {})
    dedupe = BodyDedupe()
    for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        record = json.loads(json.dumps({k: v for k, v in RECORD.items() if k != "observations"}))
        record["target"]["host"] = host
        obs = dict(RECORD["observations"][0])  # type: ignore[index]
        obs.pop("body_b64")
        obs["body"] = b"Ollama is running"
        record["observations"] = [obs]
        dedupe.apply(record)
        assert (obs["body"] is None) == (host != "127.0.0.1")  # bytes cross to the store once per worker
        store.add_service(run, record)
    store.close()
    with sqlite3.connect(tmp_path / "d.db") as db:
        assert db.execute("SELECT COUNT(*) FROM bodies").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 3
    seen = observations_by_service(Store(str(tmp_path / "d.db")), run)
    assert {o["body"] for rows in seen.values() for o in rows} == {b"Ollama is running"} and len(seen) == 3


def _finding(fid: str, title: str, evidence: str, remediation: str, fingerprint: str) -> dict[str, str]:
    severity, control = (
        (Severity.CRITICAL, Control.PATCHING) if fid.startswith("vuln.") else (Severity.HIGH, Control.AUTHENTICATION)
    )
    category = "vulnerability" if fid.startswith("vuln.") else "exposure"
    return Finding(fid, title, severity, control, evidence, remediation, category, fingerprint).to_dict()


_UPGRADE = "Upgrade Ollama to 0.1.34 or later (the first release outside this advisory's range). Advisory: https://x"
_ADVISORY = "Version 0.1.32 (exact: GET /api/version) is in the affected range of CVE-2024-37032 (per CVE-2024-37032)."
_ISOLATE = "Bind the API to localhost or put an authenticating reverse proxy in front of it, and keep it private."


def _service(host: str, findings: list[dict[str, str]], port: int = 11434) -> dict[str, Any]:
    """A record as the scan's parent stores it (Service.to_record, its position and observations)."""
    record = json.loads(json.dumps({k: v for k, v in RECORD.items() if k not in ("findings", "observations")}))
    record["target"] |= {"host": host, "port": port}
    record["findings"] = findings
    record["position"] = port
    record["observations"] = [{k: v for k, v in RECORD["observations"][0].items()}]  # type: ignore[index]
    return record


def _services() -> list[dict[str, Any]]:
    """Services sharing titles, remediations and advisory evidence; evidence naming the service's own address; an
    empty evidence; a service without findings; findings the table cannot hold exactly (they stay in the record)."""
    shared = [
        _finding(
            "vuln.CVE-2024-37032", "Ollama 0.1.32 is in the affected range of CVE-2024-37032", _ADVISORY, _UPGRADE, h
        )
        for h in ("a" * 32, "b" * 32)
    ]
    records = [
        _service(
            "127.0.0.1",
            [
                shared[0],
                _finding("auth.none", "Ollama: no authentication", "GET /api/tags lists 2 models", _ISOLATE, "c" * 32),
                _finding(
                    "tls.plain-http",
                    "Ollama: served over plain HTTP",
                    "127.0.0.1:11434 answered over http://",
                    _ISOLATE,
                    "d" * 32,
                ),
            ],
        ),
        _service(
            "127.0.0.2",
            [
                _finding("auth.none", "Ollama: no authentication", "GET /api/tags lists 2 models", _ISOLATE, "e" * 32),
                shared[1],
                _finding(
                    "tls.plain-http",
                    "Ollama: served over plain HTTP",
                    "127.0.0.2:11434 answered over http://",
                    _ISOLATE,
                    "f" * 32,
                ),
                _finding("host.empty", "", "", "", ""),
            ],
        ),
        _service("127.0.0.3", []),
    ]
    odd = _service("127.0.0.4", [dict(shared[0]), dict(shared[0])])
    odd["findings"][0]["evidence"] = None  # not a string
    odd["findings"][1]["verified"] = True  # a key Finding.to_dict does not write
    reordered = _service("127.0.0.5", [{k: shared[0][k] for k in reversed(shared[0])}])
    return [*records, odd, reordered]


def _as_stored(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "observations"} for r in records]


def test_findings_are_stored_once_and_read_back_exactly(backend: Backend) -> None:
    written = _services()
    store = backend.open()
    run = store.start_run("scan", ["127.0.0.0/29"], {})
    for record in written:
        assert store.add_service(run, json.loads(json.dumps(record))) is not None
    assert store.add_service(run, json.loads(json.dumps(written[0]))) is None  # a resumed run: no second copy
    store.close()
    again = backend.open()
    got = list(again.service_records(run))
    assert got == _as_stored(written)
    # The same keys in the same order: JSON output of a stored run is byte for byte what the scan wrote.
    assert [json.dumps(r) for r in got] == [json.dumps(r) for r in _as_stored(written)]
    with again.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT record FROM services ORDER BY id")).scalars().all()
        stored = [json.loads(r)["findings"] for r in rows]
        findings = conn.execute(
            sa.text("SELECT finding_id, category, title, title_ref, evidence, evidence_ref FROM findings ORDER BY id")
        ).all()
        shared = conn.execute(sa.text("SELECT text FROM texts")).scalars().all()
    assert stored[:3] == [3, 4, 0]  # the findings table holds them; the record only their number
    assert stored[3:] == [r["findings"] for r in written[3:]]  # as written, the None and the extra key included
    assert len(findings) == 7 == again.count("findings", run)
    assert {f.category for f in findings} == {"vulnerability", "exposure"}
    # Each shared text once; the evidence naming a service's own address and the empty texts stay in their rows.
    assert sorted(shared) == sorted(
        {
            _UPGRADE,
            _ADVISORY,
            _ISOLATE,
            "Ollama 0.1.32 is in the affected range of CVE-2024-37032",
            "Ollama: no authentication",
            "GET /api/tags lists 2 models",
            "Ollama: served over plain HTTP",
        }
    )
    plain = [f for f in findings if f.finding_id == "tls.plain-http"]
    assert [f.evidence_ref for f in plain] == [None, None] and all("answered over http" in f.evidence for f in plain)
    assert all(f.title == "" and f.title_ref is not None for f in findings if f.finding_id != "host.empty")
    # A later run (a new writer, which finds the texts already stored) adds no second copy.
    again.close()
    writer = backend.open()
    later = writer.start_run("scan", ["127.0.0.0/29"], {})
    for record in written:
        writer.add_service(later, record)
    writer.close()
    last = backend.open()
    assert list(last.service_records(later)) == _as_stored(written)
    with last.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM texts")).scalar() == len(shared)
    last.close()


def test_interleaved_runs_read_back_their_own_findings(backend: Backend) -> None:
    """Two runs writing to one database (their service ids interleave): each reads back exactly its own."""
    store = backend.open()
    runs = [store.start_run("scan", [], {}), store.start_run("scan", [], {})]
    written: dict[str, list[dict[str, Any]]] = {run: [] for run in runs}
    for i, record in enumerate([*_services()[:3], *_services()[:3]]):  # each a new dict
        run = runs[i % 2]
        record["target"]["port"] = 1000 + i
        written[run].append(record)
        store.add_service(run, record)
    store.close()
    again = backend.open()
    for run in runs:
        assert list(again.service_records(run)) == _as_stored(written[run])
    again.close()


def test_a_damaged_findings_table_is_reported_not_read_short(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    store = Store(str(path))
    run = store.start_run("scan", [], {})
    store.add_service(run, _services()[0])
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM findings WHERE finding_id = 'auth.none'")
    with pytest.raises(StoreError, match="has 2 of its 3 findings"):
        list(Store(str(path)).service_records(run))


def _old_database(url: str, version: int, records: list[dict[str, Any]]) -> str:
    """A database as aisweep at schema `version` (< 5) left it: that version's migrations, and rows as its
    `add_service` wrote them (each record with its findings, and every finding's texts in its row); the run id."""
    engine = sa.create_engine(url)
    run = "20260101T000000Z-000000"
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT)"))
        for number, step in MIGRATIONS[:version]:
            step(conn)
            conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": number})
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, started_at, status, command, targets, settings, counters, tool_version)"
                " VALUES (:id, '2026-01-01T00:00:00+00:00', 'running', 'scan', '[]', '{}', '{}', '0.1.0')"
            ),
            {"id": run},
        )
        for record in records:
            target = record["target"]
            service_id = conn.execute(
                sa.text(
                    "INSERT INTO services (run_id, position, host, port, scheme, hostname, product, version,"
                    " version_confidence, auth_tier, confidence, record) VALUES (:run, :position, :host, :port,"
                    " :scheme, NULL, :product, :version, :vc, :tier, :confidence, :record) RETURNING id"
                ),
                {
                    "run": run,
                    "position": record.get("position"),
                    "host": target["host"],
                    "port": target["port"],
                    "scheme": target["scheme"],
                    "product": record["product"],
                    "version": record.get("version"),
                    "vc": record.get("version_confidence"),
                    "tier": record["auth"]["tier"],
                    "confidence": record.get("confidence"),
                    "record": json.dumps({k: v for k, v in record.items() if k != "observations"}),
                },
            ).scalar_one()
            for f in record["findings"]:
                conn.execute(
                    sa.text(
                        "INSERT INTO findings (run_id, service_id, finding_id, severity, control, title, evidence,"
                        " remediation, fingerprint) VALUES (:run, :sid, :id, :severity, :control, :title, :evidence,"
                        " :remediation, :fingerprint)"
                    ),
                    {"run": run, "sid": service_id} | {k: v for k, v in f.items() if k != "category"},
                )
            for o in record["observations"]:
                body = base64.b64decode(o["body_b64"])
                values = {"run": run, "sid": service_id, "path": o["path"], "body": body}
                sha_column = sha_value = ""
                if version >= 3:  # bodies stored once per content
                    values |= {"body": b"", "sha": hashlib.sha256(body).hexdigest()}
                    sha_column, sha_value = ", body_sha", ", :sha"
                    conn.execute(
                        sa.text("INSERT INTO bodies (sha256, body) VALUES (:sha, :body) ON CONFLICT DO NOTHING"),
                        {"sha": values["sha"], "body": body},
                    )
                conn.execute(
                    sa.text(
                        "INSERT INTO observations (run_id, service_id, method, path, outcome, status, headers, body,"
                        f" truncated, elapsed_ms{sha_column}) VALUES (:run, :sid, 'GET', :path, 'ok', 200, '[]', :body,"
                        f" false, 1.0{sha_value})"
                    ),
                    values,
                )
    engine.dispose()
    return run


def _indexes(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    found = {t: {str(i["name"]) for i in inspector.get_indexes(t)} for t in ("services", "findings")}
    engine.dispose()
    return found


def test_a_version_2_database_is_migrated_and_keeps_its_observations(tmp_path: Path) -> None:
    from aisweep.store.queries import observations_by_service

    path = tmp_path / "v2.db"
    run = _old_database(f"sqlite:///{path}", 2, [RECORD])  # the body inline in its observation
    again = Store(str(path))
    assert again.schema_version == SCHEMA_VERSION
    (rows,) = observations_by_service(again, run).values()
    assert rows[0]["body"] == b"Ollama is running"
    assert list(again.service_records(run)) == _as_stored([RECORD])
    again.close()


def test_version_4_drops_the_duplicate_and_unused_indexes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v3.db'}"
    run = _old_database(url, 3, [RECORD])
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # version 3's indexes, as released
        conn.execute(sa.text("CREATE INDEX ix_services_run_host ON services (run_id, host, port)"))
        conn.execute(sa.text("CREATE INDEX ix_findings_fingerprint ON findings (fingerprint)"))
    engine.dispose()
    Store(str(tmp_path / "fresh.db")).close()
    again = Store(url)
    assert again.schema_version == SCHEMA_VERSION
    again.close()
    assert _indexes(url) == _indexes(f"sqlite:///{tmp_path / 'fresh.db'}")
    indexes = _indexes(url)
    assert not {"ix_services_run_host", "ix_findings_fingerprint"} & (indexes["services"] | indexes["findings"])
    assert len(list(Store(url).service_records(run))) == 1


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_version_4_database_reads_back_identically_and_takes_new_services(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Version 5 leaves version 4's rows as they are (their records hold their findings): they read back as
    written, and a run resumed after the upgrade mixes both layouts."""
    url = f"sqlite:///{tmp_path / 'v4.db'}" if db == "sqlite" else str(request.getfixturevalue("postgres_url"))
    old = [r for r in _services()[:3]]
    run = _old_database(url, 4, old)
    before = _indexes(url)
    assert "ix_findings_run" in before["findings"] and "ix_findings_service" not in before["findings"]
    store = Store(url)
    assert store.schema_version == SCHEMA_VERSION == 5
    assert list(store.service_records(run)) == _as_stored(old)
    assert "ix_findings_run" not in _indexes(url)["findings"] and "ix_findings_service" in _indexes(url)["findings"]
    # The resumed run: a finished target is not stored twice, a new one is stored in version 5's layout.
    assert store.add_service(run, old[0]) is None
    new = _service("127.0.0.9", old[1]["findings"])
    assert store.add_service(run, new) is not None
    store.close()
    again = Store(url)
    assert [json.dumps(r) for r in again.service_records(run)] == [json.dumps(r) for r in _as_stored([*old, new])]
    with again.engine.connect() as conn:
        records = conn.execute(sa.text("SELECT record FROM services ORDER BY id")).scalars().all()
    assert [type(json.loads(r)["findings"]) for r in records] == [list, list, list, int]
    again.close()


def test_the_generic_insert_path_stores_what_the_sqlite_path_stores(tmp_path: Path) -> None:
    """PostgreSQL takes the SQLAlchemy path; run it on SQLite (same statements, other dialect) and compare rows."""
    from aisweep.runner import BodyDedupe

    def fill(store: Store) -> str:
        run = store.start_run("scan", ["127.0.0.1"], {})
        dedupe = BodyDedupe()
        for host in ("127.0.0.1", "127.0.0.2"):
            record = json.loads(json.dumps({k: v for k, v in RECORD.items() if k != "observations"}))
            record["target"]["host"] = host
            obs = {k: v for k, v in RECORD["observations"][0].items() if k != "body_b64"}  # type: ignore[index]
            obs["body"] = b"Ollama is running"
            record["observations"] = [obs]
            dedupe.apply(record)
            assert store.add_service(run, record) is not None
        assert store.add_service(run, record) is None  # the unique (run, host, port) holds on both paths
        store.close()
        return run

    fast, generic = Store(str(tmp_path / "f.db")), Store(str(tmp_path / "g.db"))
    generic._add_sqlite = generic._add_generic  # type: ignore[method-assign]
    fill(fast), fill(generic)
    tables = {
        "services": "host, port, product, auth_tier",
        "findings": "service_id, finding_id, severity, category, title, title_ref, evidence, evidence_ref",
        "texts": "id, sha256, text",
        "observations": "service_id, method, path, status, headers, body, body_sha",
        "bodies": "sha256, body",
    }
    for name in ("f.db", "g.db"):
        with sqlite3.connect(tmp_path / name) as db:
            got = {t: db.execute(f"SELECT {cols} FROM {t} ORDER BY 1, 2").fetchall() for t, cols in tables.items()}
        if name == "f.db":
            want = got
    assert got == want and len(want["observations"]) == 2 and len(want["bodies"]) == 1
