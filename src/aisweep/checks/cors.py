"""Cross-origin reads: does the product's API answer a foreign Origin with `Access-Control-Allow-Origin: *` or by
echoing the origin back (and with credentials)? Judged from the GET and the OPTIONS preflight that carry the probe's
foreign Origin (checks/probes.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Final, NamedTuple

from aisweep.checks.base import CheckContext
from aisweep.checks.probes import CORS_ORIGIN
from aisweep.models import AuthTier, Control, Finding, Level, Observation, Severity

OPEN_TIERS: Final = frozenset(
    {AuthTier.OPEN_METADATA, AuthTier.OPEN_READ, AuthTier.OPEN_ADMIN, AuthTier.FIRST_VISITOR_ADMIN}
)

# Where each product lets an operator name the allowed origins.
PRODUCT_SETTING: Final = {
    "ollama": "set OLLAMA_ORIGINS to the exact origins that need browser access (never *)",
    "vllm": "start vLLM with --allowed-origins listing only trusted origins, and without --allow-credentials",
    "chromadb": "set CHROMA_SERVER_CORS_ALLOW_ORIGINS to the trusted origins only",
    "jupyter": "set ServerApp.allow_origin (or allow_origin_pat) to trusted origins only, never '*'",
    "comfyui": "drop --enable-cors-header, or give it one trusted origin instead of *",
    "open-webui": "set CORS_ALLOW_ORIGIN to the UI's own URL instead of *",
    "mlflow": "run mlflow server with --cors-allowed-origins naming trusted origins only (MLflow 3.5+)",
}


class CorsResult(NamedTuple):
    kind: str  # "wildcard" | "reflected" | "null"
    credentials: bool
    where: str


def cors_observations(observations: Iterable[Observation]) -> list[Observation]:
    """The answered requests that carried the probe's foreign Origin."""
    return [
        o
        for o in observations
        if o.request.headers
        and o.answered
        and any(k.lower() == "origin" and v == CORS_ORIGIN for k, v in o.request.headers)
    ]


def classify(obs: Observation) -> CorsResult | None:
    allowed = (obs.header("access-control-allow-origin") or "").strip()
    credentials = (obs.header("access-control-allow-credentials") or "").strip().lower() == "true"
    where = f"{obs.request.method} {obs.request.path} -> {obs.status}"
    if allowed == "*":
        return CorsResult("wildcard", credentials, where)
    if allowed.rstrip("/") == CORS_ORIGIN:
        return CorsResult("reflected", credentials, where)
    if allowed == "null":
        return CorsResult("null", credentials, where)
    return None


def assess_cors(observations: Iterable[Observation]) -> list[CorsResult]:
    return [r for o in cors_observations(observations) if (r := classify(o)) is not None]


class CorsCheck:
    """cors.reflected-with-credentials / cors.reflected / cors.wildcard / cors.null-origin."""

    id: ClassVar[str] = "cors"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        results = assess_cors(ctx.observations.values())
        if not results:
            return []
        service = ctx.service
        open_api = service.auth_tier in OPEN_TIERS
        reflected_creds = [r for r in results if r.kind in ("reflected", "null") and r.credentials]
        setting = PRODUCT_SETTING.get(service.product)
        fix_tail = (
            f"In {service.product_name}, {setting}."
            if setting
            else "Configure the server (or the reverse proxy in front of it) to allow only trusted origins."
        )
        where = "; ".join(sorted({r.where for r in results}))
        if reflected_creds:
            return [
                ctx.finding(
                    "cors.reflected-with-credentials",
                    title=f"{service.product_name}: any website can make credentialed reads of the API (CORS)",
                    severity=Severity.HIGH,
                    control=Control.NETWORK_ISOLATION,
                    evidence=f"Origin {CORS_ORIGIN} echoed in Access-Control-Allow-Origin with "
                    f"Access-Control-Allow-Credentials: true ({where})",
                    remediation="Never echo arbitrary origins together with Allow-Credentials: a page on any site "
                    f"can act with a logged-in user's session. {fix_tail}",
                    category="cors",
                )
            ]
        kinds = {r.kind for r in results}
        finding_id = "cors.reflected" if "reflected" in kinds else "cors.wildcard"
        if kinds == {"null"}:
            finding_id = "cors.null-origin"
        exposure = (
            "the API needs no credentials, so any web page a user on the same network opens can read it"
            if open_api
            else "requests still need the API's own credentials, which browsers do not attach by themselves"
        )
        return [
            ctx.finding(
                finding_id,
                title=f"{service.product_name}: API readable cross-origin from any website (CORS)",
                severity=Severity.MEDIUM if open_api else Severity.LOW,
                control=Control.NETWORK_ISOLATION,
                evidence=f"foreign Origin allowed ({', '.join(sorted(kinds))}): {where}; {exposure}",
                remediation=f"Allow only the origins that need browser access. {fix_tail}",
                category="cors",
            )
        ]
