"""Open proxies to paid hosted models: an unauthenticated model list naming frontier APIs (gpt-4o, claude-*,
gemini-*, ...) means the operator's provider key (or Ollama Cloud account) is spendable by anyone. Judged from the
model names only; nothing is ever sent to the models."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Final, NamedTuple

from aisweep.checks.base import CheckContext
from aisweep.checks.hostheader import similar
from aisweep.checks.probes import CATCHALL
from aisweep.models import NO_JSON, AuthTier, Control, Finding, Level, Observation, Severity


class FrontierFamily(NamedTuple):
    provider: str
    pattern: re.Pattern[str]
    open_weights_when_tagged: bool = False  # the same family name also exists as local open weights (Ollama tags)


FAMILIES: Final[tuple[FrontierFamily, ...]] = (
    FrontierFamily(
        "OpenAI",
        re.compile(
            r"^(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-4-turbo|gpt-4(?:-\d{4})?$|gpt-4-32k|gpt-5|gpt-3\.5-turbo"
            r"|chatgpt-|o1(?:-|$)|o3(?:-|$)|o4-mini|codex-mini)"
        ),
    ),
    FrontierFamily("Anthropic", re.compile(r"^claude-")),
    FrontierFamily("Google", re.compile(r"^gemini-")),
    FrontierFamily("xAI", re.compile(r"^grok-(?!1(?:$|[^0-9.]))")),  # grok-1 is open weights
    FrontierFamily(
        "Mistral",
        re.compile(r"^(?:mistral-(?:large|medium)(?:-latest|-\d{4})?$|codestral-latest|magistral-(?:medium|small)-)"),
        open_weights_when_tagged=True,
    ),
    FrontierFamily("DeepSeek", re.compile(r"^deepseek-(?:chat|reasoner)$")),
    FrontierFamily("Moonshot", re.compile(r"^(?:moonshot-v1|kimi-latest|kimi-k2-\d{4}-preview|kimi-k2-turbo)")),
)
# LiteLLM-style "provider/model" names whose provider is only reachable as a paid hosted API.
HOSTED_PROVIDERS: Final = frozenset(
    {"anthropic", "azure", "azure_ai", "bedrock", "vertex_ai", "gemini", "xai", "groq", "openrouter", "perplexity"}
)
MAX_SHOWN: Final = 8

PRODUCT_FIX: Final = {
    "litellm": "Set general_settings.master_key (LITELLM_MASTER_KEY) and hand out virtual keys with budgets and rate "
    "limits; until then every model in the list runs on your provider keys for anyone.",
    "ollama": "Ollama Cloud models run on the ollama.com account this server is signed in to: remove them or sign the "
    "server out (ollama signout), and bind Ollama to 127.0.0.1 behind an authenticating proxy.",
    "open-webui": "Turn Open WebUI authentication back on (WEBUI_AUTH=True) and disable sign-up, so connected provider "
    "keys are not usable by visitors.",
}


MODEL_LIST_KEYS: Final = ("data", "models")  # the only keys `model_names` reads


def model_names(document: Any) -> Iterator[str]:
    """Model ids from OpenAI-style (`data[*].id`) and Ollama-style (`models[*].name|model`) lists."""
    if not isinstance(document, dict):
        return
    for item in document.get("data") or []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            yield item["id"]
    for item in document.get("models") or []:
        if isinstance(item, dict):
            name = item.get("name") or item.get("model")
            if isinstance(name, str):
                yield name


def frontier_provider(model: str) -> str | None:
    """The paid provider a model name points at, or None for local/open-weight names."""
    name = model.strip().lower()
    base, _, tag = name.partition(":")
    if tag.endswith("cloud") or base.endswith("-cloud"):
        return "Ollama Cloud"
    provider, slash, rest = base.rpartition("/")
    if slash and provider.split("/")[0] in HOSTED_PROVIDERS:
        return provider.split("/")[0]
    short = rest if slash else base
    for family in FAMILIES:
        if family.pattern.search(short):
            if family.open_weights_when_tagged and tag:
                return None
            return family.provider
    return None


def listed_models(observations: Iterable[Observation], catchall: Observation | None = None) -> dict[str, str]:
    """Model name -> 'METHOD /path' for every 2xx model list among the observations (catch-all echoes ignored)."""
    found: dict[str, str] = {}
    for obs in observations:
        if not obs.answered or obs.status is None or not 200 <= obs.status < 300 or obs is catchall:
            continue
        document = obs.json_with_keys(*MODEL_LIST_KEYS)
        if document is NO_JSON:
            continue  # no model list (checked first: the catch-all comparison costs more)
        if catchall is not None and catchall.answered and catchall.status == 200 and similar(obs.body, catchall.body):
            continue
        for name in model_names(document):
            found.setdefault(name, f"{obs.request.method} {obs.request.path}")
    return found


def frontier_models(
    observations: Iterable[Observation], catchall: Observation | None = None
) -> list[tuple[str, str, str]]:
    """(model, provider, where) for listed models that name paid hosted APIs."""
    return [
        (name, provider, where)
        for name, where in sorted(listed_models(observations, catchall).items())
        if (provider := frontier_provider(name)) is not None
    ]


class FrontierProxyCheck:
    """proxy.frontier-models: an open model list that includes paid hosted models."""

    id: ClassVar[str] = "frontier"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        hits = frontier_models(ctx.observations.values(), ctx.observations.get(CATCHALL.key))
        if not hits:
            return []
        service = ctx.service
        guarded = service.auth_tier == AuthTier.AUTH_REQUIRED
        shown = ", ".join(f"{m} ({p})" for m, p, _ in hits[:MAX_SHOWN])
        more = f" (+{len(hits) - MAX_SHOWN} more)" if len(hits) > MAX_SHOWN else ""
        where = ", ".join(sorted({w for _, _, w in hits}))
        return [
            ctx.finding(
                "proxy.frontier-models",
                title=f"{service.product_name}: paid hosted models usable through an open endpoint",
                severity=Severity.MEDIUM if guarded else Severity.HIGH,
                control=Control.AUTHENTICATION,
                evidence=f"{where} lists models named like paid hosted APIs: {shown}{more}; the list was readable "
                "without credentials (names only: no request was sent to any model)",
                remediation=PRODUCT_FIX.get(service.product)
                or "Require an API key in front of the endpoint and set spend limits and alerts at the provider: "
                "if these names are routed to the provider, anyone can spend on your key.",
                category="exposure",
                detail=",".join(sorted({p for _, p, _ in hits})),
            )
        ]
