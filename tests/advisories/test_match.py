"""Matching real product versions against the shipped advisories, and the findings' wording: "version in affected
range" with the version's confidence, one finding per vulnerability (aliases merged), one informational finding when
the version is unknown, KEV flagged."""

from __future__ import annotations

import re

import pytest

from aisweep.advisories.check import VERSION_UNKNOWN_ID, AdvisoryCheck
from aisweep.advisories.database import load_database
from aisweep.advisories.match import MatchStatus, assess_version
from aisweep.models import Control, Severity, VersionConfidence

from .conftest import make_ctx, make_db, make_service, osv

DB = load_database(use_updated=False)


def hits(product: str, version: str | None) -> dict[str, str | None]:
    a = assess_version(DB, product, version)
    return {h.group.primary: h.fixed for h in a.hits}


# --- real versions against the shipped data -------------------------------------------------------------------------


def test_mlflow_2_1_1_is_in_range_of_cve_2023_1177() -> None:
    found = hits("mlflow", "2.1.1")
    assert found["CVE-2023-1177"] == "2.2.1"
    assert found["CVE-2023-1176"] == "2.2.2"
    assert "CVE-2022-0736" not in found  # fixed in 1.23.1, before 2.1.1


def test_mlflow_3_17_2_is_in_no_fixed_range() -> None:
    a = assess_version(DB, "mlflow", "3.17.2")
    assert "CVE-2023-1177" not in {h.group.primary for h in a.hits}
    assert [h for h in a.hits if h.fixed] == []


def test_gradio_3_50_2_matches_its_advisories() -> None:
    found = hits("gradio", "3.50.2")
    assert found["CVE-2023-51449"] == "4.11.0"  # PYSEC-2023-249 / GHSA-6qm2-wpxq-7qh2
    assert found["CVE-2023-6572"] == "4.14.0"
    assert "CVE-2023-34239" not in found  # fixed in 3.34.0
    assert hits("gradio", "4.11.0").get("CVE-2023-51449", "absent") == "absent"


def test_ray_2_6_3_matches_its_advisories() -> None:
    found = hits("ray", "2.6.3")
    for cve in ("CVE-2023-6019", "CVE-2023-6020", "CVE-2023-6021"):
        assert found[cve] == "2.8.1"
    assert not {k: v for k, v in hits("ray", "2.60.0").items() if v}


def test_ollama_0_1_32_and_cve_2024_37032() -> None:
    found = hits("ollama", "0.1.32")
    assert found["CVE-2024-37032"] == "0.1.34"
    assert found["CVE-2026-7482"] == "0.17.1"
    assert "CVE-2024-28224" not in found  # fixed in 0.1.29
    assert "CVE-2024-37032" in hits("ollama", "v0.1.33")
    assert "CVE-2024-37032" not in hits("ollama", "0.1.34")


def test_ollama_0_17_1_is_outside_cve_2026_7482() -> None:
    assert "CVE-2026-7482" in hits("ollama", "0.17.0")
    assert "CVE-2026-7482" in hits("ollama", "0.17.1-rc0")  # a pre-release of the fix is before it
    for v in ("0.17.1", "0.17.2", "0.32.15"):
        assert "CVE-2026-7482" not in hits("ollama", v)


def test_llamacpp_build_numbers() -> None:
    old = hits("llamacpp", "b4747-c5d91a74")
    assert old["CVE-2025-49847"] == "b5662"
    assert hits("llamacpp", "b5662").get("CVE-2025-49847", "absent") == "absent"
    assert not {k: v for k, v in hits("llamacpp", "b8929-9d34231bb").items() if v}


def test_jupyter_server_and_classic_notebook_versions() -> None:
    assert hits("jupyter", "1.15.3")["CVE-2022-24757"] == "1.15.4"  # jupyter-server, PYSEC-2022-179
    assert hits("jupyter", "6.4.5")["CVE-2022-24758"] == "6.4.10"  # classic notebook reports its own version
    assert "CVE-2022-24758" not in hits("jupyter", "2.21.1")


