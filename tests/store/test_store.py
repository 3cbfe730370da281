"""The store: migrations, streaming writes, and results that survive a killed scan."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from aisweep.errors import StoreError
from aisweep.store.db import Store
from aisweep.store.schema import SCHEMA_VERSION

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
            "control": "authentication",
            "evidence": "e",
            "remediation": "r",
            "fingerprint": "f" * 32,
            "category": "authentication",
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
    assert rec["product"] == "ollama" and "observations" not in rec
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
        rows = [json.loads(r[0]) for r in conn.execute("SELECT record FROM services")]
        distinct = conn.execute("SELECT COUNT(DISTINCT host || ':' || port) FROM services").fetchone()[0]
    counters = json.loads(counters)
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


def _one_service_run(path: Path) -> str:
    """A database at the current schema holding one run with RECORD; returns the run id."""
    store = Store(str(path))
    run = store.start_run("scan", ["127.0.0.1"], {})
    store.add_service(run, RECORD)
    store.close()
    return run


def test_a_version_2_database_is_migrated_and_keeps_its_observations(tmp_path: Path) -> None:
    from aisweep.store.queries import observations_by_service

    path = tmp_path / "v2.db"
    run = _one_service_run(path)
    with sqlite3.connect(path) as db:  # roll the file back to version 2's shape (the body stays inline)
        db.execute("DELETE FROM schema_version WHERE version >= 3")
        db.execute("DROP TABLE bodies")
        db.execute("ALTER TABLE observations DROP COLUMN body_sha")
    again = Store(str(path))
    assert again.schema_version == SCHEMA_VERSION
    (rows,) = observations_by_service(again, run).values()
    assert rows[0]["body"] == b"Ollama is running"
    again.close()


def test_version_4_drops_the_duplicate_and_unused_indexes(tmp_path: Path) -> None:
    def indexes(path: Path) -> set[str]:
        with sqlite3.connect(path) as db:
            return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}

    path = tmp_path / "v3.db"
    run = _one_service_run(path)
    fresh = indexes(path)
    assert "ux_services_target" in fresh and "ix_findings_run" in fresh
    assert not {"ix_services_run_host", "ix_findings_fingerprint"} & fresh
    with sqlite3.connect(path) as db:  # roll the file back to version 3's shape
        db.execute("DELETE FROM schema_version WHERE version = 4")
        db.execute("CREATE INDEX ix_services_run_host ON services (run_id, host, port)")
        db.execute("CREATE INDEX ix_findings_fingerprint ON findings (fingerprint)")
    again = Store(str(path))
    assert again.schema_version == SCHEMA_VERSION
    again.close()
    assert indexes(path) == fresh
    assert len(list(Store(str(path)).service_records(run))) == 1


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
        "findings": "service_id, finding_id, severity, evidence",
        "observations": "service_id, method, path, status, headers, body, body_sha",
        "bodies": "sha256, body",
    }
    for name in ("f.db", "g.db"):
        with sqlite3.connect(tmp_path / name) as db:
            got = {t: db.execute(f"SELECT {cols} FROM {t} ORDER BY 1, 2").fetchall() for t, cols in tables.items()}
        if name == "f.db":
            want = got
    assert got == want and len(want["observations"]) == 2 and len(want["bodies"]) == 1
