"""Is this service a honeypot or a catch-all that imitates products? A score from independent signals (combined as a
noisy OR): the path that cannot exist answered with a product page or the same body as other paths, the host matched
unrelated products, responses carry a known honeypot kit's markers (checks/data/honeypots.yaml), or the version is
one the product never shipped. Host-wide signals (the same answer on many ports) need every service of a host, so
`host_level_honeypot` works on stored records and the run calls it per host.

`honeypot.likely` is an info finding; the verdict also takes the service out of survey statistics."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar, Final, NamedTuple

import yaml

from aisweep.checks.base import CheckContext
from aisweep.checks.probes import CATCHALL, FOREIGN_HOST_ROOT
from aisweep.errors import RuleError
from aisweep.models import NO_JSON, Control, Finding, Level, Observation, Service, Severity

LIKELY: Final = 0.6
W_CATCHALL_API: Final = 0.5  # a path that cannot exist returns an API answer / the body of another endpoint
W_CATCHALL_SPA: Final = 0.15  # ...returns the same HTML as another page (single-page apps legitimately do this)
W_CATCHALL_OTHER: Final = 0.2  # ...returns 2xx content of its own (LLM-generated honeypots)
W_SAME_BODY: Final = 0.5  # three or more API paths answer with the same non-HTML body
W_UNRELATED: Final = 0.35  # per unrelated product the same port also matched
W_VERSION_MAJOR: Final = 0.5
W_VERSION_EXACT: Final = 0.3
SAME_BODY_PATHS: Final = 3
HOST_SAME_PORTS: Final = 3  # identical services on this many ports, some outside the product's usual ports...
HOST_SAME_PORTS_ANY: Final = 6  # ...or on this many ports whatever they are
HOST_MANY_PRODUCTS: Final = 5
MARKER_TEXT_CHARS: Final = 65536  # body markers are looked for in the first 64 Ki characters


@dataclass(slots=True)
class HoneypotVerdict:
    score: float
    likely: bool
    reasons: list[str] = field(default_factory=list)


class Marker(NamedTuple):
    name: str
    kit: str
    weight: float
    source: str
    header: str | None = None
    header_regex: re.Pattern[str] | None = None
    body_regex: re.Pattern[str] | None = None
    path: str | None = None
    products: frozenset[str] = frozenset()
    body_literals: tuple[str, ...] | None = None  # body_regex when it is only literal alternatives (`a|b`)


_REGEX_SYNTAX: Final = frozenset(".^$*+?{}[]\\()")


def literal_alternatives(pattern: str) -> tuple[str, ...] | None:
    """The alternatives of a pattern that is nothing but `|`-separated literal text, else None. Searching for them
    with `str.find` finds the same as the regex, an order of magnitude faster on long bodies."""
    if any(ch in _REGEX_SYNTAX for ch in pattern):
        return None
    return tuple(pattern.split("|"))


class VersionRule(NamedTuple):
    max_major: int | None
    exact: frozenset[str]
    source: str


class HoneypotData(NamedTuple):
    markers: tuple[Marker, ...]
    versions: Mapping[str, VersionRule]


def parse_honeypot_data(data: Any, where: str = "honeypots.yaml") -> HoneypotData:
    if not isinstance(data, dict):
        raise RuleError(f"{where}: expected a mapping with 'markers' and 'versions'")
    markers: list[Marker] = []
    for i, m in enumerate(data.get("markers") or []):
        label = f"{where}: marker {i + 1}"
        if not isinstance(m, dict) or not m.get("name") or not m.get("source"):
            raise RuleError(f"{label}: needs a name and a source")
        if not (m.get("body_regex") or (m.get("header") and m.get("header_regex"))):
            raise RuleError(f"{label}: needs body_regex or header + header_regex")
        try:
            markers.append(
                Marker(
                    name=str(m["name"]),
                    kit=str(m.get("kit", "")),
                    weight=float(m.get("weight", 0.5)),
                    source=str(m["source"]),
                    header=str(m["header"]).lower() if m.get("header") else None,
                    header_regex=re.compile(m["header_regex"]) if m.get("header_regex") else None,
                    body_regex=re.compile(m["body_regex"]) if m.get("body_regex") else None,
                    path=str(m["path"]) if m.get("path") else None,
                    products=frozenset(str(p) for p in m.get("products") or ()),
                    body_literals=literal_alternatives(str(m["body_regex"])) if m.get("body_regex") else None,
                )
            )
        except (re.error, ValueError, TypeError) as exc:
            raise RuleError(f"{label}: {exc}") from None
    versions: dict[str, VersionRule] = {}
    for product, v in (data.get("versions") or {}).items():
        if not isinstance(v, dict) or not v.get("source"):
            raise RuleError(f"{where}: versions.{product} needs a source")
        max_major = v.get("max_major")
        versions[str(product)] = VersionRule(
            int(max_major) if max_major is not None else None,
            frozenset(str(x) for x in v.get("exact") or ()),
            str(v["source"]),
        )
    return HoneypotData(tuple(markers), versions)


@lru_cache(maxsize=1)
def builtin_honeypot_data() -> HoneypotData:
    text = (resources.files("aisweep.checks") / "data" / "honeypots.yaml").read_text(encoding="utf-8")
    return parse_honeypot_data(yaml.safe_load(text))


class RuleFacts(NamedTuple):
    category: str
    generic: bool
    overrides: frozenset[str]
    ports: frozenset[int] | None


@lru_cache(maxsize=1)
def builtin_rule_facts() -> Mapping[str, RuleFacts]:
    """Category, genericity, overrides and usual ports of the built-in rules (user rules are unknown here)."""
    from aisweep.rules.loader import load_rules  # late: the rules package imports the checks

    return {r.id: RuleFacts(r.category, r.generic, r.overrides, r.ports) for r in load_rules()}


# --- per-service signals --------------------------------------------------------------------------------------------


def _ok(obs: Observation | None) -> bool:
    return obs is not None and obs.answered and obs.status is not None and 200 <= obs.status < 300


def _is_html(obs: Observation) -> bool:
    head = obs.body.lstrip()[:64].lower()
    return "html" in (obs.header("content-type") or "") or head.startswith((b"<!doctype html", b"<html"))


def _error_shaped(obs: Observation) -> bool:
    """A 200 whose JSON only reports an error (LM Studio answers unknown paths so): not content, not a catch-all."""
    doc = obs.json()
    return isinstance(doc, dict) and any(k in doc for k in ("error", "errors")) and len(doc) <= 3


def catchall_signals(observations: Mapping[str, Observation]) -> list[tuple[float, str]]:
    """The path that cannot exist, and identical bodies across distinct API paths."""
    signals: list[tuple[float, str]] = []
    catchall = observations.get(CATCHALL.key)
    others = [
        o
        for k, o in observations.items()
        if k not in (CATCHALL.key, FOREIGN_HOST_ROOT.key) and _ok(o) and o.body.strip()
    ]
    # Bodies are compared stripped (strip() returns the body itself when there is nothing to strip).
    stripped = {id(o): o.body.strip() for o in others}
    if _ok(catchall) and catchall is not None and catchall.body.strip():
        own = catchall.body.strip()
        twins = [o for o in others if stripped[id(o)] == own]
        if twins and not _is_html(catchall):
            signals.append(
                (
                    W_CATCHALL_API,
                    f"{CATCHALL.path} (cannot exist) answered {catchall.status} with the same body as "
                    f"{twins[0].request.method} {twins[0].request.path}",
                )
            )
        elif twins:
            signals.append(
                (
                    W_CATCHALL_SPA,
                    f"{CATCHALL.path} answered with the same HTML as {twins[0].request.path} (a single-page app "
                    "fallback, or a catch-all)",
                )
            )
        elif (catchall.json() is not NO_JSON or not _is_html(catchall)) and not _error_shaped(catchall):
            signals.append(
                (W_CATCHALL_OTHER, f"{CATCHALL.path} (cannot exist) answered {catchall.status} with content")
            )
    groups: dict[bytes, set[str]] = defaultdict(set)
    for o in others:
        if not _is_html(o):
            groups[stripped[id(o)]].add(o.request.path.split("?", 1)[0])
    widest = max(groups.values(), key=len, default=set())
    if len(widest) >= SAME_BODY_PATHS:
        paths = ", ".join(sorted(widest)[:4])
        signals.append((W_SAME_BODY, f"{len(widest)} different API paths returned an identical body ({paths})"))
    return signals


def unrelated_products(
    service: Service, facts: Mapping[str, RuleFacts] | None = None, winner_overrides: frozenset[str] = frozenset()
) -> list[str]:
    """Other products the same port matched that neither imitate each other nor share the winner's category."""
    facts = builtin_rule_facts() if facts is None else facts
    mine = facts.get(service.product)
    out: list[str] = []
    for other in service.also_matched:
        f = facts.get(other)
        if f is None or f.generic or other in winner_overrides:
            continue
        if mine is not None and (service.product in f.overrides or other in mine.overrides):
            continue
        if f.category != service.category:
            out.append(other)
    return out


