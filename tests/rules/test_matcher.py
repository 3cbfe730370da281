"""Matcher operators, JSON paths, version extraction and specificity resolution, on hand-made observations."""

import pytest

from aisweep.errors import RuleError
from aisweep.models import Confidence, Observation, Outcome, Request
from aisweep.rules.identify import match_rule, resolve
from aisweep.rules.jsonpath import select
from aisweep.rules.loader import parse_rule_text
from aisweep.rules.model import Rule


def obs(path: str, status: int = 200, body: str = "", headers: tuple[tuple[str, str], ...] = ()) -> Observation:
    return Observation(Request("GET", path), Outcome.OK, status, headers, body.encode())


def observations(*items: Observation) -> dict[str, Observation]:
    return {o.request.key: o for o in items}


def rule(body: str) -> Rule:
    return parse_rule_text(body, "test.yaml")


BASE = """
id: {id}
name: Test {id}
category: inference-server
ports: [8000]
{extra}
probes:
  root: {{path: /}}
  version: {{path: /v}}
identify:
  - all:
      - {cond}
"""


TWO_MODELS = '{"data":[{"owned_by":"x"},{"owned_by":"vllm"}]}'


def make(cond: str, extra: str = "", rid: str = "t") -> Rule:
    return rule(BASE.format(id=rid, cond=cond, extra=extra))


@pytest.mark.parametrize(
    ("cond", "body", "status", "expected"),
    [
        ("{probe: root, status: 200}", "x", 200, True),
        ("{probe: root, status: [201, 202]}", "x", 200, False),
        ("{probe: root, body: Ollama}", "Ollama is running", 200, True),
        ("{probe: root, body: {contains: [Ollama, running]}}", "Ollama is running", 200, True),
        ("{probe: root, body: {contains: [Ollama, walking]}}", "Ollama is running", 200, False),
        ("{probe: root, body: {any_of: [x, running]}}", "Ollama is running", 200, True),
        ("{probe: root, body: {not_contains: llamafile}}", "llamafile here", 200, False),
        ("{probe: root, body: {regex: '^Ollama is running$'}}", "Ollama is running", 200, True),
        ("{probe: root, body: {regex: '^Ollama$'}}", "Ollama is running", 200, False),
        ("{probe: root, json: {path: version, type: string}}", '{"version": "1.2"}', 200, True),
        ("{probe: root, json: {path: version, type: string}}", '{"version": 1.2}', 200, False),
        ("{probe: root, json: {path: version, equals: '1.2'}}", '{"version": "1.2"}', 200, True),
        ("{probe: root, json: {path: n, equals: 3}}", '{"n": 3}', 200, True),
        ("{probe: root, json: {path: n, equals: 3}}", '{"n": true}', 200, False),
        (
            "{probe: root, json: {path: 'data[*].owned_by', equals: vllm}}",
            '{"data":[{"owned_by":"x"},{"owned_by":"vllm"}]}',
            200,
            True,
        ),
        (
            "{probe: root, json: {path: 'data[0].owned_by', equals: vllm}}",
            '{"data":[{"owned_by":"x"},{"owned_by":"vllm"}]}',
            200,
            False,
        ),
        ("{probe: root, json: {path: models, min_count: 2}}", '{"models":[1,2]}', 200, True),
        ("{probe: root, json: {path: models, min_count: 3}}", '{"models":[1,2]}', 200, False),
        ("{probe: root, json: {path: missing, exists: false}}", '{"models":[]}', 200, True),
        ("{probe: root, json: {path: models, exists: false}}", '{"models":[]}', 200, False),
        ("{probe: root, json: {path: kind, in: [a, b]}}", '{"kind":"b"}', 200, True),
        ("{probe: root, json: {path: x, exists: true}}", "not json", 200, False),
        ("{probe: root, json: {path: x, exists: true}}", '{"x": 1', 200, False),  # truncated JSON
        ("{probe: root, body: x}\n      - {probe: root, body: llamafile, not: true}", "x", 200, True),
        ("{probe: root, body: x}\n      - {probe: root, body: llamafile, not: true}", "x llamafile", 200, False),
    ],
)
def test_operators(cond: str, body: str, status: int, expected: bool) -> None:
    r = make(cond)
    assert (match_rule(r, observations(obs("/", status, body))) is not None) is expected


def test_headers_are_case_insensitive_and_can_be_required_absent() -> None:
    r = make("{probe: root, header: {Server: {contains: llama.cpp}}}")
    assert match_rule(r, observations(obs("/", headers=(("server", "llama.cpp"),))))
    assert not match_rule(r, observations(obs("/", headers=(("server", "nginx"),))))
    r2 = make("{probe: root, status: 200, header: {x-powered-by: {exists: false}}}")
    assert match_rule(r2, observations(obs("/")))
    assert not match_rule(r2, observations(obs("/", headers=(("x-powered-by", "Express"),))))


def test_unanswered_probe_never_satisfies_even_negated() -> None:
    r = make("{probe: root, status: [200, 404]}\n      - {probe: version, status: 200, not: true}")
    assert match_rule(r, observations(obs("/"), obs("/v", 404)))
    refused = Observation(Request("GET", "/"), Outcome.REFUSED)
    assert match_rule(r, observations(obs("/"), Observation(Request("GET", "/v"), Outcome.TIMEOUT))) is None
    assert match_rule(r, observations(refused)) is None
    assert match_rule(r, {}) is None


