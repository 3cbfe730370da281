"""Open model lists that name paid hosted models: someone's provider key (or Ollama Cloud account) is spendable."""

from __future__ import annotations

import json

import pytest

from aisweep.checks.frontier import frontier_provider
from tests.checks.planting import finding, ids, json_response, plant, recorded, scan


def test_recorded_litellm_without_key_proxies_gpt_4o() -> None:
    f = finding(scan(plant("litellm-1.106.12-nokey")), "proxy.frontier-models")
    assert f.severity.value == "high" and "gpt-4o (OpenAI)" in f.evidence
    assert "local-llama" not in f.evidence and "master_key" in f.remediation


def test_recorded_local_models_are_not_frontier() -> None:
    for case in ("ollama-0.5.7-open", "vllm-0.11.0-open", "llamacpp-b8929-open", "litellm-1.106.12-key"):
        assert "proxy.frontier-models" not in ids(scan(plant(case))), case


def test_ollama_cloud_models_are_someone_elses_account() -> None:
    tags = json.loads(recorded("ollama-0.5.7-open", "GET", "/api/tags").body)
    tags["models"].append({**tags["models"][0], "name": "gpt-oss:120b-cloud", "model": "gpt-oss:120b-cloud"})
    f = finding(scan(plant("ollama-0.5.7-open", paths={"/api/tags": json_response(tags)})), "proxy.frontier-models")
    assert "Ollama Cloud" in f.evidence and "ollama signout" in f.remediation


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("gpt-4o", "OpenAI"),
        ("gpt-4.1-mini", "OpenAI"),
        ("o3-mini", "OpenAI"),
        ("claude-3-5-sonnet-20241022", "Anthropic"),
        ("gemini-2.5-pro", "Google"),
        ("grok-4", "xAI"),
        ("mistral-large-latest", "Mistral"),
        ("deepseek-chat", "DeepSeek"),
        ("anthropic/claude-sonnet-4", "anthropic"),
        ("bedrock/meta.llama3-70b", "bedrock"),
        ("qwen3-coder:480b-cloud", "Ollama Cloud"),
        ("gpt-oss:20b", None),
        ("openai/gpt-oss-120b", None),
        ("grok-1", None),
        ("mistral-large:123b", None),
        ("gemma3:27b", None),
        ("deepseek-r1:7b", None),
        ("llama3.2:latest", None),
        ("Qwen/Qwen2.5-7B-Instruct", None),
        ("o1337-custom", None),
    ],
)
def test_frontier_provider(name: str, provider: str | None) -> None:
    assert frontier_provider(name) == provider
