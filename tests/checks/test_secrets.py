"""Credentials in unauthenticated responses: found by format in JSON bodies, text and headers of recorded real
responses with planted values; reported by type, location, hash and 4-character prefix; never by value."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisweep.checks import secrets as secrets_module
from aisweep.checks.detectors import base62_encode
from aisweep.checks.secrets import (
    BODY_SIGHTINGS,
    TEXT_HINTS,
    BoundedMemo,
    SecretSighting,
    credential_records,
    find_secrets,
    may_need_redaction,
    redact_body,
    redact_secrets,
    scan_observation,
    service_secrets,
)
from aisweep.models import Observation, Outcome, Request, Target, TargetResult
from aisweep.runner import observation_record, result_record
from aisweep.store.db import Store
from tests.checks.planting import finding, ids, json_response, plant, rand, recorded, samples, scan, text_response

HEX = "0123456789abcdef"


def planted_values() -> dict[str, str]:
    body = rand(30)
    return {
        "openai": "sk-proj-" + rand(64),
        "azure": rand(32, HEX),
        "github": "ghp_" + body + base62_encode(binascii.crc32(body.encode())),
        "anthropic": "sk-ant-api03-" + rand(93) + "AA",
        "db_password": rand(18),
    }


def litellm_with_leaks(v: dict[str, str]):  # type: ignore[no-untyped-def]
    """LiteLLM 1.106.12 without a master key (recorded), its /model/info carrying provider keys, a debug header and
    a served .env."""
    info = json.loads(recorded("litellm-1.106.12-nokey", "GET", "/model/info").body)
    info["data"][0]["litellm_params"]["api_key"] = v["openai"]
    info["data"].append(
        {
            "model_name": "gpt-4o-azure",
            "litellm_params": {
                "model": "azure/gpt-4o",
                "api_base": "https://x.openai.azure.com",
                "api_key": v["azure"],
            },
        }
    )
    health = recorded("litellm-1.106.12-nokey", "GET", "/health/readiness")
    env = (
        "# production\n"
        f"ANTHROPIC_API_KEY={v['anthropic']}\n"
        f"DATABASE_URL=postgres://litellm:{v['db_password']}@db.internal:5432/litellm\n"
        "LITELLM_LOG=INFO\n"
    )
    return plant(
        "litellm-1.106.12-nokey",
        paths={
            "/model/info": json_response(info),
            "/health/readiness": type(health)(
                health.status, (*health.headers, ("x-debug-token", v["github"])), health.body
            ),
            "/.env": text_response(env),
        },
    )


def test_planted_credentials_are_found_with_locations_hash_and_prefix() -> None:
    v = planted_values()
    service = scan(litellm_with_leaks(v))
    assert {
        "secret.openai-api-key",
        "secret.azure-openai-key",
        "secret.github-token",
        "secret.anthropic-api-key",
        "secret.database-uri",
    } <= ids(service)
    openai = finding(service, "secret.openai-api-key")
    assert openai.severity.value == "high" and openai.control.value == "authentication"
    assert hashlib.sha256(v["openai"].encode()).hexdigest() in openai.evidence
    assert "prefix=sk-p " in openai.evidence
    assert "GET /model/info $.data[0].litellm_params.api_key" in openai.evidence
    assert "LiteLLM" in openai.remediation and "rotate" in openai.remediation
    assert "GET /health/readiness header x-debug-token" in finding(service, "secret.github-token").evidence
    assert "GET /.env" in finding(service, "secret.anthropic-api-key").evidence
    assert "exposure.env-file" in ids(service)


def test_no_planted_value_appears_in_findings_records_or_rows() -> None:
    v = planted_values()
    service = scan(litellm_with_leaks(v))
    record = service.to_record()
    rows = credential_records(service.findings)
    outputs = [
        json.dumps(record),
        json.dumps(rows),
        repr(service.findings),
        *(str(f) for f in service.findings),
        *(json.dumps(f.to_dict()) for f in service.findings),
    ]
    for value in v.values():
        for out in outputs:
            assert value not in out
    assert {r["type"] for r in rows} >= {"openai-api-key", "azure-openai-key", "github-token", "database-uri"}
    row = next(r for r in rows if r["type"] == "openai-api-key")
    assert row == {
        "type": "openai-api-key",
        "location": "GET /model/info $.data[0].litellm_params.api_key",
        "sha256": hashlib.sha256(v["openai"].encode()).hexdigest(),
        "prefix": "sk-p",
    }


def test_redacted_bodies_keep_no_value_and_reassess_to_the_same_findings() -> None:
    v = planted_values()
    sample = litellm_with_leaks(v)
    observations = [sample.observation(Request("GET", p)) for p in ("/model/info", "/.env", "/health/readiness")]
    before = {(s.type, s.sha256, s.prefix) for s in find_secrets(observations)}
    redacted = [
        Observation(
            o.request,
            o.outcome,
            o.status,
            tuple((k, redact_secrets(val)) for k, val in o.headers),
            redact_body(o.body),
        )
        for o in observations
    ]
    for o in redacted:
        blob = o.body.decode() + json.dumps(o.headers)
        for value in v.values():
            assert value not in blob
    after = {(s.type, s.sha256, s.prefix) for s in find_secrets(redacted)}
    assert before and after == before


def test_no_planted_value_reaches_the_database(tmp_path: Path) -> None:
    v = planted_values()
    sample = litellm_with_leaks(v)
    service = scan(sample)
    record = service.to_record()
    record["observations"] = [
        observation_record(sample.observation(Request("GET", p))) for p in ("/model/info", "/.env", "/health/readiness")
    ]
    db = tmp_path / "run.db"
    store = Store(str(db))
    run = store.start_run("scan", ["127.0.0.1"], {})
    store.add_service(run, record)
    store.finish_run(run, {})
    store.close()
    raw = db.read_bytes()
    for value in v.values():
        assert value.encode() not in raw and base64.b64encode(value.encode()) not in raw


def test_docs_page_with_placeholders_does_not_fire() -> None:
    page = (
        "<html><body><h1>Quick start</h1><pre>\n"
        "export OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
        "export OPENAI_API_KEY=sk-proj-your-api-key-here\n"
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
        "DATABASE_URL=postgres://user:password@localhost:5432/db\n"
        "HF_TOKEN=hf_********************************\n"
        "Authorization: Bearer &lt;your-token&gt;</pre></body></html>"
    )
    service = scan(plant("vllm-0.11.0-open", paths={"/docs": text_response(page)}))
    assert not [f for f in service.findings if f.id.startswith("secret.")]


def test_recorded_real_responses_hold_no_credentials() -> None:
    """Every recorded sample exchange (real products, no planted values) scans clean: the detectors' precision on
    real traffic."""
    hits = []
    for sample in samples().values():
        observations = [
            Observation(Request(m, p), Outcome.OK, r.status, r.headers, r.body)
            for (m, p), r in sample.exchanges.items()
        ]
        hits += [(sample.case, s.type, s.locations) for s in find_secrets(observations)]
    assert hits == []


def test_no_planted_value_reaches_a_result_record() -> None:
    """The runner's path: one pre-filter search for the whole service decides whether to redact at all."""
    v = planted_values()
    sample = litellm_with_leaks(v)
    observations = [sample.observation(Request("GET", p)) for p in ("/model/info", "/.env", "/health/readiness")]
    result = TargetResult(Target("127.0.0.1", 4000), Outcome.OK, "http", scan(sample), observations)
    record = result_record(0, result)
    assert record is not None and len(record["observations"]) == 3
    bodies = "".join(o.pop("body").decode() for o in record["observations"])
    blob = json.dumps(record) + bodies
    for value in v.values():
        assert value not in blob


