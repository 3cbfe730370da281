"""Every rule sample (recorded from the real product, or reconstructed from its source) replays to its expected
product, version, auth tier and surface counts; look-alikes are not mistaken for what they imitate."""

from collections import defaultdict

import pytest

from aisweep.rules.loader import load_rules
from aisweep.rules.samples import Sample, check_sample, load_samples, replay

RULES = load_rules()
SAMPLES = load_samples()


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s.rule_dir}/{s.case}" for s in SAMPLES])
def test_sample_replays_to_its_expectation(sample: Sample) -> None:
    assert check_sample(sample, RULES) == []


def test_every_rule_has_a_positive_and_a_negative_sample() -> None:
    positives: dict[str, int] = defaultdict(int)
    negatives: dict[str, int] = defaultdict(int)
    for s in SAMPLES:
        if s.expect.get("product"):
            positives[str(s.expect["product"])] += 1
        if s.expect.get("not_product"):
            negatives[str(s.expect["not_product"])] += 1
    missing = sorted(r.id for r in RULES if positives[r.id] == 0)
    assert missing == [], f"rules without a positive sample: {missing}"
    missing = sorted(r.id for r in RULES if negatives[r.id] == 0)
    assert missing == [], f"rules without a look-alike (negative) sample: {missing}"


def test_samples_say_where_they_come_from() -> None:
    for s in SAMPLES:
        assert s.source.get("kind") in ("recorded", "reconstructed"), s.path
        assert s.source.get("software"), s.path
        if s.source["kind"] == "reconstructed":
            assert s.source.get("from"), f"{s.path}: reconstructed samples name the source file they follow"


def test_negative_samples_exist_and_match_nothing_specific() -> None:
    negatives = [s for s in SAMPLES if "not_product" in s.expect or s.rule_dir == "_negative"]
    assert negatives, "look-alike samples are required"
    for s in negatives:
        service = replay(s, RULES)
        assert service is None or service.product != s.expect.get("not_product")


def test_a_sample_that_lies_fails() -> None:
    """The replay check can fail: a sample claiming the wrong version is caught."""
    good = next(s for s in SAMPLES if s.expect.get("version"))
    bad = Sample(good.rule_dir, good.case, good.source, {**good.expect, "version": "0.0.0-wrong"}, good.exchanges)
    assert any("version" in p for p in check_sample(bad, RULES))
