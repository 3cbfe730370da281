"""Read a stored run into a `Report`: records and counters from the store, default ports from the rules, then
optional GeoIP enrichment and anonymisation (in that order: the lookup needs the real address)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aisweep.errors import AisweepError, StoreError
from aisweep.report.anonymize import Anonymizer
from aisweep.report.build import Report, advisory_data_status, build_report, describe_status
from aisweep.report.geoip import GeoIp, enrich
from aisweep.store.db import Store
from aisweep.store.queries import observations_by_service, resolve_run


def product_ports(rule_dirs: Sequence[str] = ()) -> dict[str, frozenset[int] | None]:
    """Each product's default ports from the rules the run used (user rule directories that are gone are skipped)."""
    from aisweep.rules.loader import load_rules

    dirs = [Path(d) for d in rule_dirs if Path(d).exists()]
    try:
        return {r.id: r.ports for r in load_rules(dirs)}
    except AisweepError:
        return {r.id: r.ports for r in load_rules()}


def open_store(db: str) -> Store:
    if "://" not in db and not Path(db).expanduser().exists():
        raise StoreError(f"no results database at {db}; pass --db or run `aisweep scan` first")
    return Store(db)


def load_run(store: Store, run: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run_id = resolve_run(store, run)
    info = store.run_info(run_id)
    if info is None:  # resolve_run only returns ids it found
        raise StoreError(f"run {run_id} vanished from {store.url}")
    return info, list(store.service_records(run_id))


def load_report(
    db: str,
    run: str | None = None,
    *,
    anonymize: bool = False,
    anonymize_key: bytes | None = None,
    geoip: Sequence[Path] = (),
) -> Report:
    store = open_store(db)
    try:
        info, records = load_run(store, run)
        observations = {} if anonymize else observations_by_service(store, str(info["id"]))
    finally:
        store.close()
    geo_text = None
    if geoip:
        with GeoIp(list(geoip)) as reader:
            records = enrich(records, reader)
            geo_text = reader.describe()
    if anonymize:
        anon = Anonymizer(anonymize_key)
        records = anon.records(records)
        info = anon.run_info(info)
    return build_report(
        info,
        records,
        product_ports=product_ports((info.get("settings") or {}).get("rule_dirs") or ()),
        observations=observations,
        # The data the run judged against (its `advisory_data` setting); older runs: the data installed now.
        advisory_status=describe_status((info.get("settings") or {}).get("advisory_data")) or advisory_data_status(),
        geoip=geo_text,
        anonymized=anonymize,
    )