def test_redaction_is_skipped_only_when_nothing_could_be_redacted() -> None:
    clean = recorded("litellm-1.106.12-nokey", "GET", "/health/readiness")
    assert not may_need_redaction([clean.body, b'{"status": "ok"}'], [*clean.headers, ("server", "nginx")])
    assert may_need_redaction([clean.body, ("token: sk-proj-" + rand(64)).encode()], clean.headers)
    assert may_need_redaction([clean.body], [*clean.headers, ("x-azure-api-key", rand(32, HEX))])


def test_header_value_claimed_through_its_name_is_redacted() -> None:
    """A bare 32-hex key counts as an Azure key by its header's name: redacting the value must read the name too."""
    key = rand(32, HEX)
    obs = Observation(Request("GET", "/"), Outcome.OK, 200, (("x-azure-api-key", key),), b"{}")
    [sighting] = find_secrets([obs])
    assert sighting.type == "azure-openai-key"
    record = observation_record(obs)
    assert key not in json.dumps(record, default=bytes.hex) and key.encode() not in record["body"]
    stored = Observation(Request("GET", "/"), Outcome.OK, 200, tuple((k, v) for k, v in record["headers"]), b"{}")
    assert find_secrets([stored]) == [sighting]


def test_every_path_answering_the_same_body_is_a_location() -> None:
    body = json.dumps({"api_key": "sk-proj-" + rand(64)}).encode()
    observations = [Observation(Request("GET", p), Outcome.OK, 200, (), body) for p in ("/", "/app", "/x")]
    [sighting] = find_secrets(observations)
    assert sighting.locations == ["GET / $.api_key", "GET /app $.api_key", "GET /x $.api_key"]


