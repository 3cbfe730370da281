"""Helpers: a small advisory database built from OSV records, and a check context for a service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aisweep.advisories.database import AdvisoryDatabase, load_products, parse_kev
from aisweep.advisories.osv import advisory_from_osv
from aisweep.checks.base import CheckContext
from aisweep.models import Confidence, Service, Target, VersionConfidence


def osv(
    rid: str,
    package: str,
    events: Sequence[Mapping[str, str]],
    *,
    ecosystem: str = "PyPI",
    aliases: Sequence[str] = (),
    cvss: str | None = None,
    rtype: str = "ECOSYSTEM",
    **specific: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": rid,
        "modified": "2025-01-01T00:00:00Z",
        "published": "2025-01-01T00:00:00Z",
        "aliases": list(aliases),
        "summary": f"test advisory {rid}",
        "affected": [
            {"package": {"ecosystem": ecosystem, "name": package}, "ranges": [{"type": rtype, "events": list(events)}]}
        ],
        "references": [{"type": "ADVISORY", "url": f"https://example.test/{rid}"}],
        "database_specific": {"source": "test", **specific},
    }
    if cvss:
        record["severity"] = [{"type": "CVSS_V3", "score": cvss}]
    return record


def make_db(records: Sequence[Mapping[str, Any]], kev: Sequence[str] = ()) -> AdvisoryDatabase:
    kev_doc = {
        "vulnerabilities": [
            {"cveID": c, "vendorProject": "v", "product": "p", "vulnerabilityName": "n", "dateAdded": "2025-05-05"}
            for c in kev
        ]
    }
    return AdvisoryDatabase(
        [advisory_from_osv(r) for r in records],
        parse_kev(kev_doc),
        load_products(),
        {"generated": "2026-11-01", "sources": [{"name": "test"}]},
        origin="shipped",
        path="test",
    )


def make_service(
    product: str,
    version: str | None,
    confidence: VersionConfidence = VersionConfidence.EXACT,
    name: str | None = None,
) -> Service:
    return Service(
        target=Target("127.0.0.1", 5000),
        scheme="http",
        product=product,
        product_name=name or product,
        category="test",
        confidence=Confidence.HIGH,
        version=version,
        version_source="GET /version body" if version else None,
        version_confidence=confidence if version else VersionConfidence.UNKNOWN,
    )


class _StubRule:
    """Only what CheckContext.finding reads from a rule: its remediation overrides (none here)."""

    remediation: Mapping[str, str] = {}


def make_ctx(service: Service) -> CheckContext:
    return CheckContext(service, _StubRule(), {})  # type: ignore[arg-type]


@pytest.fixture
def ctx_for():  # type: ignore[no-untyped-def]
    def build(product: str, version: str | None, confidence: VersionConfidence = VersionConfidence.EXACT):  # type: ignore[no-untyped-def]
        return make_ctx(make_service(product, version, confidence))

    return build


@pytest.fixture(autouse=True)
def _no_user_advisory_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see the shipped data only, never an updated copy in the user's cache."""
    monkeypatch.setenv("AISWEEP_ADVISORIES_DIR", str(tmp_path_factory.mktemp("no-update") / "advisories"))
