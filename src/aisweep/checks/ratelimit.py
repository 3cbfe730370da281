"""Rate-limit signals: the RateLimit-*, X-RateLimit-* and Retry-After headers a service sent. Recorded as an info
finding with their values; their absence proves nothing (limits are often enforced without headers, or upstream)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar, Final

from aisweep.checks.base import CheckContext
from aisweep.models import Control, Finding, Level, Observation, Severity

_RATE_HEADER: Final = re.compile(r"^(?:x-)?ratelimit(?:-[a-z0-9-]+)?$|^retry-after$|^x-rate-limit-[a-z-]+$")
MAX_VALUE: Final = 80


def rate_limit_headers(observations: Iterable[Observation]) -> dict[str, tuple[str, str]]:
    """Header name -> (first value seen, where), across all answered observations, in a stable order."""
    seen: dict[str, tuple[str, str]] = {}
    for obs in observations:
        if not obs.answered:
            continue
        for name, value in obs.headers:
            # The substring tests only skip names the pattern cannot match (every alternative has one of them).
            if ("rate" in name or name.startswith("retry-after")) and _RATE_HEADER.match(name) and name not in seen:
                seen[name] = (value.strip()[:MAX_VALUE], f"{obs.request.method} {obs.request.path}")
    return dict(sorted(seen.items()))


class RateLimitHeadersCheck:
    """ratelimit.headers (info): what the service says about its limits."""

    id: ClassVar[str] = "ratelimit"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        headers = rate_limit_headers(ctx.observations.values())
        if not headers:
            return []
        evidence = "; ".join(f"{name}: {value} ({where})" for name, (value, where) in headers.items())
        return [
            ctx.finding(
                "ratelimit.headers",
                title=f"{ctx.service.product_name}: rate-limit headers present",
                severity=Severity.INFO,
                control=Control.RATE_LIMITING,
                evidence=evidence,
                remediation="No action needed for the headers themselves; make sure limits also apply to "
                "unauthenticated and expensive routes (generation, embeddings, uploads).",
                category="rate-limiting",
                detail=",".join(headers),
            )
        ]
