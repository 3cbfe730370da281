"""`aisweep report`, end to end through the command function the CLI registers: every format from a real demo
scan, output locations, and user mistakes as one line with exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisweep.report.build import advisory_data_status, describe_status

from .conftest import DemoRun
from .test_diff import app

runner = CliRunner()


@pytest.mark.parametrize("fmt", ["html", "md", "json", "jsonl", "sarif"])
def test_every_format_writes_a_file(demo_run: DemoRun, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    result = runner.invoke(app(), ["report", "-f", fmt, "-o", str(out), "--db", str(demo_run.db)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert demo_run.run_id in text or fmt == "jsonl"
    if fmt in ("json", "sarif"):
        json.loads(text)
    if fmt == "jsonl":
        assert all(json.loads(line)["product"] for line in text.splitlines())
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<script src" not in text and "<link" not in text


def test_csv_to_directory_and_stem(demo_run: DemoRun, tmp_path: Path) -> None:
    d = tmp_path / "csvdir"
    d.mkdir()
    assert (
        runner.invoke(
            app(), ["report", demo_run.run_id[:10], "-f", "csv", "-o", str(d), "--db", str(demo_run.db)]
        ).exit_code
        == 0
    )
    rows = list(csv.DictReader((d / "services.csv").open(encoding="utf-8")))
    assert rows and {"host", "product", "auth_tier", "version"} <= set(rows[0])
    assert (d / "findings.csv").stat().st_size > 100
    stem = tmp_path / "nested" / "run"
    assert runner.invoke(app(), ["report", "-f", "csv", "-o", str(stem), "--db", str(demo_run.db)]).exit_code == 0
    assert (tmp_path / "nested" / "run-services.csv").exists() and (tmp_path / "nested" / "run-findings.csv").exists()
    r = runner.invoke(app(), ["report", "-f", "csv", "-o", "-", "--db", str(demo_run.db)])
    assert r.exit_code == 2 and "give -o DIR" in r.output


def test_stdout_and_default_html_name(demo_run: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = runner.invoke(app(), ["report", "latest", "-f", "jsonl", "--db", str(demo_run.db)])
    assert r.exit_code == 0 and len(r.output.splitlines()) > 50
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app(), ["report", "--db", str(demo_run.db)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / f"aisweep-report-{demo_run.run_id}.html").exists()


def test_user_mistakes_are_one_line(tmp_path: Path, demo_run: DemoRun) -> None:
    for args, needle in (
        (["report", "--db", str(tmp_path / "none.db")], "no results database"),
        (["report", "zzz", "--db", str(demo_run.db)], "no run 'zzz'"),
        (["report", "latest~99", "--db", str(demo_run.db)], "only 1 run"),
        (["report", "--geoip", str(tmp_path / "x.mmdb"), "--db", str(demo_run.db)], "does not exist"),
    ):
        r = runner.invoke(app(), args)
        assert r.exit_code == 2, (args, r.output)
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output, r.output


def test_advisory_status_is_described_or_absent() -> None:
    status = advisory_data_status()
    assert status is None or (isinstance(status, str) and status)

    class Status:
        def line(self) -> str:
            return "Advisory data: 12 vulnerabilities, dated 2026-01-02"

    assert describe_status(Status()) == "12 vulnerabilities, dated 2026-01-02"
    assert describe_status({"source": "OSV", "date": "2026-01-02"}) == "source OSV, date 2026-01-02"


def test_a_report_states_the_advisory_data_its_run_used(tmp_path: Path, demo_run: DemoRun) -> None:
    import json
    import shutil
    import sqlite3

    from aisweep.advisories.database import data_status
    from aisweep.report.load import load_report
    from aisweep.store.db import Store

    db = tmp_path / "copy.db"
    shutil.copy(demo_run.db, db)
    with sqlite3.connect(db) as conn:
        settings = json.loads(conn.execute("SELECT settings FROM runs").fetchone()[0])
    assert settings["advisory_data"] == data_status().line()  # the full line, once per run
    records = list(Store(str(db)).service_records(demo_run.run_id))
    vuln = [f["evidence"] for r in records for f in r["findings"] if f["id"].startswith("vuln.")]
    assert vuln and all(data_status().short_line() in e and "sources:" not in e for e in vuln)
    # A report made later says what the run judged against, not what is installed by then.
    settings["advisory_data"] = "Advisory data: 12 vulnerabilities (12 OSV records), dated 2026-01-02"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET settings = ?", (json.dumps(settings),))
    assert (
        load_report(str(db), demo_run.run_id).advisory_status == "12 vulnerabilities (12 OSV records), dated 2026-01-02"
    )
