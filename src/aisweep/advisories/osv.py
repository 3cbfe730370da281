"""OSV records (https://ossf.github.io/osv-schema/) as typed values, their severity, and OSV range semantics.

Ranges: `introduced` is inclusive, `fixed` exclusive, `last_affected` inclusive, "0" is the first release, and
`limit` caps a range. Versions are ordered by the package's own scheme (`versions.py`). An event version the scheme
cannot read makes the range undecidable (None), never "affected"."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from aisweep.advisories.versions import Scheme, VersionKey, parse, parse_pep440, scheme_for_ecosystem
from aisweep.models import Severity


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # introduced, fixed, last_affected, limit
    version: str


@dataclass(frozen=True, slots=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER, GIT
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Affected:
    ecosystem: str
    name: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Advisory:
    """One OSV record. `raw` keeps the record as published, for `advisories show` and for writing data back."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    published: str
    modified: str
    withdrawn: str | None
    severity: tuple[tuple[str, str], ...]  # (type, score) e.g. ("CVSS_V3", "CVSS:3.1/AV:N/...")
    affected: tuple[Affected, ...]
    references: tuple[tuple[str, str], ...]
    database_specific: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def source(self) -> str:
        return str(self.database_specific.get("source") or "")

    @property
    def authoritative(self) -> bool:
        """True for records published by an OSV database (GO, PYSEC, GHSA); False for compiled ones."""
        return self.id.startswith(("GO-", "PYSEC-", "GHSA-")) and not self.database_specific.get("compiled")

    def all_ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def advisory_from_osv(record: Mapping[str, Any]) -> Advisory:
    """Read one OSV JSON record. Raises ValueError when it lacks an id."""
    rid = _str(record.get("id"))
    if not rid:
        raise ValueError("OSV record without an id")
    affected: list[Affected] = []
    for a in record.get("affected") or []:
        if not isinstance(a, Mapping):
            continue
        pkg = a.get("package") or {}
        ranges = []
        for r in a.get("ranges") or []:
            events = []
            for e in r.get("events") or []:
                for kind in ("introduced", "fixed", "last_affected", "limit"):
                    if kind in e:
                        events.append(Event(kind, str(e[kind])))
            ranges.append(Range(_str(r.get("type")), tuple(events)))
        affected.append(
            Affected(
                _str(pkg.get("ecosystem")),
                _str(pkg.get("name")),
                tuple(ranges),
                tuple(str(v) for v in a.get("versions") or []),
            )
        )
    return Advisory(
        id=rid,
        aliases=tuple(str(x) for x in record.get("aliases") or []),
        summary=_str(record.get("summary")) or _str(record.get("details"))[:160],
        published=_str(record.get("published")),
        modified=_str(record.get("modified")),
        withdrawn=_str(record.get("withdrawn")) or None,
        severity=tuple((_str(s.get("type")), _str(s.get("score"))) for s in record.get("severity") or []),
        affected=tuple(affected),
        references=tuple((_str(r.get("type")), _str(r.get("url"))) for r in record.get("references") or []),
        database_specific=dict(record.get("database_specific") or {}),
        raw=record,
    )


# --- ranges ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RangeVerdict:
    """A version inside a range, with the events that bound it there."""

    introduced: str
    fixed: str | None
    last_affected: str | None


@lru_cache(maxsize=4096, typed=True)
def _keyed_events(
    rng: Range, scheme: Scheme
) -> tuple[tuple[tuple[VersionKey, Event], ...], tuple[VersionKey, ...]] | None:
    """The range's events in version order, and its limits; None when an event version cannot be read. Memoized:
    ranges are static data, evaluated for every version assessed."""
    keyed: list[tuple[VersionKey, Event]] = []
    limits: list[VersionKey] = []
    for ev in rng.events:
        if ev.kind == "limit" and ev.version == "*":
            continue
        key = parse(scheme, ev.version, allow_zero=ev.kind == "introduced")
        if key is None:
            return None
        if ev.kind == "limit":
            limits.append(key)
        else:
            keyed.append((key, ev))
    keyed.sort(key=lambda pair: pair[0])  # stable: equal versions keep the record's order
    return tuple(keyed), tuple(limits)


def evaluate_range(rng: Range, version: VersionKey, scheme: Scheme) -> RangeVerdict | bool | None:
    """RangeVerdict when `version` is in the range, False when it is not, None when the range cannot be decided
    (an event version the scheme cannot read)."""
    events = _keyed_events(rng, scheme)
    if events is None:
        return None
    keyed, limits = events
    affected = False
    introduced = ""
    for key, ev in keyed:
        if ev.kind == "introduced" and version >= key:
            affected, introduced = True, ev.version
        elif (ev.kind == "fixed" and version >= key) or (ev.kind == "last_affected" and version > key):
            affected = False
    if affected and limits and not any(version < lim for lim in limits):
        affected = False
    if not affected:
        return False
    fixed = next((ev.version for key, ev in keyed if ev.kind == "fixed" and key > version), None)
    last = next((ev.version for key, ev in keyed if ev.kind == "last_affected" and key >= version), None)
    return RangeVerdict(introduced, fixed, last)


