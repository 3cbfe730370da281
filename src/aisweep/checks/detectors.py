"""Credential detectors and false-positive filters (the detect-secrets split): a detector is a named regex with a
type id that never changes, optionally a format check (checksum, decodable header) and a required context; filters
are separate named functions that reject placeholders, documentation examples and non-random strings.

Nothing here ever returns or logs a secret's value beyond the match object the caller hashes."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

# A token ends where no character that could belong to it follows; the start is checked in `detect` (a leading
# look-behind would stop the regex engine from jumping to the literal prefix).
_E: Final = r"(?![A-Za-z0-9_\-])"
_TOKEN_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


# --- false-positive filters (each returns True when the candidate should be dropped) -------------------------------

_PLACEHOLDER_WORDS: Final = (
    "xxxx",
    "your",
    "example",
    "placeholder",
    "changeme",
    "change-me",
    "change_me",
    "replace",
    "dummy",
    "redacted",
    "insert",
    "sample",
    "fake",
)
_PLACEHOLDER_MARKS: Final = ("<", ">", "***", "…", "...", "{{", "}}", "${", "%(", "$(")


def is_placeholder(secret: str) -> bool:
    """Templated or masked values: sk-xxxx, your-api-key, <token>, ${KEY}, sk-***abcd, "changeme"."""
    low = secret.lower()
    return any(w in low for w in _PLACEHOLDER_WORDS) or any(m in secret for m in _PLACEHOLDER_MARKS)


# Keys and tokens published in vendor documentation and tutorials; seeing one is not a leak.
DOCUMENTATION_EXAMPLES: Final = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",  # AWS docs
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # AWS docs
        # jwt.io's default token
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    }
)


def is_documentation_example(secret: str) -> bool:
    """Well-known example keys from vendor docs (AWS's ...EXAMPLE keys, jwt.io's token)."""
    return secret in DOCUMENTATION_EXAMPLES or "EXAMPLE" in secret


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_low_entropy(secret: str, minimum: float = 3.0) -> bool:
    """Random keys of 16+ characters carry well over 3 bits per character; words and patterns do not."""
    return len(secret) >= 8 and shannon_entropy(secret) < minimum


_SEQUENCES: Final = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop")


def is_repeated_characters(secret: str) -> bool:
    """Runs of one character (aaaaaa), short repeating patterns (abcabcabc) or keyboard/alphabet sequences."""
    if re.search(r"(.)\1{5,}", secret):
        return True
    body = re.sub(r"[^A-Za-z0-9]", "", secret)
    for period in range(1, 5):
        if len(body) >= 3 * period and body == (body[:period] * (len(body) // period + 1))[: len(body)]:
            return True
    low = body.lower()
    return any(seq[i : i + 8] in low for seq in _SEQUENCES for i in range(len(seq) - 7))


_PLACEHOLDER_PASSWORDS: Final = frozenset({"password", "pass", "passwd", "pwd", "secret", "changeme", "admin", ""})


def is_placeholder_password(password: str) -> bool:
    """Passwords in connection strings copied from docs: postgres://user:password@localhost/db."""
    return password.lower() in _PLACEHOLDER_PASSWORDS or is_placeholder(password)


