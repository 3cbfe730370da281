"""Each credential detector finds a well-formed value (built at random here) and each false-positive filter drops
what it is named for."""

from __future__ import annotations

import binascii
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisweep.checks.detectors import (
    CASE_TRAPS,
    DETECTORS,
    Words,
    base62_decode,
    base62_encode,
    detect,
    github_checksum_ok,
    has_context_word,
    has_literal,
    is_documentation_example,
    is_low_entropy,
    is_placeholder,
    is_repeated_characters,
    jwt_header_ok,
    literal_test_within,
    text_hints,
    worth_scanning,
    worth_scanning_any,
)
from tests.checks.planting import rand

HEX = "0123456789abcdef"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def github_classic(prefix: str = "ghp_") -> str:
    body = rand(30)
    return prefix + body + base62_encode(binascii.crc32(body.encode()))


FORMATS = {
    "openai-api-key": lambda: "sk-proj-" + rand(64),
    "openai-legacy": lambda: "sk-" + rand(48),
    "anthropic-api-key": lambda: "sk-ant-api03-" + rand(93) + "AA",
    "google-ai-api-key": lambda: "AIza" + rand(35),
    "huggingface-token": lambda: "hf_" + rand(34),
    "groq-api-key": lambda: "gsk_" + rand(52),
    "replicate-api-token": lambda: "r8_" + rand(37),
    "aws-access-key-id": lambda: "AKIA" + rand(16, BASE32),
    "github-token": github_classic,
    "github-fine-grained": lambda: "github_pat_" + rand(22) + "_" + rand(59),
    "slack-token": lambda: "xoxb-" + rand(12, "0123456789") + "-" + rand(24),
    "stripe-live-key": lambda: "sk_live_" + rand(32),
    "database-uri": lambda: f"mongodb+srv://svc_app:{rand(20)}@cluster0.internal.example:27017/prod",
    "jwt": lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyIn0." + rand(43),
}
EXPECTED = {"openai-legacy": "openai-api-key", "github-fine-grained": "github-token"}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_detector_finds_well_formed_value(kind: str) -> None:
    value = FORMATS[kind]()
    found = list(detect(f"config: {value}\n"))
    if kind == "database-uri":  # the credential part: scheme, user, password, host
        value = value.split(":27017")[0]
    assert [(c.detector.type, c.value) for c in found] == [(EXPECTED.get(kind, kind), value)]