@dataclass(frozen=True, slots=True)
class PackageVerdict:
    affected: bool
    decided: bool
    verdict: RangeVerdict | None = None


def evaluate_affected(entry: Affected, version_text: str, scheme: Scheme) -> PackageVerdict:
    """Is `version_text` of this package in the entry's ranges or listed versions? GIT ranges are skipped.

    A PEP 440 local label (`2.2.0+cu121`) is a build of the public release, so it is matched as that release."""
    if scheme is Scheme.PEP440:
        public = parse_pep440(version_text)
        version_text = public.public if public is not None else version_text
    version = parse(scheme, version_text)
    if version is None:
        return PackageVerdict(False, False)
    undecided = False
    for rng in entry.ranges:
        if rng.type == "GIT":
            continue
        rng_scheme = Scheme.SEMVER if rng.type == "SEMVER" else scheme
        v = version if rng_scheme is scheme else parse(rng_scheme, version_text)
        if v is None:
            undecided = True
            continue
        result = evaluate_range(rng, v, rng_scheme)
        if isinstance(result, RangeVerdict):
            return PackageVerdict(True, True, result)
        if result is None:
            undecided = True
    for listed in entry.versions:
        key = parse(scheme, listed)
        if key is not None and key == version:
            return PackageVerdict(True, True, RangeVerdict(listed, None, listed))
    decidable = any(r.type != "GIT" for r in entry.ranges) or bool(entry.versions)
    return PackageVerdict(False, decidable and not undecided)


def entry_scheme(entry: Affected) -> Scheme | None:
    return scheme_for_ecosystem(entry.ecosystem)


# --- severity ---------------------------------------------------------------------------------------------------------

_AV: Final = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC: Final = {"L": 0.77, "H": 0.44}
_PR_U: Final = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_C: Final = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI: Final = {"N": 0.85, "R": 0.62}
_CIA: Final = {"H": 0.56, "L": 0.22, "N": 0.0}


def _roundup(value: float) -> float:
    """CVSS 3.1's Roundup: the smallest one-decimal number >= value, robust to float error."""
    as_int = round(value * 100000)
    if as_int % 10000 == 0:
        return as_int / 100000.0
    return (math.floor(as_int / 10000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """The CVSS v3.0/3.1 base score of a vector string, or None when it is not a complete v3 base vector."""
    parts = vector.strip().split("/")
    if not parts or not parts[0].startswith("CVSS:3"):
        return None
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        if ":" in part:
            k, _, v = part.partition(":")
            metrics[k] = v
    try:
        changed = metrics["S"] == "C"
        iss = 1 - (1 - _CIA[metrics["C"]]) * (1 - _CIA[metrics["I"]]) * (1 - _CIA[metrics["A"]])
        pr = (_PR_C if changed else _PR_U)[metrics["PR"]]
        exploitability = 8.22 * _AV[metrics["AV"]] * _AC[metrics["AC"]] * pr * _UI[metrics["UI"]]
    except KeyError:
        return None
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(min(total, 10.0))


def severity_from_score(score: float) -> Severity:
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.INFO


_WORD_SEVERITY: Final = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
}


@dataclass(frozen=True, slots=True)
class Rating:
    severity: Severity | None
    score: float | None
    vector: str | None
    basis: str  # "CVSS 3.1 base score 9.3", "GHSA rating HIGH (CVSS 4.0 vector)", "not rated"


def rate(advisories: Sequence[Advisory]) -> Rating:
    """The severity of a group of aliased records: the highest CVSS v3 base score among them, else the highest
    rating a record states in words (GHSA's database_specific.severity, e.g. for CVSS 4.0 vectors)."""
    best: Rating | None = None
    for adv in advisories:
        for kind, vector in adv.severity:
            score = cvss3_base_score(vector) if kind == "CVSS_V3" else None
            if not score:
                continue  # 0.0 is "no impact": a placeholder vector, not a rating
            if best is None or (best.score or 0.0) < score:
                version = vector.split("/")[0].removeprefix("CVSS:")
                best = Rating(severity_from_score(score), score, vector, f"CVSS {version} base score {score:.1f}")
    if best is not None:
        return best
    worded: Rating | None = None
    for adv in advisories:
        word = str(adv.database_specific.get("severity") or "").upper()
        sev = _WORD_SEVERITY.get(word)
        if sev is not None and (worded is None or (worded.severity is not None and worded.severity.rank < sev.rank)):
            any_vector = next((v for _, v in adv.severity), None)
            by = adv.database_specific.get("severity_source") or adv.id
            worded = Rating(sev, None, any_vector, f"rated {word} by {by}")
    return worded or Rating(None, None, None, "not rated")