def test_service_secrets_scans_one_set_of_observations_once() -> None:
    body = json.dumps({"api_key": "sk-proj-" + rand(64)}).encode()
    leaky = [Observation(Request("GET", "/"), Outcome.OK, 200, (), body)]
    clean = [Observation(Request("GET", "/"), Outcome.OK, 200, (), b"{}")]
    first = service_secrets(leaky)
    assert first == tuple(find_secrets(leaky)) and len(first) == 1
    assert service_secrets(leaky) is first  # the secrets and TLS checks share one scan
    assert service_secrets(clean) == ()
    same_content = [Observation(o.request, o.outcome, o.status, o.headers, o.body) for o in leaky]
    assert service_secrets(same_content) == first and service_secrets(same_content) is not first


# --- memos: texts and bodies seen in earlier services ---------------------------------------------------------------


@pytest.fixture
def empty_memos() -> Iterator[None]:
    TEXT_HINTS.clear()
    BODY_SIGHTINGS.clear()
    yield
    TEXT_HINTS.clear()
    BODY_SIGHTINGS.clear()


def _new(text: str) -> str:
    return (text + ".")[:-1]  # equal, another object


def copied(observations: list[Observation]) -> list[Observation]:
    """The same exchanges as new objects (bodies, header values), as another service sends them: memos must find
    them by content."""
    return [
        Observation(o.request, o.outcome, o.status, tuple((k, _new(v)) for k, v in o.headers), bytes(bytearray(o.body)))
        for o in observations
    ]


def leaky_observations() -> list[Observation]:
    sample = litellm_with_leaks(planted_values())
    return [sample.observation(Request("GET", p)) for p in ("/model/info", "/.env", "/health/readiness", "/")]


def scanned_afresh(observations: list[Observation]) -> list[SecretSighting]:
    """`find_secrets` with nothing remembered (the memos are emptied first)."""
    TEXT_HINTS.clear()
    BODY_SIGHTINGS.clear()
    return find_secrets(copied(observations))


def test_a_memo_hit_gives_what_a_miss_gives(empty_memos: None, monkeypatch: pytest.MonkeyPatch) -> None:
    observations = leaky_observations()
    miss = find_secrets(observations)
    assert len(miss) >= 5
    miss_each = [sorted(scan_observation(o)) for o in observations]

    # The next service sends the same texts: nothing is searched again, neither by the pre-filters nor for sightings.
    def searched(*args: object, **kwargs: object) -> None:
        raise AssertionError("searched again")

    monkeypatch.setattr(secrets_module, "text_hints", searched)
    monkeypatch.setattr(secrets_module, "worth_scanning_any", searched)
    monkeypatch.setattr(secrets_module, "_body_sightings", searched)
    again = copied(observations)
    hit = find_secrets(again)
    assert hit == miss
    assert may_need_redaction([o.body for o in again], [h for o in again for h in o.headers])
    monkeypatch.undo()
    assert [sorted(scan_observation(o)) for o in copied(observations)] == miss_each
    assert scanned_afresh(observations) == miss


