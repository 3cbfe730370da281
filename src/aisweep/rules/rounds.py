"""The probing rounds shared by the network engine and sample replay: send round 1, match, send what the
candidates need, repeat until nothing new is wanted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aisweep.models import Observation, Request
from aisweep.rules.identify import Match, match_all
from aisweep.rules.plan import RuleSet

MAX_ROUNDS = 4
MAX_REQUESTS = 48

Send = Callable[[Request], Awaitable[Observation]]


async def run_rounds(
    ruleset: RuleSet,
    port: int,
    send: Send,
    observations: dict[str, Observation],
    stopped: Callable[[], bool] = lambda: False,
) -> list[Match]:
    """Fill `observations` (request key -> observation) round by round; return the final matches."""
    queue = [r for r in ruleset.first_round(port) if r.key not in observations]
    matches: list[Match] = []
    for _ in range(MAX_ROUNDS):
        for request in queue:
            if len(observations) >= MAX_REQUESTS or stopped():
                break
            observations[request.key] = await send(request)
        sent = set(observations)
        matches = match_all(ruleset.rules_for_matching(port, sent), observations)
        queue = ruleset.next_round([m.rule for m in matches], sent)
        if not queue or stopped():
            break
    return matches
