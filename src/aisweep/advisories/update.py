"""`aisweep advisories update`: refresh the advisory data from the OSV API (and the CISA KEV feed) when online.

One batch query lists every vulnerability id for the mapped packages (`POST /v1/querybatch`, paged), then each record
is fetched in full (`GET /v1/vulns/{id}`). Matching always happens locally on the records' ranges, never by trusting
the server's verdict. Records for release trains OSV does not publish (llama.cpp builds, Triton containers, GitHub
releases) are kept from the shipped snapshot. Nothing is written unless every request succeeded; the shipped copy
stays as the fallback. The base URLs come from options or $AISWEEP_OSV_URL / $AISWEEP_KEV_URL."""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aisweep import __version__
from aisweep.advisories.database import (
    ADVISORIES_FILE,
    KEV_FILE,
    AdvisoryDataError,
    ProductSpec,
    load_products,
    normalize_package,
    shipped_dir,
    updated_dir,
)
from aisweep.advisories.osv import advisory_from_osv

DEFAULT_OSV_URL: Final = "https://api.osv.dev"
DEFAULT_KEV_URL: Final = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
OSV_URL_ENV: Final = "AISWEEP_OSV_URL"
KEV_URL_ENV: Final = "AISWEEP_KEV_URL"
USER_AGENT: Final = f"aisweep/{__version__} (+https://github.com/aisweep/aisweep)"
_BATCH: Final = 1000  # OSV's limit of queries per querybatch request
_MAX_PAGES: Final = 50


@dataclass(slots=True)
class UpdateResult:
    directory: Path
    generated: str
    packages: int
    fetched: int  # records downloaded from OSV
    kept: int  # shipped records kept (ecosystems OSV does not publish, compiled records OSV lacks)
    kev_entries: int
    kev_catalog: str
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Queried OSV for {self.packages} packages: {self.fetched} records downloaded, {self.kept} shipped records "
            f"kept for sources OSV does not cover.",
            f"CISA KEV: {self.kev_entries} entries for these products (catalog {self.kev_catalog or 'unknown'}).",
            f"Written to {self.directory} (dated {self.generated}).",
        ]
        return out + self.notes


