"""Requests the engine sends to every identified service after identification, for the Python checks.

They are safe-level: GETs and an OPTIONS preflight with a foreign Origin or Host, a path that cannot exist (to tell
a catch-all/honeypot from a real product), and a few well-known operational endpoints. Checks find the resulting
observations by these requests' keys."""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from aisweep.models import Request

CORS_ORIGIN: Final = "https://aisweep-cors-check.invalid"
FOREIGN_HOST: Final = "aisweep-rebind-check.invalid"
CATCHALL_PATH: Final = "/aisweep-nonexistent-7f3c9a1e"

CATCHALL: Final = Request("GET", CATCHALL_PATH)
ROOT: Final = Request("GET", "/")  # the baseline the foreign-Host answer is compared with
FOREIGN_HOST_ROOT: Final = Request("GET", "/", (("Host", FOREIGN_HOST),))
# Last, the two answers most often larger than their byte cap: a cut answer ends the connection (the rest of its
# body is never read), and a pipelined request after it would have to be sent again on a new one.
OPERATIONAL: Final[tuple[Request, ...]] = (
    Request("GET", "/docs"),
    Request("GET", "/.env"),
    Request("GET", "/metrics"),
    Request("GET", "/openapi.json"),
)


def cors_requests(api_path: str) -> tuple[Request, Request]:
    """A GET and an OPTIONS preflight of the service's own API path, each with a foreign Origin."""
    return (
        Request("GET", api_path, (("Origin", CORS_ORIGIN),)),
        Request(
            "OPTIONS",
            api_path,
            (("Origin", CORS_ORIGIN), ("Access-Control-Request-Method", "GET")),
        ),
    )


def assessment_requests(api_path: str) -> list[Request]:
    """Everything sent after identification; `api_path` is the winning rule's first identifying path."""
    return list(_assessment_requests(api_path))


@lru_cache(maxsize=256)
def _assessment_requests(api_path: str) -> tuple[Request, ...]:  # a rule's path: built once, not per service
    return (CATCHALL, ROOT, FOREIGN_HOST_ROOT, *cors_requests(api_path), *OPERATIONAL)
