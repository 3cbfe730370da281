"""The list of built-in checks, and running them on an identified service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aisweep.advisories.check import AdvisoryCheck
from aisweep.checks.auth import AuthTierCheck
from aisweep.checks.base import Check, CheckContext
from aisweep.checks.cors import CorsCheck
from aisweep.checks.frontier import FrontierProxyCheck
from aisweep.checks.honeypot import HoneypotCheck, HoneypotVerdict
from aisweep.checks.hostheader import HostHeaderCheck
from aisweep.checks.indicators import IndicatorCheck
from aisweep.checks.mcp import McpToolsCheck
from aisweep.checks.operational import OperationalExposureCheck
from aisweep.checks.ratelimit import RateLimitHeadersCheck
from aisweep.checks.secrets import SecretsCheck
from aisweep.checks.tls import TlsCheck
from aisweep.models import Finding, Level, Observation, Service
from aisweep.rules.model import Rule

BUILTIN_CHECKS: Final[tuple[Check, ...]] = (
    AuthTierCheck(),
    McpToolsCheck(),
    AdvisoryCheck(),
    SecretsCheck(),
    FrontierProxyCheck(),
    CorsCheck(),
    HostHeaderCheck(),
    OperationalExposureCheck(),
    RateLimitHeadersCheck(),
    TlsCheck(),
    IndicatorCheck(),
    HoneypotCheck(),
)


def run_checks(
    service: Service,
    rule: Rule,
    observations: Mapping[str, Observation],
    level: Level = Level.SAFE,
    checks: tuple[Check, ...] = BUILTIN_CHECKS,
    honeypot: HoneypotVerdict | None = None,
) -> list[Finding]:
    """`honeypot`: the service's `honeypot_assessment`, when the caller computed it (the honeypot check reuses it)."""
    ctx = CheckContext(service, rule, observations, honeypot)
    findings: list[Finding] = []
    for check in checks:
        if check.level.rank <= level.rank:
            findings.extend(check.run(ctx))
    return findings
