"""Authentication findings from the auth tier the rule established by response content."""

from __future__ import annotations

from typing import ClassVar, Final, NamedTuple

from aisweep.checks.base import CheckContext
from aisweep.models import AuthTier, Control, Finding, Level, Severity


class _TierFinding(NamedTuple):
    id: str
    severity: Severity
    title: str
    remediation: str


_GENERIC_FIX = (
    "Require authentication in front of the service (its own API key or login if it has one, otherwise a reverse "
    "proxy with authentication), and bind it to a private interface or restrict it with a firewall/VPN."
)

TIER_FINDINGS: Final[dict[AuthTier, _TierFinding]] = {
    AuthTier.OPEN_ADMIN: _TierFinding(
        "auth.none",
        Severity.CRITICAL,
        "No authentication: administrative or code-execution API reachable",
        _GENERIC_FIX,
    ),
    AuthTier.OPEN_READ: _TierFinding(
        "auth.none",
        Severity.HIGH,
        "No authentication: data readable without credentials",
        _GENERIC_FIX,
    ),
    AuthTier.FIRST_VISITOR_ADMIN: _TierFinding(
        "auth.first-visitor-admin",
        Severity.CRITICAL,
        "No administrator yet: the first visitor to sign up becomes admin",
        "Create the administrator account now (or set the product's admin bootstrap variables), then restrict "
        "network access until setup is done.",
    ),
    AuthTier.OPEN_SIGNUP: _TierFinding(
        "auth.open-signup",
        Severity.MEDIUM,
        "Open sign-up: anyone can register an account",
        "Disable self-registration (or require an invitation/approval), and put the service behind SSO or a VPN.",
    ),
    AuthTier.OPEN_METADATA: _TierFinding(
        "auth.metadata-exposed",
        Severity.INFO,
        "Version and health metadata readable without credentials",
        "Expose only what users need; block metadata endpoints at the proxy if the version should not be public.",
    ),
}


class AuthTierCheck:
    """Turns the service's auth tier (and any partial protection) into findings."""

    id: ClassVar[str] = "auth"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        service = ctx.service
        findings: list[Finding] = []
        spec = TIER_FINDINGS.get(service.auth_tier)
        if spec is not None:
            finding_id = service.auth_finding or spec.id
            surfaces = ", ".join(f"{k}={v}" for k, v in sorted(service.surfaces.items()))
            evidence = service.auth_evidence or f"auth tier {service.auth_tier.value}"
            if surfaces and service.auth_tier in (AuthTier.OPEN_READ, AuthTier.OPEN_ADMIN):
                evidence += f" (readable: {surfaces})"
            findings.append(
                ctx.finding(
                    finding_id,
                    title=f"{service.product_name}: {spec.title}",
                    severity=spec.severity,
                    control=Control.AUTHENTICATION,
                    evidence=evidence,
                    remediation=spec.remediation,
                    category="authentication",
                )
            )
        if service.partial_protection:
            findings.append(
                ctx.finding(
                    "auth.partial",
                    title=f"{service.product_name}: credentials guard only part of the API",
                    severity=Severity.MEDIUM,
                    control=Control.AUTHENTICATION,
                    evidence="; ".join(service.partial_protection),
                    remediation="Put the whole service behind the authenticating proxy, not just the guarded "
                    "routes, or block the open endpoints at the proxy.",
                    category="authentication",
                )
            )
        return findings
