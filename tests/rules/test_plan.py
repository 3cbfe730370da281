"""The request planner: identification stops early on crowded ports, only surviving candidates expand, and
widening asks the products an answer names before a bounded number of others."""

from __future__ import annotations

import pytest

from aisweep.models import Level
from aisweep.rules.loader import load_rules
from aisweep.rules.plan import RuleSet
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