def test_llama_cpp_python_last_affected() -> None:
    assert "CVE-2024-34359" in hits("llama-cpp-python", "0.2.71")
    assert "CVE-2024-34359" in hits("llama-cpp-python", "0.2.71+cu121")
    assert "CVE-2024-34359" not in hits("llama-cpp-python", "0.2.72")
    assert "CVE-2024-34359" not in hits("llama-cpp-python", "0.2.29")


def test_kev_subset_is_flagged() -> None:
    group = DB.find("CVE-2025-3248")
    assert group is not None and group.kev is not None
    assert group.kev.date_added == "2025-05-05"


@pytest.mark.parametrize(
    ("product", "version", "why"),
    [
        ("mlflow", None, "did not reveal"),
        ("mlflow", "", "did not reveal"),
        ("mlflow", "unknown", "cannot be ordered"),
        ("ollama", "0.0.0", "placeholder"),
        ("llamacpp", "c5d91a74", "cannot be ordered"),
        ("triton", "2.64.0", "cannot be ordered"),  # the core version is not a container release
    ],
)
def test_unknown_versions_claim_nothing(product: str, version: str | None, why: str) -> None:
    a = assess_version(DB, product, version)
    assert a.status is MatchStatus.UNKNOWN
    assert a.hits == ()
    assert why in a.reason
    assert a.advisories > 0


def test_unmapped_product() -> None:
    assert assess_version(DB, "no-such-product", "1.0").status is MatchStatus.UNMAPPED


# --- findings ---------------------------------------------------------------------------------------------------------


def test_finding_wording_for_mlflow_2_1_1() -> None:
    ctx = make_ctx(make_service("mlflow", "2.1.1", name="MLflow tracking server"))
    findings = {f.id: f for f in AdvisoryCheck(DB).run(ctx)}
    f = findings["vuln.CVE-2023-1177"]
    assert f.title == "MLflow 2.1.1 is in the affected range of CVE-2023-1177 (fixed in 2.2.1)"
    assert f.control is Control.PATCHING
    assert f.category == "vulnerability"
    assert f.severity is Severity.CRITICAL  # CVSS 3.1 9.8, lent by the compiled record for the PYSEC entry
    assert "exact" in f.evidence and "PYSEC-2023-29" in f.evidence
    assert "Advisory data:" in f.evidence and "old" in f.evidence
    assert f.remediation.startswith("Upgrade MLflow to ≥ 2.2.1")
    for finding in findings.values():
        assert not re.search(r"\bvulnerable\b", finding.title, re.I)
        assert "affected range" in finding.title


def test_inferred_confidence_is_stated() -> None:
    ctx = make_ctx(make_service("mlflow", "2.1.1", VersionConfidence.INFERRED))
    f = next(f for f in AdvisoryCheck(DB).run(ctx) if f.id == "vuln.CVE-2023-1177")
    assert "(inferred" in f.evidence


def test_unknown_version_gives_one_informational_finding() -> None:
    findings = AdvisoryCheck(DB).run(make_ctx(make_service("mlflow", None)))
    assert len(findings) == 1
    f = findings[0]
    n = len(DB.for_product("mlflow"))
    assert f.id == VERSION_UNKNOWN_ID
    assert f.severity is Severity.INFO
    assert f.title == f"MLflow: version unknown; {n} advisories exist for this product"


def test_no_finding_when_no_advisory_exists() -> None:
    db = make_db([])
    assert AdvisoryCheck(db).run(make_ctx(make_service("mlflow", None))) == []
    assert AdvisoryCheck(db).run(make_ctx(make_service("mlflow", "1.0"))) == []


def test_aliases_merge_into_one_finding() -> None:
    db = make_db(
        [
            osv("PYSEC-2099-1", "mlflow", [{"introduced": "0"}, {"fixed": "3.0"}], aliases=["CVE-2099-0001"]),
            osv(
                "GHSA-aaaa-bbbb-cccc",
                "mlflow",
                [{"introduced": "0"}, {"fixed": "3.0"}],
                aliases=["CVE-2099-0001"],
                cvss="CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
            ),
        ]
    )
    findings = AdvisoryCheck(db).run(make_ctx(make_service("mlflow", "2.0")))
    assert [f.id for f in findings] == ["vuln.CVE-2099-0001"]
    assert "GHSA-aaaa-bbbb-cccc" in findings[0].evidence and "PYSEC-2099-1" in findings[0].evidence
    assert findings[0].severity is Severity.MEDIUM  # 6.5 from the GHSA record