# --- format checks -------------------------------------------------------------------------------------------------

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62_decode(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 62 + _BASE62.index(ch)
    return n


def base62_encode(n: int, width: int = 6) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _BASE62[r] + out
    return out.rjust(width, "0")


def github_checksum_ok(token: str) -> bool:
    """Classic GitHub tokens end in 6 base62 characters encoding the CRC32 of the 30 random ones before them
    (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/)."""
    body = token.split("_", 1)[-1]
    if len(body) != 36 or not body.isalnum() or not body.isascii():
        return False
    return binascii.crc32(body[:30].encode()) == base62_decode(body[30:])


def jwt_header_ok(token: str) -> bool:
    """A JWT's first part is base64url JSON naming its algorithm."""
    head = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(decoded, dict) and isinstance(decoded.get("alg"), str)


# --- detectors -----------------------------------------------------------------------------------------------------

Filter = Callable[[str], bool]
TOKEN_FILTERS: Final[tuple[Filter, ...]] = (
    is_placeholder,
    is_documentation_example,
    is_low_entropy,
    is_repeated_characters,
)
STRUCTURED_FILTERS: Final[tuple[Filter, ...]] = (is_placeholder, is_documentation_example)


@dataclass(frozen=True, slots=True)
class Detector:
    """One credential type. `type` is a stable id (it names findings and survey rows: never rename it).

    `literals`: at least one must occur in a text before the regex runs (plain substring tests are far cheaper than
    a regex over a 64 KiB body). `secret_group` picks the regex group that is the secret itself (0: the whole
    match); filters run on `random_group` (the part after a fixed prefix) when given. Context detectors (a bare
    32-hex Azure key, a Mistral key) have no literal: they only run when `requires` occurs near the value, and count
    only when the key name matches `key_name` and the surroundings match `context`."""

    type: str
    name: str
    pattern: re.Pattern[str]
    literals: tuple[str, ...] = ()
    casefold: bool = False  # literals are matched against the lower-cased text
    secret_group: int | str = 0
    random_group: int | str | None = None
    validate: Callable[[re.Match[str]], bool] | None = None
    filters: tuple[Filter, ...] = TOKEN_FILTERS
    key_name: re.Pattern[str] | None = None
    context: re.Pattern[str] | None = None
    requires: tuple[str, ...] = ()  # words (lower case), one of which must occur around the value
    boundary: bool = True  # the match must not continue a longer token on its left
    severity: str = "high"


def _db_uri_ok(m: re.Match[str]) -> bool:
    return not is_placeholder_password(m.group("password")) and not is_placeholder(m.group("user") or "")


_KEY_NAME: Final = re.compile(r"(?i)(api[_-]?key|apikey|key|token|secret|credential)s?$")

DETECTORS: Final[tuple[Detector, ...]] = (
    Detector(
        "anthropic-api-key",
        "Anthropic API key",
        re.compile(r"sk-ant-[a-z]+[0-9]{0,3}-(?P<r>[A-Za-z0-9_\-]{32,})" + _E),
        ("sk-ant-",),
        random_group="r",
    ),
    Detector(
        "openai-api-key",
        "OpenAI API key",
        re.compile(
            r"sk-(?:(?:proj|svcacct|admin)-(?P<r1>[A-Za-z0-9_\-]{20,})"
            r"|(?P<r2>[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})|(?P<r3>[A-Za-z0-9]{48}))" + _E
        ),
        ("sk-",),
    ),
    Detector(
        "google-ai-api-key",
        "Google API key (Gemini / AI Studio)",
        re.compile(r"AIza(?P<r>[0-9A-Za-z_\-]{35})" + _E),
        ("AIza",),
        random_group="r",
    ),
    Detector(
        "huggingface-token",
        "Hugging Face token",
        re.compile(r"hf_(?P<r>[A-Za-z0-9]{34,40})" + _E),
        ("hf_",),
        random_group="r",
    ),
    Detector(
        "groq-api-key",
        "Groq API key",
        re.compile(r"gsk_(?P<r>[A-Za-z0-9]{52})" + _E),
        ("gsk_",),
        random_group="r",
    ),
    Detector(
        "replicate-api-token",
        "Replicate API token",
        re.compile(r"r8_(?P<r>[A-Za-z0-9]{37})" + _E),
        ("r8_",),
        random_group="r",
    ),
    Detector(
        "aws-access-key-id",
        "AWS access key ID",
        re.compile(r"(?:AKIA|ASIA)(?P<r>[A-Z2-7]{16})(?![A-Z0-9])"),
        ("AKIA", "ASIA"),
        random_group="r",
        filters=(is_placeholder, is_documentation_example, is_repeated_characters),
    ),
    Detector(
        "github-token",
        "GitHub token",
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36}" + _E),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        validate=lambda m: github_checksum_ok(m.group(0)),
    ),
    Detector(
        "github-token",
        "GitHub fine-grained token",
        re.compile(r"github_pat_(?P<r>[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _E),
        ("github_pat_",),
        random_group="r",
    ),
    Detector(
        "slack-token",
        "Slack token",
        re.compile(r"xox[abpr]-[0-9]{6,}-(?P<r>[0-9A-Za-z\-]{16,})" + _E),
        ("xoxa-", "xoxb-", "xoxp-", "xoxr-"),
        random_group="r",
    ),
    Detector(
        "stripe-live-key",
        "Stripe live secret key",
        re.compile(r"(?:sk|rk)_live_(?P<r>[0-9A-Za-z]{24,})" + _E),
        ("k_live_",),
        random_group="r",
    ),
    Detector(
        "private-key",
        "PEM private key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
            r"(?:\\[rn]|\s)*(?P<r>[A-Za-z0-9+/=]{16,}(?:(?:\\[rn]|\s)+[A-Za-z0-9+/=]{16,}){1,200})"
        ),
        ("PRIVATE KEY",),
        random_group="r",
        filters=(is_placeholder, is_documentation_example, is_repeated_characters),
        boundary=False,
    ),
    Detector(
        "database-uri",
        "Database connection string with password",
        re.compile(
            r"(?i)(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?)://"
            r"(?P<user>[^\s:/@\"'<>]*):(?P<password>[^\s@/\"'<>]+)@[A-Za-z0-9.\-\[\]_]+"
        ),
        ("postgres", "mysql://", "mariadb://", "mongodb", "redis://", "rediss://"),
        casefold=True,
        validate=_db_uri_ok,
        filters=(is_documentation_example,),
    ),
    Detector(
        "jwt",
        "JSON Web Token",
        re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}" + _E),
        ("eyJ",),
        validate=lambda m: jwt_header_ok(m.group(0)),
        filters=STRUCTURED_FILTERS,
        severity="medium",
    ),
    Detector(
        "deepseek-api-key",
        "DeepSeek API key",
        re.compile(r"sk-(?P<r>[a-f0-9]{32})" + _E),
        ("sk-",),
        random_group="r",
        key_name=_KEY_NAME,
        context=re.compile(r"(?i)deepseek"),
        requires=("deepseek",),
    ),
    Detector(
        "azure-openai-key",
        "Azure OpenAI key",
        re.compile(r"(?<![A-Za-z0-9])[a-f0-9]{32}(?![A-Za-z0-9])"),
        key_name=_KEY_NAME,
        context=re.compile(r"(?i)azure"),
        requires=("azure",),
    ),
    Detector(
        "mistral-api-key",
        "Mistral API key",
        re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])"),
        key_name=_KEY_NAME,
        context=re.compile(r"(?i)mistral"),
        requires=("mistral",),
    ),
    Detector(
        "cohere-api-key",
        "Cohere API key",
        re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{40}(?![A-Za-z0-9])"),
        key_name=_KEY_NAME,
        context=re.compile(r"(?i)cohere|\bco_api"),
        requires=("cohere", "co_api"),
    ),
)

