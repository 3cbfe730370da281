"""Metrics, OpenAPI/docs, directory listings, served .env files and rate-limit headers, judged by content: a
catch-all that answers 200 to everything creates none of them."""

from __future__ import annotations

import pytest

from aisweep.checks.operational import _DOCS_HTML, docs_page
from aisweep.rules.samples import Response
from tests.checks.planting import finding, ids, plant, rand, scan, text_response

PROM = "# HELP ollama_requests_total Requests.\n# TYPE ollama_requests_total counter\nollama_requests_total 42\n"
LISTING = "<html><head><title>Index of /</title></head><body><h1>Index of /</h1><a href='models/'>models/</a>"


def test_recorded_vllm_metrics_and_openapi() -> None:
    service = scan(plant("vllm-0.11.0-open"))
    metrics = finding(service, "exposure.metrics")
    assert metrics.severity.value == "info" and "GET /metrics" in metrics.evidence
    assert "vLLM" in metrics.remediation
    assert "OpenAPI 3.1.0" in finding(service, "exposure.openapi").evidence


def test_recorded_litellm_swagger_page_and_truncated_schema() -> None:
    evidence = finding(scan(plant("litellm-1.106.12-key")), "exposure.openapi").evidence
    assert "Swagger UI" in evidence or "OpenAPI" in evidence


def test_catch_all_200_does_not_create_exposures() -> None:
    """A server answering every path with the same Prometheus-looking 200 has no /metrics endpoint to speak of."""
    catchall = Response(200, (("content-type", "text/plain"),), PROM.encode())
    service = scan(plant("ollama-0.5.7-open", fallback=catchall))
    assert not {i for i in ids(service) if i.startswith("exposure.")}
    html = Response(200, (("content-type", "text/html"),), b"<html><title>Index of /</title>swagger-ui</html>")
    service = scan(plant("ollama-0.5.7-open", fallback=html))
    assert not {i for i in ids(service) if i.startswith("exposure.")}


def test_status_alone_is_not_evidence() -> None:
    service = scan(
        plant(
            "ollama-0.5.7-open",
            paths={
                "/metrics": text_response("OK"),
                "/openapi.json": text_response('{"status": "ok"}'),
                "/docs": text_response("<html><body>Docs moved</body></html>"),
                "/.env": text_response("<!DOCTYPE html><html>not found</html>"),
            },
        )
    )
    assert not {i for i in ids(service) if i.startswith("exposure.")}


def test_planted_metrics_listing_and_env_file() -> None:
    env = f"# app\nOLLAMA_HOST=0.0.0.0\nexport HF_TOKEN=hf_{rand(34)}\nWEBHOOK_SECRET={rand(24)}\n"
    service = scan(
        plant(
            "ollama-0.5.7-open",
            paths={"/metrics": text_response(PROM), "/.env": text_response(env), "/docs": text_response(LISTING)},
        )
    )
    assert "prefixes: ollama" in finding(service, "exposure.metrics").evidence
    assert "GET /docs" in finding(service, "exposure.directory-listing").evidence
    f = finding(service, "exposure.env-file")
    assert f.severity.value == "medium" and "HF_TOKEN" in f.evidence and "WEBHOOK_SECRET" in f.evidence
    assert env.splitlines()[3].split("=", 1)[1] not in f.evidence  # names only, never values
    assert "secret.huggingface-token" in ids(service)


def test_rate_limit_headers_recorded_and_absence_is_silent() -> None:
    assert "ratelimit.headers" not in ids(scan(plant("ollama-0.5.7-open")))
    headers = (("x-ratelimit-limit-requests", "60"), ("x-ratelimit-remaining-requests", "59"), ("retry-after", "1"))
    tags = plant("ollama-0.5.7-open").exchanges[("GET", "/api/tags")]
    service = scan(
        plant("ollama-0.5.7-open", paths={"/api/tags": Response(tags.status, (*tags.headers, *headers), tags.body)})
    )
    f = finding(service, "ratelimit.headers")
    assert f.severity.value == "info" and f.control.value == "rate-limiting"
    assert "x-ratelimit-limit-requests: 60" in f.evidence and "retry-after: 1" in f.evidence


@pytest.mark.parametrize(
    "text",
    [
        '<div id="swagger-ui"></div>',
        "<script>SWAGGERUIBUNDLE({url: '/openapi.json'})</script>",
        "<ReDoc spec-url='/openapi.json'></ReDoc>",
        "<script src='https://cdn.example/ReDoc.Standalone.js'></script>",
        "<html><body>Ollama</body></html>",
        "redoc-standalone swagger ui",
        "\u017fwagger-ui",  # long s: Unicode case folding matches it to s, lower-casing does not
        "<html>caf\u00e9 <redoc></html>",
        "x" * 8190 + "<redoc",  # past the first 8 KiB
        "x" * 8180 + "<redoc",
    ],
)
def test_docs_page_agrees_with_the_case_insensitive_pattern(text: str) -> None:
    assert docs_page(text) is (_DOCS_HTML.search(text[:8192]) is not None)
