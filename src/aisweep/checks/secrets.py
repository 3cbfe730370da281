"""Credentials readable in a service's unauthenticated responses: format-checked (regex, checksum), never used.

A finding carries the credential's type, where it was seen (`GET /path` plus a JSON path or header name), the SHA-256
of the value and its first four characters: never the value itself. `credential_records` turns findings into the
rows the report counts, and `redact_secrets` lets a store blank values out of raw bodies before keeping them."""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, ClassVar, Final, Generic, NamedTuple, TypeVar

from aisweep.checks.base import CheckContext
from aisweep.checks.detectors import (
    DETECTORS,
    Candidate,
    detect,
    has_literal,
    is_context_value,
    literal_test_within,
    text_hints,
    worth_scanning,
    worth_scanning_any,
)
from aisweep.models import NO_JSON, Control, Finding, Level, Observation, Severity

PREFIX_CHARS: Final = 4
MAX_LOCATIONS: Final = 5
MAX_STRINGS: Final = 20_000  # JSON strings walked per response (a huge /object_info stays bounded)
# A session cookie the server issues to the scanner is not a leaked credential (auth checks judge open access).
SKIPPED_HEADERS: Final = frozenset({"set-cookie", "date", "content-length", "etag", "last-modified"})

_NAMES: Final = {d.type: d.name for d in reversed(DETECTORS)}
_SEVERITY: Final = {d.type: Severity(d.severity) for d in DETECTORS}


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class SecretSighting:
    """One credential (by hash) and everywhere it was seen. Holds no value, only its hash and prefix."""

    type: str
    sha256: str
    prefix: str
    locations: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return _NAMES.get(self.type, self.type)


def _json_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    # An ASCII identifier: what the regex [A-Za-z_][A-Za-z0-9_]* matches in full, tested without a regex.
    return f"{parent}.{key}" if key.isascii() and key.isidentifier() else f"{parent}[{json.dumps(key)}]"


def _walk(document: Any, path: str = "$") -> Iterator[tuple[str, str, str, Any]]:
    """(json path, key, string value, parent container) for every string in the document (keys included)."""
    stack: list[tuple[Any, str, str, Any]] = [(document, path, "", None)]
    while stack:
        node, where, key, parent = stack.pop()
        if isinstance(node, str):
            yield where, key, node, parent
        elif isinstance(node, dict):
            for k, v in node.items():
                name = str(k)
                at = _json_path(where, name)
                yield at, name, name, node
                stack.append((v, at, name, node))
        elif isinstance(node, list):
            stack.extend((v, _json_path(where, i), key, node) for i, v in enumerate(node))


def _context_of(parent: Any) -> str:
    if parent is None:
        return ""
    try:
        return json.dumps(parent, default=str)[:2000]
    except (TypeError, ValueError):
        return ""


class Seen(NamedTuple):
    """One credential sighting: never the value, only its type, hash, first characters and location."""

    type: str
    sha256: str
    prefix: str
    location: str


# What `redact_secrets` leaves in place of a value: enough to re-create the finding when stored observations are
# re-assessed, nothing that reveals the value.
REDACTED: Final = re.compile(r"\[REDACTED:(?P<type>[a-z0-9\-]+):(?P<sha>[0-9a-f]{64}):(?P<prefix>[^\]\s]{0,4})\]")


def normalized(candidate: Candidate) -> str:
    """The value that is hashed: PEM blocks lose their line breaks (raw JSON text has \\n escapes, the parsed
    string real newlines; both must hash alike)."""
    if candidate.detector.type == "private-key":
        return re.sub(r"(?:\\[rn]|\s)+", "", candidate.value)
    return candidate.value


def _seen(candidate: Candidate, location: str) -> Seen:
    value = normalized(candidate)
    return Seen(candidate.detector.type, fingerprint(value), value[:PREFIX_CHARS], location)


def _markers(text: str, location: str) -> Iterator[Seen]:
    if "[REDACTED:" in text:
        for m in REDACTED.finditer(text):
            yield Seen(m["type"], m["sha"], m["prefix"], location)


