"""The probing rounds shared by the network engine and sample replay: send round 1, match, send what the
candidates need, repeat until nothing new is wanted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aisweep.checks.probes import assessment_requests
from aisweep.models import Observation, Request
from aisweep.rules.identify import Match, match_all, resolve
from aisweep.rules.plan import RuleSet

MAX_ROUNDS = 4
MAX_REQUESTS = 80  # identification budget per target; a port no rule lists costs ~65 in round 1
ASSESS_BYTES = 64 * 1024  # operational endpoints (/metrics, /openapi.json) are sniffed, not downloaded

Send = Callable[[Request], Awaitable[Observation]]


async def run_rounds(
    ruleset: RuleSet,
    port: int,
    send: Send,
    observations: dict[str, Observation],
    stopped: Callable[[], bool] = lambda: False,
    assess: Callable[[Request], Awaitable[Observation]] | None = None,
) -> list[Match]:
    """Fill `observations` (request key -> observation) round by round; return the final matches.

    When a product is identified, a last round sends the checks' assessment requests (checks/probes.py) through
    `assess` (or `send`)."""
    queue = [r for r in ruleset.first_round(port) if r.key not in observations]
    matches: list[Match] = []
    widened = ruleset.first_round(port) is ruleset.fallback_round()
    for _ in range(MAX_ROUNDS):
        for request in queue:
            if len(observations) >= MAX_REQUESTS or stopped():
                break
            observations[request.key] = await send(request)
        sent = set(observations)
        matches = match_all(ruleset.rules_for_matching(port, sent), observations)
        queue = ruleset.next_round([m.rule for m in matches], sent)
        if not matches and not widened and any(o.answered for o in observations.values()):
            # HTTP answers but nothing of this port's products: a product on another product's port (or on an
            # unusual one). Ask once what every rule asks first.
            widened = True
            queue = [r for r in ruleset.fallback_round() if r.key not in sent]
        if not queue or stopped():
            break
    winner, _ = resolve(matches)
    if winner is not None and not stopped():
        api_path = winner.signal.conditions[0].request.path
        for request in assessment_requests(api_path):
            if request.key not in observations and not stopped():
                observations[request.key] = await (assess or send)(request)
    return matches