def test_a_text_changed_by_one_credential_is_not_served_a_stale_answer(empty_memos: None) -> None:
    """Same length, same start, same everything but the credential: a memo keyed on anything coarser than the whole
    text (length, prefix, a sample of it) answers these wrong."""
    document = json.loads(recorded("chromadb-0.5.23-open", "GET", "/openapi.json").body)  # ~29 KB, nothing in it
    key = "sk-proj-" + rand(64)
    other = key[:-1] + ("A" if key[-1] != "A" else "B")  # the same key but for its last character

    def serving(token: str) -> Observation:
        body = json.dumps({**document, "x-settings": {"token": token}}).encode()
        return Observation(Request("GET", "/openapi.json"), Outcome.OK, 200, (("x-api-token", token),), body)

    clean = serving("xx" + key[2:])  # no literal: nothing to find
    assert not find_secrets([clean]) and not may_need_redaction([clean.body], clean.headers)
    for token in (key, other):
        [found] = find_secrets([serving(token)])
        assert found.sha256 == hashlib.sha256(token.encode()).hexdigest()
        assert found.locations == ["GET /openapi.json header x-api-token", 'GET /openapi.json $["x-settings"].token']
        leaky = serving(token)
        assert may_need_redaction([leaky.body], []) and may_need_redaction([clean.body], leaky.headers)
        assert token.encode() not in redact_body(leaky.body)
    # and back: the clean text is still clean, alone and next to a leak
    assert not find_secrets([serving("xx" + key[2:])]) and not may_need_redaction([clean.body], clean.headers)
    assert may_need_redaction([clean.body, serving(key).body], [])


def test_bodies_that_decode_alike_are_told_apart(empty_memos: None) -> None:
    """A body with U+FFFD and the same body with an invalid byte in its place decode to the same text, but only the
    first parses as JSON (its credential has a JSON path): sightings are remembered by the bytes, not the text."""
    key = rand(32, HEX)
    valid = json.dumps({"azure": {"api_key": key, "note": "\ufffd"}}, ensure_ascii=False).encode()
    invalid = valid.replace("\ufffd".encode(), b"\xff")
    assert valid.decode("utf-8", "replace") == invalid.decode("utf-8", "replace")
    at = [Observation(Request("GET", "/a"), Outcome.OK, 200, (), body) for body in (valid, invalid)]
    [first] = find_secrets(at[:1])
    [second] = find_secrets(at[1:])
    assert first.locations == ["GET /a $.azure.api_key"] and second.locations == ["GET /a"]
    assert [scanned_afresh(at[:1]), scanned_afresh(at[1:])] == [[first], [second]]


def test_a_stored_body_reassesses_alike_from_the_memo(empty_memos: None) -> None:
    """A redacted body holds only a marker (here nothing else a pre-filter looks for): remembered as such."""
    uri = f"postgres://app:{rand(18)}@db.internal"
    stored = redact_body(json.dumps({"url": uri}).encode())
    assert uri.encode() not in stored and not may_need_redaction([stored], [])
    obs = Observation(Request("GET", "/"), Outcome.OK, 200, (), stored)
    [miss] = find_secrets([obs])
    assert miss.sha256 == hashlib.sha256(uri.encode()).hexdigest() and miss.locations == ["GET / $.url"]
    assert find_secrets(copied([obs])) == [miss] == scanned_afresh([obs])


