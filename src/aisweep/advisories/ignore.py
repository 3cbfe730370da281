"""Ignore files: a team's decisions to suppress findings, each with a reason and an optional expiry.

```yaml
ignore:
  - id: CVE-2023-1177          # an advisory id or alias, a finding id (vuln.CVE-…, auth.none) or a fingerprint
    scope: mlflow              # optional: a product id, host, host:port, or a glob over them ("10.0.*:5000")
    reason: tracking server is only reachable from the build VLAN   # required
    expires: 2027-03-31        # optional; from that day the entry suppresses nothing and is reported as expired
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from aisweep.errors import AisweepError
from aisweep.models import Finding, Service


class IgnoreFileError(AisweepError):
    """An ignore file cannot be read or has an invalid entry; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    id: str
    reason: str
    scope: str | None = None
    expires: date | None = None
    index: int = 0  # position in the file, for messages

    def expired(self, today: date) -> bool:
        return self.expires is not None and today >= self.expires

    def describe(self) -> str:
        scope = f" scope {self.scope}" if self.scope else ""
        until = f" until {self.expires.isoformat()}" if self.expires else ""
        return f"{self.id}{scope}{until} ({self.reason})"


@dataclass(slots=True)
class Suppressed:
    service: str  # host:port
    finding: Finding
    entry: IgnoreEntry


@dataclass(slots=True)
class IgnoreReport:
    """What the ignore file did in one run: suppressed findings, expired entries, entries that matched nothing."""

    suppressed: list[Suppressed] = field(default_factory=list)
    expired: list[IgnoreEntry] = field(default_factory=list)
    unused: list[IgnoreEntry] = field(default_factory=list)

    def finish(self, ignores: IgnoreList, today: date | None = None) -> IgnoreReport:
        """Fill in the expired and unused entries once every service has been filtered (streaming scans)."""
        today = today or datetime.now(UTC).date()
        used = {id(s.entry) for s in self.suppressed}
        self.expired = ignores.expired(today)
        self.unused = [e for e in ignores.active(today) if id(e) not in used]
        return self

    def lines(self) -> list[str]:
        out = [f"suppressed {s.finding.id} on {s.service}: {s.entry.reason}" for s in self.suppressed]
        out += [f"expired ignore entry (suppresses nothing): {e.describe()}" for e in self.expired]
        out += [f"unused ignore entry: {e.describe()}" for e in self.unused]
        return out


def _entry(raw: Any, index: int, where: str) -> IgnoreEntry:
    if not isinstance(raw, dict):
        raise IgnoreFileError(f"{where}: entry {index + 1} is not a mapping")
    ident = str(raw.get("id") or "").strip()
    reason = str(raw.get("reason") or "").strip()
    if not ident:
        raise IgnoreFileError(f"{where}: entry {index + 1} has no id")
    if not reason:
        raise IgnoreFileError(f"{where}: entry {index + 1} ({ident}) has no reason; every ignore needs one")
    expires_raw = raw.get("expires")
    expires: date | None
    if expires_raw is None or expires_raw == "":
        expires = None
    elif isinstance(expires_raw, datetime):
        expires = expires_raw.date()
    elif isinstance(expires_raw, date):
        expires = expires_raw
    else:
        try:
            expires = date.fromisoformat(str(expires_raw).strip())
        except ValueError:
            raise IgnoreFileError(
                f"{where}: entry {index + 1} ({ident}): expires {expires_raw!r} is not a date (YYYY-MM-DD)"
            ) from None
    scope = raw.get("scope")
    unknown = set(raw) - {"id", "reason", "scope", "expires"}
    if unknown:
        raise IgnoreFileError(f"{where}: entry {index + 1} ({ident}) has unknown keys: {', '.join(sorted(unknown))}")
    return IgnoreEntry(ident, reason, str(scope).strip() if scope not in (None, "") else None, expires, index)


@dataclass(frozen=True, slots=True)
class IgnoreList:
    entries: tuple[IgnoreEntry, ...]
    path: str = ""

    def active(self, today: date) -> list[IgnoreEntry]:
        return [e for e in self.entries if not e.expired(today)]

    def expired(self, today: date) -> list[IgnoreEntry]:
        return [e for e in self.entries if e.expired(today)]


def parse_ignore(text: str, where: str = "ignore file") -> IgnoreList:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IgnoreFileError(f"{where}: not valid YAML: {exc}") from None
    if data is None:
        return IgnoreList((), where)
    items = data.get("ignore") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise IgnoreFileError(f"{where}: expected a list under 'ignore:'")
    return IgnoreList(tuple(_entry(raw, i, where) for i, raw in enumerate(items)), where)


def load_ignore_file(path: Path | str) -> IgnoreList:
    """Read an ignore file (YAML). Raises IgnoreFileError with the file and entry on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise IgnoreFileError(f"{p}: cannot read ignore file: {exc.strerror or exc}") from None
    return parse_ignore(text, str(p))


def _scope_matches(scope: str | None, service: Service) -> bool:
    if scope is None:
        return True
    s = scope.lower()
    candidates = {service.product.lower(), service.key.lower(), service.target.host.lower()}
    if service.target.hostname:
        candidates.add(service.target.hostname.lower())
        candidates.add(f"{service.target.hostname}:{service.target.port}".lower())
    return any(fnmatchcase(c, s) for c in candidates)


AliasLookup = Callable[[str], Iterable[str]]


def _id_matches(entry: IgnoreEntry, finding: Finding, aliases: AliasLookup | None) -> bool:
    want = entry.id.strip().lower()
    fid = finding.id.lower()
    if want in (fid, finding.fingerprint.lower()) or f"vuln.{want}" == fid:
        return True
    if aliases is not None and fid.startswith("vuln."):
        return want.removeprefix("vuln.") in {a.lower() for a in aliases(finding.id)}
    return False


def default_alias_lookup() -> AliasLookup:
    """Aliases from the advisory database, so `id: GHSA-…` suppresses the finding `vuln.CVE-…` of the same issue."""
    from aisweep.advisories.database import load_database

    db = load_database()

    def lookup(fid: str) -> Iterable[str]:
        group = db.find(fid)
        return group.ids if group is not None else ()

    return lookup


def filter_findings(
    service: Service,
    findings: Iterable[Finding],
    ignores: IgnoreList,
    report: IgnoreReport,
    *,
    today: date | None = None,
    aliases: AliasLookup | None = None,
) -> list[Finding]:
    """The findings no active entry suppresses; suppressions are recorded in `report`."""
    today = today or datetime.now(UTC).date()
    active = ignores.active(today)
    kept: list[Finding] = []
    for f in findings:
        entry = next((e for e in active if _scope_matches(e.scope, service) and _id_matches(e, f, aliases)), None)
        if entry is None:
            kept.append(f)
        else:
            report.suppressed.append(Suppressed(service.key, f, entry))
    return kept


def apply_ignores(
    services: Iterable[Service],
    ignores: IgnoreList,
    *,
    today: date | None = None,
    aliases: AliasLookup | None = None,
) -> IgnoreReport:
    """Remove suppressed findings from each service (in place) and report what happened, including expired entries
    and entries that matched nothing. Expired entries never suppress."""
    today = today or datetime.now(UTC).date()
    if aliases is None and ignores.entries:
        aliases = default_alias_lookup()
    report = IgnoreReport()
    for service in services:
        service.findings = filter_findings(service, service.findings, ignores, report, today=today, aliases=aliases)
    return report.finish(ignores, today)