_LITERALS: Final = tuple(sorted({lit for d in DETECTORS if not d.casefold and not d.requires for lit in d.literals}))
_FOLDED_LITERALS: Final = tuple(sorted({lit for d in DETECTORS if d.casefold for lit in d.literals}))
# Words that make the context-only detectors (bare 32-hex Azure keys, Mistral, Cohere, DeepSeek) worth running.
CONTEXT_WORD_LIST: Final = ("azure", "mistral", "cohere", "co_api", "deepseek")
CONTEXT_WORDS: Final = re.compile("(?i)" + "|".join(CONTEXT_WORD_LIST))
# A value only a context detector could claim: worth computing its surroundings for.
CONTEXT_VALUE: Final = re.compile(r"(?:sk-)?[A-Za-z0-9]{32,40}")
_CONTEXT_VALUE_LENGTHS: Final = range(32, len("sk-") + 40 + 1)


def is_context_value(value: str) -> bool:
    """`CONTEXT_VALUE.fullmatch(value)`, with the length test that rejects most strings first."""
    return len(value) in _CONTEXT_VALUE_LENGTHS and CONTEXT_VALUE.fullmatch(value) is not None


# --- pre-filters ---------------------------------------------------------------------------------------------------
#
# Most responses hold no credential, so most of what scanning costs is deciding that, over every body and header.
# An alternation regex of the literals is slow at it: Python's `re` stops at every position where one of them could
# start (for these literals: nearly every 'e', 's', 'g', 'h' or 'r'), and `(?i)` turns even that shortcut off. A
# regex that starts with a fixed string is fast (the engine scans for its first character in a tight C loop, about a
# third of a nanosecond per character), so `Words` makes one such regex per group of words that share a character:
# the words are matched from that character on, with a look-behind for the part before it (`_live_(?<=k_live_)`).
# Case-insensitive words are looked up in the lower-cased text. Each test gives exactly the answer of the alternation
# regex it replaces (kept for the rare text that `_has_case_trap` sends back to them).


class Words:
    """Substring tests for a fixed set of words: does one occur in a text, which ones do.

    `anchors`: characters to group words on, in order of preference (a word goes to the first one it contains, else
    to its first character). Fewer groups mean fewer scans of the text, and characters rare in responses fewer stops
    in each: the choice changes the speed, never the answer."""

    __slots__ = ("_searches",)

    def __init__(self, words: Iterable[str], anchors: str = "") -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for word in sorted(set(words)):
            at = next((word.index(a) for a in anchors if a in word), 0)
            pattern = re.escape(word[at:]) + (f"(?<={re.escape(word)})" if at else "")
            groups.setdefault(word[at], []).append((word, pattern))
        self._searches = tuple(
            (re.compile("|".join(pattern for _, pattern in group)).search, tuple(word for word, _ in group))
            for group in groups.values()
        )

    def any_in(self, text: str) -> bool:
        return any(search(text) is not None for search, _ in self._searches)

    def present(self, text: str) -> frozenset[str]:
        found: list[str] = []
        for search, group in self._searches:
            if search(text) is not None:
                found.extend(word for word in group if word in text)
        return frozenset(found)


