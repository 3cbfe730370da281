"""Recorded samples with planted responses: a real product's answers, with one or two exchanges replaced to plant
a case (a leaked key, a CORS header, a miner in a job), replayed through the whole pipeline with `replay`."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from aisweep.checks.registry import run_checks
from aisweep.models import Finding, Observation, Outcome, Request, Service
from aisweep.rules.loader import load_rules
from aisweep.rules.model import Rule
from aisweep.rules.samples import Response, Sample, load_samples, replay

ALNUM = string.ascii_letters + string.digits


@cache
def rules() -> list[Rule]:
    return load_rules()


@cache
def samples() -> dict[str, Sample]:
    return {s.case: s for s in load_samples()}


def rand(n: int, alphabet: str = ALNUM) -> str:
    """Random characters built at test time, so no real-looking secret is ever committed."""
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(slots=True)
class Planted(Sample):
    """A sample whose answers to some exact requests (by request key, headers included) are replaced."""

    planted: dict[str, Response] = field(default_factory=dict)
    extra_headers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # by request header name
    by_header: dict[str, Response] = field(default_factory=dict)  # whole answer for requests carrying the header

    def observation(self, request: Request, max_bytes: int | None = None) -> Observation:
        names = {k.lower() for k, _ in request.headers}
        r = self.planted.get(request.key) or next((self.by_header[n] for n in names if n in self.by_header), None)
        if r is None:
            obs = Sample.observation(self, request, max_bytes)
            for name in names & set(self.extra_headers):
                obs.headers = (*obs.headers, *self.extra_headers[name])
            return obs
        return Observation(request, Outcome.OK, r.status, r.headers, r.body, r.truncated)


def plant(
    case: str,
    *,
    paths: dict[str, Response] | None = None,
    requests: dict[str, Response] | None = None,
    fallback: Response | None = None,
    extra_headers: dict[str, tuple[tuple[str, str], ...]] | None = None,
    by_header: dict[str, Response] | None = None,
) -> Planted:
    """`case` with GET responses replaced by path (`paths`), exact requests replaced by key (`requests`), a new
    fallback for every unrecorded path, headers added to the answers of requests that carry a given header
    (`extra_headers={"origin": ...}`), or whole answers for those requests (`by_header={"host": ...}`)."""
    base = samples()[case]
    values = {f.name: getattr(base, f.name) for f in fields(Sample)}
    exchanges = dict(base.exchanges)
    for path, response in (paths or {}).items():
        exchanges[("GET", path)] = response
    values["exchanges"] = exchanges
    if fallback is not None:
        values["fallback"] = fallback
    return Planted(
        **values, planted=dict(requests or {}), extra_headers=dict(extra_headers or {}), by_header=dict(by_header or {})
    )


def scan(sample: Sample) -> Service:
    service = replay(sample, rules())
    assert service is not None, f"{sample.case} was not identified"
    return service


def ids(service: Service) -> set[str]:
    return {f.id for f in service.findings}


def finding(service: Service, finding_id: str) -> Finding:
    matches = [f for f in service.findings if f.id == finding_id]
    assert matches, f"{finding_id} not in {sorted(ids(service))}"
    return matches[0]


def json_response(document: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("content-type", "application/json"), *headers), json.dumps(document).encode())


def text_response(text: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (("content-type", "text/plain; charset=utf-8"), *headers), text.encode())


def recorded(case: str, method: str, path: str) -> Response:
    return samples()[case].exchanges[(method, path)]


def run_on_recorded(sample: Sample) -> list[Finding]:
    """All checks on every recorded exchange of `sample` (not only what the rule's rounds ask for): for endpoints
    a rule does not probe yet, such as ComfyUI's /extensions."""
    service = scan(sample)
    rule = next(r for r in rules() if r.id == service.product)
    observations = {Request(m, p).key: sample.observation(Request(m, p)) for (m, p) in sample.exchanges}
    return run_checks(service, rule, observations)
