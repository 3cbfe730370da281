"""The report document every format renders: run facts, the survey, the services and a generated limitations
section. `build_report` is pure; `load_report` (in `aisweep.report.load`) reads a stored run into it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aisweep.report.stats import SEVERITY_ORDER, Survey, is_confirmed, service_key, survey, top_severity

PROJECT_URL = "https://github.com/aisweep/aisweep"

LEVEL_MEANING = {
    "safe": "GET/HEAD requests to documented read-only endpoints only",
    "handshake": "GET/HEAD plus protocol handshakes that change no state",
    "authorized": "an authorised audit of owned infrastructure (documented default credentials tried once)",
}


@dataclass(slots=True)
class Report:
    run: dict[str, Any]
    records: list[dict[str, Any]]  # every service record (honeypot-likely and low-confidence ones included)
    survey: Survey
    limitations: list[str]
    observations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by service key; empty if anonymised
    generated_at: str = ""
    anonymized: bool = False
    geoip: str | None = None
    advisory_status: str | None = None

    @property
    def run_id(self) -> str:
        return str(self.run.get("id", ""))

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.run.get("settings") or {})

    @property
    def counters(self) -> dict[str, Any]:
        return dict(self.run.get("counters") or {})


def advisory_data_status() -> str | None:
    """What the advisory database says about itself (source, date, count), or None when it is not available.

    Calls `aisweep.advisories.data_status()` (or `status()`) when that package provides it; the result may be a
    string, a mapping or an object with date/source/count fields.
    """
    try:
        import aisweep.advisories as advisories
    except ImportError:
        return None
    for name in ("data_status", "status", "database_status"):
        fn = getattr(advisories, name, None)
        if callable(fn):
            try:
                value = fn()
            except Exception:  # a broken data file must not break the report; the limitation says "not available"
                return None
            return describe_status(value)
    return None


def describe_status(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.removeprefix("Advisory data: ")
    line = getattr(value, "line", None)
    if callable(line):
        return str(line()).removeprefix("Advisory data: ")
    fields = (
        value if isinstance(value, Mapping) else {k: getattr(value, k) for k in dir(value) if not k.startswith("_")}
    )
    parts = []
    for key in ("source", "date", "updated", "generated", "modified", "advisories", "count", "entries"):
        v = fields.get(key)
        if v is not None and not callable(v):
            parts.append(f"{key} {v}")
    return ", ".join(parts) or str(value)


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.0f}%" if n else "-"


def limitations(
    run: Mapping[str, Any],
    s: Survey,
    records: list[dict[str, Any]],
    *,
    advisory_status: str | None,
    geoip: str | None,
    anonymized: bool,
) -> list[str]:
    """What this run could and could not establish, generated from the run's settings, counters and records."""
    settings = run.get("settings") or {}
    level = str(settings.get("level") or "safe")
    ports = [int(p) for p in settings.get("ports") or []]
    out: list[str] = []
    port_text = ", ".join(str(p) for p in ports[:40]) + (f" and {len(ports) - 40} more" if len(ports) > 40 else "")
    out.append(
        f"Level `{level}`: {LEVEL_MEANING.get(level, level)}. No login was attempted, no inference or job was "
        "submitted and nothing was written. Authentication state is judged from response content; `open-admin` is "
        "inferred from the documented API and observed metadata, never exercised."
    )
    out.append(
        f"Discovery: a TCP connect scan of {len(ports)} port(s) per address ({port_text or 'none recorded'}) over "
        f"{s.targets_total:,} host:port targets. Services on other ports, reachable only by host name (virtual "
        "hosts, SNI), or hidden behind a CDN or an authenticating proxy that answers first, are not counted."
    )
    untested = s.timeouts + s.errors
    if untested:
        out.append(
            f"Could not be tested: {s.timeouts:,} target(s) timed out and {s.errors:,} ended in a connection or "
            'protocol error; their state is unknown, not "not exposed".'
        )
    else:
        out.append("Every target answered or refused the connection: no timeouts or protocol errors.")
    if s.excluded:
        out.append(f"{s.excluded:,} target(s) were on the exclusion list and never contacted.")
    if s.interrupted or run.get("status") not in (None, "finished"):
        out.append(
            f"The run ended as `{run.get('status')}` after {s.targets_done:,} of {s.targets_total:,} targets: "
            "the counts below cover only what was tested."
        )
    undetermined = sum(p.tiers.get("unknown", 0) for p in s.products)
    if undetermined:
        out.append(
            f"The authentication state of {undetermined} service(s) could not be decided (tier `unknown`); they are "
            "left out of the rate denominators and listed as undetermined."
        )
    if s.honeypots:
        out.append(
            f"Honeypot screening: {s.honeypots} honeypot-likely service(s) were excluded from every statistic "
            "(counted per product in the table); the screen is a heuristic score, so some real services may be "
            "among them and some honeypots may remain."
        )
    else:
        out.append(
            "Honeypot screening: no service was flagged as honeypot-likely, so none was excluded (runs made before "
            "the screen existed carry no verdict)."
        )
    out.append(
        f"Counting units: {s.services} confirmed service(s) (host:port, high or medium confidence) on {s.hosts} "
        f"unique host(s). Candidates add {s.low_confidence} low-confidence identification(s) and {s.unidentified} "
        "unidentified HTTP answer(s) on each product's default ports; an unidentified answer on a port that several "
        "products share counts for each of them, so candidate columns are upper bounds and do not add up."
    )
    versioned = sum(p.with_version.k for p in s.products)
    out.append(
        f"Versions are as disclosed by each service (API field, header or page); {s.services - versioned} of "
        f'{s.services} disclosed none. "Latest" is the newest version seen in this run, not necessarily the newest '
        "release."
    )
    if advisory_status:
        out.append(
            f"Advisory data: {advisory_status}. A version in an advisory's affected range is not proof of "
            'exploitability (back-ported fixes, configuration); it is reported as "version in affected range".'
        )
    else:
        out.append(
            "advisory data: not available — no version was matched against advisories in this report; a version "
            'in an affected range would be reported as such, never as "vulnerable".'
        )
    tls_tested = any(k in (r.get("tls") or {}) for r in records for k in ("self_signed", "expired", "name_mismatch"))
    https = sum(p.https.k for p in s.products)
    if not https:
        out.append("No service answered over HTTPS, so no certificate could be examined.")
    elif not tls_tested:
        out.append(
            "TLS: protocol version and cipher were recorded; certificate validity (self-signed, expiry, name "
            "mismatch) was not checked in this run."
        )
    if any(r.get("credentials") for r in records):
        out.append(
            "Credential-shaped strings are checked by format only, never used; the report shows their type, where "
            "they appeared, and a hash/prefix at most."
        )
    else:
        out.append("No credential-shaped string was recorded (or this run did not look for them).")
    if geoip:
        out.append(
            f"Country and ASN from {geoip}; addresses absent from the database (private, loopback, new allocations) "
            "are `unknown`. ASN type (cloud, hosting, residential) is not classified."
        )
    else:
        out.append("No GeoIP database was given (`--geoip`), so there is no country or network breakdown.")
    out.append(
        "Intervals are Wilson 95% score intervals of each share within the scanned range (a census of the range, not "
        "a random sample of the internet); read them as uncertainty about a wider population only if the range "
        "represents it. The pooled row depends on the product mix and is shown only under the per-product rows."
    )
    targets = run.get("targets") or []
    if any(":" in str(t) and "://" not in str(t) for t in targets):
        out.append("IPv6 targets were included.")
    else:
        out.append("IPv6: no IPv6 target was scanned.")
    if anonymized:
        out.append(
            "Anonymised: addresses are replaced by keyed hashes (HMAC-SHA256, key not in the report), host names, "
            "raw responses, certificate and secret hashes are removed, and finding fingerprints are re-keyed."
        )
    return out


def sort_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then by product and address."""
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}

    def key(r: dict[str, Any]) -> tuple[int, int, str, str]:
        top = top_severity(r)
        return (0 if is_confirmed(r) else 1, rank.get(top or "", 9), str(r.get("product")), service_key(r))

    return sorted(records, key=key)


def build_report(
    run: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    *,
    product_ports: Mapping[str, Iterable[int] | None] | None = None,
    observations: Mapping[str, list[dict[str, Any]]] | None = None,
    advisory_status: str | None = None,
    geoip: str | None = None,
    anonymized: bool = False,
    latest_known: Mapping[str, str] | None = None,
    generated_at: str | None = None,
) -> Report:
    public = sort_records({k: v for k, v in r.items() if k not in ("observations", "position")} for r in records)
    s = survey(public, run.get("counters") or {}, product_ports, latest_known=latest_known)
    return Report(
        run=dict(run),
        records=public,
        survey=s,
        limitations=limitations(run, s, public, advisory_status=advisory_status, geoip=geoip, anonymized=anonymized),
        observations=dict(observations or {}),
        generated_at=generated_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        anonymized=anonymized,
        geoip=geoip,
        advisory_status=advisory_status,
    )