def _first_url(source: str) -> str:
    m = re.search(r"https?://\S+", source)
    return m.group(0) if m else source[:80]


def _header_hits(markers: list[Marker], answered: list[Observation]) -> dict[int, int]:
    """For each marker (by index) with a header test: the index of the first observation (on the marker's path, if
    it has one) carrying a matching header. One pass over the headers; each distinct value is tested once."""
    wanted: dict[str, list[tuple[int, re.Pattern[str], str | None]]] = {}  # header -> (marker, regex, path)
    for i, marker in enumerate(markers):
        if marker.header is not None and marker.header_regex is not None:
            wanted.setdefault(marker.header.lower(), []).append((i, marker.header_regex, marker.path))
    first: dict[int, int] = {}
    if not wanted:
        return first
    tested: dict[tuple[int, str], bool] = {}
    for j, obs in enumerate(answered):
        for name, value in obs.headers:
            for i, regex, path in wanted.get(name, ()):
                if i in first or (path is not None and obs.request.path != path):
                    continue
                verdict = tested.get((i, value))
                if verdict is None:
                    verdict = tested[i, value] = regex.search(value) is not None
                if verdict:
                    first[i] = j
    return first


def _body_hit(marker: Marker, answered: list[Observation], stop: int) -> int | None:
    """The index of the first observation before `stop` (on the marker's path) whose body matches the marker."""
    if marker.body_regex is None:
        return None
    literals, regex = marker.body_literals, marker.body_regex
    searched: set[bytes] = set()  # bodies without a match (many paths share one body; hashing is the cheaper scan)
    for j, obs in enumerate(answered[:stop]):
        if (marker.path is not None and obs.request.path != marker.path) or obs.body in searched:
            continue
        text = obs.text
        if literals is not None:
            hit = any(text.find(literal, 0, MARKER_TEXT_CHARS) >= 0 for literal in literals)
        else:
            hit = regex.search(text, 0, MARKER_TEXT_CHARS) is not None
        if hit:
            return j
        searched.add(obs.body)
    return None


