"""The advisory database: the shipped OSV snapshot (or a newer one from `aisweep advisories update`), the CISA KEV
subset, and the product → package mapping, with aliased records merged into one group per vulnerability."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from aisweep.advisories.osv import Advisory, Rating, advisory_from_osv, rate
from aisweep.advisories.versions import Scheme
from aisweep.errors import AisweepError


class AdvisoryDataError(AisweepError):
    """Advisory data (shipped, updated or downloaded) cannot be read."""


ADVISORIES_FILE: Final = "advisories.json"
KEV_FILE: Final = "kev.json"
PRODUCTS_FILE: Final = "products.json"


def shipped_dir() -> Path:
    return Path(str(resources.files("aisweep.advisories") / "data"))


def updated_dir() -> Path:
    """Where `aisweep advisories update` writes: $AISWEEP_ADVISORIES_DIR, else the user's cache directory."""
    env = os.environ.get("AISWEEP_ADVISORIES_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aisweep" / "advisories"


# --- products ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageSpec:
    """One package whose advisories concern a product. `applies` (a PEP 440 specifier) says which of the product's
    reported versions are this package's versions; `observed` is False when the product never reports it."""

    ecosystem: str
    name: str
    scheme: Scheme
    applies: str | None = None
    observed: bool = True
    osv: bool = True  # OSV publishes this ecosystem (so `update` can refresh it)


@dataclass(frozen=True, slots=True)
class ProductSpec:
    id: str
    name: str
    packages: tuple[PackageSpec, ...]
    not_versions: frozenset[str] = frozenset()  # version strings that say nothing (e.g. Ollama dev builds: 0.0.0)
    note: str = ""


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdvisoryDataError(f"{path}: cannot read advisory data: {exc}") from None


def parse_products(data: Mapping[str, Any]) -> dict[str, ProductSpec]:
    products: dict[str, ProductSpec] = {}
    for pid, spec in (data.get("products") or {}).items():
        packages = tuple(
            PackageSpec(
                ecosystem=str(p["ecosystem"]),
                name=str(p["name"]),
                scheme=Scheme(p["scheme"]),
                applies=p.get("applies"),
                observed=bool(p.get("observed", True)),
                osv=bool(p.get("osv", True)),
            )
            for p in spec.get("packages", [])
        )
        products[pid] = ProductSpec(
            pid,
            str(spec.get("name", pid)),
            packages,
            frozenset(spec.get("not_versions", [])),
            str(spec.get("note", "")),
        )
    return products


def load_products(path: Path | None = None) -> dict[str, ProductSpec]:
    return parse_products(_load_json(path or shipped_dir() / PRODUCTS_FILE))


# --- KEV -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KevEntry:
    cve: str
    vendor: str
    product: str
    name: str
    date_added: str
    due_date: str = ""
    ransomware: str = ""


def parse_kev(data: Mapping[str, Any]) -> dict[str, KevEntry]:
    out: dict[str, KevEntry] = {}
    for v in data.get("vulnerabilities") or []:
        cve = str(v.get("cveID", "")).upper()
        if cve:
            out[cve] = KevEntry(
                cve,
                str(v.get("vendorProject", "")),
                str(v.get("product", "")),
                str(v.get("vulnerabilityName", "")),
                str(v.get("dateAdded", "")),
                str(v.get("dueDate", "")),
                str(v.get("knownRansomwareCampaignUse", "")),
            )
    return out


# --- groups --------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def normalize_package(ecosystem: str, name: str) -> tuple[str, str]:
    if ecosystem == "PyPI":
        return ecosystem, re.sub(r"[-_.]+", "-", name).lower()
    return ecosystem, name.lower()


def _primary_id(ids: Iterable[str], records: Sequence[Advisory]) -> str:
    ordered = sorted(set(ids))
    for prefix in ("CVE-", "GHSA-"):
        found = [i for i in ordered if i.startswith(prefix)]
        if found:
            return found[0]
    return records[0].id


@dataclass(frozen=True, slots=True)
class AdvisoryGroup:
    """The records that describe one vulnerability (aliases merged). Authoritative OSV records come first."""

    primary: str
    ids: tuple[str, ...]
    records: tuple[Advisory, ...]
    kev: KevEntry | None = None

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(i for i in self.ids if i != self.primary)

    @property
    def summary(self) -> str:
        return next((r.summary for r in self.records if r.summary), "")

    @property
    def rating(self) -> Rating:
        return rate(self.records)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.source for r in self.records if r.source))

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(url for r in self.records for _, url in r.references if url))