def test_authoritative_record_overrides_compiled_range() -> None:
    db = make_db(
        [
            osv("PYSEC-2099-2", "mlflow", [{"introduced": "0"}, {"fixed": "2.0"}], aliases=["CVE-2099-0002"]),
            osv("CVE-2099-0002", "mlflow", [{"introduced": "0"}, {"fixed": "9.0"}], compiled=True),
        ]
    )
    assert AdvisoryCheck(db).run(make_ctx(make_service("mlflow", "3.0"))) == []
    assert len(AdvisoryCheck(db).run(make_ctx(make_service("mlflow", "1.0")))) == 1


def test_kev_raises_severity_and_says_so() -> None:
    db = make_db(
        [
            osv(
                "GHSA-kkkk-kkkk-kkkk",
                "langflow",
                [{"introduced": "0"}, {"fixed": "1.3.0"}],
                aliases=["CVE-2025-3248"],
                cvss="CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
            )
        ],
        kev=["CVE-2025-3248"],
    )
    (f,) = AdvisoryCheck(db).run(make_ctx(make_service("langflow", "1.2.0")))
    assert (
        f.title
        == "Langflow 1.2.0 is in the affected range of CVE-2025-3248 (fixed in 1.3.0); known exploited (CISA KEV)"
    )
    assert f.severity is Severity.HIGH
    assert "Known exploited (CISA KEV): added 2025-05-05" in f.evidence


def test_no_fix_and_withdrawn() -> None:
    withdrawn = osv("GHSA-wwww-wwww-wwww", "mlflow", [{"introduced": "0"}])
    withdrawn["withdrawn"] = "2025-02-02T00:00:00Z"
    db = make_db([osv("GHSA-nnnn-nnnn-nnnn", "mlflow", [{"introduced": "1.0"}]), withdrawn])
    (f,) = AdvisoryCheck(db).run(make_ctx(make_service("mlflow", "2.0")))
    assert f.title.endswith("(no fixed version published)")
    assert "not rated" in f.evidence and f.severity is Severity.MEDIUM
    assert "No fixed MLflow release" in f.remediation


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("2.9.2rc1", True),  # pre-release of the fix
        ("2.9.2", False),
        ("2.9.2.post1", False),
        ("2.9.1.post3", True),
        ("2.9.1+ubuntu1", True),  # local build of an affected release
        ("v2.9.1", True),
        ("2.9.2.dev0", True),
    ],
)
def test_pep440_edge_cases_against_a_fix(version: str, affected: bool) -> None:
    db = make_db([osv("PYSEC-2099-3", "mlflow", [{"introduced": "0"}, {"fixed": "2.9.2"}])])
    assert (assess_version(db, "mlflow", version).status is MatchStatus.IN_RANGE) is affected


def test_a_scan_pins_one_dataset_for_all_its_services(monkeypatch: pytest.MonkeyPatch) -> None:
    import aisweep.advisories.check as check_module
    from aisweep.advisories.check import pinned_database

    ctx = make_ctx(make_service("mlflow", "2.1.1", name="MLflow tracking server"))
    expected = [f.id for f in AdvisoryCheck(DB).run(ctx)]

    def no_lookup(**_: object) -> None:
        raise AssertionError("looked for the advisory data file while a dataset was pinned")

    monkeypatch.setattr(check_module, "load_database", no_lookup)
    with pinned_database(DB):
        assert [f.id for f in AdvisoryCheck().run(ctx)] == expected
    with pytest.raises(AssertionError, match="looked for the advisory data file"):
        AdvisoryCheck().run(ctx)  # unpinned again: each service looks the data up