def marker_signals(
    service: Service, observations: Mapping[str, Observation], data: HoneypotData
) -> list[tuple[float, str]]:
    """One signal per marker the service carries, naming the first answered observation that carries it."""
    signals: list[tuple[float, str]] = []
    answered = [obs for obs in observations.values() if obs.answered]
    markers = [m for m in data.markers if not m.products or service.product in m.products]
    header_hits = _header_hits(markers, answered)
    for i, marker in enumerate(markers):
        by_header = header_hits.get(i)
        by_body = _body_hit(marker, answered, len(answered) if by_header is None else by_header)
        hit = by_body if by_body is not None else by_header
        if hit is not None:
            obs = answered[hit]
            signals.append(
                (
                    marker.weight,
                    f"{obs.request.method} {obs.request.path} carries the {marker.kit} marker "
                    f"'{marker.name}' (source: {_first_url(marker.source)})",
                )
            )
    return signals


def version_signals(service: Service, data: HoneypotData) -> list[tuple[float, str]]:
    rule = data.versions.get(service.product)
    version = (service.version or "").strip()
    if rule is None or not version:
        return []
    if version in rule.exact:
        return [
            (
                W_VERSION_EXACT,
                f"{service.product_name} reports version {version}, which only source builds or imitations report",
            )
        ]
    m = re.match(r"v?(\d+)\.", version)
    if m and rule.max_major is not None and int(m.group(1)) > rule.max_major:
        return [(W_VERSION_MAJOR, f"{service.product_name} reports version {version}, a major version never released")]
    return []


