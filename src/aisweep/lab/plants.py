"""Planted cases in the demo network: TLS problems, a leaked key, a CORS wildcard, a honeypot-style catch-all and
compromise indicators, each applied to a recorded real sample, with the findings a scan must report.

Planted secrets are generated from the seed at run time (well-formed, never real, never committed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aisweep.rules.samples import Response, Sample

PLANTS: Final = ("tls-self-signed", "tls-expired", "credential", "cors-wildcard", "honeypot", "indicator")
# Which finding each plant must produce (the record field for honeypots).
EXPECTED: Final[dict[str, str]] = {
    "tls-self-signed": "tls.self-signed",
    "tls-expired": "tls.expired",
    "credential": "secret.openai-api-key",
    "cors-wildcard": "cors.wildcard",
    "honeypot": "honeypot.likely",
}
INDICATORS: Final[dict[str, tuple[str, str]]] = {
    # product -> (path whose JSON gains the indicator, expected finding)
    "ray": ("/api/jobs/", "indicator.ray-job-cryptominer"),
    "ollama": ("/api/tags", "indicator.model-attacker-name"),
    "mlflow": ("/api/2.0/mlflow/experiments/search?max_results=1000", "indicator.mlflow-attacker-experiment"),
}


def planted_key(seed: int, address: str) -> str:
    """A well-formed OpenAI-style project key, random per host (never a real key)."""
    rng = random.Random(hashlib.sha256(f"{seed}:{address}:key".encode()).digest())
    alphabet = string.ascii_letters + string.digits
    return (
        "sk-proj-"
        + "".join(rng.choice(alphabet) for _ in range(48))
        + "T3BlbkFJ"
        + "".join(rng.choice(alphabet) for _ in range(20))
    )


def expected_finding(plant: str, product: str | None) -> str | None:
    if plant == "indicator":
        return INDICATORS[product][1] if product in INDICATORS else None
    return EXPECTED.get(plant)


def can_plant(plant: str, sample: Sample) -> bool:
    product = sample.expect.get("product")
    if not product:
        return False
    if plant == "indicator":
        return product in INDICATORS
    if plant in ("credential", "cors-wildcard"):  # needs JSON answered without credentials (to carry a key; to be
        # worth reading cross-origin)
        return any(200 <= r.status < 300 and r.body.lstrip().startswith(b"{") for r in sample.exchanges.values())
    return True


def _json_response(r: Response, mutate: Any) -> Response:
    try:
        doc = json.loads(r.body)
    except ValueError:
        return r
    doc = mutate(doc)
    return Response(r.status, r.headers, json.dumps(doc).encode(), r.truncated)


def _indicator(product: str, doc: Any) -> Any:
    if product == "ray" and isinstance(doc, list):
        job = dict(doc[0]) if doc and isinstance(doc[0], dict) else {}
        job.update(
            {
                "submission_id": "raysubmit_aisweepDemo01",
                "status": "RUNNING",
                "entrypoint": "./xmrig -o stratum+tcp://pool.invalid:3333 --donate-level 1",
            }
        )
        return [*doc, job]
    if product == "ollama" and isinstance(doc, dict) and isinstance(doc.get("models"), list):
        model = dict(doc["models"][0]) if doc["models"] else {}
        model.update({"name": "pwned:latest", "model": "pwned:latest"})
        return {**doc, "models": [*doc["models"], model]}
    if product == "mlflow" and isinstance(doc, dict) and isinstance(doc.get("experiments"), list):
        exp = dict(doc["experiments"][0]) if doc["experiments"] else {}
        exp.update({"experiment_id": "999", "name": "recon"})
        return {**doc, "experiments": [*doc["experiments"], exp]}
    return doc


@dataclass(frozen=True, slots=True)
class PlantedSample:
    """A sample whose answers carry one planted case; same `respond` interface as Sample."""

    sample: Sample
    plant: str
    key: str

    def respond(self, method: str, path: str) -> Response:
        r = self.sample.respond(method, path)
        product = str(self.sample.expect.get("product") or "")
        if self.plant == "credential" and 200 <= r.status < 300 and r.body.lstrip().startswith(b"{"):
            # Inserted as text after the opening brace, so the rest of the product's bytes stay exactly as recorded.
            head, brace, rest = r.body.partition(b"{")
            field = b'"openai_api_key":"' + self.key.encode() + b'"' + (b"," if rest.strip() != b"}" else b"")
            r = Response(r.status, r.headers, head + brace + field + rest, r.truncated)
        elif self.plant == "cors-wildcard":
            r = Response(r.status, (*r.headers, ("access-control-allow-origin", "*")), r.body, r.truncated)
        elif self.plant == "honeypot":
            # A honeypot kit's tell (SNARE's misspelt Server header, as deployed in T-Pot) on every answer, and a
            # catch-all: paths that do not exist answer 200 with the product's own landing data.
            if r.status == 404:
                first = next(iter(self.sample.exchanges.values()), r)
                r = Response(200, first.headers, first.body if method != "HEAD" else b"", first.truncated)
            headers = (*(h for h in r.headers if h[0] != "server"), ("server", "nignx/1.3.8"))
            r = Response(r.status, headers, r.body, r.truncated)
        elif self.plant == "indicator" and product in INDICATORS and path == INDICATORS[product][0]:
            r = _json_response(r, lambda d: _indicator(product, d))
        return r


def make_certificates(directory: Path) -> dict[str, tuple[Path, Path]]:
    """A self-signed certificate valid now and an expired one, for the TLS plants."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    out: dict[str, tuple[Path, Path]] = {}
    for name, (start, end) in {
        "tls-self-signed": (now - dt.timedelta(days=1), now + dt.timedelta(days=90)),
        "tls-expired": (now - dt.timedelta(days=400), now - dt.timedelta(days=35)),
    }.items():
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aisweep-lab.invalid")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(key, hashes.SHA256())
        )
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        out[name] = (cert_path, key_path)
    return out
