"""Lazy expansion: the permutation visits every target exactly once, is seeded, and never materialises the list."""

import ipaddress
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from aisweep.targets.exclude import ExclusionList
from aisweep.targets.expand import Permutation, TargetSpace, resolve_specs
from aisweep.targets.parse import parse_targets


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=0, max_value=2**63))
@settings(max_examples=60, deadline=None)
def test_permutation_is_a_bijection(n: int, seed: int) -> None:
    perm = Permutation(n, seed)
    assert sorted(perm) == list(range(n))


def test_permutation_depends_on_seed_and_is_deterministic() -> None:
    a, b, c = list(Permutation(1000, 1)), list(Permutation(1000, 1)), list(Permutation(1000, 2))
    assert a == b and a != c
    assert a != list(range(1000))  # actually shuffled


def space(tokens: list[str], ports: tuple[int, ...], exclude: list[str] | None = None, seed: int = 3) -> TargetSpace:
    resolved, failed = resolve_specs(parse_targets(tokens))
    assert not failed
    return TargetSpace(resolved, ports, exclusions=ExclusionList(exclude or []), seed=seed)


def test_every_target_exactly_once() -> None:
    s = space(["127.1.0.0/26", "127.2.0.1", "127.2.0.2:9999", "::1", "127.3.0.1-127.3.0.3"], (80, 11434))
    seen = [(t.host, t.port) for _, t in s if t is not None]
    assert len(seen) == len(set(seen)) == s.size == 64 * 2 + 2 + 1 + 2 + 3 * 2
    assert ("127.2.0.2", 9999) in seen and ("127.2.0.2", 80) not in seen
    assert ("::1", 11434) in seen


def test_exclusions_applied_before_anything() -> None:
    s = space(["127.1.0.0/28"], (80,), exclude=["127.1.0.0/30", "127.1.0.9"])
    hosts = {t.host for _, t in s if t is not None}
    assert len(hosts) == 16 - 4 - 1
    assert "127.1.0.9" not in hosts and "127.1.0.2" not in hosts
    assert sum(1 for _, t in s if t is None) == 5


def test_always_excluded_ranges() -> None:
    ex = ExclusionList()
    assert ex.contains(ipaddress.ip_address("0.0.0.1"))
    assert ex.contains(ipaddress.ip_address("239.1.1.1"))
    assert not ex.contains(ipaddress.ip_address("127.0.0.1"))


def test_a_slash8_costs_no_more_memory_than_a_slash24() -> None:
    def peak(token: str) -> int:
        tracemalloc.start()
        s = space([token], (80, 443, 8080))
        it = iter(s)
        for _ in range(500):
            next(it)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, big = peak("127.5.0.0/24"), peak("127.0.0.0/8")
    assert big < small * 2 + 50_000, (small, big)


def test_hostnames_resolve_and_keep_their_name() -> None:
    s = space(["localhost:8080"], (80,))
    (target,) = [t for _, t in s if t is not None]
    assert target.hostname == "localhost" and target.port == 8080
    assert ipaddress.ip_address(target.host).is_loopback


def test_unresolvable_names_are_reported(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    def refuse(*_a: object, **_k: object) -> None:  # no DNS traffic leaves the machine in tests
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    resolved, failed = resolve_specs(parse_targets(["no-such-host.invalid"]))
    assert not resolved and failed[0].hostname == "no-such-host.invalid"
