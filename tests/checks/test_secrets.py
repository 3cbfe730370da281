"""Credentials in unauthenticated responses: found by format in JSON bodies, text and headers of recorded real
responses with planted values; reported by type, location, hash and 4-character prefix; never by value."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

from aisweep.checks.detectors import base62_encode
from aisweep.checks.secrets import (
    credential_records,
    find_secrets,
    may_need_redaction,
    redact_body,
    redact_secrets,
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
