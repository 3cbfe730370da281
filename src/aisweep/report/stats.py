"""Survey statistics: pure functions from stored service records and run counters to the numbers a careful study
publishes, always per product (docs/report.md). Nothing here reads files or the network."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

Z_95: Final = 1.959963984540054  # two-sided 95% normal quantile

CONFIRMED_CONFIDENCE: Final = frozenset({"high", "medium"})
NO_AUTH_TIERS: Final = ("open-read", "open-admin")  # data or an admin API readable with no credentials
SIGNUP_TIERS: Final = ("open-signup", "first-visitor-admin")  # a login exists, but anyone can get an account
TIER_ORDER: Final = (
    "open-admin",
    "open-read",
    "first-visitor-admin",
    "open-signup",
    "open-metadata",
    "auth-required",
    "unknown",
)
SEVERITY_ORDER: Final = ("critical", "high", "medium", "low", "info")
TLS_PROBLEMS: Final = (
    "untrusted",
    "self_signed",
    "expired",
    "not_yet_valid",
    "name_mismatch",
    "weak_key",
    "legacy_protocol",
)
TLS_GOOD: Final = ("hsts", "redirects_to_https")
TLS_LABELS: Final = {
    "untrusted": "chain not trusted",
    "self_signed": "self-signed",
    "expired": "expired",
    "not_yet_valid": "not yet valid",
    "name_mismatch": "name mismatch",
    "weak_key": "weak key",
    "legacy_protocol": "accepts TLS 1.0/1.1",
    "hsts": "HSTS",
    "redirects_to_https": "HTTP redirects to HTTPS",
}
WEAK_KEY_BITS: Final = {"RSA": 2048, "DSA": 2048, "EC": 224}
OUTCOME_ERRORS: Final = frozenset({"reset", "tls_error", "protocol_error", "too_large", "dns_error", "unreachable"})


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n is 0 (nothing is known)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # Exact at the edges (floating point leaves 1e-17 residue otherwise).
    return (0.0 if k == 0 else low), (1.0 if k == n else high)


@dataclass(frozen=True, slots=True)
class Rate:
    """k of n, its share and Wilson 95% interval; share is None when n is 0."""

    k: int
    n: int
    share: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "share": self.share, "low": self.low, "high": self.high}


def rate(k: int, n: int) -> Rate:
    if n == 0:
        return Rate(k, 0, None, None, None)
    low, high = wilson_interval(k, n)
    return Rate(k, n, k / n, low, high)


_TOKEN: Final = re.compile(r"\d+|[A-Za-z]+")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for version strings of one product: numbers compare as numbers, a release sorts above its
    pre-releases (1.0 > 1.0rc1), and a leading "v" is ignored. Approximate across schemes, exact within one."""
    text = version.strip()
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    parts: list[tuple[int, int | str]] = []
    for token in _TOKEN.findall(text):
        parts.append((2, int(token)) if token.isdigit() else (0, token.lower()))
    parts.append((1, 0))  # end marker: above any alphabetic (pre-release) suffix, below any further number
    return tuple(parts)


def latest_version(versions: Iterable[str]) -> str | None:
    return max(versions, key=version_key, default=None)


# -- per-service facts, read defensively (fields other stages add over time) ------------------------------------------


def is_honeypot(record: Mapping[str, Any]) -> bool:
    """The honeypot screen's verdict: `record["honeypot"]["likely"]`, or its `honeypot.likely` finding."""
    hp = record.get("honeypot")
    if isinstance(hp, Mapping):
        return bool(hp.get("likely"))
    return any(f.get("id") == "honeypot.likely" for f in findings_of(record))


def is_confirmed(record: Mapping[str, Any]) -> bool:
    return record.get("confidence") in CONFIRMED_CONFIDENCE and not is_honeypot(record)


def auth_tier(record: Mapping[str, Any]) -> str:
    auth = record.get("auth")
    tier = auth.get("tier") if isinstance(auth, Mapping) else None
    return str(tier) if tier else "unknown"


def findings_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in record.get("findings") or () if isinstance(f, Mapping)]


def is_advisory(finding: Mapping[str, Any]) -> bool:
    fid = str(finding.get("id", ""))
    return fid.startswith("vuln.") and fid != "vuln.version-unknown"


def tls_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    tls = record.get("tls")
    return tls if isinstance(tls, Mapping) else {}


def is_kev(finding: Mapping[str, Any]) -> bool:
    return bool(finding.get("kev")) or "CISA KEV" in str(finding.get("title", ""))


