"""The command line, end to end against the emulated network on 127.78.0.0/26."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisweep import __version__
from aisweep.cli import app
from aisweep.lab.demo import compare

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_bad_target_is_one_line_and_scans_nothing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = runner.invoke(app, ["scan", "127.0.0.1", "300.1.2.3", "--db", str(db)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "300.1.2.3" in lines[0] and "Traceback" not in result.output
    assert not db.exists()


def test_bad_ports_and_missing_exclude(tmp_path: Path) -> None:
    assert runner.invoke(app, ["scan", "127.0.0.1", "-p", "99999", "--db", str(tmp_path / "a.db")]).exit_code == 2
    r = runner.invoke(app, ["scan", "127.0.0.1", "--exclude", str(tmp_path / "nope"), "--db", str(tmp_path / "a.db")])
    assert r.exit_code == 2 and "does not exist" in r.output


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_jsonl_matches_ground_truth(lab, tmp_path: Path, workers: int) -> None:  # type: ignore[no-untyped-def]
    out, db = tmp_path / "out.jsonl", tmp_path / "s.db"
    ports = ",".join(str(p) for p in sorted({p for _, p in lab.network.listeners()}))
    result = runner.invoke(
        app,
        [
            "scan",
            lab.network.cidr(),
            "-p",
            ports,
            "--db",
            str(db),
            "-f",
            "jsonl",
            "-o",
            str(out),
            "-q",
            "--workers",
            str(workers),
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records
    for r in records:
        assert {
            "target",
            "product",
            "version",
            "version_source",
            "version_confidence",
            "auth",
            "surfaces",
            "findings",
        } <= set(r)
        for f in r["findings"]:
            assert {"id", "severity", "title", "evidence", "remediation", "control"} <= set(f)
    cmp = compare(lab.network, records)
    assert cmp.ok, cmp.problems[:10]


def test_exclusion_list_is_honoured(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    listeners = lab.network.listeners()
    host, port = listeners[0]
    exclude = tmp_path / "exclude.txt"
    exclude.write_text(f"# never touch\n{host}\n")
    out = tmp_path / "o.jsonl"
    result = runner.invoke(
        app,
        [
            "scan",
            f"{host}/30",
            "-p",
            str(port),
            "--exclude",
            str(exclude),
            "--db",
            str(tmp_path / "e.db"),
            "-f",
            "jsonl",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    hosts = {json.loads(line)["target"]["host"] for line in out.read_text().splitlines()}
    assert host not in hosts


def test_fail_on(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["scan", lab.network.cidr(), "-p", "8888,4000,5000", "--db", str(tmp_path / "f.db"), "-q"]
    assert runner.invoke(app, [*args, "--fail-on", "high"]).exit_code == 1
    assert (
        runner.invoke(
            app, ["scan", "127.0.0.1", "-p", "1", "--db", str(tmp_path / "g.db"), "-q", "--fail-on", "info"]
        ).exit_code
        == 0
    )


def test_json_array_output(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.json"
    r = runner.invoke(
        app,
        ["scan", lab.network.cidr(), "-p", "8888", "--db", str(tmp_path / "j.db"), "-f", "json", "-o", str(out), "-q"],
    )
    assert r.exit_code == 0
    data = json.loads(out.read_text())
    assert isinstance(data, list) and all(d["product"] for d in data)


def test_table_output_and_summary(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["scan", lab.network.cidr(), "-p", "8888,5000", "--db", str(tmp_path / "t.db")])
    assert r.exit_code == 0
    assert "Services found" in r.output and "stored in" in r.output


def test_rules_commands(tmp_path: Path) -> None:
    assert "jupyter" in runner.invoke(app, ["rules", "list"]).output
    assert "id: mlflow" in runner.invoke(app, ["rules", "show", "mlflow"]).output
    assert runner.invoke(app, ["rules", "show", "nonesuch"]).exit_code == 2
    assert "valid" in runner.invoke(app, ["rules", "validate"]).output
    bad = tmp_path / "broken.yaml"
    bad.write_text("id: broken\nname: B\ncategory: nope\nports: [1]\nprobes: {r: {path: /}}\nidentify: []\n")
    r = runner.invoke(app, ["rules", "validate", str(bad)])
    assert r.exit_code == 2 and "broken.yaml:" in r.output
    test = runner.invoke(app, ["rules", "test"])
    assert test.exit_code == 0 and " passed, 0 failed" in test.output


def test_ignore_file_suppresses_and_reports_expired(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ports = ",".join(str(p) for p in sorted({p for _, p in lab.network.listeners()}))
    base = ["scan", lab.network.cidr(), "-p", ports, "-f", "jsonl", "-q"]
    first = tmp_path / "first.jsonl"
    assert runner.invoke(app, [*base, "--db", str(tmp_path / "a.db"), "-o", str(first)]).exit_code == 0
    records = [json.loads(line) for line in first.read_text().splitlines()]
    target = next(r for r in records if any(f["id"].startswith("auth.") for f in r["findings"]))
    finding_id = next(f["id"] for f in target["findings"] if f["id"].startswith("auth."))
    other = next(f["id"] for r in records for f in r["findings"] if f["id"] != finding_id)
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        "ignore:\n"
        f"  - id: {finding_id}\n    scope: {target['product']}\n    reason: accepted risk for this product\n"
        f"  - id: {other}\n    reason: old decision\n    expires: 2020-01-01\n"
    )
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, [*base[:-1], "--db", str(tmp_path / "b.db"), "-o", str(out), "--ignore", str(ignore)])
    assert r.exit_code == 0, r.output
    again = [json.loads(line) for line in out.read_text().splitlines()]
    same_product = [x for x in again if x["product"] == target["product"]]
    assert same_product and not any(f["id"] == finding_id for x in same_product for f in x["findings"])
    assert any(f["id"] == other for x in again for f in x["findings"])  # the expired entry suppresses nothing
    assert "expired ignore entry" in r.output


def test_scan_rejects_a_bad_widen_value(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", "127.0.0.1", "-p", "9", "--widen", "some", "--db", str(tmp_path / "x.db")])
    assert result.exit_code != 0
    assert "--widen takes a number or 'all'" in result.output


def test_scan_rejects_a_negative_host_timeout(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["scan", "127.0.0.1", "-p", "9", "--host-timeout", "-5", "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 2
    assert "--host-timeout must be 0 (no limit) or a number of seconds" in result.output
