"""Central politeness: the per-host cap and the rate limit hold whatever the concurrency."""

from __future__ import annotations

import asyncio
import time

import pytest

from aisweep.models import Outcome, Target, TargetResult
from aisweep.net import scheduler
from aisweep.net.scheduler import HostLimiter, SchedulerSettings, TokenBucket, scan_targets
from aisweep.rules.plan import RuleSet


async def test_per_host_cap_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def fake_probe(target: Target, *args: object) -> TargetResult:
        active[target.host] = active.get(target.host, 0) + 1
        peak[target.host] = max(peak.get(target.host, 0), active[target.host])
        await asyncio.sleep(0.01)
        active[target.host] -= 1
        return TargetResult(target, Outcome.REFUSED)

    monkeypatch.setattr(scheduler, "probe_target", fake_probe)
    targets = iter([(i, Target(f"127.0.0.{1 + i % 3}", 1000 + i)) for i in range(60)])
    results = [r async for _, r in scan_targets(targets, RuleSet([]), SchedulerSettings(concurrency=50, per_host=2))]
    assert len(results) == 60
    assert max(peak.values()) == 2


async def test_rate_limit_spaces_starts() -> None:
    bucket = TokenBucket(50.0)
    start = time.monotonic()
    for _ in range(100):
        await bucket.take()
    assert time.monotonic() - start >= 0.9  # 50 burst + 50 more at 50/s


async def test_host_limiter_releases_waiters_in_order() -> None:
    limiter = HostLimiter(1)
    order: list[int] = []

    async def job(i: int) -> None:
        await limiter.acquire("h")
        order.append(i)
        await asyncio.sleep(0)
        limiter.release("h")

    await asyncio.gather(*(job(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert not limiter._active and not limiter._waiters  # nothing left behind: memory stays flat