_LITERAL_RE: Final = re.compile("|".join(re.escape(lit) for lit in _LITERALS))
_FOLDED_RE: Final = re.compile("|".join(re.escape(lit) for lit in _FOLDED_LITERALS), re.IGNORECASE)
_LITERAL_WORDS: Final = Words(_LITERALS, anchors="_AJ")
# These two look in lower-cased text (see `_ascii`): their words are lower-case ASCII.
_FOLDED_WORDS: Final = Words(_FOLDED_LITERALS, anchors=":")
_CONTEXT_WORDS: Final = Words(CONTEXT_WORD_LIST, anchors="z")

# Characters that a `(?i)` regex equates with an ASCII letter where `str.lower()` does not make them that letter (the
# dotted capital I, the dotless i, the long s; and the Kelvin sign, which lower() does make a k). A text holding one
# is searched with the `(?i)` regexes themselves; tests/checks/test_detectors.py checks this list against Unicode.
CASE_TRAPS: Final = "\u0130\u0131\u017f\u212a"


def _has_case_trap(text: str) -> bool:
    return not text.isascii() and any(trap in text for trap in CASE_TRAPS)


def _ascii(text: str) -> str:
    """`text` with each non-ASCII character replaced by "?". The pre-filters' literals and words are ASCII, so each
    occurs in it exactly where it occurs in `text`, and so do the case-insensitive ones in its lower-cased form unless
    `_has_case_trap(text)`; and an ASCII string is the fastest to search and to lower-case."""
    return text if text.isascii() else text.encode("ascii", "replace").decode("ascii")


def has_literal(text: str) -> bool:
    """Could a self-identifying detector (one with a literal prefix) match in `text`?"""
    view = _ascii(text)
    if _LITERAL_WORDS.any_in(view):
        return True
    if "://" not in view:
        return False
    return _FOLDED_RE.search(text) is not None if _has_case_trap(text) else _FOLDED_WORDS.any_in(view.lower())


def has_context_word(text: str) -> bool:
    """Does a word that context detectors need occur in `text`, in any case? (`CONTEXT_WORDS.search`.)"""
    if _has_case_trap(text):
        return CONTEXT_WORDS.search(text) is not None
    return _CONTEXT_WORDS.any_in(_ascii(text).lower())


def text_hints(text: str) -> tuple[bool, bool]:
    """`(has_literal(text), has_context_word(text))`, lower-casing `text` once for both."""
    if _has_case_trap(text):
        return has_literal(text), has_context_word(text)
    view = _ascii(text)
    low = view.lower()
    literal = _LITERAL_WORDS.any_in(view) or ("://" in view and _FOLDED_WORDS.any_in(low))
    return literal, _CONTEXT_WORDS.any_in(low)


def worth_scanning(text: str) -> bool:
    """Cheap pre-filter: could `text` hold anything a detector would report? (`has_literal` or `has_context_word`.)"""
    view = _ascii(text)
    if _LITERAL_WORDS.any_in(view):
        return True
    if _has_case_trap(text):
        return has_literal(text) or has_context_word(text)
    low = view.lower()
    return _CONTEXT_WORDS.any_in(low) or ("://" in view and _FOLDED_WORDS.any_in(low))


def worth_scanning_any(texts: Iterable[str]) -> bool:
    """False when no text in `texts` is `worth_scanning` (True does not say that one is): all are searched at once,
    joined, one scan for each word group instead of one per text. None of the words holds the line break joining
    them, so none is found in the join unless it occurs in a text."""
    views: list[str] = []
    for text in dict.fromkeys(texts):  # each distinct text once
        if _has_case_trap(text):
            if worth_scanning(text):
                return True
        else:
            views.append(_ascii(text))
    return worth_scanning("\n".join(views))


def _never(text: str) -> bool:
    return False


