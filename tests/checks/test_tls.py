"""TLS posture findings, from facts gathered against real TLS servers on 127.0.0.1 (certificates generated here),
and plain-HTTP severity graded by what the service hands out."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from pathlib import Path

import pytest

from aisweep.checks.base import CheckContext
from aisweep.checks.tls import TlsCheck
from aisweep.models import AuthTier, Observation, Outcome, Request, Service, TlsFacts
from tests.checks.planting import finding, plant, rules, scan
from tests.checks.test_secrets import litellm_with_leaks, planted_values
from tests.net.test_tls import make_cert, posture, tls_server

HSTS = (("strict-transport-security", "max-age=31536000"),)


def tls_findings(service: Service, facts: TlsFacts, headers: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    https = dataclasses.replace(service, scheme="https", tls=facts)
    rule = next(r for r in rules() if r.id == service.product)
    root = Observation(Request("GET", "/"), Outcome.OK, 200, (("content-type", "text/plain"), *headers), b"ok")
    findings = TlsCheck().run(CheckContext(https, rule, {"GET /": root}))
    return {f.id: f.severity.value for f in findings}


def ollama() -> Service:
    return scan(plant("ollama-0.5.7-open"))


def facts_from_server(cert: tuple[Path, Path], low: ssl.TLSVersion, hostname: str = "localhost") -> TlsFacts:
    """Start a real TLS server with `cert` accepting `low`..TLS 1.3 and gather its posture as the engine does."""

    async def run() -> TlsFacts:
        async with tls_server(cert, low, ssl.TLSVersion.TLSv1_3) as port:
            return await posture(port, hostname)

    return asyncio.run(run())


def test_self_signed_modern_server(tmp_path: Path) -> None:
    facts = facts_from_server(make_cert(tmp_path, "localhost"), ssl.TLSVersion.TLSv1_2)
    found = tls_findings(ollama(), facts)
    assert found == {"tls.self-signed": "low", "tls.no-hsts": "info"}
    assert tls_findings(ollama(), facts, HSTS) == {"tls.self-signed": "low"}


def test_expired_weak_key_and_wrong_name(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "other.example", days_from=-30, days_to=-1, bits=1024)
    facts = facts_from_server(cert, ssl.TLSVersion.TLSv1_2)
    found = tls_findings(ollama(), facts, HSTS)
    assert found["tls.expired"] == "medium" and found["tls.weak-key"] == "medium"
    assert found["tls.name-mismatch"] == "low" and "tls.verify-error" not in found  # explained by the above


def test_old_protocol_accepted(tmp_path: Path) -> None:
    facts = facts_from_server(make_cert(tmp_path, "localhost"), ssl.TLSVersion.TLSv1)
    if not (facts.versions.get("TLSv1.0") or facts.versions.get("TLSv1.1")):
        pytest.skip("the local OpenSSL refuses to serve TLS 1.0/1.1 even at SECLEVEL=0")
    assert tls_findings(ollama(), facts, HSTS)["tls.old-protocol"] == "medium"


def test_untrusted_chain_without_other_explanation() -> None:
    facts = TlsFacts(
        "TLSv1.3",
        "TLS_AES_128_GCM_SHA256",
        versions={"TLSv1.2": True, "TLSv1.3": True},
        cert={"subject_cn": "ollama.internal", "self_signed": False, "key_type": "EC", "key_bits": 256},
        verify_error="unable to get local issuer certificate",
        name_mismatch=False,
    )
    assert tls_findings(ollama(), facts, HSTS) == {"tls.verify-error": "low"}


def test_plain_http_graded_by_what_travels() -> None:
    service = ollama()  # open model list
    assert finding(service, "tls.plain-http").severity.value == "medium"
    leaky = scan(litellm_with_leaks(planted_values()))
    assert finding(leaky, "tls.plain-http").severity.value == "high"
    guarded = scan(plant("litellm-1.106.12-key"))  # users send the master key in clear
    assert finding(guarded, "tls.plain-http").severity.value == "medium"
    metadata_only = dataclasses.replace(service, auth_tier=AuthTier.OPEN_METADATA, surfaces={})
    rule = next(r for r in rules() if r.id == "ollama")
    version = Observation(Request("GET", "/api/version"), Outcome.OK, 200, (), b'{"version":"0.5.7"}')
    low = TlsCheck().run(CheckContext(metadata_only, rule, {"GET /api/version": version}))
    assert [(f.id, f.severity.value) for f in low] == [("tls.plain-http", "low")]
    assert "Ollama has no TLS option" in low[0].remediation
