"""The request planner: identification stops early on crowded ports, only surviving candidates expand, a rule
refuted by an answer gets none of its other probes sent, and widening asks the products an answer names before a
bounded number of others."""

from __future__ import annotations

import pytest

from aisweep.models import Level, Observation, Outcome, Request
from aisweep.rules.loader import load_rules, parse_rule_text
from aisweep.rules.plan import RuleSet, refuted
from aisweep.rules.samples import Sample, load_samples, run_sample, sample_port


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet(load_rules(), Level.SAFE)


def sample(name: str) -> Sample:
    return next(s for s in load_samples() if s.path.endswith(name))


def replay(s: Sample, ruleset: RuleSet, port: int, widen: int | None = 16) -> tuple[str | None, list[str]]:
    service, observations = run_sample(s, ruleset, port, widen=widen)
    return (service.product if service else None), list(observations)


def test_round_one_orders_shared_probes_first_and_knows_when_each_rule_is_complete(ruleset: RuleSet) -> None:
    plan = ruleset.first(8080)
    assert plan.completes[0]  # the first request already completes a rule (shortest first)
    seen: set[str] = set()
    for request, completed in zip(plan.requests, plan.completes, strict=True):
        seen.add(request.key)
        for rule in completed:
            assert ruleset.identify_keys[rule.id] <= seen
    listed = {r.id for r in ruleset.rules_for_port(8080)}
    assert {r.id for c in plan.completes for r in c} == listed


def test_a_crowded_port_stops_at_the_first_specific_match(ruleset: RuleSet) -> None:
    rules = load_rules()
    identify = {r.key for r in ruleset.first_round(8080)}
    asked: list[int] = []
    for s in load_samples():
        if sample_port(s, rules) == 8080 and s.expect.get("product"):
            product, sent = replay(s, ruleset, 8080)
            assert product == s.expect["product"], s.path
            asked.append(len(identify & set(sent)))
    assert len(asked) >= 10
    assert min(asked) <= 3 and sum(asked) / len(asked) < 0.8 * len(identify)


def test_a_generic_match_does_not_stop_the_round_and_specific_ones_do_not_expand_it(ruleset: RuleSet) -> None:
    s = sample("ollama/ollama-0.32.15-open.yaml")
    product, sent = replay(s, ruleset, 11434)
    assert product == "ollama"
    # KoboldCpp and LocalAI imitate Ollama: their identify probes are asked; the many servers that only
    # override the generic openai-compatible rule are not.
    assert "GET /api/extra/version" in sent and "GET /.well-known/localai.json" in sent
    assert "GET /get_server_info" not in sent and "GET /v2" not in sent


def test_widening_asks_the_products_an_answer_names_first(ruleset: RuleSet) -> None:
    s = sample("clearml/mlflow-2.9.2-on-8008-lookalike.yaml")
    assert replay(s, ruleset, 8008, widen=0)[0] == "mlflow"  # GET / names MLflow


def test_widening_is_bounded_unless_asked_for_all(ruleset: RuleSet) -> None:
    s = sample("qdrant/chromadb-1.5.9-on-6333-lookalike.yaml")  # a bare 404 on /: nothing named
    product, sent = replay(s, ruleset, 6333, widen=0)
    assert product is None
    bounded = len(sent)
    product, sent = replay(s, ruleset, 6333, widen=None)
    assert product == "chromadb" and len(sent) > bounded


def test_every_sample_port_round_is_consistent(ruleset: RuleSet) -> None:
    rules = load_rules()
    for s in load_samples():
        plan = ruleset.first(sample_port(s, rules))
        assert len({r.key for r in plan.requests}) == len(plan.requests)


TWO_SIGNALS = """
id: two-ways
name: Two ways
category: inference-server
ports: [8000]
probes:
  a: {path: /a}
  b: {path: /b}
  c: {path: /c}
identify:
  - name: a and c
    all:
      - {probe: a, status: 200}
      - {probe: c, status: 200}
  - name: b alone
    all:
      - {probe: b, status: 200}
"""


def test_a_rule_is_refuted_only_when_every_signal_has_failed_on_an_answer_in_hand() -> None:
    rule = parse_rule_text(TWO_SIGNALS, "two.yaml")

    def seen(*answers: tuple[str, int | None]) -> dict[str, Observation]:
        return {
            f"GET {path}": Observation(Request("GET", path), Outcome.OK if status else Outcome.TIMEOUT, status)
            for path, status in answers
        }

    assert not refuted(rule, {})  # nothing asked yet
    assert not refuted(rule, seen(("/a", 404)))  # "b alone" can still hold
    assert not refuted(rule, seen(("/a", 200), ("/b", 404)))  # "a and c" waits for /c
    assert refuted(rule, seen(("/a", 404), ("/b", 404)))
    assert refuted(rule, seen(("/c", None), ("/b", 500)))  # an unanswered probe never satisfies a condition
    ruleset = RuleSet([rule])
    assert ruleset.needed(Request("GET", "/c"), seen(("/a", 200)))
    assert not ruleset.needed(Request("GET", "/c"), seen(("/a", 404), ("/b", 404)))
    assert ruleset.needed(Request("GET", "/unknown"), {}) is False  # no rule asks it to identify anything


def test_a_refuted_rivals_remaining_probes_are_not_sent(ruleset: RuleSet) -> None:
    # text-generation-webui overrides Gradio; its model-info answer (404) refutes it, so its health probe is
    # skipped. AUTOMATIC1111's API-auth signal is still open after its memory probe fails: sd-models is asked.
    s = sample("gradio/gradio-3.50.2-auth.yaml")
    product, sent = replay(s, ruleset, 7860)
    assert product == "gradio"
    assert "GET /v1/internal/model/info" in sent and "GET /v1/internal/health" not in sent
    assert "GET /sdapi/v1/memory" in sent and "GET /sdapi/v1/sd-models" in sent


def test_skipping_refuted_rules_probes_changes_no_result(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_rules()
    ports = {s.path: sample_port(s, rules) for s in load_samples()}
    pruned = {s.path: run_sample(s, ruleset, ports[s.path]) for s in load_samples()}
    monkeypatch.setattr(RuleSet, "needed", lambda self, request, observations: True)
    saved = 0
    for s in load_samples():
        service, sent = pruned[s.path]
        full_service, full = run_sample(s, ruleset, ports[s.path])
        assert (service and service.to_record()) == (full_service and full_service.to_record()), s.path
        skipped = set(full) - set(sent)
        assert set(sent) <= set(full), s.path
        for key in skipped:  # every rule that would have used the answer had already been refuted
            assert all(refuted(r, sent) for r in ruleset.rules if key in ruleset.identify_keys[r.id]), (s.path, key)
        saved += len(skipped)
    assert saved >= 50


def test_a_slow_targets_requests_sent_ahead_change_no_answer_used(ruleset: RuleSet) -> None:
    # A slow target gets its next wanted identification requests at once; the answers taken (and their order) and
    # so every result must be exactly those of one-at-a-time sending.
    rules = load_rules()
    for s in load_samples():
        port = sample_port(s, rules)
        service, sent = run_sample(s, ruleset, port)
        ahead_service, ahead_sent = run_sample(s, ruleset, port, ahead=4)
        assert list(ahead_sent) == list(sent), s.path
        assert (ahead_service and ahead_service.to_record()) == (service and service.to_record()), s.path