class OsvClient:
    """A small client for the OSV v1 API over urllib (no extra dependency)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AdvisoryDataError(f"OSV answered {exc.code} for {url}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdvisoryDataError(f"cannot reach OSV at {self.base_url}: {reason}") from None
        except ValueError:
            raise AdvisoryDataError(f"OSV sent a response that is not JSON for {url}") from None

    def list_ids(self, packages: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """Every vulnerability id OSV has for each (ecosystem, name), following page tokens."""
        pending: list[tuple[str, str, str | None]] = [(eco, name, None) for eco, name in packages]
        found: dict[tuple[str, str], list[str]] = {(eco, name): [] for eco, name, _ in pending}
        for _ in range(_MAX_PAGES):
            if not pending:
                return found
            next_round: list[tuple[str, str, str | None]] = []
            for start in range(0, len(pending), _BATCH):
                chunk = pending[start : start + _BATCH]
                queries = []
                for eco, name, token in chunk:
                    q: dict[str, Any] = {"package": {"ecosystem": eco, "name": name}}
                    if token:
                        q["page_token"] = token
                    queries.append(q)
                answer = self._request("/v1/querybatch", {"queries": queries})
                results = answer.get("results") if isinstance(answer, dict) else None
                if not isinstance(results, list) or len(results) != len(chunk):
                    raise AdvisoryDataError("OSV querybatch answer does not have one result per query")
                for (eco, name, _), result in zip(chunk, results, strict=True):
                    for v in (result or {}).get("vulns") or []:
                        if isinstance(v, dict) and v.get("id"):
                            found[(eco, name)].append(str(v["id"]))
                    token = (result or {}).get("next_page_token")
                    if token:
                        next_round.append((eco, name, str(token)))
            pending = next_round
        raise AdvisoryDataError("OSV kept returning page tokens; giving up")

    def get(self, vuln_id: str) -> dict[str, Any]:
        record = self._request(f"/v1/vulns/{urllib.parse.quote(vuln_id, safe='')}")
        if not isinstance(record, dict) or record.get("id") != vuln_id:
            raise AdvisoryDataError(f"OSV returned an unexpected record for {vuln_id}")
        return record


def _fetch_json(url: str, timeout: float) -> Any:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AdvisoryDataError(f"cannot read {url}: {getattr(exc, 'reason', exc)}") from None


def _write_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ids(record: Mapping[str, Any]) -> set[str]:
    return {str(record.get("id", "")).upper(), *(str(a).upper() for a in record.get("aliases") or [])}


def update_database(
    *,
    osv_url: str | None = None,
    kev_url: str | None = None,
    directory: Path | None = None,
    products: Mapping[str, ProductSpec] | None = None,
    refresh_kev: bool = True,
    workers: int = 8,
    timeout: float = 30.0,
) -> UpdateResult:
    """Download current records for every mapped package and write them (with the KEV subset) to `directory`."""
    base = osv_url or os.environ.get(OSV_URL_ENV) or DEFAULT_OSV_URL
    kev_source = kev_url or os.environ.get(KEV_URL_ENV) or DEFAULT_KEV_URL
    directory = directory or updated_dir()
    products = products if products is not None else load_products()
    ours = {
        normalize_package(p.ecosystem, p.name): (p.ecosystem, p.name)
        for spec in products.values()
        for p in spec.packages
        if p.osv
    }
    client = OsvClient(base, timeout)
    ids_by_pkg = client.list_ids(sorted(set(ours.values())))
    wanted = sorted({i for ids in ids_by_pkg.values() for i in ids})
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        records = list(pool.map(client.get, wanted))

    now = datetime.now(UTC)
    generated = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    fetched: list[dict[str, Any]] = []
    for rec in records:
        try:
            adv = advisory_from_osv(rec)
        except ValueError as exc:
            raise AdvisoryDataError(f"OSV record is malformed: {exc}") from None
        # Keep what concerns our packages (the server's package filter is re-checked here).
        if not any(normalize_package(a.ecosystem, a.name) in ours for a in adv.affected):
            continue
        specific = dict(rec.get("database_specific") or {})
        specific.setdefault("source", f"OSV API {base} (fetched {generated[:10]})")
        rec = {**rec, "database_specific": specific}
        fetched.append(rec)

    shipped = json.loads((shipped_dir() / ADVISORIES_FILE).read_text(encoding="utf-8"))
    covered: set[str] = set().union(*(_ids(r) for r in fetched)) if fetched else set()
    kept: list[dict[str, Any]] = []
    for rec in shipped.get("advisories", []):
        if _ids(rec) & covered:
            continue
        pkgs = {normalize_package(a["package"]["ecosystem"], a["package"]["name"]) for a in rec.get("affected", [])}
        if not pkgs & set(ours) or (rec.get("database_specific") or {}).get("compiled"):
            kept.append(rec)  # a release train OSV does not publish, or a compiled record OSV has no copy of

    notes: list[str] = []
    kev_path_old = directory / KEV_FILE if (directory / KEV_FILE).exists() else shipped_dir() / KEV_FILE
    kev_doc: dict[str, Any] = json.loads(kev_path_old.read_text(encoding="utf-8"))
    all_ids = covered | set().union(*(_ids(r) for r in kept)) if kept else covered
    if refresh_kev:
        try:
            catalog = _fetch_json(kev_source, timeout)
            entries = [v for v in catalog.get("vulnerabilities", []) if str(v.get("cveID", "")).upper() in all_ids]
            kev_doc = {
                "meta": {
                    "source": kev_source,
                    "catalogVersion": catalog.get("catalogVersion", ""),
                    "dateReleased": catalog.get("dateReleased", ""),
                    "fetched": generated,
                    "note": "subset: entries whose CVE is an alias of an advisory in advisories.json",
                },
                "vulnerabilities": entries,
            }
        except (AdvisoryDataError, AttributeError) as exc:
            notes.append(f"KEV not refreshed ({exc}); keeping catalog {kev_doc.get('meta', {}).get('catalogVersion')}")

    meta = {
        "generated": generated,
        "kind": "updated",
        "sources": [
            {"name": f"OSV API {base}", "date": generated},
            {"name": f"shipped snapshot {str(shipped.get('meta', {}).get('generated', ''))[:10]} (records OSV lacks)"},
        ],
        "shipped_snapshot": shipped.get("meta", {}).get("generated"),
    }
    _write_atomic(directory / ADVISORIES_FILE, {"meta": meta, "advisories": fetched + kept})
    _write_atomic(directory / KEV_FILE, kev_doc)
    return UpdateResult(
        directory,
        generated,
        len(ours),
        len(fetched),
        len(kept),
        len(kev_doc.get("vulnerabilities", [])),
        str(kev_doc.get("meta", {}).get("catalogVersion", "")),
        notes,
    )
