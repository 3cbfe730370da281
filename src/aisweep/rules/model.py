"""Compiled fingerprint rules: the typed form of a rule file, with the pure functions that evaluate its parts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aisweep.models import NO_JSON, AuthTier, Confidence, Level, Observation, Request, VersionConfidence
from aisweep.rules.jsonpath import select

Observations = Mapping[str, Observation]  # request key -> observation

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """Tests applied to one value (a header, a body, or a JSON value); all given tests must pass."""

    equals: Any = None
    has_equals: bool = False
    contains: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    exists: bool | None = None
    type: str | None = None
    min_count: int | None = None
    one_of: tuple[Any, ...] | None = None

    def test(self, value: Any) -> bool:
        if self.type is not None:
            types = _JSON_TYPES[self.type]
            if not isinstance(value, types) or (self.type == "number" and isinstance(value, bool)):
                return False
        if self.has_equals and not (value == self.equals and type(value) is type(self.equals)):
            return False
        if self.one_of is not None and value not in self.one_of:
            return False
        if self.min_count is not None and not (isinstance(value, list | dict | str) and len(value) >= self.min_count):
            return False
        if self.contains or self.any_of or self.not_contains or self.regex is not None:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                items: list[str] = value
                if self.contains and not all(c in items for c in self.contains):
                    return False
                if self.any_of and not any(c in items for c in self.any_of):
                    return False
                if self.not_contains and any(c in items for c in self.not_contains):
                    return False
                if self.regex is not None and not any(self.regex.search(v) for v in items):
                    return False
            else:
                text = _as_text(value)
                if self.contains and not all(c in text for c in self.contains):
                    return False
                if self.any_of and not any(c in text for c in self.any_of):
                    return False
                if self.not_contains and any(c in text for c in self.not_contains):
                    return False
                if self.regex is not None and not self.regex.search(text):
                    return False
        return True

    def describe(self) -> str:
        parts: list[str] = []
        if self.has_equals:
            parts.append(f"= {self.equals!r}")
        if self.contains:
            parts.append("contains " + " and ".join(repr(c) for c in self.contains))
        if self.any_of:
            parts.append("contains one of " + ", ".join(repr(c) for c in self.any_of))
        if self.not_contains:
            parts.append("lacks " + ", ".join(repr(c) for c in self.not_contains))
        if self.regex is not None:
            parts.append(f"matches /{self.regex.pattern}/")
        if self.exists is not None:
            parts.append("exists" if self.exists else "absent")
        if self.type:
            parts.append(f"is {self.type}")
        if self.min_count is not None:
            parts.append(f"has >= {self.min_count} items")
        if self.one_of is not None:
            parts.append(f"in {list(self.one_of)!r}")
        return " ".join(parts) or "present"


@dataclass(frozen=True, slots=True)
class JsonMatch:
    path: str
    match: TextMatch

    def test(self, document: Any) -> bool:
        if document is NO_JSON:
            return False
        values = select(document, self.path)
        if self.match.exists is False:
            return not values
        return any(self.match.test(v) for v in values)


@dataclass(frozen=True, slots=True)
class Condition:
    """One check against the response to one probe. Unanswered probes never satisfy a condition."""

    probe: str
    request: Request
    status: frozenset[int] | None = None
    headers: tuple[tuple[str, TextMatch], ...] = ()
    body: TextMatch | None = None
    json: tuple[JsonMatch, ...] = ()
    negate: bool = False

    def holds(self, observations: Observations) -> bool:
        obs = observations.get(self.request.key)
        if obs is None or not obs.answered:
            return False
        return self._matches(obs) != self.negate

    def _matches(self, obs: Observation) -> bool:
        if self.status is not None and obs.status not in self.status:
            return False
        for name, match in self.headers:
            values = obs.header_all(name)
            if match.exists is False:
                if values:
                    return False
                continue
            if not values or not any(match.test(v) for v in values):
                return False
        if self.body is not None and not self.body.test(obs.text):
            return False
        if self.json:
            document = obs.json()
            if not all(j.test(document) for j in self.json):
                return False
        return True

    def describe(self) -> str:
        parts = [f"{self.request.method} {self.request.path}"]
        if self.status is not None:
            parts.append("status " + "/".join(str(s) for s in sorted(self.status)))
        parts.extend(f"header {n} {m.describe()}" for n, m in self.headers)
        if self.body is not None:
            parts.append(f"body {self.body.describe()}")
        parts.extend(f"json {j.path} {j.match.describe()}" for j in self.json)
        text = ", ".join(parts)
        return f"NOT ({text})" if self.negate else text


def all_hold(conditions: tuple[Condition, ...], observations: Observations) -> bool:
    return all(c.holds(observations) for c in conditions)


@dataclass(frozen=True, slots=True)
class Signal:
    """A set of conditions that together identify the product with a given confidence."""

    name: str
    confidence: Confidence
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Extractor:
    """Where the version is read from: a JSON path, a header, or the body, optionally through a regex."""

    request: Request
    json_path: str | None = None
    header: str | None = None
    body: bool = False
    regex: re.Pattern[str] | None = None
    strip_prefix: str | None = None
    confidence: VersionConfidence = VersionConfidence.EXACT

    def extract(self, observations: Observations) -> str | None:
        obs = observations.get(self.request.key)
        if obs is None or not obs.answered or obs.status is None or not 200 <= obs.status < 300:
            return None
        raw: Any = None
        if self.json_path is not None:
            values = select(obs.json(), self.json_path) if obs.json() is not NO_JSON else []
            raw = next((v for v in values if isinstance(v, str | int | float) and not isinstance(v, bool)), None)
        elif self.header is not None:
            raw = obs.header(self.header)
        elif self.body:
            raw = obs.text
        if raw is None:
            return None
        text = str(raw).strip()
        if self.regex is not None:
            m = self.regex.search(text)
            if not m:
                return None
            text = m.groupdict().get("version") or (m.group(1) if m.groups() else m.group(0))
        if self.strip_prefix and text.startswith(self.strip_prefix):
            text = text[len(self.strip_prefix) :]
        text = text.strip()
        if not text or len(text) > 64 or not any(ch.isdigit() for ch in text) or "\n" in text:
            return None
        return text

    def describe(self) -> str:
        where = (
            f"json {self.json_path}"
            if self.json_path is not None
            else f"header {self.header}"
            if self.header
            else "body"
        )
        return f"{self.request.method} {self.request.path} {where}"


@dataclass(frozen=True, slots=True)
class TierRule:
    tier: AuthTier
    conditions: tuple[Condition, ...]
    evidence: str
    finding: str | None = None


@dataclass(frozen=True, slots=True)
class PartialRule:
    conditions: tuple[Condition, ...]
    evidence: str


@dataclass(frozen=True, slots=True)
class Counter:
    """A data surface counted from one response: the length of a list/object (several paths are summed),
    optionally filtered by `where`."""

    request: Request
    paths: tuple[str, ...]
    where: JsonMatch | None = None
    missing_is_zero: bool = False

    def count(self, observations: Observations) -> int | None:
        obs = observations.get(self.request.key)
        if obs is None or not obs.answered or obs.status is None or not 200 <= obs.status < 300:
            return None
        document = obs.json()
        if document is NO_JSON:
            return None
        total = 0
        for path in self.paths:
            values = select(document, path)
            if not values and self.missing_is_zero and isinstance(document, dict):
                continue
            if len(values) != 1 or not isinstance(values[0], list | dict):
                return None
            items = values[0] if isinstance(values[0], list) else list(values[0].values())
            total += sum(1 for item in items if self.where.test(item)) if self.where is not None else len(items)
        return total


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    request: Request
    stage: str = "identify"
    stream: bool = False
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    conditions: tuple[Condition, ...]


@dataclass(slots=True)
class Rule:
    """One product's fingerprint: probes, identification signals, version, auth tiers, surfaces, remediation."""

    id: str
    name: str
    category: str
    ports: frozenset[int] | None  # None: any port
    probes: dict[str, Probe]
    identify: tuple[Signal, ...]
    version: tuple[Extractor, ...] = ()
    tiers: tuple[TierRule, ...] = ()
    default_tier: AuthTier = AuthTier.UNKNOWN
    default_evidence: str = ""
    partial: tuple[PartialRule, ...] = ()
    surfaces: dict[str, tuple[Counter, ...]] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    remediation: dict[str, str] = field(default_factory=dict)
    generic: bool = False
    overrides: frozenset[str] = frozenset()
    level: Level = Level.SAFE
    description: str = ""
    url: str = ""
    source: str = ""

    def requests(self, stage: str | None = None) -> list[Request]:
        return [p.request for p in self.probes.values() if stage is None or p.stage == stage]

    def stream_keys(self) -> set[str]:
        return {p.request.key for p in self.probes.values() if p.stream}

    def byte_caps(self) -> dict[str, int]:
        return {p.request.key: p.max_bytes for p in self.probes.values() if p.max_bytes}
