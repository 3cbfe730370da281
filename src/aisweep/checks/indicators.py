"""Compromise indicators in metadata the scan already read: miner and reverse-shell command lines in Ray job
entrypoints, ShadowRay 2.0 submission ids, malicious or abused ComfyUI node names, attacker-style model names and
MLflow experiment names. The list is data (checks/data/indicators.yaml, one cited source per entry). A finding says
"indicator observed": it never claims the host is compromised."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar, Final

import yaml

from aisweep.checks.base import CheckContext
from aisweep.checks.frontier import MODEL_LIST_KEYS, model_names
from aisweep.errors import RuleError
from aisweep.models import Control, Finding, Level, Observation, Severity

MAX_SHOWN: Final = 3
# Node class names ("KSampler": {"input": ...) and node metadata in a truncated /object_info body.
_OBJECT_INFO_NAMES: Final = re.compile(
    r'"([^"\\]{1,120})":\s*\{\s*"input"|"(?:display_name|python_module)":\s*"([^"\\]{1,160})"'
)
SNIPPET: Final = 60


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str
    title: str
    where: str
    source: str
    regex: re.Pattern[str] | None = None
    names: frozenset[str] = frozenset()
    severity: Severity = Severity.HIGH
    notes: str = ""

    def match(self, value: str) -> str | None:
        """The matching part of `value` (what the evidence shows), or None."""
        if self.regex is not None:
            m = self.regex.search(value)
            return m.group(0) if m else None
        return value if value.lower() in self.names else None


def _ok_2xx(obs: Observation) -> bool:
    return obs.answered and obs.status is not None and 200 <= obs.status < 300


def _ray_jobs(observations: Iterable[Observation]) -> Iterator[tuple[dict[str, Any], str]]:
    for obs in observations:
        if obs.request.path.startswith("/api/jobs") and _ok_2xx(obs):
            document = obs.json()
            jobs = document if isinstance(document, list) else []
            for job in jobs:
                if isinstance(job, dict):
                    yield job, f"{obs.request.method} {obs.request.path}"


def ray_entrypoints(observations: Iterable[Observation]) -> Iterator[tuple[str, str]]:
    for job, where in _ray_jobs(observations):
        if isinstance(job.get("entrypoint"), str):
            yield job["entrypoint"], where


def ray_submission_ids(observations: Iterable[Observation]) -> Iterator[tuple[str, str]]:
    for job, where in _ray_jobs(observations):
        if isinstance(job.get("submission_id"), str):
            yield job["submission_id"], where


def comfyui_nodes(observations: Iterable[Observation]) -> Iterator[tuple[str, str]]:
    """Node class names, display names and custom-node package names (/object_info), and extension directories
    (/extensions)."""
    for obs in observations:
        path = obs.request.path.split("?", 1)[0]
        if not path.endswith(("/object_info", "/extensions")) or not _ok_2xx(obs):
            continue
        where = f"{obs.request.method} {obs.request.path}"
        document = obs.json()
        if path.endswith("/object_info") and isinstance(document, dict):
            for cls, spec in document.items():
                yield str(cls), where
                if isinstance(spec, dict):
                    for key in ("display_name", "python_module"):
                        if isinstance(spec.get(key), str):
                            yield spec[key], where
        elif path.endswith("/object_info"):  # capped mid-document: read what arrived
            for m in _OBJECT_INFO_NAMES.finditer(obs.text):
                yield next(g for g in m.groups() if g is not None), where
        elif path.endswith("/extensions") and isinstance(document, list):
            for item in document:
                if isinstance(item, str) and item.startswith("/extensions/"):
                    parts = item.split("/")
                    if len(parts) > 2 and parts[2] != "core":
                        yield parts[2], where


def listed_model_names(observations: Iterable[Observation]) -> Iterator[tuple[str, str]]:
    for obs in observations:
        if _ok_2xx(obs):
            for name in model_names(obs.json_with_keys(*MODEL_LIST_KEYS)):
                yield name, f"{obs.request.method} {obs.request.path}"


def mlflow_experiments(observations: Iterable[Observation]) -> Iterator[tuple[str, str]]:
    for obs in observations:
        if "experiments/search" in obs.request.path and _ok_2xx(obs):
            document = obs.json()
            for exp in document.get("experiments") or [] if isinstance(document, dict) else []:
                if isinstance(exp, dict) and isinstance(exp.get("name"), str):
                    yield exp["name"], f"{obs.request.method} {obs.request.path.split('?', 1)[0]}"


EXTRACTORS: Final[dict[str, Callable[[Iterable[Observation]], Iterator[tuple[str, str]]]]] = {
    "ray-job-entrypoint": ray_entrypoints,
    "ray-job-submission-id": ray_submission_ids,
    "comfyui-node": comfyui_nodes,
    "model-name": listed_model_names,
    "mlflow-experiment": mlflow_experiments,
}


def parse_indicators(data: Any, where: str = "indicators.yaml") -> tuple[Indicator, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("indicators"), list):
        raise RuleError(f"{where}: expected a mapping with an 'indicators' list")
    out: list[Indicator] = []
    for i, entry in enumerate(data["indicators"]):
        label = f"{where}: indicator {i + 1}"
        if not isinstance(entry, dict):
            raise RuleError(f"{label}: expected a mapping")
        missing = [k for k in ("name", "title", "where", "source") if not entry.get(k)]
        if missing:
            raise RuleError(f"{label}: missing {', '.join(missing)}")
        if entry["where"] not in EXTRACTORS:
            raise RuleError(f"{label}: unknown 'where' {entry['where']!r} (one of {', '.join(EXTRACTORS)})")
        if bool(entry.get("regex")) == bool(entry.get("names")):
            raise RuleError(f"{label}: give exactly one of 'regex' or 'names'")
        try:
            regex = re.compile(entry["regex"]) if entry.get("regex") else None
        except re.error as exc:
            raise RuleError(f"{label}: bad regex: {exc}") from None
        out.append(
            Indicator(
                name=str(entry["name"]),
                title=str(entry["title"]),
                where=str(entry["where"]),
                source=str(entry["source"]),
                regex=regex,
                names=frozenset(str(n).lower() for n in entry.get("names") or ()),
                severity=Severity(entry.get("severity", "high")),
                notes=str(entry.get("notes", "")),
            )
        )
    return tuple(out)


@lru_cache(maxsize=1)
def builtin_indicators() -> tuple[Indicator, ...]:
    text = (resources.files("aisweep.checks") / "data" / "indicators.yaml").read_text(encoding="utf-8")
    return parse_indicators(yaml.safe_load(text))


@dataclass(frozen=True, slots=True)
class IndicatorHit:
    indicator: Indicator
    matched: list[tuple[str, str]]  # (matched text, where)


def find_indicators(
    observations: Iterable[Observation], indicators: tuple[Indicator, ...] | None = None
) -> list[IndicatorHit]:
    observations = list(observations)
    hits: list[IndicatorHit] = []
    values: dict[str, list[tuple[str, str]]] = {}
    for ind in indicators if indicators is not None else builtin_indicators():
        if ind.where not in values:
            values[ind.where] = list(EXTRACTORS[ind.where](observations))
        matched: list[tuple[str, str]] = []
        for value, where in values[ind.where]:
            m = ind.match(value)
            if m is not None and (m, where) not in matched:
                matched.append((m, where))
        if matched:
            hits.append(IndicatorHit(ind, matched))
    return hits


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


class IndicatorCheck:
    """indicator.<name>: a known indicator observed in the service's metadata."""

    id: ClassVar[str] = "indicators"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        service = ctx.service
        findings: list[Finding] = []
        for hit in find_indicators(ctx.observations.values()):
            ind = hit.indicator
            shown = "; ".join(f"{_snippet(m)!r} in {w}" for m, w in hit.matched[:MAX_SHOWN])
            more = f" (+{len(hit.matched) - MAX_SHOWN} more)" if len(hit.matched) > MAX_SHOWN else ""
            evidence = f"indicator observed (not proof of compromise): {shown}{more}. Source: {ind.source}"
            if ind.notes:
                evidence += f". Other explanations: {ind.notes}"
            findings.append(
                ctx.finding(
                    f"indicator.{ind.name}",
                    title=f"{service.product_name}: {ind.title}",
                    severity=ind.severity,
                    control=Control.LOGGING_MONITORING,
                    evidence=evidence,
                    remediation="Check the server's logs for who created this and when. If it is not yours, treat "
                    "the host as compromised: isolate it, preserve logs, rotate every credential it could read, "
                    "rebuild it from a known-good image, and only then expose it again behind authentication.",
                    category="indicator",
                    detail="|".join(sorted({m for m, _ in hit.matched}))[:200],
                )
            )
        return findings
