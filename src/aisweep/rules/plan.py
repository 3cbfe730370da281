"""The request planner: which distinct requests to send to a port, merged across rules, in rounds.

Round 1 sends the identify-stage probes of every rule that lists the port (and of any-port rules); a port no rule
lists gets every rule's identify probes. Each later round adds what the candidates need: their assess-stage probes
and the identify probes of rules that override a candidate (look-alikes that must be told apart). Identical
requests are sent once per target.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aisweep.models import Level, Request
from aisweep.rules.model import Rule


class RuleSet:
    """The rules of one scan, indexed by port, with the request planner."""

    def __init__(self, rules: Sequence[Rule], level: Level = Level.SAFE) -> None:
        self.rules = [r for r in rules if r.level.rank <= level.rank]
        self.by_id = {r.id: r for r in self.rules}
        self._any_port = [r for r in self.rules if r.ports is None]
        self._by_port: dict[int, list[Rule]] = {}
        for r in self.rules:
            for p in r.ports or ():
                self._by_port.setdefault(p, []).append(r)
        self._overridden_by: dict[str, list[Rule]] = {}
        for r in self.rules:
            for victim in r.overrides:
                self._overridden_by.setdefault(victim, []).append(r)
        self._first_round: dict[int, list[Request]] = {}
        self._fallback_round = _dedupe(req for r in self.rules for req in r.requests("identify"))
        self.stream_keys = {k for r in self.rules for k in r.stream_keys()}
        # A shared request is capped only if every rule that sends it is content with a prefix.
        caps: dict[str, int | None] = {}
        for r in self.rules:
            for probe in r.probes.values():
                key, cap = probe.request.key, probe.max_bytes
                if key in caps and (caps[key] is None or cap is None):
                    caps[key] = None
                else:
                    caps[key] = max(cap or 0, caps.get(key) or 0) if cap is not None else None
        self.byte_caps: dict[str, int] = {k: v for k, v in caps.items() if v}

    def fallback_round(self) -> list[Request]:
        """Every rule's identify probes: for ports no rule lists, and for answers that matched nothing."""
        return self._fallback_round

    def rules_for_port(self, port: int) -> list[Rule]:
        specific = self._by_port.get(port)
        if specific is None:
            return self.rules
        return [*specific, *self._any_port]

    def first_round(self, port: int) -> list[Request]:
        cached = self._first_round.get(port)
        if cached is None:
            if port in self._by_port:
                cached = _dedupe(req for r in self.rules_for_port(port) for req in r.requests("identify"))
            else:
                cached = self._fallback_round
            self._first_round[port] = cached
        return cached

    def next_round(self, candidates: Iterable[Rule], sent: set[str]) -> list[Request]:
        """Requests the candidates still need (assess probes, and probes of rules that override them)."""
        wanted: list[Request] = []
        for rule in candidates:
            wanted.extend(rule.requests())
            for rival in self._overridden_by.get(rule.id, ()):
                wanted.extend(rival.requests("identify"))
        return [r for r in _dedupe(wanted) if r.key not in sent]

    def rules_for_matching(self, port: int, sent: set[str]) -> list[Rule]:
        """Rules worth matching: those for the port plus any rule whose identify probes were all sent."""
        pool = {r.id: r for r in self.rules_for_port(port)}
        for r in self.rules:
            if r.id not in pool and all(req.key in sent for req in r.requests("identify")):
                pool[r.id] = r
        return list(pool.values())


def _dedupe(requests: Iterable[Request]) -> list[Request]:
    seen: dict[str, Request] = {}
    for r in requests:
        seen.setdefault(r.key, r)
    return list(seen.values())
