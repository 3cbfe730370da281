"""Survey statistics as pure functions: the Wilson interval, version ordering, and each per-product number on
small hand-made record sets whose answers are known."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisweep.models import AuthTier, Confidence, Service, Target, VersionConfidence
from aisweep.report.stats import rate, survey, tls_checks, version_key, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Reference values of the Wilson score interval: Newcombe, "Two-sided confidence intervals for the single
        # proportion", Statistics in Medicine 17 (1998), method 3 (81/263, 15/148, 1/29); 0/10, 5/10 and 10/10 from the
        # closed form, checked by hand.
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 29, 0.0061, 0.1718),
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
    ],
)
def test_wilson_interval_reference_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=6e-5) and hi == pytest.approx(high, abs=6e-5)


def test_wilson_interval_edges_and_errors() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(-1, 2)
    assert rate(0, 0).share is None and rate(0, 0).low is None


@given(st.integers(min_value=1, max_value=5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_share_and_is_symmetric(kn: tuple[int, int]) -> None:
    k, n = kn
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    mirror_lo, mirror_hi = wilson_interval(n - k, n)
    assert lo == pytest.approx(1 - mirror_hi, abs=1e-12) and hi == pytest.approx(1 - mirror_lo, abs=1e-12)
    if 0 < k < n:
        assert lo > 0.0 and hi < 1.0


def test_version_ordering() -> None:
    ordered = ["0.1.32", "0.5.7", "0.5.10", "0.32.15", "1.0.0rc1", "1.0.0", "v1.0.1"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert sorted(["b8929-9d34231bb", "b4747-c5d91a74"], key=version_key) == ["b4747-c5d91a74", "b8929-9d34231bb"]
    assert sorted(["25.07", "24.12", "25.1"], key=version_key) == ["24.12", "25.1", "25.07"]


def rec(
    product: str,
    host: str,
    port: int,
    tier: str = "open-read",
    *,
    version: str | None = None,
    confidence: str = "high",
    scheme: str = "http",
    **extra: Any,
) -> dict[str, Any]:
    """A service record as Service.to_record writes it (so it follows the model), with the given facts."""
    service = Service(
        target=Target(host, port, origin="test"),
        scheme=scheme,
        product=product,
        product_name=product.capitalize(),
        category="test",
        confidence=Confidence(confidence),
        version=version,
        version_confidence=VersionConfidence.EXACT if version else VersionConfidence.UNKNOWN,
        auth_tier=AuthTier(tier),
        partial_protection=extra.pop("partial", []),
        surfaces=extra.pop("surfaces", {}),
    )
    record = service.to_record()
    record["tls"] = extra.pop("tls", None)
    record["findings"] = extra.pop("findings", [])
    record.update(extra)
    return record


def finding(fid: str, severity: str = "high", category: str = "authentication", **extra: Any) -> dict[str, Any]:
    return {
        "id": fid,
        "severity": severity,
        "title": extra.pop("title", fid),
        "category": category,
        "control": "authentication",
        "evidence": "e",
        "remediation": "r",
        "fingerprint": f"fp-{fid}-{extra.pop('n', 0)}",
        **extra,
    }


def test_survey_counts_per_product_with_candidates_and_honeypots() -> None:
    records = [
        rec("ollama", "10.0.0.1", 11434, "open-read", version="0.5.7"),
        rec("ollama", "10.0.0.2", 11434, "open-read", version="0.1.32"),
        rec("ollama", "10.0.0.2", 11435, "auth-required", version="0.5.7"),  # same host, second port
        rec("ollama", "10.0.0.3", 11434, "open-admin", confidence="low"),  # candidate only
        rec("ollama", "10.0.0.4", 11434, "open-read", honeypot={"score": 0.9, "likely": True, "reasons": ["x"]}),
        rec("ollama", "10.0.0.5", 11434, "unknown"),  # undetermined: out of the rate denominators
        rec("open-webui", "10.0.0.6", 3000, "open-signup", version="0.12.4"),
        rec("open-webui", "10.0.0.7", 3000, "first-visitor-admin", version="0.12.4"),
        rec("open-webui", "10.0.0.8", 8080, "auth-required", version="0.12.4"),
        rec("open-webui", "10.0.0.9", 8080, "open-admin", version="0.12.4", honeypot={"score": 0.1, "likely": False}),
    ]
    counters = {"unidentified_by_port": {"11434": 2, "8080": 3, "9999": 7}, "outcomes": {"ok": 10, "timeout": 4}}
    s = survey(records, counters, {"ollama": [11434], "open-webui": [3000, 8080], "generic": None})
    ollama, webui = s.product("ollama"), s.product("open-webui")
    assert ollama is not None and webui is not None
    assert (ollama.confirmed, ollama.hosts, ollama.low_confidence, ollama.honeypots) == (4, 3, 1, 1)
    assert ollama.candidates == 4 + 1 + 2
    assert ollama.determined == 3 and ollama.tiers["unknown"] == 1
    assert ollama.no_auth == rate(2, 3)
    assert ollama.versions == [("0.5.7", 2), ("0.1.32", 1), ("", 1)]
    assert ollama.latest_seen == "0.5.7" and ollama.on_latest_seen == rate(2, 3)
    assert ollama.with_version == rate(3, 4)
    # open sign-up and first-visitor admin are not "no authentication"
    assert webui.no_auth == rate(1, 4) and webui.signup == rate(2, 4) and webui.auth_required == rate(1, 4)
    assert webui.candidates == 4 + 3
    assert (s.services, s.hosts, s.honeypots, s.low_confidence, s.unidentified) == (8, 7, 1, 1, 12)
    assert s.timeouts == 4
    assert [p.product for p in s.products] == ["ollama", "open-webui"]


def test_survey_advisories_kev_tls_credentials_surfaces_indicators() -> None:
    vuln = "vuln.CVE-2024-37032"
    records = [
        rec(
            "ollama",
            "10.0.0.1",
            11434,
            version="0.1.32",
            scheme="https",
            findings=[
                finding(vuln, "critical", "vulnerability", title="Ollama 0.1.32 ...; known exploited (CISA KEV)"),
                finding("vuln.GHSA-xxxx", "medium", "vulnerability"),
                finding("indicator.odd-model", "high", "indicator"),
            ],
            tls={"version": "TLSv1.2", "cipher": "X", "self_signed": True, "expired": False, "hsts": False},
            credentials=[{"type": "openai-key", "location": "GET /api/config", "sha256": "ab", "prefix": "sk-"}],
            surfaces={"models": 3, "running_models": 0},
        ),
        rec(
            "ollama",
            "10.0.0.2",
            11434,
            version="0.5.7",
            findings=[finding(vuln, "critical", "vulnerability", kev=True)],
            surfaces={"models": 0},
        ),
        rec("ollama", "10.0.0.3", 11434, findings=[finding("vuln.version-unknown", "info", "vulnerability")]),
    ]
    s = survey(records)
    p = s.product("ollama")
    assert p is not None
    adv = {a.id: a for a in p.advisories}
    assert adv[vuln].in_range == rate(2, 3) and adv[vuln].kev and adv[vuln].of_versioned == rate(2, 2)
    assert adv["vuln.GHSA-xxxx"].in_range == rate(1, 3) and not adv["vuln.GHSA-xxxx"].kev
    assert p.any_advisory == rate(2, 3) and p.kev == rate(2, 3)
    assert p.version_unknown_for_advisories == 1
    assert p.https == rate(1, 3) and p.tls_versions == {"TLSv1.2": 1}
    assert p.tls_checks["self_signed"] == rate(1, 1) and p.tls_checks["expired"] == rate(0, 1)
    assert "name_mismatch" not in p.tls_checks  # not tested is not "no problem"
    assert p.credentials == rate(1, 3) and p.credential_types == {"openai-key": 1}
    assert p.surfaces["models"].total == 3 and p.surfaces["models"].services == rate(1, 2)
    assert p.surfaces["running_models"].services == rate(0, 1)
    assert p.indicators == rate(1, 3) and s.indicators == [("indicator.odd-model", "indicator.odd-model", 1)]
    assert s.countries is None


def test_tls_checks_read_certificate_details() -> None:
    r = rec(
        "x",
        "10.0.0.1",
        443,
        scheme="https",
        tls={
            "version": "TLSv1.3",
            "cipher": "TLS_AES_128_GCM_SHA256",
            "versions": {"TLSv1.0": True, "TLSv1.2": True},
            "cert": {"self_signed": True, "key_type": "RSA", "key_bits": 1024},
            "verify_error": "self-signed certificate",
            "name_mismatch": None,
            "expired": False,
            "not_yet_valid": False,
        },
    )
    checks = tls_checks(r)
    assert checks == {
        "self_signed": True,
        "expired": False,
        "not_yet_valid": False,
        "weak_key": True,
        "untrusted": True,
        "legacy_protocol": True,
    }
    no_cert = rec("x", "10.0.0.1", 443, tls={"version": "TLSv1.3", "cipher": "c", "cert": None, "expired": False})
    assert tls_checks(no_cert) == {}


def test_geo_breakdown_counts_unique_hosts() -> None:
    records = [
        rec("a", "10.0.0.1", 1, geo={"country": "NL", "country_name": "Netherlands", "asn": 64500, "as_org": "Ex"}),
        rec("b", "10.0.0.1", 2, geo={"country": "NL", "country_name": "Netherlands", "asn": 64500, "as_org": "Ex"}),
        rec("a", "10.0.0.2", 1, geo={}),
    ]
    s = survey(records)
    assert s.countries is not None and s.asns is not None
    assert [(c.key, c.label, c.hosts, c.services) for c in s.countries] == [
        ("NL", "Netherlands", 1, 2),
        ("unknown", "unknown", 1, 1),
    ]
    assert [(c.key, c.hosts) for c in s.asns] == [("AS64500 Ex", 1), ("unknown", 1)]
    a = s.product("a")
    assert a is not None and a.countries == {"NL": 1, "unknown": 1}


def test_honeypot_and_credentials_read_from_findings_when_no_record_field() -> None:
    records = [
        rec("ollama", "10.0.0.1", 11434, findings=[finding("honeypot.likely", "info", "honeypot")]),
        rec("ollama", "10.0.0.2", 11434, findings=[finding("secret.openai-key", "critical", "credentials")]),
        rec("ollama", "10.0.0.3", 11434, honeypot={"score": 0.1, "likely": False}),
    ]
    s = survey(records)
    p = s.product("ollama")
    assert p is not None and p.honeypots == 1 and p.confirmed == 2
    assert p.credentials == rate(1, 2) and p.credential_types == {"openai-key": 1}
