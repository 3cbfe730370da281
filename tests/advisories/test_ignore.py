"""Ignore files: id (advisory alias, finding id or fingerprint), scope, reason (required), expiry; expired entries
suppress nothing and are reported, as are entries that matched nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aisweep.advisories.ignore import IgnoreFileError, apply_ignores, load_ignore_file, parse_ignore
from aisweep.models import Control, Finding, Service, Severity, Target

from .conftest import make_service

TODAY = date(2026, 11, 28)


def finding(fid: str, service: Service) -> Finding:
    return Finding(
        fid, fid, Severity.HIGH, Control.PATCHING, "e", "r", "vulnerability", service.finding_fingerprint(fid)
    )


def service_with(product: str, host: str, port: int, *ids: str) -> Service:
    s = make_service(product, "1.0")
    s.target = Target(host, port)
    s.findings = [finding(i, s) for i in ids]
    return s


def aliases(fid: str) -> list[str]:
    return {"vuln.CVE-2023-1177": ["CVE-2023-1177", "PYSEC-2023-29", "GHSA-xxxx-yyyy-zzzz"]}.get(fid, [])


def test_suppress_by_alias_finding_id_and_fingerprint(tmp_path: Path) -> None:
    a = service_with("mlflow", "10.0.0.5", 5000, "vuln.CVE-2023-1177", "vuln.CVE-2023-1176", "auth.none")
    fp = a.findings[2].fingerprint
    path = tmp_path / "ignore.yaml"
    path.write_text(
        "ignore:\n"
        "  - id: PYSEC-2023-29\n    reason: build VLAN only\n"
        "  - id: vuln.CVE-2023-1176\n    scope: mlflow\n    reason: accepted until upgrade\n    expires: 2027-01-31\n"
        f"  - id: {fp}\n    reason: this one host is a honeypot\n",
        encoding="utf-8",
    )
    ignores = load_ignore_file(path)
    report = apply_ignores([a], ignores, today=TODAY, aliases=aliases)
    assert a.findings == []
    assert [s.entry.id for s in report.suppressed] == ["PYSEC-2023-29", "vuln.CVE-2023-1176", fp]
    assert report.expired == [] and report.unused == []


def test_expired_entries_suppress_nothing_and_are_reported() -> None:
    ignores = parse_ignore(
        "ignore:\n  - id: CVE-2023-1177\n    reason: was accepted\n    expires: 2026-11-28\n", "ignore.yaml"
    )
    s = service_with("mlflow", "10.0.0.5", 5000, "vuln.CVE-2023-1177")
    report = apply_ignores([s], ignores, today=TODAY, aliases=aliases)
    assert [f.id for f in s.findings] == ["vuln.CVE-2023-1177"]
    assert [e.id for e in report.expired] == ["CVE-2023-1177"]
    assert any(line.startswith("expired ignore entry") for line in report.lines())
    # the day before expiry it still applies
    s2 = service_with("mlflow", "10.0.0.5", 5000, "vuln.CVE-2023-1177")
    assert apply_ignores([s2], ignores, today=date(2026, 11, 27), aliases=aliases).expired == []
    assert s2.findings == []


@pytest.mark.parametrize(
    ("scope", "suppressed"),
    [
        ("mlflow", ["10.0.0.5:5000", "10.0.0.6:5000"]),
        ("10.0.0.5:5000", ["10.0.0.5:5000"]),
        ("10.0.0.*:5000", ["10.0.0.5:5000", "10.0.0.6:5000"]),
        ("10.0.0.6", ["10.0.0.6:5000"]),
        ("gradio", []),
    ],
)
def test_scope(scope: str, suppressed: list[str]) -> None:
    services = [
        service_with("mlflow", "10.0.0.5", 5000, "vuln.CVE-2023-1177"),
        service_with("mlflow", "10.0.0.6", 5000, "vuln.CVE-2023-1177"),
    ]
    ignores = parse_ignore(f"- id: CVE-2023-1177\n  scope: '{scope}'\n  reason: r\n")
    report = apply_ignores(services, ignores, today=TODAY, aliases=aliases)
    assert sorted(s.service for s in report.suppressed) == suppressed
    assert (report.unused != []) is (not suppressed)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ignore:\n  - id: CVE-1\n", "has no reason"),
        ("ignore:\n  - reason: r\n", "has no id"),
        ("ignore:\n  - id: CVE-1\n    reason: r\n    expires: next week\n", "is not a date"),
        ("ignore:\n  - id: CVE-1\n    reason: r\n    until: 2027-01-01\n", "unknown keys: until"),
        ("ignore: {id: x}\n", "expected a list"),
        ("ignore: [\n", "not valid YAML"),
    ],
)
def test_invalid_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(IgnoreFileError, match=message):
        parse_ignore(text, "team.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IgnoreFileError, match="cannot read ignore file"):
        load_ignore_file(tmp_path / "nope.yaml")


def test_empty_file_ignores_nothing() -> None:
    assert parse_ignore("").entries == ()


def test_default_aliases_come_from_the_advisory_data() -> None:
    s = service_with("mlflow", "10.0.0.5", 5000, "vuln.CVE-2023-1177")
    apply_ignores([s], parse_ignore("- id: PYSEC-2023-29\n  reason: r\n"), today=TODAY)
    assert s.findings == []