def test_private_key_block() -> None:
    body = "\n".join(rand(64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(6))
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    assert [c.detector.type for c in detect(pem)] == ["private-key"]
    docs = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC...\n-----END PRIVATE KEY-----"
    assert list(detect(docs)) == []


def test_github_checksum_is_validated() -> None:
    good = github_classic()
    assert github_checksum_ok(good)
    last = good[-1]
    bad = good[:-1] + ("A" if last != "A" else "B")
    assert not github_checksum_ok(bad)
    assert [c.detector.type for c in detect(good)] == ["github-token"]
    assert list(detect(bad)) == []


def test_base62_round_trip() -> None:
    for n in (0, 61, 62, 2**32 - 1):
        assert base62_decode(base62_encode(n)) == n
    assert base62_encode(62) == "000010"


def test_jwt_needs_a_decodable_header_with_alg() -> None:
    assert jwt_header_ok("eyJhbGciOiJIUzI1NiJ9.x.y")
    assert not jwt_header_ok("eyJmb28iOiJiYXIifQ.x.y")  # {"foo":"bar"}: no alg
    fake = "eyJ" + rand(20) + ".eyJ" + rand(20) + "." + rand(30)
    assert list(detect(fake)) == []


@pytest.mark.parametrize(
    ("kind", "name", "value", "context_text"),
    [
        ("azure-openai-key", "AZURE_OPENAI_API_KEY", lambda: rand(32, HEX), "azure"),
        ("mistral-api-key", "MISTRAL_API_KEY", lambda: rand(32), "mistral"),
        ("cohere-api-key", "COHERE_API_KEY", lambda: rand(40), "cohere"),
        ("deepseek-api-key", "DEEPSEEK_API_KEY", lambda: "sk-" + rand(32, HEX), "deepseek"),
    ],
)
def test_context_detectors_need_their_context_and_a_key_name(kind, name, value, context_text) -> None:  # type: ignore[no-untyped-def]
    v = value()
    assert [c.detector.type for c in detect(f"{name}={v}\n")] == [kind]
    assert list(detect(f"request_id={v}\n")) == []  # no context word
    assert list(detect(f"# {context_text} model\nrequest_id={v}\n")) == []  # context but not a key
    found = list(detect(v, key="api_key", context=f'{{"model": "{context_text}/x", "api_key": "..."}}'))
    assert [c.detector.type for c in found] == [kind]


def test_token_inside_a_longer_word_is_not_a_token() -> None:
    assert list(detect("task-" + rand(48))) == []
    assert list(detect("xsk-proj-" + rand(64))) == []


@pytest.mark.parametrize(
    "text",
    [
        "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "OPENAI_API_KEY=sk-proj-your-api-key-here-0000000000000",
        "api_key: <sk-proj-...>",
        "sk-proj-****************************abcd",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "hf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "sk-proj-abcabcabcabcabcabcabcabcabcabc",
        "DATABASE_URL=postgres://user:password@localhost:5432/app",
        "redis://:changeme@cache:6379/0",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ],
)
def test_placeholders_and_documentation_examples_are_dropped(text: str) -> None:
    assert list(detect(text)) == []


def test_filters_are_named_functions_that_can_say_no() -> None:
    assert is_placeholder("your-api-key") and is_placeholder("${OPENAI_KEY}") and is_placeholder("sk-***")
    assert not is_placeholder(rand(40))
    assert is_documentation_example("AKIAIOSFODNN7EXAMPLE") and not is_documentation_example(rand(20))
    assert is_low_entropy("aaaaaaaabbbbbbbb") and not is_low_entropy(rand(40))
    assert is_repeated_characters("000000") and is_repeated_characters("abcabcabcabc")
    assert is_repeated_characters("key-1234567890") and not is_repeated_characters("q7Xr2ZsY9p")


# --- pre-filters: the same answers as plain alternation regexes of the detectors' literals and context words --------

LITERALS = sorted({lit for d in DETECTORS if not d.casefold and not d.requires for lit in d.literals})
FOLDED = sorted({lit for d in DETECTORS if d.casefold for lit in d.literals})
CONTEXT = sorted({w for d in DETECTORS for w in d.requires})
LITERAL_RE = re.compile("|".join(map(re.escape, LITERALS)))
FOLDED_RE = re.compile("|".join(map(re.escape, FOLDED)), re.IGNORECASE)
CONTEXT_RE = re.compile("|".join(map(re.escape, CONTEXT)), re.IGNORECASE)


def reference_literal(text: str) -> bool:
    return LITERAL_RE.search(text) is not None or ("://" in text and FOLDED_RE.search(text) is not None)


def reference_context(text: str) -> bool:
    return CONTEXT_RE.search(text) is not None


WORDS = LITERALS + FOLDED + CONTEXT + ["://"]
TRAPPED = [w.replace("s", "\u017f") for w in WORDS] + [w.replace("i", "\u0131") for w in WORDS]
TRAPPED += [w.upper().replace("I", "\u0130").replace("K", "\u212a") for w in WORDS]


@st.composite
def fragment(draw: st.DrawFn) -> str:
    word = draw(st.sampled_from(WORDS + TRAPPED))
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    word = "".join(c.swapcase() if flip else c for c, flip in zip(word, flips, strict=True))
    cut = draw(st.integers(0, len(word)))
    return draw(st.sampled_from([word, word[:cut], word[cut:]]))


texts = st.lists(
    st.one_of(fragment(), st.text(max_size=4), st.sampled_from(["\n", " ", "?", "é", "\U0001f600", "\udc80", "k"])),
    max_size=8,
).map("".join)


@given(texts)
def test_prefilters_answer_as_alternation_regexes(text: str) -> None:
    literal, context = reference_literal(text), reference_context(text)
    assert has_literal(text) == literal
    assert has_context_word(text) == context
    assert worth_scanning(text) == (literal or context)
    assert text_hints(text) == (literal, context)


@given(st.lists(texts, max_size=5))
def test_prefilter_of_many_texts_never_misses_one(parts: list[str]) -> None:
    if any(map(worth_scanning, parts)):
        assert worth_scanning_any(parts)
    test = literal_test_within("\n".join(parts))
    assert [test(p) for p in parts] == [has_literal(p) for p in parts]


@given(texts)
def test_words_tell_which_occur(text: str) -> None:
    words = Words(WORDS, anchors="_AJ:z")
    assert words.present(text) == {w for w in WORDS if w in text}
    assert words.any_in(text) == any(w in text for w in WORDS)


def test_case_traps_are_all_characters_that_case_insensitive_regexes_tie_to_ascii_letters() -> None:
    """The pre-filters look for lower-case words in `text.lower()` instead of running `(?i)` regexes; that holds for
    any text without these characters: the only non-ASCII ones that `(?i)` matches to an ASCII letter, or that
    lower() makes ASCII or longer."""
    everything = "".join(map(chr, range(0x80, sys.maxunicode + 1)))
    matched = set(re.findall("(?i)[a-z]", everything))
    lowered = {c for c in everything if c.lower() != c and (len(c.lower()) != 1 or c.lower().isascii())}
    assert matched | lowered == set(CASE_TRAPS)
