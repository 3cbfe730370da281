"""The typed model every stage shares: targets, observations, services, findings and their vocabularies."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class Outcome(StrEnum):
    """What happened to one attempt. "Could not test" is never reported as "not exposed"."""

    OK = "ok"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    RESET = "reset"
    TLS_ERROR = "tls_error"
    PROTOCOL_ERROR = "protocol_error"
    TOO_LARGE = "too_large"
    EXCLUDED = "excluded"
    DNS_ERROR = "dns_error"
    UNREACHABLE = "unreachable"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK: Final = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class Control(StrEnum):
    """The security controls of the seed article's table; every finding maps to one."""

    AUTHENTICATION = "authentication"
    NETWORK_ISOLATION = "network-isolation"
    ENCRYPTION_IN_TRANSIT = "encryption-in-transit"
    ENCRYPTION_AT_REST = "encryption-at-rest"
    LOGGING_MONITORING = "logging-monitoring"
    RATE_LIMITING = "rate-limiting"
    SUPPLY_CHAIN = "supply-chain"
    PATCHING = "patching"


class AuthTier(StrEnum):
    """Authentication state, judged from response content (DESIGN.md, "Authentication evidence")."""

    AUTH_REQUIRED = "auth-required"
    OPEN_METADATA = "open-metadata"
    OPEN_READ = "open-read"
    OPEN_SIGNUP = "open-signup"
    FIRST_VISITOR_ADMIN = "first-visitor-admin"
    OPEN_ADMIN = "open-admin"
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"high": 3, "medium": 2, "low": 1}[self.value]


class VersionConfidence(StrEnum):
    EXACT = "exact"  # read from an API field or header the product sets
    INFERRED = "inferred"  # derived indirectly (static asset hashes, related component)
    UNKNOWN = "unknown"


class Level(StrEnum):
    """Safety level: what kinds of request a scan may send (docs/safety.md)."""

    SAFE = "safe"
    HANDSHAKE = "handshake"

    @property
    def rank(self) -> int:
        return {"safe": 0, "handshake": 1}[self.value]


