"""Honeypot and catch-all scoring: recorded real products score low; catch-alls, known kits' markers, impossible
versions and hosts that answer alike on many ports score high."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from aisweep.checks.honeypot import HOST_SAME_PORTS_ANY, honeypot_assessment, host_level_honeypot, literal_alternatives
from aisweep.checks.probes import CATCHALL
from aisweep.models import Request
from aisweep.rules.samples import Response
from tests.checks.planting import finding, ids, json_response, plant, recorded, samples, scan

BASEHTTP = (("server", "BaseHTTP/0.6 Python/3.11.7"), ("date", "Sat, 28 Nov 2026 08:00:00 GMT"))


def test_recorded_products_are_not_honeypots() -> None:
    flagged = []
    for sample in samples().values():
        if sample.rule_dir == "_negative" or "not_product" in sample.expect:
            continue
        service = scan(plant(sample.case))
        if "honeypot.likely" in ids(service):
            flagged.append(sample.case)
    assert flagged == []


def test_single_page_app_fallback_is_not_enough() -> None:
    """Open WebUI answers unknown paths with its index.html (recorded); that alone must not mark it."""
    spa = recorded("open-webui-0.12.4-login", "GET", "/nonexistent-aisweep-probe")
    sample = plant("open-webui-0.12.4-login", requests={CATCHALL.key: spa})
    service = scan(sample)
    assert "honeypot.likely" not in ids(service)
    observations = {CATCHALL.key: sample.observation(CATCHALL), "GET /": sample.observation(Request("GET", "/"))}
    verdict = honeypot_assessment(service, observations)
    assert 0 < verdict.score < 0.6 and "single-page app" in verdict.reasons[0]


def test_catch_all_answering_every_path_with_the_model_list() -> None:
    tags = recorded("ollama-0.5.7-open", "GET", "/api/tags")
    f = finding(scan(plant("ollama-0.5.7-open", fallback=tags)), "honeypot.likely")
    assert f.severity.value == "info" and "cannot exist" in f.evidence and "identical body" in f.evidence


def test_script_ollama_honeypot_imitation() -> None:
    """Responses as magoo/ollama-honeypot writes them (http.server, fixed model list, no /api/version)."""
    tags = {
        "models": [
            {
                "name": "llama2:latest",
                "modified_at": "2024-01-01T00:00:00Z",
                "size": 3826793677,
                "digest": "sha256:a2af6cc3eb7fa8be8504abaf9b04e88f17a119ec3f04a3addf55f92841195f5a",
                "details": {"format": "gguf", "family": "llama", "parameter_size": "7B", "quantization_level": "Q4_0"},
            }
        ]
    }
    not_found = Response(404, (*BASEHTTP, ("content-type", "text/plain; charset=utf-8")), b"404 page not found")
    sample = plant(
        "ollama-0.5.7-open",
        paths={
            "/": Response(200, (*BASEHTTP, ("content-type", "text/plain; charset=utf-8")), b"Ollama is running"),
            "/api/tags": Response(200, (*BASEHTTP, ("content-type", "application/json")), json.dumps(tags).encode()),
            "/api/version": not_found,
            "/api/ps": not_found,
            "/v1/models": not_found,
        },
        fallback=not_found,
    )
    service = scan(sample)
    f = finding(service, "honeypot.likely")
    assert "magoo/ollama-honeypot" in f.evidence, f.evidence


def test_snare_marker_on_an_identified_product() -> None:
    root = recorded("ollama-0.5.7-open", "GET", "/")
    planted = Response(200, (*root.headers, ("server", "nignx/1.3.8")), root.body)
    assert "honeypot.likely" in ids(scan(plant("ollama-0.5.7-open", paths={"/": planted})))


def test_impossible_version_is_a_modest_signal() -> None:
    sample = plant("ollama-0.5.7-open", paths={"/api/version": json_response({"version": "7.2.1"})})
    service = scan(sample)
    assert service.version == "7.2.1" and "honeypot.likely" not in ids(service)
    verdict = honeypot_assessment(service, {})
    assert verdict.score == 0.5 and "never released" in verdict.reasons[0]


def test_unrelated_products_on_one_port() -> None:
    service = scan(plant("ollama-0.5.7-open"))
    assert honeypot_assessment(service, {}).score == 0
    lookalike = dataclasses.replace(service, also_matched=["comfyui", "ray", "openai-compatible"])
    verdict = honeypot_assessment(lookalike, {})
    assert verdict.likely and "comfyui" in verdict.reasons[0] and "openai-compatible" not in verdict.reasons[0]
    # KoboldCpp imitates Ollama on purpose (its rule overrides ollama): not a honeypot signal.
    kobold = scan(plant("koboldcpp-1.76-ollama-lookalike"))
    assert honeypot_assessment(dataclasses.replace(kobold, also_matched=["ollama"]), {}).score == 0


def _record(product: str, port: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "target": {"host": "198.51.100.7", "port": port},
        "product": product,
        "version": "0.5.7",
        "auth": {"tier": "open-read"},
        "surfaces": {"models": 3},
        "evidence": ["GET /, status 200"],
    }
    return {**base, **extra}


def test_host_level_signals() -> None:
    many = [_record("ollama", p) for p in range(8000, 8000 + HOST_SAME_PORTS_ANY)]
    assert host_level_honeypot(many) and "identical ollama answers on 6 ports" in host_level_honeypot(many)[0]
    foreign_ports = [_record("ollama", p) for p in (11434, 8188, 8265)]  # ComfyUI's and Ray's ports
    assert host_level_honeypot(foreign_ports)
    ai_box = [
        _record("ollama", 11434),
        _record("open-webui", 3000, version="0.12.4"),
        _record("comfyui", 8188, version="0.3.64"),
        _record("jupyter", 8888, version="2.21.1"),
    ]
    assert host_level_honeypot(ai_box) == []
    two_vllm = [_record("vllm", 8000), _record("vllm", 8001)]
    assert host_level_honeypot(two_vllm) == []
    zoo = [_record(p, 1000 + i) for i, p in enumerate(["ollama", "ray", "mlflow", "comfyui", "chromadb"])]
    assert any("5 different products" in r for r in host_level_honeypot(zoo))


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (
            "Hello from Wordpress|<title>Wordpress 6 test page</title>",
            ("Hello from Wordpress", "<title>Wordpress 6 test page</title>"),
        ),
        ("plain text", ("plain text",)),
        ("^nignx/", None),
        ("a.b|c", None),
        (r"sess\d", None),
        ("(?i)x|y", None),
    ],
)
def test_literal_body_markers_are_searched_as_text(pattern: str, literals: tuple[str, ...] | None) -> None:
    assert literal_alternatives(pattern) == literals
    if literals is not None:
        regex = re.compile(pattern)
        for text in ("", "xx Hello from Wordpress", "plain tex", "plain text!", "<title>Wordpress 6 test page</title>"):
            assert any(lit in text for lit in literals) is (regex.search(text) is not None)
