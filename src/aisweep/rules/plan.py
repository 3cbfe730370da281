"""The request planner: which distinct requests to send to a port, merged across rules, in rounds.

Round 1 holds the identify-stage probes of every rule that lists the port (and of any-port rules); a port no rule
lists gets every rule's identify probes. Round 1 is sent one request at a time, the rules needing the fewest requests
first, and each rule is matched as soon as the last of its identify probes has an answer: the round stops at the first
specific (non-generic) product that matches, so a crowded port costs a few requests, not all of them. Each later
round adds what the surviving candidates need: their assess-stage probes and the identify probes of rules that
override them (look-alikes that must be told apart). Identical requests are sent once per target, and a request is
skipped when every rule that asks it has already been refuted by earlier answers (a refuted rule cannot match).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from aisweep.models import Level, Observation, Request
from aisweep.rules.model import Rule


@dataclass(frozen=True, slots=True)
class Round:
    """An ordered identification round: `requests[i]` is sent i-th; `completes[i]` are the rules whose identify
    probes are all answered once requests[0..i] are."""

    requests: tuple[Request, ...]
    completes: tuple[tuple[Rule, ...], ...]


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
        self.identify_keys: dict[str, frozenset[str]] = {
            r.id: frozenset(req.key for req in r.requests("identify")) for r in self.rules
        }
        needers: dict[str, list[Rule]] = {}
        for r in self.rules:
            for key in self.identify_keys[r.id]:
                needers.setdefault(key, []).append(r)
        self._needers = {k: tuple(v) for k, v in needers.items()}
        self._rounds: dict[int | None, Round] = {}
        self._fallback = self._ordered_round(self.rules)
        self._hints = [(word, r) for r in self.rules if not r.generic for word in _hint_words(r)]
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

    def _ordered_round(self, pool: Sequence[Rule]) -> Round:
        """The pool's identify probes in the order that completes rules soonest: repeatedly the rule with the fewest
        probes still unsent (ties: the rule sharing more of its probes with others, then pool order), its probes
        most-shared first. Shortest-first minimises the mean requests to identify a product."""
        shared = Counter(key for r in pool for key in self.identify_keys[r.id])
        by_key = {req.key: req for r in pool for req in r.requests("identify")}
        ordered: list[Request] = []
        done: set[str] = set()
        left = [r for r in pool if self.identify_keys[r.id]]
        while left:
            best = min(
                range(len(left)),
                key=lambda i: (
                    len(self.identify_keys[left[i].id] - done),
                    -sum(shared[k] for k in self.identify_keys[left[i].id] - done),
                    i,
                ),
            )
            rule = left.pop(best)
            todo = _dedupe(req for req in rule.requests("identify") if req.key not in done)  # declared order
            for req in sorted(todo, key=lambda r: -shared[r.key]):
                ordered.append(by_key[req.key])
                done.add(req.key)
        return self._completion(ordered, pool)

    def _completion(self, ordered: Sequence[Request], pool: Sequence[Rule]) -> Round:
        """`ordered` with, at each step, the rules of `pool` whose identify probes are then all answered (a rule
        whose probes were all answered before the round counts at its first step)."""
        position = {req.key: i for i, req in enumerate(ordered)}
        completes: list[list[Rule]] = [[] for _ in ordered]
        for r in pool:
            keys = self.identify_keys[r.id]
            if keys and ordered:
                completes[max(position.get(k, 0) for k in keys)].append(r)
        return Round(tuple(ordered), tuple(tuple(c) for c in completes))

    def fallback(self) -> Round:
        """Every rule's identify probes: for ports no rule lists, and for answers that matched nothing."""
        return self._fallback

    def widening(self, observations: Mapping[str, Observation], budget: int | None) -> Round:
        """The round for an answer that matched nothing on its port: first the identify probes of every product
        whose name appears in the answers so far (most products name themselves on their pages or in headers),
        then every rule's, those most rules share first, up to `budget` more requests (None: all), leaving out what
        only refuted rules ask."""
        texts = []
        for o in observations.values():
            if o.answered:
                texts.append(o.body[:_HINT_BYTES].decode("latin-1").lower())
                texts.extend(f"{k}: {v}".lower() for k, v in o.headers)
        seen = "\n".join(texts)
        named = _dedupe_rules(r for word, r in self._hints if word in seen)
        first = _dedupe(req for r in named for req in r.requests("identify"))
        rest = [r for r in self._fallback.requests if r.key not in observations and self.needed(r, observations)]
        requests = _dedupe([*first, *(rest if budget is None else rest[:budget])])
        sent = set(observations) | {r.key for r in requests}
        pool = [r for r in self.rules if self.identify_keys[r.id] and self.identify_keys[r.id] <= sent]
        return self._completion(requests, pool)

    def rules_for_port(self, port: int) -> list[Rule]:
        specific = self._by_port.get(port)
        if specific is None:
            return self.rules
        return [*specific, *self._any_port]

    def first(self, port: int) -> Round:
        """Round 1 for a port (cached)."""
        key = port if port in self._by_port else None
        found = self._rounds.get(key)
        if found is None:
            found = self._fallback if key is None else self._ordered_round(self.rules_for_port(port))
            self._rounds[key] = found
        return found

    def first_round(self, port: int) -> tuple[Request, ...]:
        return self.first(port).requests

    def next_round(self, candidates: Iterable[Rule], sent: AbstractSet[str]) -> list[tuple[Request, bool]]:
        """Requests the candidates still need, each flagged True when only a rival asks it: the candidates' own
        probes first, then the identify probes of rules that override them (look-alikes to rule out).

        Only candidates that can still win are expanded: a generic rule (openai-compatible) when no specific
        product matched, and no rule another candidate already overrides."""
        pool = list(candidates)
        pool = [r for r in pool if not r.generic] or pool
        beaten = {victim for r in pool for victim in r.overrides}
        pool = [r for r in pool if r.id not in beaten] or pool
        own = _dedupe(req for rule in pool for req in rule.requests())
        keys = {r.key for r in own}
        rivals = _dedupe(
            req
            for rule in pool
            for rival in self._overridden_by.get(rule.id, ())
            for req in rival.requests("identify")
            if req.key not in keys
        )
        return [(r, False) for r in own if r.key not in sent] + [(r, True) for r in rivals if r.key not in sent]

    def needed(self, request: Request, observations: Mapping[str, Observation]) -> bool:
        """Whether `request` can still change an identification: some rule that asks it to identify its product
        has a signal the answers so far have not refuted. A refuted rule can never match (each condition depends
        on one answer only), so its remaining probes would be wasted on this target."""
        return any(not refuted(r, observations) for r in self._needers.get(request.key, ()))

    def rules_for_matching(self, sent: AbstractSet[str]) -> list[Rule]:
        """Rules whose identify probes have all been sent."""
        keys = self.identify_keys
        return [r for r in self.rules if keys[r.id] and keys[r.id] <= sent]


_HINT_BYTES = 16 * 1024
_STOP_WORDS = frozenset({"open", "text", "local", "model", "server", "generic", "apis", "service"})


def refuted(rule: Rule, observations: Mapping[str, Observation]) -> bool:
    """Every identify signal of `rule` has a condition whose answer is in and fails it."""
    for signal in rule.identify:
        for c in signal.conditions:
            if c.request.key in observations and not c.holds(observations):
                break
        else:
            return False
    return True


def _hint_words(rule: Rule) -> set[str]:
    """Words that, seen in an answer, suggest the product: its id (with and without hyphens) and the first word of
    its name."""
    words = {rule.id, rule.id.replace("-", ""), rule.id.replace("-", " ")}
    first = rule.name.split()[0].lower() if rule.name else ""
    if len(first) >= 4:
        words.add(first)
    return {w for w in words if len(w) >= 3 and w not in _STOP_WORDS}


def _dedupe_rules(rules: Iterable[Rule]) -> list[Rule]:
    return list({r.id: r for r in rules}.values())


def _dedupe(requests: Iterable[Request]) -> list[Request]:
    seen: dict[str, Request] = {}
    for r in requests:
        seen.setdefault(r.key, r)
    return list(seen.values())
