"""CSV outputs for spreadsheets and data tools: services.csv (one row per service) and findings.csv (one row per
finding). Cells that a spreadsheet would run as a formula are prefixed with an apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from aisweep.report.build import Report
from aisweep.report.stats import (
    TLS_PROBLEMS,
    auth_tier,
    credentials_of,
    findings_of,
    is_confirmed,
    is_honeypot,
    is_kev,
    tls_checks,
    tls_of,
    top_severity,
)

SERVICE_COLUMNS: Final = (
    "host",
    "port",
    "scheme",
    "hostname",
    "product",
    "product_name",
    "category",
    "variant",
    "confidence",
    "confirmed",
    "honeypot_likely",
    "honeypot_score",
    "version",
    "version_confidence",
    "version_source",
    "auth_tier",
    "auth_evidence",
    "partial_protection",
    "surfaces",
    "tls_version",
    "tls_problems",
    "credential_types",
    "country",
    "asn",
    "as_org",
    "findings",
    "top_severity",
    "finding_ids",
)
FINDING_COLUMNS: Final = (
    "host",
    "port",
    "scheme",
    "product",
    "version",
    "finding_id",
    "severity",
    "category",
    "control",
    "kev",
    "title",
    "evidence",
    "remediation",
    "fingerprint",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text that came from a scanned service (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def service_row(r: Mapping[str, Any]) -> dict[str, Any]:
    target = r.get("target") or {}
    auth = r.get("auth") or {}
    hp = r.get("honeypot") if isinstance(r.get("honeypot"), Mapping) else {}
    geo = r.get("geo") if isinstance(r.get("geo"), Mapping) else {}
    findings = findings_of(r)
    return {
        "host": target.get("host"),
        "port": target.get("port"),
        "scheme": target.get("scheme"),
        "hostname": target.get("hostname"),
        "product": r.get("product"),
        "product_name": r.get("product_name"),
        "category": r.get("category"),
        "variant": r.get("variant"),
        "confidence": r.get("confidence"),
        "confirmed": is_confirmed(r),
        "honeypot_likely": is_honeypot(r),
        "honeypot_score": (hp or {}).get("score"),
        "version": r.get("version"),
        "version_confidence": r.get("version_confidence"),
        "version_source": r.get("version_source"),
        "auth_tier": auth_tier(r),
        "auth_evidence": auth.get("evidence"),
        "partial_protection": "; ".join(auth.get("partial") or []),
        "surfaces": ";".join(f"{k}={v}" for k, v in sorted((r.get("surfaces") or {}).items())),
        "tls_version": tls_of(r).get("version"),
        "tls_problems": ";".join(k for k in TLS_PROBLEMS if tls_checks(r).get(k)),
        "credential_types": ";".join(sorted({str(c.get("type")) for c in credentials_of(r)})),
        "country": (geo or {}).get("country"),
        "asn": (geo or {}).get("asn"),
        "as_org": (geo or {}).get("as_org"),
        "findings": len(findings),
        "top_severity": top_severity(r),
        "finding_ids": ";".join(str(f.get("id")) for f in findings),
    }


def finding_rows(r: Mapping[str, Any]) -> list[dict[str, Any]]:
    target = r.get("target") or {}
    return [
        {
            "host": target.get("host"),
            "port": target.get("port"),
            "scheme": target.get("scheme"),
            "product": r.get("product"),
            "version": r.get("version"),
            "finding_id": f.get("id"),
            "severity": f.get("severity"),
            "category": f.get("category"),
            "control": f.get("control"),
            "kev": is_kev(f),
            "title": f.get("title"),
            "evidence": f.get("evidence"),
            "remediation": f.get("remediation"),
            "fingerprint": f.get("fingerprint"),
        }
        for f in findings_of(r)
    ]


def _write(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: safe_cell(row.get(k)) for k in columns})
    return buf.getvalue()


def render_csv(report: Report) -> dict[str, str]:
    """{"services.csv": text, "findings.csv": text}."""
    return {
        "services.csv": _write([service_row(r) for r in report.records], SERVICE_COLUMNS),
        "findings.csv": _write([row for r in report.records for row in finding_rows(r)], FINDING_COLUMNS),
    }


def csv_paths(output: Path) -> dict[str, Path]:
    """-o DIR (existing, or ending in a slash) → DIR/services.csv, DIR/findings.csv; -o STEM[.csv] →
    STEM-services.csv, STEM-findings.csv."""
    if output.is_dir() or str(output).endswith(("/", "\\")):
        return {name: output / name for name in ("services.csv", "findings.csv")}
    stem = output.with_suffix("") if output.suffix.lower() == ".csv" else output
    return {name: stem.with_name(f"{stem.name}-{name}") for name in ("services.csv", "findings.csv")}