def test_changing_returned_findings_cannot_change_what_is_remembered(empty_memos: None) -> None:
    observations = leaky_observations()
    first = find_secrets(observations)
    expected = copy.deepcopy(first)
    for s in first:
        s.locations.append("GET /elsewhere")
        s.locations.reverse()
        s.prefix, s.type, s.sha256 = "XXXX", "x", "0" * 64
    shared = service_secrets(copied(observations))
    for s in shared:
        s.locations.clear()
    first.clear()
    assert find_secrets(copied(observations)) == expected  # from the memos
    assert all(isinstance(v, tuple) for v in map(BODY_SIGHTINGS.get, (o.body for o in observations)) if v)
    assert scanned_afresh(observations) == expected


def test_a_memo_forgets_the_least_recently_used_first() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(entries=3, size=100, longest=40)
    for i, text in enumerate("abc"):
        memo.put(text * 10, i)
    assert memo.get("a" * 10) == 0  # used: now the most recent
    memo.put("d" * 10, 3)
    assert memo.get("b" * 10) is None and [memo.get(t * 10) for t in "acd"] == [0, 2, 3]
    memo.put("e" * 41, 4)  # too long to remember
    assert memo.get("e" * 41) is None and len(memo) == 3 and memo.held == 30
    memo.put("f" * 40, 5)  # a goes (4 entries)
    memo.put("g" * 40, 6)  # c goes (4 entries)
    assert [memo.get(t * 10) for t in "ac"] == [None, None] and len(memo) == 3 and memo.held == 90
    memo.put("h" * 40, 7)  # d goes (4 entries), then f (130, then 120 characters)
    assert [memo.get(t * n) for t, n in (("d", 10), ("f", 40), ("g", 40), ("h", 40))] == [None, None, 6, 7]
    assert len(memo) == 2 and memo.held == 80


def test_the_memos_stay_within_their_bounds(empty_memos: None) -> None:
    """Fed far more than they hold: many large texts (over the characters bound), many small ones (over the
    entries bound), texts over the longest remembered, and large bodies that pass the pre-filter."""
    page = recorded("chromadb-0.5.23-open", "GET", "/openapi.json").body.decode()
    large = [f"{i:04d} {page}{page}"[: 60 << 10] for i in range(350)]  # 350 x 57 KiB: 20 MB
    assert not may_need_redaction([t.encode() for t in large], [])
    small = [("x-request-id", f"{i:08d}") for i in range(TEXT_HINTS.entries + 500)]
    assert not may_need_redaction([], small)
    too_long = f"too long {page}" * 3
    assert len(too_long) > TEXT_HINTS.longest and not may_need_redaction([too_long.encode()], [])
    assert len(TEXT_HINTS) == TEXT_HINTS.entries  # full, and no fuller
    held = [t for t in (*large, *(" ".join(h) for h in small), too_long) if TEXT_HINTS.get(t) is not None]
    assert len(held) == len(TEXT_HINTS) and sum(map(len, held)) == TEXT_HINTS.held <= TEXT_HINTS.size
    assert TEXT_HINTS.get(" ".join(small[-1])) == 0 and TEXT_HINTS.get(large[0]) is None
    assert TEXT_HINTS.get(too_long) is None
    TEXT_HINTS.clear()
    for t in large:
        may_need_redaction([t.encode()], [])
    assert TEXT_HINTS.size - TEXT_HINTS.longest < TEXT_HINTS.held <= TEXT_HINTS.size < sum(map(len, large))
    # bodies with sightings (a context word in each): at most BODY_SIGHTINGS' bounds of them are remembered
    bodies = [json.dumps({"n": i, "model": "mistral", "pad": page[:20_000]}).encode() * 2 for i in range(200)]
    assert BODY_SIGHTINGS.size < sum(map(len, bodies)) and max(map(len, bodies)) <= BODY_SIGHTINGS.longest
    for body in bodies:
        find_secrets([Observation(Request("GET", "/"), Outcome.OK, 200, (), body)])
    kept = [b for b in bodies if BODY_SIGHTINGS.get(b) is not None]
    assert kept and kept[-1] is bodies[-1] and BODY_SIGHTINGS.get(bodies[0]) is None
    assert len(kept) == len(BODY_SIGHTINGS) <= BODY_SIGHTINGS.entries
    assert sum(map(len, kept)) == BODY_SIGHTINGS.held <= BODY_SIGHTINGS.size
