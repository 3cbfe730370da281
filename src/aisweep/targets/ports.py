"""Port specifications: presets (`ai`, `top`) and explicit lists/ranges such as `80,443,8000-8010`."""

from __future__ import annotations

from typing import Final

from aisweep.errors import TargetError

# Default ports of self-hosted AI services (research/fingerprints.md, appendix A and per-product sections).
AI_PORTS: Final[tuple[int, ...]] = (
    80,
    443,
    1234,  # LM Studio
    1337,  # Jan
    3000,  # Open WebUI (docker), Flowise, Langfuse, BentoML, TGI native
    3001,  # AnythingLLM
    3080,  # LibreChat
    4000,  # LiteLLM proxy
    5000,  # MLflow, text-generation-webui API
    5001,  # KoboldCpp, Dify api
    5678,  # n8n
    6006,  # TensorBoard, Arize Phoenix
    6274,  # MCP Inspector UI
    6277,  # MCP Inspector proxy
    6333,  # Qdrant
    7860,  # Gradio, AUTOMATIC1111, text-generation-webui, Langflow
    7861,
    8000,  # vLLM, ChromaDB, Triton, MCP (Python SDK)
    8001,
    8008,  # ClearML API
    8080,  # llama.cpp, LocalAI, Open WebUI, Weaviate, Label Studio, TorchServe, TGI (docker)
    8081,  # TorchServe management
    8188,  # ComfyUI
    8265,  # Ray dashboard
    8443,
    8501,  # Streamlit
    8888,  # Jupyter
    9090,  # InvokeAI
    9091,  # Milvus WebUI
    9997,  # Xinference
    11434,  # Ollama
    18789,  # OpenClaw gateway
    30000,  # SGLang
)

TOP_PORTS: Final[tuple[int, ...]] = (80, 443, 3000, 5000, 7860, 8000, 8080, 8443, 8888, 11434)

PRESETS: Final[dict[str, tuple[int, ...]]] = {"ai": AI_PORTS, "top": TOP_PORTS}

# Ports where TLS is tried first; everywhere else plain HTTP is tried first and TLS is the fallback.
TLS_FIRST_PORTS: Final[frozenset[int]] = frozenset({443, 4443, 6443, 8443, 9443, 10443})


def parse_ports(spec: str, ai_extra: tuple[int, ...] = ()) -> tuple[int, ...]:
    """Parse `ai`, `top`, `8000`, `80,443`, `8000-8010` or a mix (`ai,9999`), keeping first-seen order.

    `ai_extra` adds to the `ai` preset (the CLI passes every loaded rule's default ports, so a user's own rule files
    extend it)."""
    seen: dict[int, None] = {}
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            continue
        if token.lower() in PRESETS:
            extra = ai_extra if token.lower() == "ai" else ()
            for p in (*PRESETS[token.lower()], *sorted(extra)):
                seen.setdefault(p, None)
            continue
        if "-" in token:
            lo_s, _, hi_s = token.partition("-")
            lo, hi = _port(lo_s, token), _port(hi_s, token)
            if lo > hi:
                raise TargetError(f"bad port range {token!r}: start is above end")
            for p in range(lo, hi + 1):
                seen.setdefault(p, None)
            continue
        seen.setdefault(_port(token, token), None)
    if not seen:
        raise TargetError(f"no ports in port specification {spec!r}")
    return tuple(seen)


def _port(text: str, token: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise TargetError(f"bad port {token!r}: expected a number 1-65535, a range like 8000-8010, or 'ai'/'top'")
    value = int(text)
    if not 1 <= value <= 65535:
        raise TargetError(f"bad port {token!r}: ports run from 1 to 65535")
    return value
