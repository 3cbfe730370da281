"""From observations to a conclusion: resolve the matched rules, assess the winner, run the checks.

Pure: the network engine, sample replay and `reassess` of stored runs all call `conclude`."""

from __future__ import annotations

from collections.abc import Mapping

from aisweep.checks.honeypot import honeypot_assessment
from aisweep.checks.registry import run_checks
from aisweep.checks.secrets import credential_records
from aisweep.models import Level, Observation, Service, Target, TlsFacts
from aisweep.rules.identify import Match, build_service, resolve


def conclude(
    target: Target,
    scheme: str,
    matches: list[Match],
    observations: Mapping[str, Observation],
    tls: TlsFacts | None = None,
    level: Level = Level.SAFE,
) -> Service | None:
    winner, others = resolve(matches)
    if winner is None:
        return None
    service = build_service(target, scheme, winner, others, observations, tls)
    # Pure in the service and observations, which the checks do not change: computed once, reused by the check.
    verdict = honeypot_assessment(service, observations, winner_overrides=winner.rule.overrides)
    service.findings = run_checks(service, winner.rule, observations, level, honeypot=verdict)
    service.honeypot = {"score": verdict.score, "likely": verdict.likely, "reasons": list(verdict.reasons)}
    service.credentials = credential_records(service.findings)
    return service