def group_advisories(advisories: Iterable[Advisory], kev: Mapping[str, KevEntry]) -> list[AdvisoryGroup]:
    """Union the records that share any id or alias into one group each."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    records = [a for a in advisories if not a.withdrawn]
    for adv in records:
        ids = [i.upper() for i in adv.all_ids()]
        for other in ids[1:]:
            ra, rb = find(ids[0]), find(other)
            if ra != rb:
                parent[ra] = rb
        find(ids[0])
    members: dict[str, list[Advisory]] = {}
    for adv in records:
        members.setdefault(find(adv.id.upper()), []).append(adv)
    groups = []
    for recs in members.values():
        recs.sort(key=lambda a: (not a.authoritative, a.id))
        group_ids = tuple(sorted({i for a in recs for i in a.all_ids()}))
        kev_entry = next((kev[i.upper()] for i in group_ids if i.upper() in kev), None)
        groups.append(AdvisoryGroup(_primary_id(group_ids, recs), group_ids, tuple(recs), kev_entry))
    groups.sort(key=lambda g: g.primary)
    return groups


# --- the database --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataStatus:
    """Where the advisory data came from and how old it is; every report states it (`line()`)."""

    origin: str  # "shipped" or "updated"
    generated: str  # ISO date (or date-time) the data was built or downloaded
    sources: tuple[str, ...]
    advisories: int
    groups: int
    kev_catalog: str
    path: str
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    @property
    def generated_date(self) -> date | None:
        try:
            return date.fromisoformat(self.generated[:10])
        except ValueError:
            return None

    @property
    def age_days(self) -> int | None:
        d = self.generated_date
        return None if d is None else (self.today - d).days

    def _origin_and_age(self) -> str:
        age = self.age_days
        age_text = "age unknown" if age is None else f"{age} day{'s' if age != 1 else ''} old"
        what = "shipped with aisweep" if self.origin == "shipped" else "downloaded by `aisweep advisories update`"
        return f"{what}, dated {self.generated[:10]} ({age_text})"

    def line(self) -> str:
        return (
            f"Advisory data: {self.groups} vulnerabilities ({self.advisories} OSV records), {self._origin_and_age()}; "
            f"CISA KEV catalog {self.kev_catalog or 'none'}; sources: {', '.join(self.sources) or 'unknown'}"
        )

    def short_line(self) -> str:
        """What each finding says of its data: origin, date and age. The full `line()` is stored once per run (a
        scan's `advisory_data` setting) and printed by reports: repeated in every finding it was about a quarter
        of the stored bytes of an old release's service (66 findings for MLflow 2.1.1)."""
        return f"Advisory data: {self._origin_and_age()}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "generated": self.generated,
            "age_days": self.age_days,
            "sources": list(self.sources),
            "advisories": self.advisories,
            "vulnerabilities": self.groups,
            "kev_catalog": self.kev_catalog,
            "path": self.path,
        }