_K = TypeVar("_K", str, bytes)
_V = TypeVar("_V")


class BoundedMemo(Generic[_K, _V]):
    """Values computed from a text (or bytes) alone, remembered for the texts seen most recently: at most `entries`
    of them and `size` characters (bytes) of keys in all; a key longer than `longest` is never remembered. Values
    must be immutable (they are handed out as they are). The least recently used entries go first."""

    __slots__ = ("_items", "_size", "entries", "longest", "size")

    def __init__(self, entries: int, size: int, longest: int) -> None:
        self.entries = entries
        self.size = size
        self.longest = longest
        self._items: OrderedDict[_K, _V] = OrderedDict()
        self._size = 0  # characters (bytes) of the keys held

    def __len__(self) -> int:
        return len(self._items)

    @property
    def held(self) -> int:
        """Characters (bytes) of the keys held."""
        return self._size

    def get(self, key: _K) -> _V | None:
        try:
            self._items.move_to_end(key)  # used last: forgotten last
        except KeyError:
            return None
        return self._items.get(key)  # (None if another thread made it be forgotten in between: a miss)

    def put(self, key: _K, value: _V) -> None:
        if len(key) > self.longest or key in self._items:
            return
        self._items[key] = value
        self._size += len(key)
        while self._items and (len(self._items) > self.entries or self._size > self.size):
            oldest, _ = self._items.popitem(last=False)
            self._size -= len(oldest)

    def clear(self) -> None:
        self._items.clear()
        self._size = 0


# What the pre-filters say of one text (`_hints_of`): bits, 0 when nothing in it can yield a sighting.
_LITERAL: Final = 1  # a self-identifying detector's literal occurs (`has_literal`)
_CONTEXT: Final = 2  # a word a context detector needs occurs (`has_context_word`)
_MARKER: Final = 4  # a redaction marker occurs
_WORTH_SCANNING: Final = _LITERAL | _CONTEXT  # `worth_scanning`

# Many services send byte-identical texts (the same 404 page, the index.html or openapi.json of one product version,
# the same header lines): their hints, and a body's sightings, are worked out once per process, not once per service.
# Keyed by the text (bytes) itself: a text that differs by one character is another entry. Bounded: 8 Mi characters
# of texts, 8 MiB of bodies (only those that pass the pre-filter); texts over 64 KiB are searched every time.
TEXT_HINTS: Final[BoundedMemo[str, int]] = BoundedMemo(entries=4096, size=8 << 20, longest=64 << 10)
BODY_SIGHTINGS: Final[BoundedMemo[bytes, tuple[Seen, ...]]] = BoundedMemo(entries=1024, size=8 << 20, longest=64 << 10)


def _hints_of(text: str) -> int:
    """The pre-filters' bits for `text`, remembered in `TEXT_HINTS`."""
    hints = TEXT_HINTS.get(text)
    if hints is None:
        literal, context = text_hints(text)
        hints = (_LITERAL if literal else 0) | (_CONTEXT if context else 0) | (_MARKER if "[REDACTED:" in text else 0)
        TEXT_HINTS.put(text, hints)
    return hints


def _any_hint(texts: Iterable[str], mask: int) -> bool:
    """Does one of `texts` have a `mask` bit? Each distinct text once: those seen before are looked up, the others
    searched all at once (`worth_scanning_any`) and, only when that search matches, one by one (each then
    remembered, as they all are when it does not match)."""
    unknown: list[str] = []
    for text in dict.fromkeys(texts):
        hints = TEXT_HINTS.get(text)
        if hints is None:
            unknown.append(text)
        elif hints & mask:
            return True
    if not unknown:
        return False
    if not worth_scanning_any(unknown):  # the usual answer: no literal and no context word in any of them
        found = False
        for text in unknown:
            hints = _MARKER if "[REDACTED:" in text else 0
            TEXT_HINTS.put(text, hints)
            found = found or bool(hints & mask)
        return found
    return any(_hints_of(text) & mask for text in unknown)