def tls_checks(record: Mapping[str, Any]) -> dict[str, bool]:
    """Each TLS check that was made for this service (absent = not tested): True when the problem (or, for
    hsts/redirects_to_https, the control) is present. Reads both the flat and the certificate-detail layouts."""
    tls = tls_of(record)
    if not tls:
        return {}
    cert = tls.get("cert") if isinstance(tls.get("cert"), Mapping) else None
    out: dict[str, bool] = {}
    for key in ("self_signed", "expired", "not_yet_valid", "weak_key"):
        value = tls.get(key)
        if value is None and cert is not None:
            value = cert.get(key)
        if value is not None and (cert is not None or (key in tls and "cert" not in tls)):
            out[key] = bool(value)
    if "weak_key" not in out and cert is not None and cert.get("key_bits"):
        minimum = WEAK_KEY_BITS.get(str(cert.get("key_type")))
        if minimum:
            out["weak_key"] = int(cert["key_bits"]) < minimum
    if tls.get("name_mismatch") is not None:
        out["name_mismatch"] = bool(tls["name_mismatch"])
    if "verify_error" in tls:
        out["untrusted"] = tls["verify_error"] is not None
    versions = tls.get("versions")
    if isinstance(versions, Mapping) and versions:
        out["legacy_protocol"] = any(bool(versions.get(v)) for v in ("TLSv1.0", "TLSv1", "TLSv1.1"))
    for key in TLS_GOOD:
        if tls.get(key) is not None:
            out[key] = bool(tls[key])
    return out


def scheme_of(record: Mapping[str, Any]) -> str:
    target = record.get("target") or {}
    return str(target.get("scheme") or "http")


def host_of(record: Mapping[str, Any]) -> str:
    return str((record.get("target") or {}).get("host", ""))


def service_key(record: Mapping[str, Any]) -> str:
    target = record.get("target") or {}
    host, port = str(target.get("host", "")), target.get("port")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def credentials_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Credential sightings: `record["credentials"]`, or (when it is empty or absent) the secret check's
    `secret.<type>` findings."""
    listed = [c for c in record.get("credentials") or () if isinstance(c, Mapping)]
    if listed:
        return listed
    return [
        {"type": str(f["id"]).removeprefix("secret."), "location": None}
        for f in findings_of(record)
        if str(f.get("id", "")).startswith("secret.") or f.get("category") == "credentials"
    ]


def top_severity(record: Mapping[str, Any]) -> str | None:
    present = {str(f.get("severity")) for f in findings_of(record)}
    return next((s for s in SEVERITY_ORDER if s in present), None)


# -- the survey --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdvisoryStats:
    """Services of one product whose version lies in one advisory's affected range (never "vulnerable")."""

    id: str
    title: str
    severity: str
    kev: bool
    in_range: Rate  # of the product's confirmed services
    of_versioned: Rate  # of those that disclosed a version


@dataclass(frozen=True, slots=True)
class SurfaceStats:
    total: int  # items counted across services (counts, never contents)
    services: Rate  # services with a count > 0, of those where the surface was measured


@dataclass(slots=True)
class ProductStats:
    product: str
    name: str
    category: str
    confirmed: int = 0  # services (host:port) identified with high/medium confidence, honeypots excluded
    hosts: int = 0  # unique hosts among them
    low_confidence: int = 0
    unidentified_on_ports: int = 0  # HTTP answers no rule matched, on this product's default ports
    candidates: int = 0  # confirmed + low confidence + unidentified on default ports (an upper bound)
    honeypots: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    determined: int = 0  # services whose auth tier could be decided (the denominator of the rates)
    no_auth: Rate = field(default_factory=lambda: rate(0, 0))
    open_admin: Rate = field(default_factory=lambda: rate(0, 0))
    signup: Rate = field(default_factory=lambda: rate(0, 0))
    metadata_only: Rate = field(default_factory=lambda: rate(0, 0))
    auth_required: Rate = field(default_factory=lambda: rate(0, 0))
    partial_protection: int = 0
    versions: list[tuple[str, int]] = field(default_factory=list)  # newest first; "" = not disclosed
    with_version: Rate = field(default_factory=lambda: rate(0, 0))
    latest_seen: str | None = None
    on_latest_seen: Rate = field(default_factory=lambda: rate(0, 0))
    latest_known: str | None = None
    on_latest_known: Rate | None = None
    advisories: list[AdvisoryStats] = field(default_factory=list)
    any_advisory: Rate = field(default_factory=lambda: rate(0, 0))
    kev: Rate = field(default_factory=lambda: rate(0, 0))
    version_unknown_for_advisories: int = 0
    https: Rate = field(default_factory=lambda: rate(0, 0))
    tls_versions: dict[str, int] = field(default_factory=dict)
    tls_checks: dict[str, Rate] = field(default_factory=dict)  # problem or control -> of services where tested
    credentials: Rate = field(default_factory=lambda: rate(0, 0))
    credential_types: dict[str, int] = field(default_factory=dict)
    surfaces: dict[str, SurfaceStats] = field(default_factory=dict)
    indicators: Rate = field(default_factory=lambda: rate(0, 0))
    severities: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)  # unique hosts per country code
    asns: dict[str, int] = field(default_factory=dict)  # unique hosts per "AS<n> org"


