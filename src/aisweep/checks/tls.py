"""Encryption in transit, from the TLS facts the engine collected (net/tls.py) and the response headers: plain HTTP
(graded by what travels over it), old protocol versions, certificate problems, weak keys, and no HSTS. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from aisweep.checks.base import CheckContext
from aisweep.checks.secrets import service_secrets
from aisweep.models import AuthTier, Control, Finding, Level, Observation, Service, Severity, TlsFacts

OLD_PROTOCOLS: Final = ("SSLv3", "TLSv1.0", "TLSv1.1")
CREDENTIAL_TIERS: Final = frozenset({AuthTier.AUTH_REQUIRED, AuthTier.OPEN_SIGNUP, AuthTier.FIRST_VISITOR_ADMIN})
DATA_TIERS: Final = frozenset({AuthTier.OPEN_READ, AuthTier.OPEN_ADMIN})
MIN_RSA_BITS: Final = 2048
MIN_EC_BITS: Final = 224
WEAK_HASHES: Final = frozenset({"md5", "sha1", "md2", "md4"})

HTTPS_FIX: Final = (
    "Serve it over HTTPS only: terminate TLS at a reverse proxy (nginx, Caddy, Traefik) with a certificate from a "
    "public or internal CA, and stop exposing the plain-HTTP port."
)
PRODUCT_TLS: Final = {
    "jupyter": " Jupyter can also serve TLS itself (ServerApp.certfile / keyfile).",
    "vllm": " vLLM can also serve TLS itself (--ssl-certfile / --ssl-keyfile).",
    "llamacpp": " llama.cpp server can also serve TLS itself (--ssl-cert-file / --ssl-key-file).",
    "gradio": " Gradio can also serve TLS itself (launch(ssl_certfile=..., ssl_keyfile=...)).",
    "mlflow": " MLflow's server has no TLS option: put it behind the proxy.",
    "ollama": " Ollama has no TLS option: put it behind the proxy and bind it to 127.0.0.1.",
}


def plain_http_exposure(service: Service, observations: Mapping[str, Observation]) -> tuple[Severity, str]:
    """How bad plain HTTP is for this service: what travels over it, judged from the assessment."""
    if service_secrets(observations.values()):
        return Severity.HIGH, "responses contain credentials, readable by anyone on the path"
    data = {k: v for k, v in service.surfaces.items() if v > 0}
    if service.auth_tier in DATA_TIERS and data:
        listed = ", ".join(f"{k}={v}" for k, v in sorted(data.items()))
        return Severity.MEDIUM, f"data ({listed}) and the prompts/commands sent to it travel unencrypted"
    if service.auth_tier in DATA_TIERS:
        return Severity.MEDIUM, "its API calls and their content travel unencrypted"
    if service.auth_tier in CREDENTIAL_TIERS:
        return Severity.MEDIUM, "users' passwords, API keys or session tokens would travel unencrypted"
    return Severity.LOW, "only health/version metadata was seen, but everything sent to it travels unencrypted"


def has_hsts(observations: Mapping[str, Observation]) -> bool:
    return any(o.answered and o.header("strict-transport-security") for o in observations.values())


def weak_key(tls: TlsFacts) -> str | None:
    cert = tls.cert or {}
    key_type = str(cert.get("key_type") or "")
    bits = cert.get("key_bits")
    if not isinstance(bits, int) or bits <= 0:
        return None
    if key_type in ("RSA", "DSA") and bits < MIN_RSA_BITS:
        return f"{key_type} {bits}-bit key (minimum {MIN_RSA_BITS})"
    if key_type == "EC" and bits < MIN_EC_BITS:
        return f"EC {bits}-bit key (minimum {MIN_EC_BITS})"
    return None


class TlsCheck:
    """tls.plain-http, tls.old-protocol, tls.self-signed, tls.expired, tls.not-yet-valid, tls.name-mismatch,
    tls.weak-key, tls.weak-signature, tls.verify-error, tls.no-hsts."""

    id: ClassVar[str] = "tls"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        service = ctx.service
        name = service.product_name
        fix_tail = PRODUCT_TLS.get(service.product, "")
        if service.scheme == "http":
            severity, what = plain_http_exposure(service, ctx.observations)
            return [
                ctx.finding(
                    "tls.plain-http",
                    title=f"{name}: served over plain HTTP",
                    severity=severity,
                    control=Control.ENCRYPTION_IN_TRANSIT,
                    evidence=f"{service.target.key} answered over http:// with no TLS; {what}",
                    remediation=HTTPS_FIX + fix_tail,
                    category="tls",
                )
            ]
        tls = service.tls
        if service.scheme != "https" or tls is None:
            return []
        findings: list[Finding] = []

        def add(fid: str, title: str, severity: Severity, evidence: str, fix: str) -> None:
            findings.append(
                ctx.finding(
                    fid,
                    title=f"{name}: {title}",
                    severity=severity,
                    control=Control.ENCRYPTION_IN_TRANSIT,
                    evidence=evidence,
                    remediation=fix,
                    category="tls",
                )
            )

        cert = tls.cert or {}
        old = [v for v in OLD_PROTOCOLS if tls.versions.get(v)]
        if old:
            add(
                "tls.old-protocol",
                "accepts deprecated TLS versions",
                Severity.MEDIUM,
                f"handshake accepted with {', '.join(old)} (RFC 8996 deprecates TLS 1.0 and 1.1)",
                "Allow only TLS 1.2 and 1.3 at the TLS terminator (nginx: ssl_protocols TLSv1.2 TLSv1.3;).",
            )
        validity = f"valid {cert.get('not_before', '?')} to {cert.get('not_after', '?')}"
        if tls.expired:
            add(
                "tls.expired",
                "certificate expired",
                Severity.MEDIUM,
                f"certificate {validity}: expired",
                "Renew the certificate and automate renewal (ACME/certbot, or your internal CA's tooling).",
            )
        if tls.not_yet_valid:
            add(
                "tls.not-yet-valid",
                "certificate not yet valid",
                Severity.LOW,
                f"certificate {validity}: not valid yet (or the server clock is wrong)",
                "Fix the server's clock or reissue the certificate with a correct validity period.",
            )
        if cert.get("self_signed"):
            add(
                "tls.self-signed",
                "self-signed certificate",
                Severity.LOW,
                f"certificate for {cert.get('subject_cn') or '?'} is self-signed; clients cannot authenticate the "
                "server, so an attacker in the path can impersonate it",
                "Use a certificate from a public CA (ACME) or from an internal CA your clients trust.",
            )
        if tls.name_mismatch:
            names = ", ".join(str(n) for n in (cert.get("sans") or [])[:5]) or str(cert.get("subject_cn") or "?")
            add(
                "tls.name-mismatch",
                "certificate does not match the host name",
                Severity.LOW,
                f"scanned as {service.target.hostname or service.target.host}; certificate names: {names}",
                "Issue the certificate for the name clients use (add it to the subjectAltName).",
            )
        weak = weak_key(tls)
        if weak:
            add(
                "tls.weak-key",
                "weak certificate key",
                Severity.MEDIUM,
                weak,
                "Reissue the certificate with an RSA 2048+ or ECDSA P-256+ key.",
            )
        digest = str(cert.get("signature_hash") or "").lower()
        if digest in WEAK_HASHES and not cert.get("self_signed"):
            add(
                "tls.weak-signature",
                "certificate signed with a broken hash",
                Severity.LOW,
                f"signature hash {digest}",
                "Reissue the certificate signed with SHA-256 or better.",
            )
        explained = bool(cert.get("self_signed")) or tls.expired or tls.not_yet_valid or bool(tls.name_mismatch)
        if tls.verify_error and not explained:
            add(
                "tls.verify-error",
                "certificate chain does not verify",
                Severity.LOW,
                f"verification against the system trust store failed: {tls.verify_error[:160]}",
                "Serve the full chain (leaf plus intermediates) from a CA clients trust.",
            )
        if not has_hsts(ctx.observations):
            add(
                "tls.no-hsts",
                "no HSTS header",
                Severity.INFO,
                "no Strict-Transport-Security header on any HTTPS response",
                "Send Strict-Transport-Security: max-age=31536000 from the TLS terminator so browsers never fall "
                "back to plain HTTP.",
            )
        return findings
