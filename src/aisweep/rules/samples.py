"""Rule samples (docs/samples.md): recorded real responses, replayed to prove rules and served by the lab."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aisweep.assess import conclude
from aisweep.errors import RuleError
from aisweep.models import Level, Observation, Outcome, Request, Service, Target
from aisweep.rules.model import Rule
from aisweep.rules.plan import RuleSet
from aisweep.rules.rounds import ASSESS_BYTES, WIDEN, run_rounds

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster

NOT_FOUND = (404, (("content-type", "text/plain; charset=utf-8"),), b"404 page not found")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool = False


@dataclass(slots=True)
class Sample:
    rule_dir: str  # directory name: the rule id, or _negative
    case: str
    source: dict[str, Any]
    expect: dict[str, Any]
    exchanges: dict[tuple[str, str], Response]
    fallback: Response | None = None
    port: int | None = None
    path: str = ""
    header_rules: list[tuple[tuple[str, str], Response]] = field(default_factory=list)

    def respond(self, method: str, path: str) -> Response:
        hit = self.exchanges.get((method, path))
        if hit is None and method == "HEAD":
            get = self.exchanges.get(("GET", path))
            if get is not None:
                hit = Response(get.status, get.headers, b"", False)
        if hit is not None:
            return hit
        if self.fallback is not None:
            return self.fallback if method != "HEAD" else Response(self.fallback.status, self.fallback.headers, b"")
        recorded_404 = self.exchanges.get(("GET", "/nonexistent-aisweep-probe"))
        if recorded_404 is not None:
            # The product's real answer to a path that does not exist, recorded with the sample; products that echo
            # the path back get the path that was asked for.
            body = recorded_404.body.replace(b"/nonexistent-aisweep-probe", path.encode("latin-1", "replace"))
            return Response(recorded_404.status, recorded_404.headers, body if method != "HEAD" else b"")
        return Response(NOT_FOUND[0], NOT_FOUND[1], NOT_FOUND[2] if method != "HEAD" else b"")

    def observation(self, request: Request, max_bytes: int | None = None) -> Observation:
        r = self.respond(request.method, request.path)
        if max_bytes and len(r.body) > max_bytes and request.method != "HEAD":
            return Observation(request, Outcome.OK, r.status, r.headers, r.body[:max_bytes], True)
        return Observation(request, Outcome.OK, r.status, r.headers, r.body, r.truncated)


def _response(spec: dict[str, Any], where: str) -> Response:
    try:
        status = int(spec["status"])
        headers = tuple((str(k).lower(), str(v)) for k, v in spec.get("headers", []))
        body = base64.b64decode(spec["body_b64"]) if "body_b64" in spec else str(spec.get("body", "")).encode("utf-8")
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleError(f"{where}: bad response in sample: {exc}") from None
    return Response(status, headers, body, bool(spec.get("truncated", False)))


def load_sample(path: Path) -> Sample:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: cannot load sample: {exc}") from None
    if not isinstance(data, dict) or ("exchanges" not in data and "fallback" not in data):
        raise RuleError(f"{path}: a sample needs exchanges (or a fallback)")
    exchanges: dict[tuple[str, str], Response] = {}
    for i, ex in enumerate(data.get("exchanges") or []):
        req = ex.get("request", {})
        key = (str(req.get("method", "GET")).upper(), str(req.get("path", "/")))
        exchanges.setdefault(key, _response(ex.get("response", {}), f"{path} exchange {i + 1}"))
    fallback = _response(data["fallback"], f"{path} fallback") if data.get("fallback") else None
    return Sample(
        rule_dir=path.parent.name,
        case=str(data.get("case", path.stem)),
        source=dict(data.get("source") or {}),
        expect=dict(data.get("expect") or {}),
        exchanges=exchanges,
        fallback=fallback,
        port=data.get("port"),
        path=str(path),
    )


def samples_dir() -> Path:
    return Path(str(resources.files("aisweep.rules") / "samples"))


@lru_cache(maxsize=4)
def _load_all(root: str) -> tuple[Sample, ...]:
    return tuple(load_sample(p) for p in sorted(Path(root).glob("*/*.yaml")))


def load_samples(root: Path | None = None) -> list[Sample]:
    return list(_load_all(str(root or samples_dir())))


def sample_port(sample: Sample, rules: list[Rule]) -> int:
    """The port a sample is replayed (and served in the lab) on: its own, else its product's first default."""
    if sample.port:
        return int(sample.port)
    by_id = {r.id: r for r in rules}
    for key in ("product", "not_product"):
        rule = by_id.get(str(sample.expect.get(key, "")))
        if rule is not None and rule.ports:
            return min(rule.ports)
    return 8080


def run_sample(
    sample: Sample,
    ruleset: RuleSet,
    port: int,
    level: Level = Level.SAFE,
    widen: int | None = WIDEN,
    ahead: int = 1,
) -> tuple[Service | None, dict[str, Observation]]:
    """Run the planner's rounds against the sample as if it were the server, and conclude. Also returns the
    observations, in the order the requests were sent. `ahead` > 1 replays a slow target: identification sends
    that many wanted requests at once (the answers used, and so the result, must not change)."""
    observations: dict[str, Observation] = {}

    async def send(request: Request) -> Observation:
        return sample.observation(request, ruleset.byte_caps.get(request.key))

    async def send_many(requests: list[Request]) -> list[Observation]:
        return [sample.observation(r, ruleset.byte_caps.get(r.key)) for r in requests]

    async def assess(requests: list[Request]) -> list[Observation]:
        return [sample.observation(r, ruleset.byte_caps.get(r.key, ASSESS_BYTES)) for r in requests]

    matches = asyncio.run(
        run_rounds(
            ruleset,
            port,
            send,
            observations,
            assess=assess,
            widen=widen,
            send_many=send_many if ahead > 1 else None,
            ahead=lambda: ahead,
        )
    )
    target = Target("127.0.0.1", port, origin="sample")
    return conclude(target, "http", matches, observations, None, level), observations


def replay(sample: Sample, rules: list[Rule], level: Level = Level.SAFE, port: int | None = None) -> Service | None:
    """`run_sample` with the sample's own port and a rule set built from `rules`."""
    return run_sample(sample, RuleSet(rules, level), port or sample_port(sample, rules), level)[0]


def check_sample(sample: Sample, rules: list[Rule]) -> list[str]:
    """Problems found when replaying `sample` (empty when it meets its expectations)."""
    service = replay(sample, rules)
    expect = sample.expect
    problems: list[str] = []
    got = service.product if service else None
    if "not_product" in expect and got == expect["not_product"]:
        problems.append(f"identified as {got}, which this look-alike must not be")
    want = expect.get("product")
    if want != got and (want is not None or "not_product" not in expect):
        problems.append(f"product {got!r}, expected {want!r}")
    if service is None:
        return problems
    if "version" in expect and str(expect["version"]) != (service.version or ""):
        problems.append(f"version {service.version!r}, expected {expect['version']!r}")
    if "auth" in expect and expect["auth"] != service.auth_tier.value:
        problems.append(f"auth tier {service.auth_tier.value!r}, expected {expect['auth']!r}")
    for name, count in (expect.get("surfaces") or {}).items():
        if service.surfaces.get(name) != count:
            problems.append(f"surface {name}={service.surfaces.get(name)!r}, expected {count}")
    return problems
