"""The HTML report: one self-contained file (inline CSS, inline SVG charts, a few lines of inline script for the
filters), readable offline; page one is the per-product summary, below it every service with its findings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from aisweep import __version__
from aisweep.report.build import Report
from aisweep.report.charts import TIER_LABELS, auth_tiers_chart, population_chart, rate_chart, severity_chart
from aisweep.report.excerpt import observation_excerpt
from aisweep.report.stats import (
    TIER_ORDER,
    TLS_GOOD,
    TLS_LABELS,
    TLS_PROBLEMS,
    ProductStats,
    Rate,
    Survey,
    auth_tier,
    credentials_of,
    findings_of,
    is_confirmed,
    is_honeypot,
    is_kev,
    rate,
    service_key,
    top_severity,
)

HTML_ADVISORY_LIMIT: Final = 60
HTML_SERVICE_LIMIT: Final = 3000  # beyond this the page lists the most severe; JSONL/CSV carry every service
_SEVERITY_RANK: Final = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def pct(r: Rate | None) -> str:
    if r is None or r.share is None:
        return "–"
    value = 100 * r.share
    return f"{value:.1f}%" if 0 < value < 1 or 99 < value < 100 else f"{value:.0f}%"


def ci(r: Rate | None) -> str:
    if r is None or r.low is None or r.high is None:
        return ""
    return f"{100 * r.low:.0f}–{100 * r.high:.0f}%"


def share(k: int, n: int) -> str:
    return pct(rate(k, n)) if n else "–"


def tier_rate(p: ProductStats, tier: str) -> Rate:
    return rate(p.tiers.get(tier, 0), p.determined)


def lede(s: Survey) -> str:
    """The sentence a reader should take away: per-product spread, never a pooled headline."""
    measured = [p for p in s.products if p.no_auth.n and p.no_auth.share is not None]
    if not measured:
        return "No service's authentication state could be determined, so no rate is reported."
    lo = min(measured, key=lambda p: (p.no_auth.share or 0, -p.no_auth.n))
    hi = max(measured, key=lambda p: (p.no_auth.share or 0, p.no_auth.n))
    if len(measured) == 1:
        return (
            f"{lo.name}: {pct(lo.no_auth)} of {lo.no_auth.n} services answered with data or an admin API and no "
            f"authentication (95% CI {ci(lo.no_auth)})."
        )
    signup = sum(p.signup.k for p in s.products)
    text = (
        f"Across {len(measured)} products, the share of services with no authentication ranges from "
        f"{pct(lo.no_auth)} ({lo.name}, n={lo.no_auth.n}) to {pct(hi.no_auth)} ({hi.name}, n={hi.no_auth.n}). "
        "A single pooled rate would mostly reflect which products happen to be in the scanned range, so every "
        "rate here is per product."
    )
    if signup:
        text += f" A further {signup} service(s) require a login but let anyone sign up or claim the admin account."
    return text


def _tls_text(tls: Mapping[str, Any] | None) -> str:
    if not tls:
        return ""
    parts = [str(tls.get("version") or ""), str(tls.get("cipher") or "")]
    cert = tls.get("cert") if isinstance(tls.get("cert"), Mapping) else None
    if cert:
        if cert.get("subject_cn"):
            parts.append(f"CN {cert['subject_cn']}")
        if cert.get("not_after"):
            parts.append(f"valid to {str(cert['not_after'])[:10]}")
    problems = [TLS_LABELS[k] for k in TLS_PROBLEMS if _truthy(tls, cert, k)]
    if problems:
        parts.append("problems: " + ", ".join(problems))
    if tls.get("verify_error"):
        parts.append(f"verification: {tls['verify_error']}")
    return " · ".join(p for p in parts if p)


def _truthy(tls: Mapping[str, Any], cert: Mapping[str, Any] | None, key: str) -> bool:
    if key == "untrusted":
        return False  # shown with its reason
    if cert is None and "cert" in tls:
        return False
    return bool(tls.get(key) or (cert or {}).get(key))


def _mcp_text(mcp: Any) -> str:
    """The MCP handshake's result in one line: transport, gate, server, tools (names only)."""
    if not isinstance(mcp, Mapping):
        return ""
    parts = [str(mcp.get("transport") or "")]
    if mcp.get("gated"):
        parts.append(f"authentication required (HTTP {mcp.get('gated_status')})")
    info = mcp.get("server_info") if isinstance(mcp.get("server_info"), Mapping) else {}
    if info:
        parts.append(" ".join(str(info.get(k)) for k in ("name", "version") if info.get(k)))
    tools = [t for t in mcp.get("tools") or [] if isinstance(t, Mapping)]
    count = mcp.get("tools_count") if mcp.get("tools_count") is not None else len(tools)
    if tools or count:
        names = ", ".join(str(t.get("name")) for t in tools[:12])
        parts.append(f"{count} tools listed" + (f": {names}" if names else "") + (" …" if len(tools) > 12 else ""))
    return " · ".join(p for p in parts if p)