def _header_text(obs: Observation) -> str:
    """The scanned headers, one `name value` line each."""
    return "\n".join([" ".join(header) for header in obs.headers if header[0] not in SKIPPED_HEADERS])


def _where(obs: Observation) -> str:
    return f"{obs.request.method} {obs.request.path}"


def scan_observation(obs: Observation) -> Iterator[Seen]:
    """Credential sightings in one observation's headers and body (including redaction markers left by
    `redact_secrets`, so stored observations re-assess to the same findings)."""
    where = _where(obs)
    yield from _header_sightings(obs, where, _header_text(obs))
    for seen in _body_sightings(obs, _hints_of(obs.text)):
        yield seen._replace(location=where + seen.location)


def _header_sightings(obs: Observation, where: str, head: str) -> Iterator[Seen]:
    """`head`: the observation's `_header_text`."""
    # The pre-filters look for substrings: when the header lines joined hold none, no single header does.
    if not _hints_of(head):
        return
    for name, value in obs.headers:
        if name in SKIPPED_HEADERS:
            continue
        yield from _markers(value, f"{where} header {name}")
        if worth_scanning(f"{name} {value}"):
            for c in detect(value, key=name):
                yield _seen(c, f"{where} header {name}")


def _body_sightings(obs: Observation, hints: int) -> Iterator[Seen]:
    """Sightings in the body (`hints`: `_hints_of(obs.text)`), located after the request: "" (the body) or
    " <JSON path>". A function of the body bytes alone."""
    if not hints:
        return
    text = obs.text
    literal, context_words = bool(hints & _LITERAL), bool(hints & _CONTEXT)
    document = obs.json()
    if document is not NO_JSON and isinstance(document, dict | list):
        yield from _document_sightings(document, context_words)
        return
    yield from _markers(text, "")
    if literal or context_words:
        for c in detect(text):
            yield _seen(c, "")


def _document_sightings(document: dict[str, Any] | list[Any], context_words: bool) -> Iterator[Seen]:
    """`_body_sightings` of a parsed JSON body whose raw text passed the pre-filter (`context_words`: a context
    detector's word occurs in it). Each string is checked on its own, with its JSON path and surroundings as context."""
    strings = list(islice(_walk(document), MAX_STRINGS))
    # All the strings joined tell which literals or markers any one of them can hold (the raw text cannot tell:
    # escapes such as \u0041 or \/ hide them there).
    joined = "\n".join(value for _, _, value, _ in strings)
    markers = "[REDACTED:" in joined
    literal_in = literal_test_within(joined)
    contexts: dict[int, str] = {}  # id(parent) -> its `_context_of` (parents outlive the loop)
    for path, key, value, parent in strings:
        if markers:
            yield from _markers(value, f" {path}")
        if literal_in(value) or (context_words and is_context_value(value)):
            around = contexts.get(id(parent))
            if around is None:
                around = contexts[id(parent)] = _context_of(parent)
            for c in detect(value, key=key, context=f"{path} {around}"):
                yield _seen(c, f" {path}")


def _may_hold_any(observations: Sequence[Observation], heads: Sequence[str]) -> bool:
    """False when no header or body of the observations can yield a sighting (`heads`: their `_header_text`s): see
    `_any_hint`, each distinct text once (a single-page app answers many paths with one page)."""
    return _any_hint(chain(heads, (obs.text for obs in observations)), _LITERAL | _CONTEXT | _MARKER)


def _remembered_body_sightings(obs: Observation) -> tuple[Seen, ...]:
    """`_body_sightings`, remembered per body in `BODY_SIGHTINGS` (tuples of strings: nothing a caller can change)."""
    hints = _hints_of(obs.text)
    if not hints:  # nothing to find: not worth remembering
        return ()
    found = BODY_SIGHTINGS.get(obs.body)
    if found is None:
        found = tuple(_body_sightings(obs, hints))
        BODY_SIGHTINGS.put(obs.body, found)
    return found


