"""The advisory check: one `vuln.<id>` finding per vulnerability whose affected range contains the service's version
("version in affected range", with the version's confidence), or one `vuln.version-unknown` when the version is not
known. Known-exploited (CISA KEV) entries are flagged and rated at least high."""

from __future__ import annotations

from typing import ClassVar, Final

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


def hit_finding(ctx: CheckContext, hit: Hit, db: AdvisoryDatabase) -> Finding:
    service = ctx.service
    group = hit.group
    spec = db.products.get(service.product)
    name = spec.name if spec else service.product_name
    version = service.version or ""
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
        f"Version {version} ({_version_basis(ctx)}) is in the affected range of {group.primary}{aliases}: "
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
    lines.append(f"Source: {', '.join(group.sources) or hit.record.id}. {db.status.line()}")
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
    return ctx.finding(
        finding_id(group.primary),
        title=title,
        severity=severity,
        control=Control.PATCHING,
        evidence=" ".join(lines),
        remediation=remediation,
        category=CATEGORY,
    )


def unknown_finding(ctx: CheckContext, assessment: Assessment, db: AdvisoryDatabase) -> Finding:
    spec = db.products.get(ctx.service.product)
    name = spec.name if spec else ctx.service.product_name
    n = assessment.advisories
    shown = f"version {ctx.service.version!r}" if ctx.service.version else "no version"
    return ctx.finding(
        VERSION_UNKNOWN_ID,
        title=f"{name}: version unknown; {n} advisor{'y' if n == 1 else 'ies'} exist for this product",
        severity=Severity.INFO,
        control=Control.PATCHING,
        evidence=(
            f"{shown.capitalize()} was read ({assessment.reason}), so aisweep claims none of the {n} advisories: "
            f"whether any range contains this instance is not known. {db.status.line()}"
        ),
        remediation=(
            f"Find the running {name} version on the host and compare it with `aisweep advisories show ID`; keep "
            "it on a current release."
        ),
        category=CATEGORY,
    )


def advisory_findings(ctx: CheckContext, db: AdvisoryDatabase) -> list[Finding]:
    assessment = assess_version(db, ctx.service.product, ctx.service.version)
    if assessment.status is MatchStatus.UNKNOWN:
        return [unknown_finding(ctx, assessment, db)] if assessment.advisories else []
    return [hit_finding(ctx, hit, db) for hit in assessment.hits]


class AdvisoryCheck:
    """Matches the service's version against the offline OSV advisories (`aisweep advisories status`)."""

    id: ClassVar[str] = "advisories"
    level: ClassVar[Level] = Level.SAFE

    def __init__(self, db: AdvisoryDatabase | None = None) -> None:
        self._db = db

    def run(self, ctx: CheckContext) -> list[Finding]:
        db = self._db or load_database()
        return advisory_findings(ctx, db)
