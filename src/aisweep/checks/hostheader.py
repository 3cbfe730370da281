"""Host validation: a service that serves its own content to a request naming a foreign Host can be reached by DNS
rebinding from any web page a user on its network opens (the browser then talks to it as that page's origin)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar, Final

from aisweep.checks.base import CheckContext
from aisweep.checks.probes import FOREIGN_HOST, FOREIGN_HOST_ROOT
from aisweep.models import AuthTier, Control, Finding, Level, Observation, Request, Severity

BASELINE: Final = Request("GET", "/")
# A rebinding page can drive these (submit jobs, run code, claim the admin account), not just read.
DRIVABLE_TIERS: Final = frozenset({AuthTier.OPEN_ADMIN, AuthTier.FIRST_VISITOR_ADMIN})
SIMILARITY: Final = 0.9
SAMPLE_BYTES: Final = 4096

PRODUCT_SETTING: Final = {
    "ollama": "Ollama accepts any Host when OLLAMA_HOST binds a non-loopback address; bind it to 127.0.0.1 and "
    "publish it through a reverse proxy whose server_name lists the real host names",
    "jupyter": "keep ServerApp.allow_remote_access=False (or list names in ServerApp.local_hostnames / use a proxy "
    "that checks Host)",
    "mlflow": "run mlflow server with --allowed-hosts naming the real host names (MLflow 3.5+)",
}


_NOISE = re.compile(rb"[0-9a-fA-F]{8,}|\d+")
_TOKEN = re.compile(rb"[A-Za-z_#][A-Za-z0-9_#.-]*")


def similar(a: bytes, b: bytes) -> bool:
    """Same content, allowing for per-request noise (nonces, timestamps, the echoed Host)."""
    if a == b:
        return True
    if not a or not b:
        return False
    # Linear time on purpose (this runs for every service): numbers and hex runs are masked, then the two bodies'
    # token sets are compared. SequenceMatcher was quadratic and dominated scan CPU. One body (the catch-all's, the
    # baseline's) is compared with many, by several checks: its masked form and tokens are memoized.
    sa, sb = _masked(a[:SAMPLE_BYTES]), _masked(b[:SAMPLE_BYTES])
    if sa == sb:
        return True
    ta, tb = _tokens(sa), _tokens(sb)
    if not ta or not tb:
        return False
    common = len(ta & tb)
    return common / (len(ta) + len(tb) - common) >= SIMILARITY  # |a ∩ b| / |a ∪ b|


@lru_cache(maxsize=512)
def _masked(sample: bytes) -> bytes:
    return _NOISE.sub(b"#", sample)


@lru_cache(maxsize=512)
def _tokens(masked: bytes) -> frozenset[bytes]:
    return frozenset(_TOKEN.findall(masked))


def answers_foreign_host(foreign: Observation | None, baseline: Observation | None) -> bool:
    """True when the foreign-Host request got the same 2xx content as the ordinary one (not a 4xx/421, not a
    redirect, not an empty or different page)."""
    if foreign is None or baseline is None or not foreign.answered or not baseline.answered:
        return False
    if foreign.status is None or baseline.status is None:
        return False
    if not (200 <= foreign.status < 300 and 200 <= baseline.status < 300):
        return False
    if not foreign.body.strip():
        return False
    return similar(foreign.body, baseline.body)


class HostHeaderCheck:
    """host.no-validation: the product's content is served for any Host header."""

    id: ClassVar[str] = "host"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        foreign = ctx.observations.get(FOREIGN_HOST_ROOT.key)
        baseline = ctx.observations.get(BASELINE.key)
        if foreign is None or not answers_foreign_host(foreign, baseline):
            return []
        service = ctx.service
        drivable = service.auth_tier in DRIVABLE_TIERS
        setting = PRODUCT_SETTING.get(service.product)
        fix = (
            "Reject requests whose Host is not one of the service's own names (a reverse proxy with an explicit "
            "server_name and a default server that returns 421/444), and keep the service bound to a private "
            "interface."
        )
        if setting:
            fix += f" For {service.product_name}: {setting}."
        return [
            ctx.finding(
                "host.no-validation",
                title=f"{service.product_name}: serves its content for any Host header (DNS rebinding risk)",
                severity=Severity.MEDIUM if drivable else Severity.LOW,
                control=Control.NETWORK_ISOLATION,
                evidence=f"GET / with Host: {FOREIGN_HOST} answered {foreign.status} with the same content as "
                f"GET / ({len(foreign.body)} bytes)"
                + ("; its admin API needs no credentials, so a rebinding page could drive it" if drivable else ""),
                remediation=fix,
                category="network",
            )
        ]