def find_secrets(observations: Iterable[Observation]) -> list[SecretSighting]:
    """Every credential seen across the observations, one entry per (type, value hash), in a stable order."""
    answered = [obs for obs in observations if obs.answered]
    heads = [_header_text(obs) for obs in answered]
    if not _may_hold_any(answered, heads):  # the common case: nothing credential-like anywhere
        return []
    found: dict[tuple[str, str], SecretSighting] = {}
    bodies: dict[bytes, tuple[Seen, ...]] = {}  # body -> its sightings: a body several paths answer is scanned once
    for obs, head in zip(answered, heads, strict=True):
        where = _where(obs)
        body = bodies.get(obs.body)
        if body is None:
            body = bodies[obs.body] = _remembered_body_sightings(obs)
        for seen in chain(_header_sightings(obs, where, head), (s._replace(location=where + s.location) for s in body)):
            sighting = found.get((seen.type, seen.sha256))
            if sighting is None:
                sighting = found[(seen.type, seen.sha256)] = SecretSighting(seen.type, seen.sha256, seen.prefix)
            if seen.location not in sighting.locations:
                sighting.locations.append(seen.location)
    return sorted(found.values(), key=lambda s: (s.type, s.sha256))


_last_service: tuple[tuple[Observation, ...], tuple[SecretSighting, ...]] | None = None


def service_secrets(observations: Iterable[Observation]) -> tuple[SecretSighting, ...]:
    """`find_secrets` for one service's observations, computed once: the secrets check and the TLS check (which
    grades plain HTTP by whether credentials travel over it) both ask, one after the other. Remembers the last
    answer, keyed by the observation objects themselves (compared by identity and held, so never confused with
    later ones; observations are not changed once made)."""
    global _last_service
    key = tuple(observations)
    last = _last_service
    if last is not None and len(last[0]) == len(key) and all(a is b for a, b in zip(last[0], key, strict=True)):
        return last[1]
    found = tuple(find_secrets(key))
    _last_service = (key, found)
    return found


def redact_secrets(text: str, key: str = "") -> str:
    """`text` with every detected credential replaced by `[REDACTED:<type>:<sha256>:<first 4 chars>]`: for keeping
    raw bodies and headers (the observations table) without the values. `find_secrets` reads the markers back.
    `key`: the header name for a header value (context detectors read it, as `scan_observation` has them do)."""
    if not _hints_of(f"{key} {text}" if key else text) & _WORTH_SCANNING:  # `worth_scanning`, remembered
        return text
    candidates = list(detect(text, key=key))
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict | list):  # values found only with their JSON context (bare Azure keys)
        for path, name, value, parent in _walk(document):
            if has_literal(value) or is_context_value(value):
                candidates.extend(detect(value, key=name, context=f"{path} {_context_of(parent)}"))
    for candidate in sorted(candidates, key=lambda c: -len(c.value)):
        seen = _seen(candidate, "")
        marker = f"[REDACTED:{seen.type}:{seen.sha256}:{seen.prefix}]"
        text = text.replace(candidate.value, marker).replace(json.dumps(candidate.value)[1:-1], marker)
    return text


def redact_body(body: bytes) -> bytes:
    """`redact_secrets` for raw bytes; bytes that are not UTF-8 pass through unchanged."""
    if not body:
        return body
    text = body.decode("utf-8", "surrogateescape")
    redacted = redact_secrets(text)
    return body if redacted == text else redacted.encode("utf-8", "surrogateescape")


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """`[[name, redact_secrets(value, key=name)], ...]`, pre-filtered all at once."""
    pairs = [[name, value] for name, value in headers]
    if _any_hint((" ".join(pair) for pair in pairs), _WORTH_SCANNING):
        for pair in pairs:
            pair[1] = redact_secrets(pair[1], key=pair[0])
    return pairs