def noisy_or(weights: Iterable[float]) -> float:
    miss = 1.0
    for w in weights:
        miss *= 1.0 - max(0.0, min(1.0, w))
    return round(1.0 - miss, 3)


def honeypot_assessment(
    service: Service,
    observations: Mapping[str, Observation],
    *,
    data: HoneypotData | None = None,
    facts: Mapping[str, RuleFacts] | None = None,
    winner_overrides: frozenset[str] = frozenset(),
) -> HoneypotVerdict:
    """Score how likely `service` is a honeypot or product-imitating catch-all, from its own observations. Pure."""
    data = builtin_honeypot_data() if data is None else data
    signals = catchall_signals(observations)
    unrelated = unrelated_products(service, facts, winner_overrides)
    if unrelated:
        signals.append(
            (
                min(0.7, W_UNRELATED * len(unrelated)),
                f"the same port also matched unrelated products: {', '.join(unrelated)}",
            )
        )
    signals += marker_signals(service, observations, data)
    signals += version_signals(service, data)
    score = noisy_or(w for w, _ in signals)
    return HoneypotVerdict(score, score >= LIKELY, [reason for _, reason in signals])


# --- host-level signals (run context) -------------------------------------------------------------------------------


def _signature(record: Mapping[str, Any]) -> tuple[Any, ...]:
    auth = record.get("auth") or {}
    surfaces = record.get("surfaces") or {}
    return (
        record.get("product"),
        record.get("version"),
        auth.get("tier") if isinstance(auth, dict) else None,
        tuple(sorted(surfaces.items())) if isinstance(surfaces, dict) else (),
        tuple(record.get("evidence") or ()),
    )


def _port(record: Mapping[str, Any]) -> int | None:
    target = record.get("target") or {}
    port = target.get("port") if isinstance(target, dict) else None
    return port if isinstance(port, int) else None


def host_level_honeypot(
    records_for_host: list[dict[str, Any]], facts: Mapping[str, RuleFacts] | None = None
) -> list[str]:
    """Reasons (possibly none) to treat every service of one host as a honeypot, from its service records
    (Service.to_record()): the same answer on many ports (real services sit on one port), the same product on
    ports other products own, or one host answering as many different products."""
    facts = builtin_rule_facts() if facts is None else facts
    reasons: list[str] = []
    by_signature: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for record in records_for_host:
        port = _port(record)
        if port is not None:
            by_signature[_signature(record)].append(port)
    for signature, ports in by_signature.items():
        product = str(signature[0])
        usual = facts[product].ports if product in facts else None
        unusual = [p for p in ports if usual is not None and p not in usual]
        if len(ports) >= HOST_SAME_PORTS_ANY or (len(ports) >= HOST_SAME_PORTS and len(unusual) >= 2):
            shown = ", ".join(str(p) for p in sorted(ports)[:8]) + (" ..." if len(ports) > 8 else "")
            reasons.append(
                f"identical {product} answers on {len(ports)} ports ({shown}); real services sit on one port"
            )
    products = Counter(str(r.get("product")) for r in records_for_host if r.get("product"))
    if len(products) >= HOST_MANY_PRODUCTS:
        reasons.append(f"one host answers as {len(products)} different products ({', '.join(sorted(products))})")
    return reasons


class HoneypotCheck:
    """honeypot.likely (info): the service looks like a honeypot or a product-imitating catch-all."""

    id: ClassVar[str] = "honeypot"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        verdict = ctx.honeypot
        if verdict is None:
            verdict = honeypot_assessment(ctx.service, ctx.observations, winner_overrides=ctx.rule.overrides)
        if not verdict.likely:
            return []
        return [
            ctx.finding(
                "honeypot.likely",
                title=f"{ctx.service.product_name}: likely a honeypot or catch-all imitating the product",
                severity=Severity.INFO,
                control=Control.LOGGING_MONITORING,
                evidence=f"score {verdict.score:.2f}: " + "; ".join(verdict.reasons),
                remediation="Nothing to fix if this is your sensor. Otherwise treat the other findings for this "
                "service with caution: it is excluded from survey statistics.",
                category="honeypot",
            )
        ]