@dataclass(frozen=True, slots=True)
class CountStat:
    key: str
    label: str
    hosts: int
    services: int


@dataclass(slots=True)
class Survey:
    products: list[ProductStats]
    pooled: ProductStats  # every product together: shown only under the per-product rows, labelled as pooled
    services: int  # confirmed services (host:port)
    hosts: int
    honeypots: int
    low_confidence: int
    unidentified: int  # HTTP answers no rule matched, any port
    unidentified_by_port: dict[str, int]
    severities: dict[str, int]
    controls: dict[str, int]
    findings: int
    credential_types: dict[str, int]
    indicators: list[tuple[str, str, int]]  # (finding id, title, services)
    advisories: list[tuple[str, AdvisoryStats]]  # (product, stats), most services first
    outcomes: dict[str, int]
    targets_total: int
    targets_done: int
    timeouts: int
    refused: int
    errors: int
    excluded: int
    interrupted: bool
    countries: list[CountStat] | None  # None: no GeoIP enrichment
    asns: list[CountStat] | None

    def product(self, product: str) -> ProductStats | None:
        return next((p for p in self.products if p.product == product), None)


def _geo(record: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    geo = record.get("geo")
    if not isinstance(geo, Mapping):
        return None, None, None
    country = geo.get("country")
    asn = geo.get("asn")
    org = geo.get("as_org")
    asn_label = f"AS{asn}" + (f" {org}" if org else "") if asn else None
    return (str(country) if country else None), (str(geo.get("country_name") or country or "")), asn_label


def _advisory_order(a: AdvisoryStats) -> tuple[bool, int, int, str]:
    """Known-exploited first, then by severity, then by how many services are in range."""
    severity = SEVERITY_ORDER.index(a.severity) if a.severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return (not a.kev, severity, -a.in_range.k, a.id)


def _product_stats(
    product: str,
    name: str,
    category: str,
    records: Sequence[Mapping[str, Any]],
    *,
    low_confidence: int,
    honeypots: int,
    unidentified_on_ports: int,
    latest_known: str | None,
) -> ProductStats:
    ps = ProductStats(product=product, name=name, category=category)
    n = len(records)
    ps.confirmed = n
    ps.hosts = len({host_of(r) for r in records})
    ps.low_confidence = low_confidence
    ps.honeypots = honeypots
    ps.unidentified_on_ports = unidentified_on_ports
    ps.candidates = n + low_confidence + unidentified_on_ports

    tiers = Counter(auth_tier(r) for r in records)
    ps.tiers = {t: tiers[t] for t in TIER_ORDER if tiers[t]} | {
        t: c for t, c in sorted(tiers.items()) if t not in TIER_ORDER
    }
    det = n - tiers["unknown"]
    ps.determined = det
    ps.no_auth = rate(sum(tiers[t] for t in NO_AUTH_TIERS), det)
    ps.open_admin = rate(tiers["open-admin"], det)
    ps.signup = rate(sum(tiers[t] for t in SIGNUP_TIERS), det)
    ps.metadata_only = rate(tiers["open-metadata"], det)
    ps.auth_required = rate(tiers["auth-required"], det)
    ps.partial_protection = sum(1 for r in records if (r.get("auth") or {}).get("partial"))

    versions = Counter(str(r.get("version") or "") for r in records)
    known = [v for v in versions if v]
    ps.versions = sorted(((v, c) for v, c in versions.items() if v), key=lambda vc: version_key(vc[0]), reverse=True)
    if versions[""]:
        ps.versions.append(("", versions[""]))
    versioned = n - versions[""]
    ps.with_version = rate(versioned, n)
    ps.latest_seen = latest_version(known)
    ps.on_latest_seen = rate(versions[ps.latest_seen] if ps.latest_seen else 0, versioned)
    if latest_known:
        ps.latest_known = latest_known
        lk = version_key(latest_known)
        ps.on_latest_known = rate(sum(c for v, c in versions.items() if v and version_key(v) >= lk), versioned)

    adv: dict[str, dict[str, Any]] = {}
    adv_services: set[str] = set()
    kev_services: set[str] = set()
    for r in records:
        key = service_key(r)
        for f in findings_of(r):
            fid = str(f.get("id", ""))
            if fid == "vuln.version-unknown":
                ps.version_unknown_for_advisories += 1
            elif is_advisory(f):
                entry = adv.setdefault(
                    fid,
                    {
                        "title": str(f.get("title", fid)),
                        "severity": str(f.get("severity", "")),
                        "kev": False,
                        "s": set(),
                    },
                )
                entry["s"].add(key)
                adv_services.add(key)
                if is_kev(f):
                    entry["kev"] = True
                    kev_services.add(key)
    ps.advisories = sorted(
        (
            AdvisoryStats(
                id=fid,
                title=e["title"],
                severity=e["severity"],
                kev=e["kev"],
                in_range=rate(len(e["s"]), n),
                of_versioned=rate(len(e["s"]), max(versioned, len(e["s"]))),
            )
            for fid, e in adv.items()
        ),
        key=_advisory_order,
    )
    ps.any_advisory = rate(len(adv_services), n)
    ps.kev = rate(len(kev_services), n)

    ps.https = rate(sum(1 for r in records if scheme_of(r) == "https"), n)
    tls_versions: Counter[str] = Counter()
    tested: Counter[str] = Counter()
    positive: Counter[str] = Counter()
    for r in records:
        tls = tls_of(r)
        if tls.get("version") and scheme_of(r) == "https":
            tls_versions[str(tls["version"])] += 1
        for key, value in tls_checks(r).items():
            tested[key] += 1
            positive[key] += value
    ps.tls_versions = dict(sorted(tls_versions.items(), key=lambda kv: (-kv[1], kv[0])))
    ps.tls_checks = {k: rate(positive[k], tested[k]) for k in (*TLS_PROBLEMS, *TLS_GOOD) if tested[k]}

    cred_types: Counter[str] = Counter()
    with_creds = 0
    for r in records:
        creds = credentials_of(r)
        if creds:
            with_creds += 1
        for c in creds:
            cred_types[str(c.get("type") or "unknown")] += 1
    ps.credentials = rate(with_creds, n)
    ps.credential_types = dict(cred_types.most_common())

    totals: Counter[str] = Counter()
    measured: Counter[str] = Counter()
    nonzero: Counter[str] = Counter()
    for r in records:
        for k, v in (r.get("surfaces") or {}).items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            measured[k] += 1
            totals[k] += int(v)
            nonzero[k] += v > 0
    ps.surfaces = {k: SurfaceStats(totals[k], rate(nonzero[k], measured[k])) for k in sorted(measured)}

    ps.indicators = rate(sum(1 for r in records if any(f.get("category") == "indicator" for f in findings_of(r))), n)
    sev = Counter(str(f.get("severity")) for r in records for f in findings_of(r))
    ps.severities = {s: sev[s] for s in SEVERITY_ORDER if sev[s]}

    country_hosts: dict[str, set[str]] = defaultdict(set)
    asn_hosts: dict[str, set[str]] = defaultdict(set)
    for r in records:
        country, _name, asn = _geo(r)
        if "geo" in r:
            country_hosts[country or "unknown"].add(host_of(r))
            asn_hosts[asn or "unknown"].add(host_of(r))
    ps.countries = {k: len(v) for k, v in sorted(country_hosts.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
    ps.asns = {k: len(v) for k, v in sorted(asn_hosts.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
    return ps


def _geo_breakdown(records: Sequence[Mapping[str, Any]], which: int) -> list[CountStat]:
    hosts: dict[str, set[str]] = defaultdict(set)
    services: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for r in records:
        country, country_name, asn = _geo(r)
        key = (country if which == 0 else asn) or "unknown"
        labels[key] = (country_name or key) if which == 0 and country else key
        hosts[key].add(host_of(r))
        services[key] += 1
    return sorted(
        (CountStat(k, labels[k], len(hosts[k]), services[k]) for k in hosts),
        key=lambda c: (-c.hosts, -c.services, c.key),
    )


def survey(
    records: Iterable[Mapping[str, Any]],
    counters: Mapping[str, Any] | None = None,
    product_ports: Mapping[str, Iterable[int] | None] | None = None,
    product_names: Mapping[str, tuple[str, str]] | None = None,
    latest_known: Mapping[str, str] | None = None,
) -> Survey:
    """The survey of one run.

    `counters` are the run's counters (ScanStats.to_dict); `product_ports` each product's default ports (from the
    rules; None = any port, which adds no unidentified candidates); `product_names` (name, category) for products
    that might have no record; `latest_known` the newest released version per product, where known.
    """
    counters = counters or {}
    product_ports = product_ports or {}
    confirmed: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    low: Counter[str] = Counter()
    honeypots: Counter[str] = Counter()
    names: dict[str, tuple[str, str]] = dict(product_names or {})
    every: list[Mapping[str, Any]] = []
    for r in records:
        product = str(r.get("product") or "unknown")
        names.setdefault(product, (str(r.get("product_name") or product), str(r.get("category") or "")))
        if r.get("product_name"):
            names[product] = (str(r["product_name"]), str(r.get("category") or names[product][1]))
        if is_honeypot(r):
            honeypots[product] += 1
        elif r.get("confidence") in CONFIRMED_CONFIDENCE:
            confirmed[product].append(r)
            every.append(r)
        else:
            low[product] += 1

    unidentified = {str(k): int(v) for k, v in (counters.get("unidentified_by_port") or {}).items()}

    def unidentified_for(product: str) -> int:
        ports = product_ports.get(product)
        return sum(unidentified.get(str(p), 0) for p in ports) if ports else 0

    products = [
        _product_stats(
            p,
            names.get(p, (p, ""))[0],
            names.get(p, (p, ""))[1],
            confirmed.get(p, []),
            low_confidence=low[p],
            honeypots=honeypots[p],
            unidentified_on_ports=unidentified_for(p),
            latest_known=(latest_known or {}).get(p),
        )
        for p in sorted(set(confirmed) | set(low) | set(honeypots))
    ]
    products.sort(key=lambda s: (-s.confirmed, -s.candidates, s.product))
    pooled = _product_stats(
        "*",
        "All products (pooled)",
        "",
        every,
        low_confidence=sum(low.values()),
        honeypots=sum(honeypots.values()),
        unidentified_on_ports=sum(unidentified.values()),
        latest_known=None,
    )
    pooled.versions, pooled.latest_seen, pooled.on_latest_seen = [], None, rate(0, 0)  # meaningless across products

    all_findings = [f for r in every for f in findings_of(r)]
    sev = Counter(str(f.get("severity")) for f in all_findings)
    controls = Counter(str(f.get("control")) for f in all_findings)
    indicator_services: dict[str, set[str]] = defaultdict(set)
    indicator_titles: dict[str, str] = {}
    for r in every:
        for f in findings_of(r):
            if f.get("category") == "indicator":
                fid = str(f.get("id"))
                indicator_services[fid].add(service_key(r))
                indicator_titles.setdefault(fid, str(f.get("title", fid)))
    outcomes = {str(k): int(v) for k, v in (counters.get("outcomes") or {}).items()}
    has_geo = any("geo" in r for r in every)
    return Survey(
        products=products,
        pooled=pooled,
        services=len(every),
        hosts=len({host_of(r) for r in every}),
        honeypots=sum(honeypots.values()),
        low_confidence=sum(low.values()),
        unidentified=sum(unidentified.values()),
        unidentified_by_port=dict(sorted(unidentified.items(), key=lambda kv: -kv[1])),
        severities={s: sev[s] for s in SEVERITY_ORDER if sev[s]},
        controls=dict(controls.most_common()),
        findings=len(all_findings),
        credential_types=dict(pooled.credential_types),
        indicators=sorted(
            ((fid, indicator_titles[fid], len(s)) for fid, s in indicator_services.items()), key=lambda t: -t[2]
        ),
        advisories=sorted(
            ((p.product, a) for p in products for a in p.advisories), key=lambda pa: _advisory_order(pa[1])
        ),
        outcomes=dict(sorted(outcomes.items(), key=lambda kv: -kv[1])),
        targets_total=int(counters.get("targets_total") or 0),
        targets_done=int(counters.get("targets_done") or 0),
        timeouts=outcomes.get("timeout", 0),
        refused=outcomes.get("refused", 0),
        errors=sum(v for k, v in outcomes.items() if k in OUTCOME_ERRORS),
        excluded=outcomes.get("excluded", 0),
        interrupted=bool(counters.get("interrupted")),
        countries=_geo_breakdown(every, 0) if has_geo else None,
        asns=_geo_breakdown(every, 1) if has_geo else None,
    )


def to_jsonable(value: Any) -> Any:
    """Dataclasses, Rates and tuples to plain JSON values (for the JSON report)."""
    if isinstance(value, Rate):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return {name: to_jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
