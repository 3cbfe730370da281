"""The list of built-in checks, and running them on an identified service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aisweep.checks.auth import AuthTierCheck
from aisweep.checks.base import Check, CheckContext
from aisweep.models import Finding, Level, Observation, Service
from aisweep.rules.model import Rule

BUILTIN_CHECKS: Final[tuple[Check, ...]] = (AuthTierCheck(),)


def run_checks(
    service: Service,
    rule: Rule,
    observations: Mapping[str, Observation],
    level: Level = Level.SAFE,
    checks: tuple[Check, ...] = BUILTIN_CHECKS,
) -> list[Finding]:
    ctx = CheckContext(service, rule, observations)
    findings: list[Finding] = []
    for check in checks:
        if check.level.rank <= level.rank:
            findings.extend(check.run(ctx))
    return findings