def may_need_redaction(bodies: Iterable[bytes], headers: Iterable[tuple[str, str]]) -> bool:
    """False when `redact_body` would return each of `bodies`, and `redact_headers` the values of `headers`, unchanged:
    one pre-filter search for all those not seen before (see `_any_hint`)."""
    texts = chain((body.decode("utf-8", "surrogateescape") for body in bodies), (" ".join(h) for h in headers))
    return _any_hint(texts, _WORTH_SCANNING)


_EVIDENCE: Final = re.compile(r"^type=(?P<type>\S+) sha256=(?P<sha>[0-9a-f]{64}) prefix=(?P<prefix>\S{0,4}) seen at: ")


def evidence_for(s: SecretSighting) -> str:
    shown = s.locations[:MAX_LOCATIONS]
    more = f" (+{len(s.locations) - len(shown)} more)" if len(s.locations) > len(shown) else ""
    return f"type={s.type} sha256={s.sha256} prefix={s.prefix} seen at: " + " | ".join(shown) + more


def credential_records(findings: Iterable[Finding]) -> list[dict[str, str]]:
    """Rows for the report's credential-type counts: type, location, sha256 and 4-character prefix per place seen.
    Built from `secret.*` findings only (their evidence has a fixed format, see `evidence_for`)."""
    rows: list[dict[str, str]] = []
    for f in findings:
        if not f.id.startswith("secret."):
            continue
        m = _EVIDENCE.match(f.evidence)
        if m is None:
            continue
        tail = f.evidence[m.end() :]
        tail = re.sub(r" \(\+\d+ more\)$", "", tail)
        for location in tail.split(" | "):
            rows.append({"type": m["type"], "location": location, "sha256": m["sha"], "prefix": m["prefix"]})
    return rows


_PRODUCT_FIX: Final = {
    "litellm": "In LiteLLM, set general_settings.master_key (or LITELLM_MASTER_KEY) so /model/info and /v1/models need "
    "a key, and reference provider keys as os.environ/NAME rather than literal values in config.yaml.",
    "open-webui": "In Open WebUI, keep provider keys in environment variables and re-enable authentication "
    "(WEBUI_AUTH=True) so configuration endpoints are not public.",
    "ray": "In Ray, remove secrets from job entrypoints, runtime_env and metadata (use a secret store or env vars on "
    "the workers) and enable token authentication (RAY_AUTH_MODE=token, Ray >= 2.52).",
    "mlflow": "In MLflow, do not log credentials as params/tags/artifact URIs and enable the basic-auth app "
    "(mlflow server --app-name basic-auth) or an authenticating proxy.",
    "comfyui": "In ComfyUI, remove keys from workflows/custom node settings that /history and /object_info expose, "
    "and put the server behind an authenticating proxy.",
    "jupyter": "In Jupyter, remove credentials from notebooks and files served by the contents API and require a "
    "token or password.",
}


def remediation_for(product: str, s: SecretSighting) -> str:
    base = (
        f"Treat this {s.name} as compromised: revoke or rotate it at the issuer now (it was readable by anyone who "
        "asked), check the issuer's logs for use you did not make, then stop the service from returning it."
    )
    extra = _PRODUCT_FIX.get(product)
    return f"{base} {extra}" if extra else f"{base} Require authentication in front of the service."


class SecretsCheck:
    """secret.<type>: a credential-shaped, format-valid value in a response the scanner received without logging in."""

    id: ClassVar[str] = "secrets"
    level: ClassVar[Level] = Level.SAFE

    def run(self, ctx: CheckContext) -> list[Finding]:
        service = ctx.service
        findings: list[Finding] = []
        for s in service_secrets(ctx.observations.values()):
            findings.append(
                ctx.finding(
                    f"secret.{s.type}",
                    title=f"{service.product_name}: {s.name} exposed in an unauthenticated response",
                    severity=_SEVERITY.get(s.type, Severity.HIGH),
                    control=Control.AUTHENTICATION,
                    evidence=evidence_for(s),
                    remediation=remediation_for(service.product, s),
                    category="credentials",
                    detail=s.sha256,
                )
            )
        return findings
