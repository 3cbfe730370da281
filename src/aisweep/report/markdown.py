"""The Markdown report: the same per-product survey as the HTML page, as GitHub-flavoured Markdown tables, with
findings grouped by severity (one line each) below."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from aisweep import __version__
from aisweep.report.build import Report
from aisweep.report.charts import TIER_LABELS
from aisweep.report.htmlpage import ci, lede, pct
from aisweep.report.stats import (
    SEVERITY_ORDER,
    TIER_ORDER,
    TLS_GOOD,
    TLS_LABELS,
    TLS_PROBLEMS,
    Rate,
    findings_of,
    is_confirmed,
    is_kev,
    service_key,
)

MD_FINDING_LIMIT: Final = 2000


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;") or " "


def rate_md(r: Rate | None, interval: bool = False) -> str:
    if r is None or r.share is None:
        return "–"
    text = f"{pct(r)} ({r.k}/{r.n})"
    return f"{text}, CI {ci(r)}" if interval else text


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: Sequence[str] | None = None) -> list[str]:
    align = align or ["l"] * len(header)
    out = ["| " + " | ".join(cell(h) for h in header) + " |"]
    out.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    out.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    return out


def render_markdown(report: Report) -> str:
    s = report.survey
    run = report.run
    settings = report.settings
    measured = [p for p in s.products if p.confirmed]
    lines: list[str] = [
        "# Exposed self-hosted AI services: survey report" + (" (anonymised)" if report.anonymized else ""),
        "",
        f"Run `{report.run_id}` · {run.get('started_at')} → {run.get('finished_at') or 'not finished'} "
        f"({run.get('status')}) · level `{settings.get('level') or 'safe'}` · {s.targets_total:,} host:port targets · "
        f"generated {report.generated_at} by aisweep {__version__}",
        "",
        f"**{s.services} confirmed services on {s.hosts} hosts**, {len(measured)} products; "
        f"{s.severities.get('critical', 0)} critical and {s.severities.get('high', 0)} high findings; "
        f"{s.honeypots} honeypot-likely services excluded.",
        "",
        lede(s),
        "",
        "## Per product",
        "",
    ]
    rows = [
        [
            f"{p.name} (`{p.product}`)",
            p.confirmed,
            p.hosts,
            p.candidates,
            p.honeypots,
            rate_md(p.no_auth, interval=True),
            rate_md(p.open_admin),
            rate_md(p.signup),
            rate_md(p.auth_required),
            rate_md(p.with_version),
            rate_md(p.any_advisory) + (f", KEV {p.kev.k}" if p.kev.k else ""),
            rate_md(p.https),
        ]
        for p in s.products
    ]
    pooled = s.pooled
    rows.append(
        [
            "*All products, pooled (depends on the product mix)*",
            pooled.confirmed,
            pooled.hosts,
            "–",
            pooled.honeypots,
            rate_md(pooled.no_auth),
            rate_md(pooled.open_admin),
            rate_md(pooled.signup),
            rate_md(pooled.auth_required),
            rate_md(pooled.with_version),
            rate_md(pooled.any_advisory),
            rate_md(pooled.https),
        ]
    )
    lines += table(
        [
            "Product",
            "Services",
            "Hosts",
            "Candidates",
            "Honeypots excluded",
            "No authentication (95% CI)",
            "Admin/code API open",
            "Sign-up open / first-visitor admin",
            "Auth required",
            "Version disclosed",
            "Version in advisory range",
            "HTTPS",
        ],
        rows,
        ["l", "r", "r", "r", "r", "l", "l", "l", "l", "l", "l", "l"],
    )
    lines += [
        "",
        "Rates are shares of each product's confirmed services whose authentication state was determined, with "
        "Wilson 95% intervals. Candidates are upper bounds (see limitations).",
        "",
        "## Authentication tiers",
        "",
    ]
    tiers = [t for t in TIER_ORDER if any(p.tiers.get(t) for p in s.products)]
    lines += table(
        ["Product", "n", *[TIER_LABELS[t] for t in tiers], "Partial protection"],
        [[p.name, p.determined, *[p.tiers.get(t, 0) for t in tiers], p.partial_protection] for p in measured],
        ["l", "r", *["r"] * len(tiers), "r"],
    )
    lines += ["", "## Versions and advisories", ""]
    lines += table(
        ["Product", "Version disclosed", "Newest seen", "On newest seen", "Versions (services)"],
        [
            [
                p.name,
                rate_md(p.with_version),
                p.latest_seen or "–",
                rate_md(p.on_latest_seen),
                ", ".join(f"{v or 'not disclosed'} ({n})" for v, n in p.versions[:10]),
            ]
            for p in measured
        ],
    )
    lines.append("")
    if s.advisories:
        names = {p.product: p.name for p in s.products}
        lines += table(
            ["Advisory", "Product", "Severity", "Services with version in affected range", "Of versioned", "KEV"],
            [
                [
                    a.id.removeprefix("vuln."),
                    names.get(prod, prod),
                    a.severity,
                    rate_md(a.in_range, True),
                    rate_md(a.of_versioned),
                    "yes" if a.kev else "",
                ]
                for prod, a in s.advisories
            ],
        )
    else:
        lines.append("No disclosed version lies in a known advisory's affected range.")
    lines += [
        "",
        f"Advisory data: {report.advisory_status}." if report.advisory_status else "advisory data: not available.",
        "",
    ]
    lines += ["## Transport security", ""]
    tls_keys = [k for k in (*TLS_PROBLEMS, *TLS_GOOD) if any(k in p.tls_checks for p in s.products)]
    lines += table(
        ["Product", "HTTPS", "TLS versions", *[TLS_LABELS[k] for k in tls_keys]],
        [
            [
                p.name,
                rate_md(p.https),
                ", ".join(f"{v} ({n})" for v, n in p.tls_versions.items()) or "–",
                *[rate_md(p.tls_checks.get(k)) for k in tls_keys],
            ]
            for p in measured
        ],
    )
    lines += ["", "## Data surfaces", ""]
    lines += table(
        ["Product", "Surface", "Services with > 0", "Items (sum)"],
        [
            [p.name, name.replace("_", " "), rate_md(sf.services), f"{sf.total:,}"]
            for p in measured
            for name, sf in p.surfaces.items()
        ],
        ["l", "l", "l", "r"],
    )
    lines += ["", "## Credentials and compromise indicators", ""]
    if s.credential_types:
        lines += table(
            ["Product", "Services with a credential-shaped string", "Types"],
            [
                [p.name, rate_md(p.credentials), ", ".join(f"{t} ({n})" for t, n in p.credential_types.items())]
                for p in s.products
                if p.credentials.k
            ],
        )
    else:
        lines.append("No credential-shaped string recorded.")
    lines.append("")
    if s.indicators:
        lines += table(["Indicator", "Id", "Services"], [[t, f, n] for f, t, n in s.indicators], ["l", "l", "r"])
    else:
        lines.append("No compromise indicator observed.")
    if s.countries is not None and s.asns is not None:
        lines += ["", "## Geography and networks", "", f"From {report.geoip}; counted by unique host.", ""]
        lines += table(
            ["Country", "Hosts", "Services"],
            [[c.label, c.hosts, c.services] for c in s.countries[:25]],
            ["l", "r", "r"],
        )
        lines.append("")
        lines += table(
            ["Network (ASN)", "Hosts", "Services"],
            [[c.label, c.hosts, c.services] for c in s.asns[:25]],
            ["l", "r", "r"],
        )
    lines += ["", "## Scan outcomes", ""]
    lines += table(
        ["Outcome", "Targets"],
        [
            *[[k.replace("_", " "), f"{n:,}"] for k, n in s.outcomes.items()],
            ["tested / planned", f"{s.targets_done:,} / {s.targets_total:,}"],
        ],
        ["l", "r"],
    )
    lines += ["", "## Limitations", ""]
    lines += [f"- {line}" for line in report.limitations]
    lines += ["", "## Findings", ""]
    count = 0
    for sev in SEVERITY_ORDER:
        group = [(r, f) for r in report.records if is_confirmed(r) for f in findings_of(r) if f.get("severity") == sev]
        if not group:
            continue
        lines += [f"### {sev.capitalize()} ({len(group)})", ""]
        for r, f in group:
            if count >= MD_FINDING_LIMIT:
                break
            count += 1
            target = r.get("target") or {}
            kev = " **KEV**" if is_kev(f) else ""
            lines.append(
                f"- **{md_text(f.get('title', ''))}**{kev} — `{target.get('scheme', 'http')}://{service_key(r)}` "
                f"(`{f.get('id')}`)  \n  Evidence: {md_text(f.get('evidence', ''))}  \n"
                f"  Remediation: {md_text(f.get('remediation', ''))}"
            )
        lines.append("")
    total = sum(len(findings_of(r)) for r in report.records if is_confirmed(r))
    if total > count:
        lines += [f"({total - count} more findings in the JSONL/CSV outputs.)", ""]
    return "\n".join(lines).rstrip() + "\n"


def md_text(value: object) -> str:
    """Free text from a service, made inert in Markdown (no links, HTML or emphasis it did not intend)."""
    text = " ".join(str(value).split())
    for ch in ("\\", "`", "*", "_", "[", "]", "<", ">", "|"):
        text = text.replace(ch, "\\" + ch)
    return text
