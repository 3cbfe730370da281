"""Every output format validates: JSON/JSONL against the schema generated from the record model, SARIF against the
official SARIF 2.1.0 schema (tests/report/schemas/), CSV round-trips, Markdown keeps its tables intact."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aisweep.models import AuthTier, Confidence, Control, Finding, Service, Severity, Target, TlsFacts
from aisweep.report.build import Report, build_report
from aisweep.report.cli import render
from aisweep.report.csvfiles import csv_paths, render_csv, safe_cell
from aisweep.report.excerpt import mask_secrets, observation_excerpt
from aisweep.report.jsonfiles import render_json, render_jsonl
from aisweep.report.markdown import render_markdown
from aisweep.report.sarif import FINGERPRINT_KEY, render_sarif
from aisweep.report.schema import record_schema, report_schema
from aisweep.report.stats import findings_of

from .test_stats import finding, rec

SARIF_SCHEMA = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def extended_records() -> list[dict[str, Any]]:
    """Records with every optional field other stages add (honeypot, credentials, TLS details, advisories, geo)."""
    return [
        rec(
            "ollama",
            "198.51.100.7",
            11434,
            version="0.1.32",
            scheme="https",
            honeypot={"score": 0.2, "likely": False, "reasons": []},
            credentials=[{"type": "openai-key", "location": "GET /api/show", "sha256": "ab" * 32, "prefix": "sk-a"}],
            tls={
                "version": "TLSv1.2",
                "cipher": "ECDHE-RSA-AES128-GCM-SHA256",
                "cert_sha256": "cd" * 32,
                "versions": {"TLSv1.2": True},
                "cert": {"self_signed": True},
                "verify_error": "self-signed certificate",
                "name_mismatch": True,
                "expired": False,
                "not_yet_valid": False,
                "self_signed": True,
                "hsts": False,
            },
            geo={"country": "NL", "country_name": "Netherlands", "asn": 64500, "as_org": "Example"},
            mcp={
                "transport": "streamable-http",
                "gated": False,
                "server_info": {"name": "db-tools", "version": "1.2"},
                "tools": [{"name": "run_sql", "description": "Run SQL", "input_keys": ["query"]}],
                "tools_count": 1,
            },
            findings=[
                finding("auth.none", "high"),
                finding("vuln.CVE-2024-37032", "critical", "vulnerability", kev=True),
                finding("indicator.x", "medium", "indicator"),
            ],
        ),
        rec("ollama", "198.51.100.8", 11434, honeypot={"score": 0.95, "likely": True, "reasons": ["6 ports"]}),
        rec("gradio", "2001:db8::5", 7860, "auth-required", confidence="low"),
    ]


@pytest.fixture
def extended_report() -> Report:
    run = {
        "id": "20260101T000000Z-abcdef",
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "status": "finished",
        "command": "scan",
        "targets": ["198.51.100.0/24", "2001:db8::/120"],
        "settings": {"ports": [11434, 7860], "level": "safe"},
        "counters": {"targets_total": 512, "targets_done": 512, "outcomes": {"ok": 3, "refused": 509}},
        "tool_version": "0.1.0",
    }
    return build_report(run, extended_records(), product_ports={"ollama": [11434], "gradio": [7860]})


def test_record_schema_is_generated_from_the_model() -> None:
    schema = record_schema()
    service = Service(
        target=Target("192.0.2.1", 8000, hostname="llm.example"),
        scheme="https",
        product="vllm",
        product_name="vLLM",
        category="inference-server",
        confidence=Confidence.HIGH,
        auth_tier=AuthTier.OPEN_READ,
        tls=TlsFacts("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        findings=[Finding("auth.none", "t", Severity.HIGH, Control.AUTHENTICATION, "e", "r", fingerprint="f")],
    )
    record = service.to_record()
    _validator(schema).validate(record)
    # the schema lists exactly what to_record writes (drift between the two fails here)
    assert set(schema["required"]) == set(record)
    assert set(schema["properties"]["target"]["required"]) == set(record["target"])
    tls_schema = schema["properties"]["tls"]["anyOf"][0]
    assert set(tls_schema["required"]) == set(record["tls"])
    assert set(schema["properties"]["findings"]["items"]["required"]) == set(record["findings"][0])
    assert schema["properties"]["confidence"]["enum"] == [c.value for c in Confidence]
    assert schema["properties"]["auth"]["properties"]["tier"]["enum"] == [t.value for t in AuthTier]
    bad = dict(record, confidence="certain")
    with pytest.raises(jsonschema.ValidationError):
        _validator(schema).validate(bad)
    missing = {k: v for k, v in record.items() if k != "auth"}
    with pytest.raises(jsonschema.ValidationError):
        _validator(schema).validate(missing)
    assert "cert_der" not in tls_schema["properties"]  # bytes never reach a record
    assert dataclasses.is_dataclass(TlsFacts)


@pytest.mark.parametrize("which", ["demo", "extended"])
def test_json_and_jsonl_validate(which: str, demo_report: Report, extended_report: Report) -> None:
    report = demo_report if which == "demo" else extended_report
    record_validator = _validator(record_schema())
    lines = render_jsonl(report).splitlines()
    assert len(lines) == len(report.records) > 0
    for line in lines:
        record_validator.validate(json.loads(line))
    document = json.loads(render_json(report))
    _validator(report_schema()).validate(document)
    assert document["survey"]["services"] == report.survey.services
    assert len(document["services"]) == len(report.records)


@pytest.mark.parametrize("which", ["demo", "extended"])
def test_sarif_validates_against_the_official_schema(which: str, demo_report: Report, extended_report: Report) -> None:
    report = demo_report if which == "demo" else extended_report
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    document = json.loads(render_sarif(report))
    jsonschema.Draft4Validator(schema).validate(document)
    run = document["runs"][0]
    results = run["results"]
    expected = [f["fingerprint"] for r in report.records for f in findings_of(r)]
    assert [res["partialFingerprints"][FINGERPRINT_KEY] for res in results] == expected
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[res["ruleIndex"]]["id"] == res["ruleId"] for res in results)
    assert len({r["id"] for r in rules}) == len(rules)
    # stable: a second rendering (and a rebuilt report) gives the same fingerprints
    again = json.loads(render_sarif(report))
    assert [r["partialFingerprints"] for r in again["runs"][0]["results"]] == [
        r["partialFingerprints"] for r in results
    ]


def test_sarif_levels_and_uris(extended_report: Report) -> None:
    document = json.loads(render_sarif(extended_report))
    results = document["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["vuln.CVE-2024-37032"]["level"] == "error" and by_rule["vuln.CVE-2024-37032"]["properties"]["kev"]
    assert by_rule["indicator.x"]["level"] == "warning"
    uri = by_rule["auth.none"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "https://198.51.100.7:11434/"


def test_csv_outputs_round_trip(demo_report: Report, extended_report: Report, tmp_path: Path) -> None:
    for report in (demo_report, extended_report):
        files = render_csv(report)
        services = list(csv.DictReader(io.StringIO(files["services.csv"])))
        findings = list(csv.DictReader(io.StringIO(files["findings.csv"])))
        assert len(services) == len(report.records)
        assert len(findings) == sum(len(findings_of(r)) for r in report.records)
        assert {f["fingerprint"] for f in findings} == {
            f["fingerprint"] for r in report.records for f in findings_of(r)
        }
    ext = {r["host"]: r for r in csv.DictReader(io.StringIO(render_csv(extended_report)["services.csv"]))}
    first = ext["198.51.100.7"]
    assert first["country"] == "NL" and first["credential_types"] == "openai-key"
    assert first["tls_problems"] == "untrusted;self_signed;name_mismatch"
    assert ext["198.51.100.8"]["honeypot_likely"] == "true" and ext["2001:db8::5"]["confirmed"] == "false"
    assert csv_paths(tmp_path) == {"services.csv": tmp_path / "services.csv", "findings.csv": tmp_path / "findings.csv"}
    assert csv_paths(tmp_path / "out.csv")["findings.csv"] == tmp_path / "out-findings.csv"
    assert csv_paths(tmp_path / "run7")["services.csv"] == tmp_path / "run7-services.csv"


def test_csv_neutralises_formulas() -> None:
    assert safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("-5") == "-5" and safe_cell("+x") == "'+x"
    assert safe_cell(None) == "" and safe_cell(True) == "true" and safe_cell(3) == 3


def test_markdown_tables_stay_intact(extended_report: Report, demo_report: Report) -> None:
    records = extended_records()
    records[0]["findings"][0]["evidence"] = "a | b <script>alert(1)</script> [x](http://evil)"
    report = build_report(extended_report.run, records)
    md = render_markdown(report)
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    widths = {line.count("|") - line.count("\\|") for line in table_lines if not line.startswith("|---")}
    assert "<script>" not in md and "[x](" not in md and r"\[x\](http://evil)" in md
    assert "## Limitations" in md and "## Per product" in md
    assert widths  # every row of a table has as many cells as its header
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            assert len({r.count("|") - r.count("\\|") for r in rows}) == 1, block
    demo_md = render_markdown(demo_report)
    assert demo_md.count("| ") > 50 and "Honeypot screening" in demo_md


def test_an_empty_run_renders_in_every_format() -> None:
    run = {
        "id": "empty",
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": None,
        "status": "interrupted",
        "command": "scan",
        "targets": ["192.0.2.0/30"],
        "settings": {"ports": [80], "level": "safe"},
        "counters": {"targets_total": 4, "targets_done": 2, "outcomes": {"timeout": 2}, "interrupted": True},
    }
    report = build_report(run, [])
    for fmt in ("html", "md", "json", "jsonl", "csv", "sarif"):
        assert render(report, fmt)
    _validator(report_schema()).validate(json.loads(render_json(report)))
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(json.loads(render_sarif(report)))
    text = " ".join(report.limitations)
    assert "2 target(s) timed out" in text and "`interrupted` after 2 of 4 targets" in text


def test_secret_looking_values_are_masked_in_excerpts() -> None:
    body = (
        b'{"api_key": "abcd1234efgh", "OPENAI_API_KEY": "sk-proj-AAAAAAAAAAAAAAAAAAAA", "note": "hello world",'
        b' "blob": "' + b"Q" * 48 + b'"}'
    )
    text = observation_excerpt(
        {"method": "GET", "path": "/api/config", "status": 200, "headers": [["set-cookie", "s=1"]], "body": body}
    )
    assert "abcd1234efgh" not in text and "AAAAAAAAAAAA" not in text and "Q" * 40 not in text
    assert "hello world" in text and "GET /api/config → 200" in text and "set-cookie: [masked]" in text
    assert mask_secrets("version 1.2.3 ok") == "version 1.2.3 ok"


def test_html_shows_the_optional_fields(extended_report: Report) -> None:
    html = render(extended_report, "html")["report.html"]
    for needle in (
        "MCP handshake",
        "db-tools 1.2",
        "1 tools listed: run_sql",
        "openai-key",
        "Netherlands",
        "honeypot-likely (excluded)",
        "chip kev",
        "CVE-2024-37032",
        "self-signed",
        "low confidence",
    ):
        assert needle in html, needle
