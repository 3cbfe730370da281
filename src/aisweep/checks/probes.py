"""Requests the engine sends to every identified service after identification, for the Python checks.

They are safe-level: GETs and an OPTIONS preflight with a foreign Origin or Host, a path that cannot exist (to tell
a catch-all/honeypot from a real product), and a few well-known operational endpoints. Checks find the resulting
observations by these requests' keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aisweep.models import Observation, Request

CORS_ORIGIN: Final = "https://aisweep-cors-check.invalid"
FOREIGN_HOST: Final = "aisweep-rebind-check.invalid"
CATCHALL_PATH: Final = "/aisweep-nonexistent-7f3c9a1e"

CATCHALL: Final = Request("GET", CATCHALL_PATH)
ROOT: Final = Request("GET", "/")  # the baseline the foreign-Host answer is compared with
FOREIGN_HOST_ROOT: Final = Request("GET", "/", (("Host", FOREIGN_HOST),))
ORIGIN: Final = "Origin"
OPENAPI: Final = Request("GET", "/openapi.json")
DOCS: Final = Request("GET", "/docs")
OPERATIONAL: Final[tuple[Request, ...]] = (Request("GET", "/metrics"), OPENAPI, DOCS, Request("GET", "/.env"))


def cors_requests(api_path: str) -> tuple[Request, Request]:
    """A GET and an OPTIONS preflight of the service's own API path, each with a foreign Origin."""
    return (
        Request("GET", api_path, ((ORIGIN, CORS_ORIGIN),)),
        Request(
            "OPTIONS",
            api_path,
            ((ORIGIN, CORS_ORIGIN), ("Access-Control-Request-Method", "GET")),
        ),
    )


def worth_sending(request: Request, observations: Mapping[str, Observation]) -> bool:
    """Skip assessment requests whose answer is implied by earlier ones: /docs when /openapi.json, which the docs
    pages load, is not served. (The CORS preflight is always sent: some servers, Jan's among them, answer CORS
    only on preflights.)"""
    if request.key == DOCS.key:
        spec = observations.get(OPENAPI.key)
        return spec is None or spec.status == 200
    return True


def assessment_requests(api_path: str) -> list[Request]:
    """Everything sent after identification; `api_path` is the winning rule's first identifying path."""
    return [CATCHALL, ROOT, FOREIGN_HOST_ROOT, *cors_requests(api_path), *OPERATIONAL]
