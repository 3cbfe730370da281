"""Identify a service from its observations: match every rule, resolve look-alikes by specificity, read the
version, auth tier and data-surface counts of the winner. Pure functions over stored observations."""

from __future__ import annotations

from dataclasses import dataclass, field

from aisweep.models import AuthTier, Confidence, Service, Target, TlsFacts, VersionConfidence
from aisweep.rules.assets import infer_version
from aisweep.rules.model import Observations, Rule, Signal, all_hold


@dataclass(slots=True)
class Match:
    rule: Rule
    signal: Signal
    strength: int  # conditions in the matched signal: more corroborating evidence wins ties

    @property
    def confidence(self) -> Confidence:
        return self.signal.confidence

    def __repr__(self) -> str:
        # Names the rule and signal: the generated repr printed the whole compiled rule (kilobytes), and asyncio
        # formats a finished task's result (these matches) each time `asyncio.run` restores the SIGINT handler.
        return f"Match(rule={self.rule.id!r}, signal={self.signal.name!r}, strength={self.strength})"


@dataclass(slots=True)
class Assessment:
    """What the winning rule says about a service, before Python checks add findings."""

    version: str | None = None
    version_source: str | None = None
    version_confidence: VersionConfidence = VersionConfidence.UNKNOWN
    tier: AuthTier = AuthTier.UNKNOWN
    tier_evidence: str = ""
    tier_finding: str | None = None
    partial: list[str] = field(default_factory=list)
    surfaces: dict[str, int] = field(default_factory=dict)
    variant: str | None = None


def match_rule(rule: Rule, observations: Observations) -> Match | None:
    """The strongest signal of `rule` that holds, if any."""
    best: Match | None = None
    for signal in rule.identify:
        if all_hold(signal.conditions, observations):
            m = Match(rule, signal, len(signal.conditions))
            if best is None or (m.confidence.rank, m.strength) > (best.confidence.rank, best.strength):
                best = m
    return best


def match_all(rules: list[Rule], observations: Observations) -> list[Match]:
    return [m for rule in rules if (m := match_rule(rule, observations)) is not None]


def resolve(matches: list[Match]) -> tuple[Match | None, list[Match]]:
    """Pick the winner by specificity, never by file order.

    1. A specific product beats a generic one (`generic: true`, e.g. openai-compatible).
    2. A rule that `overrides` another matched rule beats it (KoboldCpp and LocalAI imitate Ollama's API;
       AUTOMATIC1111 is built on Gradio).
    3. Then higher signal confidence, then more corroborating conditions, then rule id for a stable order.
    Returns (winner, the other matches).
    """
    if not matches:
        return None, []
    pool = [m for m in matches if not m.rule.generic] or list(matches)
    overridden = {oid for m in pool for oid in m.rule.overrides}
    pool = [m for m in pool if m.rule.id not in overridden] or pool
    pool.sort(key=lambda m: (-m.confidence.rank, -m.strength, m.rule.id))
    winner = pool[0]
    return winner, [m for m in matches if m is not winner]


def assess_rule(rule: Rule, observations: Observations) -> Assessment:
    a = Assessment()
    for extractor in rule.version:
        value = extractor.extract(observations)
        if value:
            a.version, a.version_source, a.version_confidence = value, extractor.describe(), extractor.confidence
            break
    for tier in rule.tiers:
        if all_hold(tier.conditions, observations):
            a.tier, a.tier_evidence, a.tier_finding = tier.tier, tier.evidence, tier.finding
            break
    else:
        a.tier, a.tier_evidence = rule.default_tier, rule.default_evidence
    a.partial = [p.evidence for p in rule.partial if all_hold(p.conditions, observations)]
    for name, counters in rule.surfaces.items():
        for counter in counters:
            n = counter.count(observations)
            if n is not None:
                a.surfaces[name] = n
                break
    a.variant = next((v.name for v in rule.variants if all_hold(v.conditions, observations)), None)
    return a


def build_service(
    target: Target,
    scheme: str,
    winner: Match,
    others: list[Match],
    observations: Observations,
    tls: TlsFacts | None = None,
) -> Service:
    rule = winner.rule
    a = assess_rule(rule, observations)
    if a.version is None:
        # The product hides its version: the static-asset bundles its pages link to narrow it to a release range.
        inferred = infer_version(rule.id, observations)
        if inferred is not None and inferred.primary:
            a.version, a.version_source = inferred.range, f"inferred from static assets: {inferred.evidence}"
            a.version_confidence = VersionConfidence.INFERRED
    return Service(
        target=target,
        scheme=scheme,
        product=rule.id,
        product_name=rule.name,
        category=rule.category,
        variant=a.variant,
        confidence=winner.confidence,
        version=a.version,
        version_source=a.version_source,
        version_confidence=a.version_confidence,
        auth_tier=a.tier,
        auth_evidence=a.tier_evidence,
        auth_finding=a.tier_finding,
        partial_protection=a.partial,
        surfaces=a.surfaces,
        evidence=[c.describe() for c in winner.signal.conditions],
        also_matched=sorted(m.rule.id for m in others),
        tls=tls,
    )