@dataclass(frozen=True, slots=True)
class Target:
    """One host:port to examine. `host` is an IP literal once names are resolved; `hostname` keeps the name."""

    host: str
    port: int
    scheme: str | None = None  # "http" / "https" when the user said so, else decided per port
    hostname: str | None = None
    origin: str = "cli"

    @property
    def key(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Request:
    """One planned HTTP request. Identical requests across rules are merged by `key`.

    Only GET, HEAD and OPTIONS are sent at the safe level; a body (a JSON-RPC handshake) needs `--level handshake`."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    key: str = field(default="", init=False, compare=False)  # computed once: it is looked up on every match

    def __post_init__(self) -> None:
        key = f"{self.method} {self.path}"
        if self.headers:
            key += " [" + ";".join(f"{k.lower()}={v}" for k, v in sorted(self.headers)) + "]"
        if self.body:
            key += " #" + hashlib.sha256(self.body).hexdigest()[:12]
        object.__setattr__(self, "key", key)

    @property
    def safe(self) -> bool:
        return self.method in SAFE_METHODS and not self.body


@dataclass(slots=True)
class TlsFacts:
    """TLS facts of one service: the negotiated session, and (for identified services) its posture."""

    version: str
    cipher: str
    cert_sha256: str | None = None
    cert_der: bytes | None = field(default=None, repr=False)
    versions: dict[str, bool] = field(default_factory=dict)  # "TLSv1.0".."TLSv1.3" -> accepted
    cert: dict[str, Any] | None = None
    verify_error: str | None = None
    name_mismatch: bool | None = None
    expired: bool = False
    not_yet_valid: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "cert_sha256": self.cert_sha256,
            "versions": dict(self.versions),
            "cert": self.cert,
            "verify_error": self.verify_error,
            "name_mismatch": self.name_mismatch,
            "expired": self.expired,
            "not_yet_valid": self.not_yet_valid,
            "self_signed": bool(self.cert and self.cert.get("self_signed")),
        }


_NOT_PARSED: Final = object()
NO_JSON: Final = object()


@dataclass(slots=True)
class Observation:
    """The exchange for one planned request: what was sent, what came back, and how the attempt ended."""

    request: Request
    outcome: Outcome
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()  # names lower-cased, in order received
    body: bytes = b""
    truncated: bool = False
    elapsed_ms: float = 0.0
    error: str | None = None
    _json: Any = field(default=_NOT_PARSED, repr=False, compare=False)
    _text: str | None = field(default=None, repr=False, compare=False)
    # name -> first value, built on the first lookup from the `headers` tuple it names (rebuilt if that is replaced)
    _first_values: tuple[tuple[tuple[str, str], ...], dict[str, str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # True when an HTTP status line and headers were received. Set once (status and outcome never change after the
    # exchange): the checks ask it ~150 times per service.
    answered: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.answered = self.status is not None and self.outcome in (Outcome.OK, Outcome.TOO_LARGE)

    def _header_map(self) -> dict[str, str]:
        cached = self._first_values
        if cached is not None and cached[0] is self.headers:
            return cached[1]
        first = dict(reversed(self.headers))  # the first value of a repeated name is assigned last
        self._first_values = (self.headers, first)
        return first

    def header(self, name: str) -> str | None:
        return self._header_map().get(name.lower())

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        first = self._header_map()
        if len(first) == len(self.headers):  # no name repeats
            value = first.get(name)
            return [] if value is None else [value]
        return [v for k, v in self.headers if k == name]

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.body.decode("utf-8", "replace")
        return self._text

    def json_with_keys(self, *keys: str) -> Any:
        """`json()` for readers that only look at objects with one of these (plain ASCII) keys: NO_JSON, without
        parsing, when the body cannot hold any of them. Such a key is in the body as `"key"` unless it is \\u-escaped
        or the body is UTF-16/32 (NUL bytes), so a body with none of the three is not parsed."""
        if self._json is _NOT_PARSED and self._looks_like_json():
            body = self.body
            if not any(f'"{k}"'.encode() in body for k in keys) and b"\\u" not in body and b"\x00" not in body:
                return NO_JSON
        return self.json()

    def json(self) -> Any:
        """The body parsed as JSON, or NO_JSON when it is not JSON (or was truncated mid-document)."""
        if self._json is _NOT_PARSED:
            value: Any = NO_JSON
            if self._looks_like_json():
                try:
                    value = json.loads(self.body)
                except (ValueError, RecursionError):
                    value = NO_JSON
            self._json = value
        return self._json

    def _looks_like_json(self) -> bool:
        head = self.body.lstrip()[:1]
        return head in (b"{", b"[", b'"') or head.isdigit() or head in (b"t", b"f", b"n", b"-")


@dataclass(slots=True)
class Finding:
    """One security-relevant fact about a service, with its rule/check id, evidence and remediation."""

    id: str
    title: str
    severity: Severity
    control: Control
    evidence: str
    remediation: str
    category: str = "exposure"
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "title": self.title,
            "category": self.category,
            "control": self.control.value,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "fingerprint": self.fingerprint,
        }


@dataclass(slots=True)
class Service:
    """An identified AI service at one host:port, with its assessment."""

    target: Target
    scheme: str
    product: str
    product_name: str
    category: str
    confidence: Confidence
    variant: str | None = None
    version: str | None = None
    version_source: str | None = None
    version_confidence: VersionConfidence = VersionConfidence.UNKNOWN
    auth_tier: AuthTier = AuthTier.UNKNOWN
    auth_evidence: str = ""
    auth_finding: str | None = None  # a rule-specific finding id for the tier (e.g. auth.first-visitor-admin)
    partial_protection: list[str] = field(default_factory=list)
    surfaces: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    also_matched: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    tls: TlsFacts | None = None
    honeypot: dict[str, Any] | None = None  # {"score", "likely", "reasons"}; likely ones leave survey statistics
    credentials: list[dict[str, Any]] = field(default_factory=list)  # type, location, sha256, prefix: never values
    mcp: dict[str, Any] | None = None  # MCP handshake result (`--level handshake`, net/mcp.py), else None

    @property
    def key(self) -> str:
        return self.target.key

    def finding_fingerprint(self, finding_id: str, detail: str = "") -> str:
        """Stable across runs (no timestamps): the same issue on the same service gets the same fingerprint."""
        raw = f"{finding_id}|{self.target.host}|{self.target.port}|{self.product}|{detail}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_record(self) -> dict[str, Any]:
        """The JSONL/JSON record of this service (docs/output.md)."""
        return {
            "target": {
                "host": self.target.host,
                "port": self.target.port,
                "scheme": self.scheme,
                "hostname": self.target.hostname,
                "origin": self.target.origin,
            },
            "product": self.product,
            "product_name": self.product_name,
            "category": self.category,
            "variant": self.variant,
            "confidence": self.confidence.value,
            "version": self.version,
            "version_source": self.version_source,
            "version_confidence": self.version_confidence.value,
            "auth": {
                "tier": self.auth_tier.value,
                "evidence": self.auth_evidence,
                "partial": list(self.partial_protection),
            },
            "surfaces": dict(self.surfaces),
            "evidence": list(self.evidence),
            "also_matched": list(self.also_matched),
            "tls": self.tls.to_dict() if self.tls else None,
            "honeypot": self.honeypot,
            "credentials": list(self.credentials),
            "mcp": self.mcp,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(slots=True)
class TargetResult:
    """Everything one target produced: its connection outcome, the service found (if any), the observations."""

    target: Target
    outcome: Outcome
    scheme: str | None = None
    service: Service | None = None
    observations: list[Observation] = field(default_factory=list)
    requests_sent: int = 0
    error: str | None = None
    budget_spent: bool = False  # the host's time budget ran out: concluded on what came back before it