def test_version_extraction() -> None:
    extra = (
        "version:\n  - {probe: version, json: version, strip_prefix: v}\n"
        "  - {probe: root, body: true, regex: 'build (?P<version>b\\d+)'}"
    )
    r = make("{probe: root, status: 200}", extra)
    from aisweep.rules.identify import assess_rule

    assert assess_rule(r, observations(obs("/v", body='{"version": "v0.1.34"}'), obs("/"))).version == "0.1.34"
    got = assess_rule(r, observations(obs("/v", 404, "{}"), obs("/", body="llama build b4567 ok")))
    assert got.version == "b4567"
    # digits are never dropped; a value without digits is not a version
    assert assess_rule(r, observations(obs("/v", body='{"version": "12.345.6789"}'))).version == "12.345.6789"
    assert assess_rule(r, observations(obs("/v", body='{"version": "unknown"}'))).version is None


def test_specificity_beats_file_order() -> None:
    generic = make("{probe: root, status: 200}", "generic: true", "aa-generic")
    ollama = make("{probe: root, body: Ollama}", "", "ollama")
    kobold = make("{probe: root, body: Ollama}", "overrides: [ollama]", "zz-kobold")
    o = observations(obs("/", body="Ollama is running"))
    matches = [m for r in (generic, ollama, kobold) if (m := match_rule(r, o))]
    winner, others = resolve(matches)
    assert winner is not None and winner.rule.id == "zz-kobold"
    assert {m.rule.id for m in others} == {"aa-generic", "ollama"}
    winner2, _ = resolve(list(reversed(matches)))
    assert winner2 is not None and winner2.rule.id == "zz-kobold"


def test_confidence_then_strength_break_ties() -> None:
    weak = rule(
        BASE.format(id="weak", cond="{probe: root, status: 200}", extra="").replace(
            "  - all:", "  - confidence: low\n    all:"
        )
    )
    strong = make("{probe: root, status: 200}\n      - {probe: root, body: x}", "", "strong")
    o = observations(obs("/", body="x"))
    winner, _ = resolve([m for r in (weak, strong) if (m := match_rule(r, o))])
    assert winner is not None and winner.rule.id == "strong" and winner.confidence is Confidence.HIGH


def test_jsonpath_quoted_keys_and_wildcards() -> None:
    doc = {"nanosecond heartbeat": 5, "a": {"b": [{"c": 1}, {"c": 2}]}}
    assert select(doc, '"nanosecond heartbeat"') == [5]
    assert select(doc, "a.b[*].c") == [1, 2]
    assert select(doc, "a.b[-1].c") == [2]
    assert select(doc, "$") == [doc]
    assert select(doc, "a.x.y") == []
    with pytest.raises(RuleError):
        select(doc, "a[")


def test_shared_request_is_capped_only_if_every_rule_accepts_a_prefix() -> None:
    from aisweep.rules.plan import RuleSet

    a = make("{probe: root, status: 200}", "", "a")
    b = make("{probe: root, status: 200}", "", "b")
    import dataclasses

    a.probes["root"] = dataclasses.replace(a.probes["root"], max_bytes=1024)
    assert RuleSet([a]).byte_caps == {"GET /": 1024}
    assert RuleSet([a, b]).byte_caps == {}  # b wants the whole page
    b.probes["root"] = dataclasses.replace(b.probes["root"], max_bytes=4096)
    assert RuleSet([a, b]).byte_caps == {"GET /": 4096}


def test_header_lookups_keep_first_and_all_values() -> None:
    o = obs("/", headers=(("set-cookie", "a=1"), ("server", "x"), ("set-cookie", "b=2")))
    assert o.header("Set-Cookie") == "a=1" and o.header_all("set-cookie") == ["a=1", "b=2"]
    assert o.header("missing") is None and o.header_all("missing") == []
    o.header_all("server").append("mutated")  # a copy: the observation is unchanged
    assert o.header_all("server") == ["x"]
    o.headers = (*o.headers, ("x-extra", "1"))  # replaced headers are looked up afresh
    assert o.header("x-extra") == "1"


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ('{"data": [1]}', True),
        ('{"other": 1, "nested": {"models": []}}', True),
        ('{"other": 1}', False),  # cannot hold the keys: not parsed
        ('{"d\\u0061ta": [1]}', True),  # an escaped key may spell one
        ("<html>data models</html>", False),
    ],
)
def test_json_with_keys_parses_only_bodies_that_can_hold_a_key(body: str, parsed: bool) -> None:
    from aisweep.models import NO_JSON

    o = obs("/", body=body)
    result = o.json_with_keys("data", "models")
    assert (result is not NO_JSON) is parsed
    if parsed:
        assert result == o.json()
    assert obs("/", body=body).json() == o.json()  # json() itself is unaffected


def test_json_with_keys_reads_utf16_bodies() -> None:
    o = Observation(Request("GET", "/"), Outcome.OK, 200, (), '{"data": [1]}'.encode("utf-16-le"))
    assert o.json_with_keys("data") == {"data": [1]}