def service_view(record: Mapping[str, Any], observations: list[dict[str, Any]] | None) -> dict[str, Any]:
    target = record.get("target") or {}
    host, port = str(target.get("host", "")), target.get("port")
    shown_host = f"[{host}]" if ":" in host else host
    keys = ("id", "severity", "title", "category", "control", "evidence", "remediation", "fingerprint")
    findings = sorted(
        ({k: f.get(k) or "" for k in keys} | {"kev": is_kev(f)} for f in findings_of(record)),
        key=lambda f: _SEVERITY_RANK.get(str(f.get("severity")), 9),
    )
    hp = record.get("honeypot") if is_honeypot(record) else None
    geo = record.get("geo") or {}
    geo_text = " · ".join(
        x
        for x in (
            str(geo.get("country_name") or geo.get("country") or ""),
            f"AS{geo['asn']} {geo.get('as_org') or ''}".strip() if geo.get("asn") else "",
        )
        if x
    )
    view = {
        "key": service_key(record),
        "url": f"{target.get('scheme') or 'http'}://{shown_host}:{port}",
        "product": str(record.get("product", "")),
        "name": str(record.get("product_name") or record.get("product") or ""),
        "variant": record.get("variant"),
        "confidence": record.get("confidence"),
        "low": not is_confirmed(record) and not is_honeypot(record),
        "version": record.get("version"),
        "version_source": record.get("version_source"),
        "version_confidence": record.get("version_confidence"),
        "tier": auth_tier(record),
        "auth_evidence": (record.get("auth") or {}).get("evidence", ""),
        "partial": list((record.get("auth") or {}).get("partial") or []),
        "surfaces": dict(record.get("surfaces") or {}),
        "tls": _tls_text(record.get("tls")),
        "credentials": credentials_of(record),
        "honeypot": (
            f"{hp.get('score')} — " + "; ".join(str(x) for x in hp.get("reasons") or [])
            if isinstance(hp, Mapping)
            else ""
        ),
        "honeypot_likely": is_honeypot(record),
        "geo": geo_text,
        "mcp": _mcp_text(record.get("mcp")),
        "evidence": list(record.get("evidence") or []),
        "also_matched": list(record.get("also_matched") or []),
        "findings": findings,
        "severity": top_severity(record) or "none",
        "observations": [observation_excerpt(o) for o in observations or []],
    }
    haystack = [view["url"], view["name"], view["product"], str(view["version"] or ""), view["tier"], geo_text]
    haystack += [f"{f.get('id')} {f.get('title')} {f.get('evidence')}" for f in findings]
    view["text"] = " ".join(haystack).lower()
    return view


_CODE: Final = re.compile(r"`([^`]+)`")


def md_code(text: str) -> Markup:
    """Escape text, then show `backticked` spans as code."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("aisweep.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["md_code"] = md_code
    return env


def render_html(report: Report) -> str:
    s = report.survey
    records = report.records
    shown = sorted(
        records,
        key=lambda r: (
            0 if is_confirmed(r) else 1,
            _SEVERITY_RANK.get(top_severity(r) or "", 9),
            str(r.get("product")),
            service_key(r),
        ),
    )[:HTML_SERVICE_LIMIT]
    services = [service_view(r, report.observations.get(service_key(r))) for r in shown]
    measured = [p for p in s.products if p.confirmed]
    by_no_auth = [(p.name, p.no_auth) for p in sorted(measured, key=lambda p: -(p.no_auth.share or 0))]
    no_auth_title = "Share of services with no authentication, per product, with Wilson 95% intervals"
    charts = {
        "tiers": Markup(auth_tiers_chart(measured)),
        "tiers_narrow": Markup(auth_tiers_chart(measured, width=360, stacked=True)),
        "no_auth": Markup(rate_chart(by_no_auth, no_auth_title, width=640)),
        "no_auth_narrow": Markup(rate_chart(by_no_auth, no_auth_title, width=360, stacked=True)),
        "severity": Markup(severity_chart(s.severities)),
        "population": Markup(population_chart(measured)),
    }
    tls_keys = [k for k in (*TLS_PROBLEMS, *TLS_GOOD) if any(k in p.tls_checks for p in s.products)]
    targets = [str(t) for t in report.run.get("targets") or []]
    scope = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
    template = _environment().get_template("report.html.j2")
    return template.render(
        r=report,
        s=s,
        version=__version__,
        scope=scope,
        lede=lede(s),
        charts=charts,
        services=services,
        hidden_services=max(0, len(records) - len(services)),
        tiers=[t for t in TIER_ORDER if any(p.tiers.get(t) for p in s.products)],
        tier_labels=TIER_LABELS,
        tls_keys=tls_keys,
        tls_labels=TLS_LABELS,
        names={p.product: p.name for p in s.products},
        advisory_limit=HTML_ADVISORY_LIMIT,
        no_auth_services=sum(p.no_auth.k for p in s.products),
        advisory_services=sum(p.any_advisory.k for p in s.products),
        kev_services=sum(p.kev.k for p in s.products),
        pct=pct,
        ci=ci,
        share=share,
        tier_rate=tier_rate,
    )
