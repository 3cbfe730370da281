"""SARIF 2.1.0 for code-scanning dashboards and CI: one rule per finding id, one result per finding, located at the
service's URL, with the finding's stable fingerprint as `partialFingerprints` so results track across runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aisweep import __version__
from aisweep.report.build import PROJECT_URL, Report
from aisweep.report.stats import auth_tier, findings_of, is_honeypot, is_kev, service_key

SARIF_SCHEMA: Final = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY: Final = "aisweepFinding/v1"
LEVELS: Final = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY: Final = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
_RANK: Final = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _utc(timestamp: Any) -> str | None:
    if not timestamp:
        return None
    text = str(timestamp)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def service_uri(record: Mapping[str, Any]) -> str:
    target = record.get("target") or {}
    host = str(target.get("host", ""))
    host = f"[{host}]" if ":" in host else host
    return f"{target.get('scheme') or 'http'}://{host}:{target.get('port')}/"


def _rule_text(finding: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    fid = str(finding.get("id", ""))
    if fid.startswith("vuln.") and fid != "vuln.version-unknown":
        return f"Service version in the affected range of {fid.removeprefix('vuln.')}"
    title = str(finding.get("title", fid))
    prefix = f"{record.get('product_name')}: "
    return title.removeprefix(prefix) if title.startswith(prefix) else title


def render_sarif(report: Report) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for record in report.records:
        key = service_key(record)
        for f in findings_of(record):
            fid = str(f.get("id", "finding"))
            severity = str(f.get("severity", "info"))
            rule = rules.get(fid)
            if rule is None:
                rule = rules[fid] = {
                    "id": fid,
                    "name": "".join(part.capitalize() for part in fid.replace(".", "-").split("-")),
                    "shortDescription": {"text": _rule_text(f, record)},
                    "help": {"text": str(f.get("remediation", ""))},
                    "defaultConfiguration": {"level": LEVELS.get(severity, "warning")},
                    "helpUri": f"{PROJECT_URL}/blob/main/docs/report.md",
                    "properties": {
                        "tags": list(dict.fromkeys(t for t in ("security", f.get("category"), f.get("control")) if t)),
                        "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
                        "_rank": _RANK.get(severity, 2),
                    },
                }
            elif _RANK.get(severity, 2) > rule["properties"]["_rank"]:
                rule["properties"]["_rank"] = _RANK.get(severity, 2)
                rule["properties"]["security-severity"] = SECURITY_SEVERITY.get(severity, "5.5")
                rule["defaultConfiguration"]["level"] = LEVELS.get(severity, "warning")
            results.append(
                {
                    "ruleId": fid,
                    "level": LEVELS.get(severity, "warning"),
                    "kind": "fail",
                    "message": {"text": f"{f.get('title', fid)}. Evidence: {f.get('evidence', '')}"},
                    "locations": [
                        {
                            "physicalLocation": {"artifactLocation": {"uri": service_uri(record)}},
                            "logicalLocations": [
                                {
                                    "name": key,
                                    "fullyQualifiedName": f"{record.get('product')}@{key}",
                                    "kind": "resource",
                                }
                            ],
                        }
                    ],
                    "partialFingerprints": {FINGERPRINT_KEY: str(f.get("fingerprint", ""))},
                    "properties": {
                        "severity": severity,
                        "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
                        "category": f.get("category"),
                        "control": f.get("control"),
                        "product": record.get("product"),
                        "version": record.get("version"),
                        "authTier": auth_tier(record),
                        "confidence": record.get("confidence"),
                        "honeypotLikely": is_honeypot(record),
                        "kev": is_kev(f),
                        "remediation": f.get("remediation"),
                    },
                }
            )
    ordered = sorted(rules.values(), key=lambda r: r["id"])
    index = {r["id"]: i for i, r in enumerate(ordered)}
    for r in ordered:
        r["properties"].pop("_rank")
    for res in results:
        res["ruleIndex"] = index[res["ruleId"]]
    invocation: dict[str, Any] = {
        "executionSuccessful": report.run.get("status") == "finished",
        "properties": {"counters": report.counters, "level": report.settings.get("level") or "safe"},
    }
    for name, value in (("startTimeUtc", report.run.get("started_at")), ("endTimeUtc", report.run.get("finished_at"))):
        if _utc(value):
            invocation[name] = _utc(value)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "aisweep",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": PROJECT_URL,
                        "rules": ordered,
                    }
                },
                "automationDetails": {"id": f"aisweep/{report.run_id}"},
                "invocations": [invocation],
                "results": results,
                "properties": {"anonymized": report.anonymized, "limitations": report.limitations},
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
