"""Version inference from static assets, for products that hide their version.

A product's HTML pages name content-hashed bundles (Gradio's `./assets/index-96c4f758.js`, MLflow's
`static-files/static/js/main.4dd3381c.js`, JupyterLab's `/static/lab/main.<hash>.js`, Open WebUI's
`/_app/immutable/entry/start.<hash>.js`) or carry content hashes (Jupyter Server's `static/style/index.css?v=<sha512>`).
`scripts/build_asset_fingerprints.py` read those pages out of released wheels and recorded, per product, which
releases ship each marker (`rules/assets/<product>.json`). `infer_version` finds the markers in observations already
collected and narrows the version to the releases consistent with all of them.

Not every release was read. A release that was not is still possible when a neighbouring release that was read
ships the marker (an asset keeps its name over a contiguous run of releases, so the run may extend into the gap).
A marker the data does not know means the page comes from a release that was not read (or a modified or self-built
frontend): only unread releases stay possible then, and the answer is None when none does. Markers that disagree
give None. Pure: observations in, an inferred range (or None) out.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from packaging.version import InvalidVersion, Version

from aisweep.models import Observation

_SHOWN_MARKERS = 3  # markers named in the evidence text


@dataclass(frozen=True, slots=True)
class InferredVersion:
    """The releases a service's static assets are consistent with, oldest first."""

    low: str
    high: str
    versions: tuple[str, ...]
    evidence: str
    package: str = ""  # the PyPI package these are versions of
    primary: bool = True  # False: a component other than the one the product's rule reports (JupyterLab)

    @property
    def range(self) -> str:
        """'4.10.0' for a single release, else '4.8.0–4.12.0' (inclusive)."""
        return self.low if self.low == self.high else f"{self.low}–{self.high}"

    @property
    def text(self) -> str:
        """The range, prefixed with the package name when it is not the product's primary package."""
        return self.range if self.primary else f"{self.package} {self.range}"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class _Package:
    name: str
    releases: tuple[Version, ...]  # every release in the sampled span, ascending
    sampled: frozenset[Version]
    sampled_sorted: tuple[Version, ...]
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    markers: Mapping[str, frozenset[Version]]

    def possible(self, marker: str) -> set[Version]:
        """Releases that may ship `marker`: the sampled ones that do, and unsampled ones next to one that does."""
        shipping = self.markers[marker]
        out: set[Version] = set()
        for r in self.releases:
            if r in self.sampled:
                if r in shipping:
                    out.add(r)
                continue
            i = bisect.bisect_left(self.sampled_sorted, r)
            before = self.sampled_sorted[i - 1] if i > 0 else None
            after = self.sampled_sorted[i] if i < len(self.sampled_sorted) else None
            if (before is not None and before in shipping) or (after is not None and after in shipping):
                out.add(r)
        return out


def _versions(values: Any) -> list[Version]:
    out: list[Version] = []
    for raw in values or []:
        try:
            out.append(Version(str(raw)))
        except InvalidVersion:
            continue
    return out


@lru_cache(maxsize=32)
def _load(product: str) -> tuple[_Package, ...]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", product):
        return ()
    resource = resources.files("aisweep.rules") / "assets" / f"{product}.json"
    try:
        doc = json.loads(resource.read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError, ValueError):
        return ()
    packages: list[_Package] = []
    for spec in doc.get("packages") or []:
        sampled = sorted(set(_versions(spec.get("sampled"))))
        releases = sorted(set(_versions(spec.get("releases"))) | set(sampled))
        patterns = tuple((re.compile(p["regex"]), str(p["marker"])) for p in spec.get("patterns") or [])
        markers = {str(m): frozenset(_versions(vs)) for m, vs in (spec.get("markers") or {}).items()}
        if sampled and patterns and markers:
            packages.append(
                _Package(str(spec["name"]), tuple(releases), frozenset(sampled), tuple(sampled), patterns, markers)
            )
    return tuple(packages)


def _is_html(obs: Observation) -> bool:
    if not obs.answered or not obs.body:
        return False
    ctype = (obs.header("content-type") or "").lower()
    return "html" in ctype if ctype else obs.body.lstrip()[:1] == b"<"


def _find(pkg: _Package, observations: Mapping[str, Observation]) -> dict[str, list[str]]:
    """marker -> the requests whose HTML named it."""
    found: dict[str, list[str]] = {}
    for key in sorted(observations):
        obs = observations[key]
        if not _is_html(obs):
            continue
        text = obs.text
        for rx, template in pkg.patterns:
            for m in rx.finditer(text):
                where = found.setdefault(template.format(**m.groupdict()), [])
                if key not in where:
                    where.append(key)
    return found


def _infer(pkg: _Package, observations: Mapping[str, Observation], primary: bool) -> InferredVersion | None:
    found = _find(pkg, observations)
    known = sorted(m for m in found if m in pkg.markers)
    if not known:
        return None
    unknown = sorted(m for m in found if m not in pkg.markers)
    candidates = set(pkg.releases)
    for marker in known:
        candidates &= pkg.possible(marker)
    if unknown:  # every sampled release was read in full: a name it lacks points at a release that was not
        candidates -= pkg.sampled
    if not candidates:
        return None
    versions = tuple(str(v) for v in sorted(candidates))
    sources = sorted({k for m in known for k in found[m]})
    telling = sorted(known, key=lambda m: (len(pkg.markers[m]), m))  # the rarest (most telling) first
    shown = ", ".join(telling[:_SHOWN_MARKERS])
    if len(known) > _SHOWN_MARKERS:
        shown += f" (+{len(known) - _SHOWN_MARKERS} more)"
    inferred = InferredVersion(versions[0], versions[-1], versions, "", pkg.name, primary)
    evidence = (
        f"static assets {shown} named by {', '.join(sources)} point at {pkg.name} {inferred.range} "
        f"(asset fingerprints of {len(pkg.sampled)} PyPI releases {pkg.sampled_sorted[0]}–{pkg.sampled_sorted[-1]})"
    )
    if unknown:
        evidence += f"; {len(unknown)} other asset(s) match no release read, so a release between those read"
    return dataclasses.replace(inferred, evidence=evidence)


def infer_version(product: str, observations: Mapping[str, Observation]) -> InferredVersion | None:
    """The version range the static assets named in `observations` point at, or None (no data for the product, no
    known asset seen, or assets that disagree). Packages are tried primary first (for Jupyter: jupyter-server, whose
    version the rule reports, then jupyterlab and notebook, whose results have `primary=False`). Use only when the
    rule found no exact version: this never overrides one."""
    for i, pkg in enumerate(_load(product)):
        inferred = _infer(pkg, observations, primary=i == 0)
        if inferred is not None:
            return inferred
    return None


def infer_versions(product: str, observations: Mapping[str, Observation]) -> dict[str, InferredVersion]:
    """Every package of the product whose assets point at a range (package name -> inferred range)."""
    out: dict[str, InferredVersion] = {}
    for i, pkg in enumerate(_load(product)):
        inferred = _infer(pkg, observations, primary=i == 0)
        if inferred is not None:
            out[pkg.name] = inferred
    return out