def literal_test_within(text: str) -> Callable[[str], bool]:
    """`has_literal` for substrings of `text` (the strings of a JSON document, `text` being them joined), as cheap as
    `text` allows: none can hold a literal that `text` does not, so each is only tested for the literals found in
    `text` (a document where "sk-" occurs only in "task-" or "disk-": one `in` per string)."""
    view = _ascii(text)
    if "://" in view:
        folded = _FOLDED_RE.search(text) is not None if _has_case_trap(text) else _FOLDED_WORDS.any_in(view.lower())
        if folded:  # rare: a connection-string scheme occurs; test each string in full
            return has_literal
    present = tuple(_LITERAL_WORDS.present(view))
    if not present:
        return _never
    return lambda part: any(lit in part for lit in present)


# For `detect`: which detectors' literals occur (each detector's are looked for in the text, or for `casefold` ones in
# the lower-cased text).
_CASED_WORDS: Final = Words((lit for d in DETECTORS if not d.casefold for lit in d.literals), anchors="_AJ")
_CASEFOLD_WORDS: Final = Words((lit for d in DETECTORS if d.casefold for lit in d.literals), anchors=":")


@dataclass(frozen=True, slots=True)
class Candidate:
    detector: Detector
    value: str


def _passes(detector: Detector, m: re.Match[str], key: str, context: str) -> bool:
    secret = m.group(detector.secret_group)
    random = secret
    if detector.random_group is not None:
        random = m.group(detector.random_group) or secret
    elif detector.pattern.groups:  # alternatives, each with its own random part (OpenAI's three formats)
        random = next((g for g in m.groups() if g), secret)
    if detector.key_name is not None and not detector.key_name.search(key):
        return False
    if detector.context is not None and not detector.context.search(context):
        return False
    if detector.validate is not None and not detector.validate(m):
        return False
    if secret in DOCUMENTATION_EXAMPLES:
        return False
    return not any(f(random) for f in detector.filters)


CONTEXT_WINDOW: Final = 400


def _matches(detector: Detector, text: str, low: str | None) -> Iterator[re.Match[str]]:
    """The detector's matches; in raw text (`low` given: the text lower-cased), a context detector only searches
    near its context word (a bare 32-character pattern over a whole 64 KiB body is slow and mostly noise)."""
    if not detector.requires or low is None or len(text) <= 2 * CONTEXT_WINDOW:
        yield from detector.pattern.finditer(text)
        return
    spots = sorted(m.start() for w in detector.requires for m in re.finditer(re.escape(w), low))
    windows: list[tuple[int, int]] = []
    for at in spots:
        lo, hi = max(0, at - CONTEXT_WINDOW), min(len(text), at + CONTEXT_WINDOW)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    for lo, hi in windows:
        yield from detector.pattern.finditer(text, lo, hi)


_KEY_BEFORE: Final = re.compile(r"([A-Za-z0-9_.\-]+)[\"']?\s*[:=]\s*[\"']?$")


def detect(text: str, key: str = "", context: str | None = None) -> Iterator[Candidate]:
    """Credential candidates in `text` that pass their filters. `key` is the name the value is stored under (a JSON
    key or header name); when empty, it is read from the text before the match (`NAME=value`, `"name": "value"`).
    `context` is what surrounds the value (defaults to the text itself). Overlapping matches go to the first
    detector in DETECTORS order."""
    taken: list[tuple[int, int]] = []
    words: str | None = None
    folded: str | None = None
    present: frozenset[str] | None = None  # the detectors' literals that occur in `text`
    folded_present: frozenset[str] | None = None  # ... and those of casefold detectors in `folded`
    for detector in DETECTORS:
        if detector.requires:
            if words is None:
                words = f"{key} {text if context is None else context}".lower()
            if not any(w in words for w in detector.requires):
                continue
        if detector.casefold or (detector.requires and context is None):
            folded = text.lower() if folded is None else folded
        if detector.literals:
            if detector.casefold and folded is not None:
                folded_present = _CASEFOLD_WORDS.present(folded) if folded_present is None else folded_present
                occurring = folded_present
            else:
                present = _CASED_WORDS.present(text) if present is None else present
                occurring = present
            if not any(lit in occurring for lit in detector.literals):
                continue
        for m in _matches(detector, text, folded if context is None else None):
            span = m.span(detector.secret_group)
            if detector.boundary and m.start() > 0 and text[m.start() - 1] in _TOKEN_CHARS:
                continue
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            name = key
            if not name and detector.key_name is not None:
                before = _KEY_BEFORE.search(text[max(0, span[0] - 80) : span[0]])
                name = before.group(1) if before else ""
            around = context if context is not None else text[max(0, span[0] - 200) : span[1] + 200]
            if _passes(detector, m, name, f"{key} {around}"):
                taken.append(span)
                yield Candidate(detector, m.group(detector.secret_group))
