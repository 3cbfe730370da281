"""Country and ASN per host from MaxMind-format databases (GeoLite2/GeoIP2 Country, City or ASN, or any MMDB with
the same fields), read with the `maxminddb` package when it is installed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aisweep.errors import AisweepError


class GeoIpError(AisweepError):
    """A GeoIP database is missing, unreadable, or the reader package is not installed."""


def geo_fields(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields a report uses from one MMDB entry (Country/City or ASN layout); absent ones are left out."""
    out: dict[str, Any] = {}
    if not entry:
        return out
    country = entry.get("country") or entry.get("registered_country")
    if isinstance(country, Mapping):
        if country.get("iso_code"):
            out["country"] = str(country["iso_code"])
        names = country.get("names")
        if isinstance(names, Mapping) and names.get("en"):
            out["country_name"] = str(names["en"])
    asn = entry.get("autonomous_system_number")
    if asn is not None:
        out["asn"] = int(asn)
    org = entry.get("autonomous_system_organization")
    if org:
        out["as_org"] = str(org)
    return out


class GeoIp:
    """One or more MMDB files; for each address, later files fill the fields earlier ones lack."""

    def __init__(self, paths: Sequence[Path]) -> None:
        try:
            import maxminddb
        except ImportError:
            raise GeoIpError("--geoip needs the maxminddb package: pip install maxminddb (or aisweep[geoip])") from None
        self.paths = list(paths)
        self._readers: list[Any] = []
        for path in self.paths:
            if not path.is_file():
                raise GeoIpError(f"GeoIP database {path} does not exist")
            try:
                self._readers.append(maxminddb.open_database(str(path)))
            except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
                raise GeoIpError(f"{path} is not a MaxMind-format database: {exc}") from None

    def lookup(self, address: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for reader in self._readers:
            try:
                entry = reader.get(address)
            except ValueError:  # not an IP literal (an anonymised or unresolved name)
                return out
            for k, v in geo_fields(entry if isinstance(entry, Mapping) else None).items():
                out.setdefault(k, v)
        return out

    def describe(self) -> str:
        parts = []
        for path, reader in zip(self.paths, self._readers, strict=True):
            meta = reader.metadata()
            built = dt.datetime.fromtimestamp(int(meta.build_epoch), dt.UTC).date().isoformat()
            parts.append(f"{path.name} ({meta.database_type}, built {built})")
        return ", ".join(parts)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()

    def __enter__(self) -> GeoIp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def enrich(records: Iterable[Mapping[str, Any]], geo: GeoIp) -> list[dict[str, Any]]:
    """Each record with a "geo" object (possibly empty: the address is in no database, e.g. private space)."""
    cache: dict[str, dict[str, Any]] = {}
    out = []
    for r in records:
        host = str((r.get("target") or {}).get("host", ""))
        if host not in cache:
            cache[host] = geo.lookup(host)
        out.append(dict(r) | {"geo": dict(cache[host])})
    return out
