"""CORS and Host validation, judged from the requests that carry the probe's foreign Origin and foreign Host."""

from __future__ import annotations

from aisweep.checks.probes import CORS_ORIGIN
from aisweep.rules.samples import Response
from tests.checks.planting import finding, ids, plant, scan

WILDCARD = (("access-control-allow-origin", "*"),)
REFLECTED_CREDS = (("access-control-allow-origin", CORS_ORIGIN), ("access-control-allow-credentials", "true"))


def test_recorded_ollama_sends_no_cors_headers_for_a_foreign_origin() -> None:
    assert not {i for i in ids(scan(plant("ollama-0.5.7-open"))) if i.startswith("cors.")}


def test_wildcard_on_an_open_api_is_medium() -> None:
    service = scan(plant("ollama-0.5.7-open", extra_headers={"origin": WILDCARD}))
    f = finding(service, "cors.wildcard")
    assert f.severity.value == "medium" and f.control.value == "network-isolation"
    assert "OLLAMA_ORIGINS" in f.remediation


def test_reflected_origin_with_credentials_is_high() -> None:
    service = scan(plant("open-webui-0.12.4-login", extra_headers={"origin": REFLECTED_CREDS}))
    f = finding(service, "cors.reflected-with-credentials")
    assert f.severity.value == "high" and CORS_ORIGIN in f.evidence
    assert "cors.wildcard" not in ids(service)


def test_reflected_without_credentials_on_guarded_api_is_low() -> None:
    service = scan(
        plant("litellm-1.106.12-key", extra_headers={"origin": (("access-control-allow-origin", CORS_ORIGIN),)})
    )
    assert finding(service, "cors.reflected").severity.value == "low"


def test_recorded_tgi_answers_any_origin() -> None:
    """Text Generation Inference 1.4.5, recorded: Access-Control-Allow-Origin: * on its API."""
    f = finding(scan(plant("tgi-1.4.5-open")), "cors.wildcard")
    assert "*" in f.evidence or "wildcard" in f.evidence


def test_foreign_host_served_the_same_product_page() -> None:
    # The recorded Ollama answers every Host alike (it does when bound to 0.0.0.0).
    f = finding(scan(plant("ollama-0.5.7-open")), "host.no-validation")
    assert f.severity.value == "low" and "OLLAMA_HOST" in f.remediation
    ray = finding(scan(plant("ray-2.60.0-open")), "host.no-validation")
    assert ray.severity.value == "medium"  # open admin API: a rebinding page could submit jobs


def test_foreign_host_rejected_or_redirected_is_not_a_finding() -> None:
    for answer in (
        Response(421, (("content-type", "text/plain"),), b"Misdirected Request"),
        Response(403, (("content-type", "text/plain"),), b"Host not allowed"),
        Response(302, (("location", "https://ollama.internal/"),), b""),
        Response(200, (("content-type", "text/html"),), b"<html><title>Welcome to nginx!</title></html>"),
    ):
        service = scan(plant("ollama-0.5.7-open", by_header={"host": answer}))
        assert "host.no-validation" not in ids(service), answer.status
