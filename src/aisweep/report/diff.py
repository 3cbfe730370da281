"""What changed between two runs: services new, gone ("fixed") or changed, keyed by host:port and product, and
findings new or fixed, keyed by their stable fingerprint."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aisweep.report.markdown import cell
from aisweep.report.stats import auth_tier, findings_of, service_key

_COMPARED = (
    ("version", lambda r: r.get("version")),
    ("auth tier", auth_tier),
    ("confidence", lambda r: r.get("confidence")),
    ("scheme", lambda r: (r.get("target") or {}).get("scheme")),
    ("TLS version", lambda r: (r.get("tls") or {}).get("version") if isinstance(r.get("tls"), Mapping) else None),
    ("surfaces", lambda r: dict(sorted((r.get("surfaces") or {}).items()))),
    (
        "honeypot",
        lambda r: bool((r.get("honeypot") or {}).get("likely")) if isinstance(r.get("honeypot"), Mapping) else None,
    ),
)


def diff_key(record: Mapping[str, Any]) -> str:
    return f"{service_key(record)} {record.get('product')}"


@dataclass(slots=True)
class ServiceChange:
    key: str
    product: str
    changes: list[tuple[str, Any, Any]]  # (what, before, after)


@dataclass(slots=True)
class RunDiff:
    run_a: str
    run_b: str
    new_services: list[dict[str, Any]] = field(default_factory=list)
    fixed_services: list[dict[str, Any]] = field(default_factory=list)
    changed_services: list[ServiceChange] = field(default_factory=list)
    unchanged_services: int = 0
    new_findings: list[dict[str, Any]] = field(default_factory=list)  # finding + "service" key
    fixed_findings: list[dict[str, Any]] = field(default_factory=list)
    persisting_findings: int = 0

    @property
    def empty(self) -> bool:
        return not (
            self.new_services
            or self.fixed_services
            or self.changed_services
            or self.new_findings
            or self.fixed_findings
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "services": {
                "new": [_service_summary(r) for r in self.new_services],
                "fixed": [_service_summary(r) for r in self.fixed_services],
                "changed": [
                    {
                        "service": c.key,
                        "product": c.product,
                        "changes": [{"field": w, "before": a, "after": b} for w, a, b in c.changes],
                    }
                    for c in self.changed_services
                ],
                "unchanged": self.unchanged_services,
            },
            "findings": {
                "new": self.new_findings,
                "fixed": self.fixed_findings,
                "persisting": self.persisting_findings,
            },
        }


def _service_summary(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "service": service_key(r),
        "product": r.get("product"),
        "version": r.get("version"),
        "auth_tier": auth_tier(r),
        "findings": len(findings_of(r)),
    }


def _findings(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        for f in findings_of(r):
            fp = str(f.get("fingerprint") or f"{diff_key(r)} {f.get('id')}")
            out[fp] = {
                "fingerprint": fp,
                "id": f.get("id"),
                "severity": f.get("severity"),
                "title": f.get("title"),
                "service": service_key(r),
                "product": r.get("product"),
            }
    return out


def diff_runs(
    run_a: str, records_a: Iterable[Mapping[str, Any]], run_b: str, records_b: Iterable[Mapping[str, Any]]
) -> RunDiff:
    """Compare run A (before) with run B (after)."""
    a = {diff_key(r): r for r in records_a}
    b = {diff_key(r): r for r in records_b}
    out = RunDiff(run_a, run_b)
    order = sorted(set(a) | set(b))
    for key in order:
        ra, rb = a.get(key), b.get(key)
        if ra is None and rb is not None:
            out.new_services.append(dict(rb))
        elif rb is None and ra is not None:
            out.fixed_services.append(dict(ra))
        elif ra is not None and rb is not None:
            changes = [(name, get(ra), get(rb)) for name, get in _COMPARED if get(ra) != get(rb)]
            if changes:
                out.changed_services.append(ServiceChange(service_key(rb), str(rb.get("product")), changes))
            else:
                out.unchanged_services += 1
    fa, fb = _findings(a.values()), _findings(b.values())
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}

    def by_severity(f: dict[str, Any]) -> tuple[int, str, str]:
        return rank.get(str(f["severity"]), 9), str(f["service"]), str(f["id"])

    out.new_findings = sorted((fb[k] for k in fb.keys() - fa.keys()), key=by_severity)
    out.fixed_findings = sorted((fa[k] for k in fa.keys() - fb.keys()), key=by_severity)
    out.persisting_findings = len(fa.keys() & fb.keys())
    return out


def render_diff_json(d: RunDiff) -> str:
    return json.dumps(d.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_diff_markdown(d: RunDiff) -> str:
    lines = [
        f"# Changes from run `{d.run_a}` to `{d.run_b}`",
        "",
        f"Services: {len(d.new_services)} new, {len(d.fixed_services)} gone, {len(d.changed_services)} changed, "
        f"{d.unchanged_services} unchanged. Findings: {len(d.new_findings)} new, {len(d.fixed_findings)} fixed, "
        f"{d.persisting_findings} persisting.",
        "",
    ]

    def service_table(title: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        lines.extend([f"## {title}", "", "| Service | Product | Version | Auth | Findings |", "|---|---|---|---|---:|"])
        for r in rows:
            s = _service_summary(r)
            lines.append(
                f"| {cell(s['service'])} | {cell(s['product'])} | {cell(s['version'] or '–')} | "
                f"{cell(s['auth_tier'])} | {s['findings']} |"
            )
        lines.append("")

    service_table("New services", d.new_services)
    service_table("Services gone", d.fixed_services)
    if d.changed_services:
        lines.extend(["## Changed services", "", "| Service | Product | Change |", "|---|---|---|"])
        for c in d.changed_services:
            what = "; ".join(f"{w}: {a} → {b}" for w, a, b in c.changes)
            lines.append(f"| {cell(c.key)} | {cell(c.product)} | {cell(what)} |")
        lines.append("")
    for title, rows in (("New findings", d.new_findings), ("Fixed findings", d.fixed_findings)):
        if rows:
            lines.extend([f"## {title}", "", "| Severity | Finding | Service | Fingerprint |", "|---|---|---|---|"])
            lines.extend(
                f"| {cell(f['severity'])} | {cell(f['title'])} | {cell(f['service'])} | `{f['fingerprint']}` |"
                for f in rows
            )
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
