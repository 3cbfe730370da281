"""Which advisories' affected ranges contain a product's reported version. Pure: database and version in, verdicts out.

A version that is missing, is a known placeholder (Ollama dev builds report 0.0.0) or cannot be read in the package's
scheme is "version unknown": no advisory is claimed for it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from aisweep.advisories.database import AdvisoryDatabase, AdvisoryGroup, PackageSpec, normalize_package
from aisweep.advisories.osv import Advisory, RangeVerdict, evaluate_affected
from aisweep.advisories.versions import parse


class MatchStatus(StrEnum):
    IN_RANGE = "in-range"  # at least one advisory's range contains the version
    CLEAR = "clear"  # the version was read and no advisory's range contains it
    UNKNOWN = "unknown"  # no usable version: nothing is claimed
    UNMAPPED = "unmapped"  # aisweep has no advisory mapping for this product


@dataclass(frozen=True, slots=True)
class Hit:
    group: AdvisoryGroup
    package: PackageSpec
    record: Advisory  # the record whose range contains the version
    verdict: RangeVerdict

    @property
    def fixed(self) -> str | None:
        return self.verdict.fixed


@dataclass(frozen=True, slots=True)
class Assessment:
    product: str
    version: str | None
    status: MatchStatus
    advisories: int  # vulnerabilities known for the product (any version)
    hits: tuple[Hit, ...] = ()
    undecided: tuple[AdvisoryGroup, ...] = ()  # ranges that could not be evaluated for this version
    reason: str = ""


def _applies(pkg: PackageSpec, version: str) -> bool:
    if not pkg.observed:
        return False
    if pkg.applies is None:
        return True
    try:
        return SpecifierSet(pkg.applies).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def _group_verdict(group: AdvisoryGroup, pkg: PackageSpec, version: str) -> tuple[Hit | None, bool]:
    """(hit, decided). Authoritative OSV records decide when they can; compiled records only fill gaps."""
    key = normalize_package(pkg.ecosystem, pkg.name)
    for authoritative in (True, False):
        decided = False
        for rec in group.records:
            if rec.authoritative is not authoritative:
                continue
            for entry in rec.affected:
                if normalize_package(entry.ecosystem, entry.name) != key:
                    continue
                verdict = evaluate_affected(entry, version, pkg.scheme)
                if verdict.affected and verdict.verdict is not None:
                    return Hit(group, pkg, rec, verdict.verdict), True
                decided = decided or verdict.decided
        if decided:
            return None, True
    return None, False


def assess_version(db: AdvisoryDatabase, product: str, version: str | None) -> Assessment:
    """Which of the product's advisories contain `version`. Memoized: a pure function of its arguments (a database
    is not changed once built), and a scan meets the same few releases over and over."""
    return _assess_version(db, product, version)


@lru_cache(maxsize=2048)
def _assess_version(db: AdvisoryDatabase, product: str, version: str | None) -> Assessment:
    spec = db.products.get(product)
    if spec is None:
        return Assessment(product, version, MatchStatus.UNMAPPED, 0, reason="no advisory mapping for this product")
    groups = db.for_product(product)
    v = (version or "").strip()
    if not v:
        return Assessment(product, version, MatchStatus.UNKNOWN, len(groups), reason="the service did not reveal it")
    if v in spec.not_versions:
        return Assessment(
            product, version, MatchStatus.UNKNOWN, len(groups), reason=f"{v!r} is a placeholder, not a release"
        )
    packages = [p for p in spec.packages if _applies(p, v) and parse(p.scheme, v) is not None]
    if not packages:
        schemes = sorted({p.scheme.value for p in spec.packages if p.observed})
        return Assessment(
            product,
            version,
            MatchStatus.UNKNOWN,
            len(groups),
            reason=f"{v!r} cannot be ordered as a {' or '.join(schemes)} version of this product",
        )
    hits: list[Hit] = []
    undecided: list[AdvisoryGroup] = []
    for group in groups:
        decided_any = False
        hit: Hit | None = None
        for pkg in packages:
            hit, decided = _group_verdict(group, pkg, v)
            decided_any = decided_any or decided
            if hit is not None:
                break
        if hit is not None:
            hits.append(hit)
        elif not decided_any and any(
            normalize_package(e.ecosystem, e.name) == normalize_package(p.ecosystem, p.name)
            for r in group.records
            for e in r.affected
            for p in packages
        ):
            undecided.append(group)
    status = MatchStatus.IN_RANGE if hits else MatchStatus.CLEAR
    return Assessment(product, version, status, len(groups), tuple(hits), tuple(undecided))
