"""The advisory check: one `vuln.<id>` finding per vulnerability whose affected range contains the service's version
("version in affected range", with the version's confidence), or one `vuln.version-unknown` when the version is not
known. Known-exploited (CISA KEV) entries are flagged and rated at least high."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import ClassVar, Final, NamedTuple

from aisweep.advisories.database import AdvisoryDatabase, load_database
from aisweep.advisories.match import Assessment, Hit, MatchStatus, assess_version
from aisweep.checks.base import CheckContext
from aisweep.models import Control, Finding, Level, Severity, VersionConfidence

VERSION_UNKNOWN_ID: Final = "vuln.version-unknown"
CATEGORY: Final = "vulnerability"


def finding_id(primary: str) -> str:
    return f"vuln.{primary}"


def _range_text(hit: Hit) -> str:
    v = hit.verdict
    parts = [f"introduced {v.introduced}"]
    if v.fixed:
        parts.append(f"fixed {v.fixed}")
    elif v.last_affected:
        parts.append(f"last affected {v.last_affected}")
    else:
        parts.append("no fixed version")
    return ", ".join(parts)


def _version_basis(ctx: CheckContext) -> str:
    service = ctx.service
    confidence = service.version_confidence
    if confidence is VersionConfidence.UNKNOWN:
        confidence = VersionConfidence.EXACT if service.version_source else VersionConfidence.UNKNOWN
    where = f": {service.version_source}" if service.version_source else ""
    return f"{confidence.value}{where}"


class _Text(NamedTuple):
    """A finding's texts: everything but the service-specific fingerprint and the rule's own remediation."""

    id: str
    title: str
    severity: Severity
    evidence: str
    remediation: str


def _hit_text(hit: Hit, db: AdvisoryDatabase, product: str, product_name: str, version: str, basis: str) -> _Text:
    group = hit.group
    spec = db.products.get(product)
    name = spec.name if spec else product_name
    fixed = hit.fixed
    rating = group.rating
    severity = rating.severity or Severity.MEDIUM
    kev = group.kev
    if kev is not None and severity.rank < Severity.HIGH.rank:
        severity = Severity.HIGH
    tail = f"fixed in {fixed}" if fixed else "no fixed version published"
    title = f"{name} {version} is in the affected range of {group.primary} ({tail})"
    if kev is not None:
        title += "; known exploited (CISA KEV)"
    aliases = f" (aliases: {', '.join(group.aliases)})" if group.aliases else ""
    rated = rating.basis if rating.severity else "not rated by its sources; reported as medium"
    if rating.vector and rating.vector not in rated:
        rated += f" [{rating.vector}]"
    lines = [
        f"Version {version} ({basis}) is in the affected range of {group.primary}{aliases}: "
        f"{hit.package.ecosystem} package {hit.package.name}, {_range_text(hit)} (per {hit.record.id}).",
        f"Severity: {rated}.",
    ]
    if not hit.record.authoritative:
        lines.append(
            "The range comes from a compiled record, not an OSV database: confirm it against the vendor's advisory."
        )
    if group.summary:
        lines.append(f'Advisory summary: "{group.summary}".')
    if kev is not None:
        lines.append(
            f"Known exploited (CISA KEV): added {kev.date_added}"
            + (f", known ransomware use: {kev.ransomware}" if kev.ransomware else "")
            + "."
        )
    lines.append(f"Source: {', '.join(group.sources) or hit.record.id}. {db.status.short_line()}")
    reference = next((u for u in group.references if "nvd.nist.gov" not in u), None) or next(iter(group.references), "")
    if fixed:
        remediation = f"Upgrade {name} to ≥ {fixed} (the first release outside this advisory's range) or later."
    else:
        remediation = (
            f"No fixed {name} release is published for {group.primary}: restrict network access to the service "
            "and apply the advisory's mitigations."
        )
    if reference:
        remediation += f" Advisory: {reference}"
    return _Text(finding_id(group.primary), title, severity, " ".join(lines), remediation)


def _unknown_text(
    assessment: Assessment, db: AdvisoryDatabase, product: str, product_name: str, version: str | None
) -> _Text:
    spec = db.products.get(product)
    name = spec.name if spec else product_name
    n = assessment.advisories
    shown = f"version {version!r}" if version else "no version"
    return _Text(
        VERSION_UNKNOWN_ID,
        f"{name}: version unknown; {n} advisor{'y' if n == 1 else 'ies'} exist for this product",
        Severity.INFO,
        f"{shown.capitalize()} was read ({assessment.reason}), so aisweep claims none of the {n} advisories: "
        f"whether any range contains this instance is not known. {db.status.short_line()}",
        f"Find the running {name} version on the host and compare it with `aisweep advisories show ID`; keep "
        "it on a current release.",
    )


def _finding(ctx: CheckContext, text: _Text) -> Finding:
    return ctx.finding(
        text.id,
        title=text.title,
        severity=text.severity,
        control=Control.PATCHING,
        evidence=text.evidence,
        remediation=text.remediation,
        category=CATEGORY,
    )


def hit_finding(ctx: CheckContext, hit: Hit, db: AdvisoryDatabase) -> Finding:
    service = ctx.service
    text = _hit_text(hit, db, service.product, service.product_name, service.version or "", _version_basis(ctx))
    return _finding(ctx, text)


def unknown_finding(ctx: CheckContext, assessment: Assessment, db: AdvisoryDatabase) -> Finding:
    service = ctx.service
    return _finding(ctx, _unknown_text(assessment, db, service.product, service.product_name, service.version))


@lru_cache(maxsize=1024)
def _finding_texts(
    db: AdvisoryDatabase, product: str, product_name: str, version: str | None, basis: str
) -> tuple[_Text, ...]:
    """The findings' texts for one product version: a pure function of these arguments (the database's status line
    is fixed per database), so many services of one release share them."""
    assessment = assess_version(db, product, version)
    if assessment.status is MatchStatus.UNKNOWN:
        return (_unknown_text(assessment, db, product, product_name, version),) if assessment.advisories else ()
    return tuple(_hit_text(hit, db, product, product_name, version or "", basis) for hit in assessment.hits)


def advisory_findings(ctx: CheckContext, db: AdvisoryDatabase) -> list[Finding]:
    service = ctx.service
    texts = _finding_texts(db, service.product, service.product_name, service.version, _version_basis(ctx))
    return [_finding(ctx, text) for text in texts]


_pinned: list[AdvisoryDatabase] = []  # the data a scan holds for its whole run (`pinned_database`)


@contextmanager
def pinned_database(db: AdvisoryDatabase) -> Iterator[None]:
    """Use `db` for every service checked inside the block: a scan judges all its services against one dataset
    (an `advisories update` mid-run does not split its results), and does not look for a newer file per service."""
    _pinned.append(db)
    try:
        yield
    finally:
        _pinned.pop()


class AdvisoryCheck:
    """Matches the service's version against the offline OSV advisories (`aisweep advisories status`)."""

    id: ClassVar[str] = "advisories"
    level: ClassVar[Level] = Level.SAFE

    def __init__(self, db: AdvisoryDatabase | None = None) -> None:
        self._db = db

    def run(self, ctx: CheckContext) -> list[Finding]:
        db = self._db or (_pinned[-1] if _pinned else load_database())
        return advisory_findings(ctx, db)
