"""--anonymize: no address, host name, raw body or re-identifiable hash survives in any format, and pseudonyms are
consistent within a report and across reports only when the same key is given."""

from __future__ import annotations

import json
import re
from typing import Any

from aisweep.report.anonymize import Anonymizer, pseudonym
from aisweep.report.build import build_report
from aisweep.report.cli import render
from aisweep.report.load import load_report
from aisweep.report.stats import findings_of

from .conftest import DemoRun
from .test_stats import finding, rec

IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def test_pseudonyms_are_keyed_and_consistent() -> None:
    key = b"k" * 32
    assert pseudonym(key, "10.0.0.1") == pseudonym(key, "10.0.0.1") != pseudonym(key, "10.0.0.2")
    assert pseudonym(key, "10.0.0.1") != pseudonym(b"j" * 32, "10.0.0.1")
    assert Anonymizer().host("10.0.0.1") != Anonymizer().host("10.0.0.1")  # a fresh random key per report


def test_record_anonymisation_covers_text_hashes_and_names() -> None:
    r = rec(
        "litellm",
        "203.0.113.9",
        4000,
        hostname="llm.corp.example",
        findings=[finding("auth.none", evidence="http://203.0.113.9:4000/v1/models open; upstream 10.1.2.3")],
        credentials=[{"type": "openai-key", "location": "GET /v1/models", "sha256": "ab" * 32, "prefix": "sk-pr"}],
        tls={"version": "TLSv1.3", "cipher": "c", "cert_sha256": "cd" * 32},
        version="1.2.3.4",  # a four-part version is not an address
    )
    r["target"]["hostname"] = "llm.corp.example"
    r["auth"]["evidence"] = "llm.corp.example answered"
    r["observations"] = [{"body_b64": "c2VjcmV0"}]
    anon = Anonymizer(b"x" * 32)
    (out,) = anon.records([r])
    text = json.dumps(out)
    for secret in ("203.0.113.9", "10.1.2.3", "llm.corp.example", "ab" * 32, "cd" * 32, "sk-pr", "c2VjcmV0"):
        assert secret not in text, secret
    assert out["target"]["host"] == pseudonym(b"x" * 32, "203.0.113.9") and out["target"]["hostname"] is None
    assert pseudonym(b"x" * 32, "203.0.113.9") in out["findings"][0]["evidence"]
    assert out["version"] == "1.2.3.4"
    assert out["findings"][0]["fingerprint"] != r["findings"][0]["fingerprint"]
    assert out["credentials"] == [{"type": "openai-key", "location": "GET /v1/models"}]


def _all_outputs(report: Any) -> str:
    return "\n".join(
        text for fmt in ("html", "md", "json", "jsonl", "csv", "sarif") for text in render(report, fmt).values()
    )


def test_anonymised_demo_report_leaks_no_address(demo_run: DemoRun) -> None:
    plain = load_report(str(demo_run.db), demo_run.run_id)
    anon = load_report(str(demo_run.db), demo_run.run_id, anonymize=True)
    assert anon.anonymized and not anon.observations and plain.observations
    text = _all_outputs(anon)
    leaked = {ip for ip in IPV4.findall(text) if ip.startswith("127.")}
    assert not leaked, sorted(leaked)[:5]
    assert "127.77.0.0/24" not in text and demo_run.network.cidr() not in text
    plain_fps = {f["fingerprint"] for r in plain.records for f in findings_of(r)}
    anon_fps = {f["fingerprint"] for r in anon.records for f in findings_of(r)}
    assert len(anon_fps) == len(plain_fps) and not anon_fps & plain_fps
    # statistics do not change: only identities do
    assert [(p.product, p.confirmed, p.hosts, p.no_auth) for p in anon.survey.products] == [
        (p.product, p.confirmed, p.hosts, p.no_auth) for p in plain.survey.products
    ]
    # the same key gives the same pseudonyms (so two anonymised reports can be compared), another key does not
    a1 = load_report(str(demo_run.db), demo_run.run_id, anonymize=True, anonymize_key=b"team-key")
    a2 = load_report(str(demo_run.db), demo_run.run_id, anonymize=True, anonymize_key=b"team-key")
    hosts1 = sorted(r["target"]["host"] for r in a1.records)
    assert hosts1 == sorted(r["target"]["host"] for r in a2.records)
    assert hosts1 != sorted(r["target"]["host"] for r in anon.records)


def test_anonymised_limitations_say_so() -> None:
    report = build_report({"settings": {}, "targets": ["10.0.0.0/8"]}, [], anonymized=True)
    assert any(line.startswith("Anonymised") for line in report.limitations)