class AdvisoryDatabase:
    """Advisory groups indexed by package, plus the product mapping. Pure lookups; built once per data file."""

    def __init__(
        self,
        advisories: Sequence[Advisory],
        kev: Mapping[str, KevEntry],
        products: Mapping[str, ProductSpec],
        meta: Mapping[str, Any],
        *,
        origin: str = "shipped",
        path: str = "",
        kev_meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.advisories = tuple(advisories)
        self.kev = dict(kev)
        self.products = dict(products)
        self.meta = dict(meta)
        self.kev_meta = dict(kev_meta or {})
        self.origin = origin
        self.path = path
        self.groups = group_advisories(self.advisories, self.kev)
        self._by_id = {i.upper(): g for g in self.groups for i in g.ids}
        self._by_package: dict[tuple[str, str], list[AdvisoryGroup]] = {}
        for g in self.groups:
            seen: set[tuple[str, str]] = set()
            for rec in g.records:
                for entry in rec.affected:
                    key = normalize_package(entry.ecosystem, entry.name)
                    if key not in seen:
                        seen.add(key)
                        self._by_package.setdefault(key, []).append(g)

    def find(self, advisory_id: str) -> AdvisoryGroup | None:
        """The group that has `advisory_id` (any alias, or a finding id `vuln.<id>`)."""
        key = advisory_id.strip().upper().removeprefix("VULN.")
        return self._by_id.get(key)

    def for_package(self, ecosystem: str, name: str) -> list[AdvisoryGroup]:
        return list(self._by_package.get(normalize_package(ecosystem, name), []))

    def for_product(self, product_id: str) -> list[AdvisoryGroup]:
        spec = self.products.get(product_id)
        if spec is None:
            return []
        seen: dict[str, AdvisoryGroup] = {}
        for pkg in spec.packages:
            for g in self.for_package(pkg.ecosystem, pkg.name):
                seen.setdefault(g.primary, g)
        return sorted(seen.values(), key=lambda g: g.primary)

    @cached_property
    def status(self) -> DataStatus:
        sources = tuple(
            f"{s.get('name')}@{str(s.get('commit', ''))[:12]}" if s.get("commit") else str(s.get("name"))
            for s in self.meta.get("sources", [])
        )
        return DataStatus(
            origin=self.origin,
            generated=str(self.meta.get("generated", "")),
            sources=sources,
            advisories=len(self.advisories),
            groups=len(self.groups),
            kev_catalog=str(self.kev_meta.get("catalogVersion", "")),
            path=self.path,
        )


def parse_advisories(data: Mapping[str, Any], where: str) -> tuple[list[Advisory], dict[str, Any]]:
    if not isinstance(data, Mapping) or not isinstance(data.get("advisories"), list):
        raise AdvisoryDataError(f"{where}: not an aisweep advisory file (no 'advisories' list)")
    out = []
    for rec in data["advisories"]:
        try:
            out.append(advisory_from_osv(rec))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise AdvisoryDataError(f"{where}: bad OSV record {str(rec)[:80]!r}: {exc}") from None
    return out, dict(data.get("meta") or {})


def read_database(directory: Path, origin: str, products: Mapping[str, ProductSpec] | None = None) -> AdvisoryDatabase:
    """Read advisories.json and kev.json from `directory` (products.json always comes with the package)."""
    advisories, meta = parse_advisories(_load_json(directory / ADVISORIES_FILE), str(directory / ADVISORIES_FILE))
    kev_path = directory / KEV_FILE
    if not kev_path.exists():
        kev_path = shipped_dir() / KEV_FILE
    kev_data = _load_json(kev_path)
    return AdvisoryDatabase(
        advisories,
        parse_kev(kev_data),
        products if products is not None else load_products(),
        meta,
        origin=origin,
        path=str(directory),
        kev_meta=dict(kev_data.get("meta") or {}),
    )


_lock = threading.Lock()
_cache: dict[tuple[str, float], AdvisoryDatabase] = {}
_unreadable: set[tuple[str, float]] = set()


@lru_cache(maxsize=16)
def _candidates(
    use_updated: bool, _env_dir: str | None, _xdg_cache: str | None, _home: str | None
) -> tuple[tuple[Path, str, str], ...]:
    """(directory, its advisories file, origin), newest first. The environment variables `updated_dir` reads are the
    cache key: the directories are worked out once, not for every service."""
    directories = [(updated_dir(), "updated")] if use_updated else []
    directories.append((shipped_dir(), "shipped"))
    return tuple((directory, str(directory / ADVISORIES_FILE), origin) for directory, origin in directories)


def load_database(*, use_updated: bool = True) -> AdvisoryDatabase:
    """The newest usable data: the updated copy when it exists and reads cleanly, else the shipped snapshot."""
    env = os.environ
    candidates = _candidates(use_updated, env.get("AISWEEP_ADVISORIES_DIR"), env.get("XDG_CACHE_HOME"), env.get("HOME"))
    last_error: AdvisoryDataError | None = None
    for directory, path, origin in candidates:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        key = (path, mtime)
        with _lock:
            cached = _cache.get(key)
            if key in _unreadable:
                continue
        if cached is not None:
            return cached
        try:
            db = read_database(directory, origin)
        except AdvisoryDataError as exc:
            last_error = exc
            with _lock:
                _unreadable.add(key)
            continue  # a damaged updated copy falls back to the shipped one
        with _lock:
            _cache.clear()
            _cache[key] = db
        return db
    raise last_error or AdvisoryDataError("no advisory data found (the package's data files are missing)")


def data_status() -> DataStatus:
    """The date, sources and age of the advisory data in use, for reports (`data_status().line()`)."""
    return load_database().status
