"""The probing rounds shared by the network engine and sample replay: identify with as few requests as the answers
allow, send what the candidates need, repeat until nothing new is wanted, then the assessment requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aisweep.checks.probes import ROOT, assessment_requests
from aisweep.models import Observation, Request
from aisweep.rules.identify import Match, match_all, match_rule, resolve
from aisweep.rules.plan import Round, RuleSet

MAX_ROUNDS = 4
MAX_REQUESTS = 80  # identification budget per target; a port no rule lists costs up to ~65 in round 1
WIDEN = 16  # requests beyond the named products' when an answer matches nothing of its port (None: every rule's)
ASSESS_BYTES = 64 * 1024  # operational endpoints (/metrics, /openapi.json) are sniffed, not downloaded

Send = Callable[[Request], Awaitable[Observation]]
SendMany = Callable[[list[Request]], Awaitable[list[Observation]]]


def _one() -> int:
    return 1


async def _identify(
    ruleset: RuleSet,
    plan: Round,
    send: Send,
    observations: dict[str, Observation],
    stopped: Callable[[], bool],
    send_many: SendMany | None = None,
    ahead: Callable[[], int] = _one,
) -> list[Match]:
    """Send `plan` in order, matching each rule as soon as its identify probes are answered; stop at the first
    specific product that matches. A request no unrefuted rule asks is skipped. Returns the matches found.

    When `ahead()` is above 1 (a slow target), the next requests still wanted are sent together through `send_many`
    and their answers taken in turn, exactly as one-by-one answers would be: an answer whose request the earlier
    answers made unnecessary, or that comes after the decisive match, is dropped, so only the request count (and
    the time) differs from sending one at a time."""
    matches: list[Match] = []
    ahead_of: dict[str, Observation] = {}  # answers to requests sent ahead of their turn
    for i, (request, completed) in enumerate(zip(plan.requests, plan.completes, strict=True)):
        if request.key not in observations:
            if len(observations) >= MAX_REQUESTS or stopped():
                break
            if not ruleset.needed(request, observations):
                continue
            early = ahead_of.pop(request.key, None)
            if early is not None:
                observations[request.key] = early
            elif send_many is not None and (k := ahead()) > 1:
                batch = [request]
                for later in plan.requests[i + 1 :]:
                    if len(batch) >= min(k, MAX_REQUESTS - len(observations)):
                        break
                    if later.key not in observations and ruleset.needed(later, observations):
                        batch.append(later)
                answers = await send_many(batch)
                if not answers:
                    break
                observations[request.key] = answers[0]
                ahead_of = {r.key: o for r, o in zip(batch[1:], answers[1:], strict=False)}
            else:
                observations[request.key] = await send(request)
        decisive = False
        for rule in completed:
            m = match_rule(rule, observations)
            if m is not None:
                matches.append(m)
                decisive = decisive or not rule.generic
        if decisive:
            break
    return matches


async def run_rounds(
    ruleset: RuleSet,
    port: int,
    send: Send,
    observations: dict[str, Observation],
    stopped: Callable[[], bool] = lambda: False,
    assess: SendMany | None = None,
    widen: int | None = WIDEN,
    send_many: SendMany | None = None,
    ahead: Callable[[], int] = _one,
) -> list[Match]:
    """Fill `observations` (request key -> observation) round by round; return the final matches.

    `ahead()` says how many identification requests may go out at once (see `_identify`): more than one only for
    a target that answers slowly. In the later rounds, the candidates' own probes go out together through
    `send_many` when given (it may pipeline them and returns fewer observations if the target is given up midway);
    look-alikes' probes follow one by one, each skipped once its rules are refuted. When a product is identified, a
    last round sends the checks' assessment requests (checks/probes.py): all at once through `assess` (which may
    pipeline them, and returns fewer observations if the target is given up midway), or one by one through
    `send`."""
    plan = ruleset.first(port)
    matches = await _identify(ruleset, plan, send, observations, stopped, send_many, ahead)
    if not matches and stopped():
        # The target stopped answering mid-round (timeouts, oversized answers): judge the port's rules on what
        # did come back, as a full round would have.
        matches = match_all(ruleset.rules_for_port(port), observations)
    if (
        not matches
        and plan is not ruleset.fallback()
        and not stopped()
        and any(o.answered for o in observations.values())
    ):
        # HTTP answers but nothing of this port's products: a product on another product's port (or on an
        # unusual one). Ask what the products named in the answers ask first, then up to `widen` of what every
        # rule asks, in the same stop-at-the-first-match order.
        if ROOT.key not in observations and len(observations) < MAX_REQUESTS:
            observations[ROOT.key] = await send(ROOT)  # GET /: where most products name themselves
        matches = await _identify(
            ruleset, ruleset.widening(observations, widen), send, observations, stopped, send_many, ahead
        )
    for _ in range(MAX_ROUNDS - 1):
        queue = ruleset.next_round([m.rule for m in matches], observations.keys())
        if not queue or stopped():
            break
        own = [r for r, rival_only in queue if not rival_only][: max(0, MAX_REQUESTS - len(observations))]
        if send_many is not None and len(own) > 1:
            # The candidates' own probes do not depend on each other's answers: one batch (pipelined).
            for request, obs in zip(own, await send_many(own), strict=False):
                observations[request.key] = obs
        for request, rival_only in queue:
            if request.key in observations:
                continue
            if len(observations) >= MAX_REQUESTS or stopped():
                break
            if rival_only and not ruleset.needed(request, observations):
                continue
            observations[request.key] = await send(request)
        matches = match_all(ruleset.rules_for_matching(observations.keys()), observations)
    winner, _ = resolve(matches)
    if winner is not None and not stopped():
        api_path = winner.signal.conditions[0].request.path
        todo = [r for r in assessment_requests(api_path) if r.key not in observations]
        if assess is not None:
            for request, obs in zip(todo, await assess(todo), strict=False):
                observations[request.key] = obs
        else:
            for request in todo:
                if stopped():
                    break
                observations[request.key] = await send(request)
    return matches
