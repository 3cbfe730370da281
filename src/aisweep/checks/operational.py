"""Operational endpoints left reachable: Prometheus metrics, OpenAPI documents and docs pages, directory listings and
served .env files. Judged by content, never by status: a catch-all answers 200 to every path, so a body that equals
the catch-all's is not evidence of anything."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Final

from aisweep.checks.base import CheckContext
from aisweep.checks.hostheader import similar
from aisweep.checks.probes import CATCHALL
from aisweep.models import NO_JSON, Control, Finding, Level, Observation, Severity

_PROM_META: Final = re.compile(r"^# (?:HELP|TYPE) ([A-Za-z_:][A-Za-z0-9_:]*) ", re.MULTILINE)
_PROM_SAMPLE: Final = re.compile(
    r"^[A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}\n]*\})? [-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|\+?Inf)(?: [0-9]+)?$",
    re.MULTILINE,
)
_OPENAPI_TEXT: Final = re.compile(r'^\s*\{\s*"(?:openapi|swagger)"\s*:\s*"([0-9.]+)"')
_DOCS_HTML: Final = re.compile(r"(?i)swagger-ui|SwaggerUIBundle|<redoc|redoc\.standalone")
_DOCS_LITERALS: Final = ("swagger-ui", "swaggeruibundle", "<redoc", "redoc.standalone")  # _DOCS_HTML, lower-cased
DOCS_CHARS: Final = 8192
_LISTING: Final = re.compile(r"(?i)<title>\s*(?:Index of /|Directory listing for /)")
_ENV_LINE: Final = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")
_SENSITIVE_NAME: Final = re.compile(r"(?i)key|secret|token|passw|pwd|credential|dsn|database_url|_uri\b")

METRICS_FIX: Final = {
    "vllm": "vLLM serves /metrics on its API port (model names, queue depth, token counts); block /metrics at the "
    "reverse proxy or firewall so only your Prometheus can scrape it.",
    "llamacpp": "llama.cpp serves /metrics only when started with --metrics; drop the flag or restrict the path to "
    "your Prometheus.",
    "tgi": "Text Generation Inference serves /metrics on its API port; restrict the path to your Prometheus.",
}


def _answered_2xx(obs: Observation | None) -> bool:
    return obs is not None and obs.answered and obs.status is not None and 200 <= obs.status < 300


def _catchall_echo(obs: Observation, catchall: Observation | None) -> bool:
    """The same answer a path that cannot exist got: the server answers everything this way."""
    return _answered_2xx(catchall) and catchall is not None and similar(obs.body, catchall.body)


def _where(obs: Observation) -> str:
    return f"{obs.request.method} {obs.request.path}"


def prometheus_families(text: str) -> list[str]:
    """Metric family names when `text` is Prometheus exposition format (# HELP/# TYPE plus sample lines)."""
    families = list(dict.fromkeys(_PROM_META.findall(text)))
    if not families or not _PROM_SAMPLE.search(text):
        return []
    return families


def docs_page(text: str) -> bool:
    """`_DOCS_HTML` is found in the first 8 KiB. An ASCII text (nearly every page) is lower-cased and searched for the
    pattern's literal alternatives: the same answer, an order of magnitude faster than the case-insensitive regex
    (Unicode case folding only differs from lower-casing for non-ASCII characters, which take the regex)."""
    head = text[:DOCS_CHARS]
    if head.isascii():
        lowered = head.lower()
        return any(literal in lowered for literal in _DOCS_LITERALS)
    return _DOCS_HTML.search(head) is not None


def openapi_summary(obs: Observation) -> str | None:
    # Both readings need "openapi" or "swagger" in the body: other bodies are not parsed.
    document: Any = obs.json_with_keys("openapi", "swagger")
    if isinstance(document, dict):
        version = document.get("openapi") or document.get("swagger")
        if not isinstance(version, str):
            return None
        info = document.get("info")
        title = json.dumps(str(info.get("title", "")) if isinstance(info, dict) else "")[:80]
        paths = document.get("paths")
        n = f", {len(paths)} paths" if isinstance(paths, dict) else ""
        return f"OpenAPI {version} document {title}{n}"
    if document is NO_JSON and obs.truncated:
        m = _OPENAPI_TEXT.match(obs.text)
        if m:
            return f"OpenAPI {m.group(1)} document (truncated at {len(obs.body)} bytes)"
    return None


def env_variable_names(obs: Observation) -> list[str]:
    """Variable names when the body reads like a dotenv file (most non-comment lines are NAME=value)."""
    text = obs.text
    if not text.strip() or text.lstrip()[:1] in ("<", "{", "["):
        return []
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    names = [m.group(1) for ln in lines if (m := _ENV_LINE.match(ln))]
    if not names or len(names) < 0.8 * len(lines):
        return []
    return list(dict.fromkeys(names))


class OperationalExposureCheck:
    """exposure.metrics, exposure.openapi, exposure.directory-listing, exposure.env-file."""

    id: ClassVar[str] = "operational"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        service = ctx.service
        observations = list(ctx.observations.values())
        catchall = ctx.observations.get(CATCHALL.key)
        genuine = [
            o for o in observations if _answered_2xx(o) and o is not catchall and not _catchall_echo(o, catchall)
        ]
        findings: list[Finding] = []

        metrics = [
            (o, fam) for o in genuine if o.request.path.endswith("/metrics") if (fam := prometheus_families(o.text))
        ]
        if metrics:
            obs, families = metrics[0]
            prefixes = sorted({re.split(r"[_:]", f, maxsplit=1)[0] for f in families})[:6]
            findings.append(
                ctx.finding(
                    "exposure.metrics",
                    title=f"{service.product_name}: Prometheus metrics readable without credentials",
                    severity=Severity.INFO,
                    control=Control.NETWORK_ISOLATION,
                    evidence=f"{_where(obs)}: Prometheus text with {len(families)} metric families "
                    f"(prefixes: {', '.join(prefixes)})",
                    remediation=METRICS_FIX.get(service.product)
                    or "Serve metrics on a separate port or path that only your monitoring system can reach "
                    "(firewall or reverse-proxy rule).",
                    category="operational",
                )
            )

        api_docs: list[str] = []
        for o in genuine:
            summary = openapi_summary(o)
            if summary:
                api_docs.append(f"{_where(o)}: {summary}")
            elif "html" in (o.header("content-type") or "html") and docs_page(o.text):
                api_docs.append(f"{_where(o)}: interactive API docs (Swagger UI/ReDoc)")
        if api_docs:
            findings.append(
                ctx.finding(
                    "exposure.openapi",
                    title=f"{service.product_name}: API schema / interactive docs published",
                    severity=Severity.INFO,
                    control=Control.NETWORK_ISOLATION,
                    evidence="; ".join(api_docs[:4]),
                    remediation="The schema maps every route (including admin ones) for whoever finds the service; "
                    "disable the docs routes in production or restrict them at the proxy to operators.",
                    category="operational",
                )
            )

        listings = [o for o in genuine if _LISTING.search(o.text, 0, 4096)]
        if listings:
            findings.append(
                ctx.finding(
                    "exposure.directory-listing",
                    title=f"{service.product_name}: directory listing enabled",
                    severity=Severity.INFO,
                    control=Control.NETWORK_ISOLATION,
                    evidence="; ".join(f"{_where(o)}: directory index page" for o in listings[:4]),
                    remediation="Turn off automatic directory indexes (nginx autoindex off, Apache Options -Indexes, "
                    "no `python -m http.server` on a served directory) and serve only the files clients need.",
                    category="operational",
                )
            )

        env = [(o, names) for o in genuine if o.request.path.endswith("/.env") if (names := env_variable_names(o))]
        if env:
            obs, names = env[0]
            sensitive = [n for n in names if _SENSITIVE_NAME.search(n)]
            shown = ", ".join(names[:12]) + (f" (+{len(names) - 12} more)" if len(names) > 12 else "")
            findings.append(
                ctx.finding(
                    "exposure.env-file",
                    title=f"{service.product_name}: .env configuration file served over HTTP",
                    severity=Severity.MEDIUM if sensitive else Severity.LOW,
                    control=Control.NETWORK_ISOLATION,
                    evidence=f"{_where(obs)}: dotenv file with {len(names)} variables: {shown} (values not recorded)",
                    remediation="Remove the .env file from the served directory (or deny dotfiles at the web "
                    "server), then rotate every credential it held: assume it has been read.",
                    category="operational",
                )
            )
        return findings
