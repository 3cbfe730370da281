"""Central politeness and concurrency for one worker: a fixed pool of coroutines pulling targets from a lazy
iterator, a global rate limit (token bucket), and a per-host connection cap. Results stream out as they complete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from aisweep.models import Outcome, Target, TargetResult
from aisweep.net.http import make_ssl_context
from aisweep.net.probe import ProbeSettings, probe_target
from aisweep.rules.plan import RuleSet


@dataclass(slots=True)
class SchedulerSettings:
    concurrency: int = 512
    rate: float | None = None  # new targets per second for this worker; None: unlimited
    per_host: int = 4
    probe: ProbeSettings = field(default_factory=ProbeSettings)


class TokenBucket:
    """Allows `rate` starts per second on average, with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self.tokens) / self.rate)


class HostLimiter:
    """At most `limit` targets of one host in flight; entries vanish when idle so memory stays flat."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, int] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def acquire(self, host: str) -> None:
        while self._active.get(host, 0) >= self.limit:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(host, []).append(fut)
            await fut
        self._active[host] = self._active.get(host, 0) + 1

    def release(self, host: str) -> None:
        n = self._active[host] - 1
        if n:
            self._active[host] = n
        else:
            del self._active[host]
        waiters = self._waiters.get(host)
        if waiters:
            fut = waiters.pop(0)
            if not waiters:
                del self._waiters[host]
            if not fut.done():
                fut.set_result(None)


class LoopLag:
    """How late the event loop runs a timer, smoothed. When the worker's CPU is the bottleneck, every extra target
    in flight only makes all of them slower, until answers that did arrive sit unread past the read timeout and
    count as the target's timeouts; new targets therefore wait while the loop is late (`busy`)."""

    def __init__(self, interval: float = 0.02, limit: float = 0.05) -> None:
        self.interval, self.limit = interval, limit
        self.lag = 0.0
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + interval
        self._handle = self._loop.call_at(self._due, self._tick)
        self._open = asyncio.Event()  # set while on time: waiting workers sleep on it instead of polling
        self._open.set()

    def _tick(self) -> None:
        now = self._loop.time()
        self.lag = 0.7 * self.lag + 0.3 * max(0.0, now - self._due)
        self._due = now + self.interval
        self._handle = self._loop.call_at(self._due, self._tick)
        if self.lag > self.limit:
            self._open.clear()
        else:
            self._open.set()

    @property
    def busy(self) -> bool:
        return self.lag > self.limit

    async def wait(self) -> None:
        """Return once the loop runs its timers on time again (at the next tick that finds it so)."""
        while self.lag > self.limit:
            self._open.clear()
            await self._open.wait()

    def close(self) -> None:
        self._handle.cancel()


async def scan_targets(
    targets: Iterator[tuple[int, Target]], ruleset: RuleSet, settings: SchedulerSettings
) -> AsyncIterator[tuple[int, TargetResult]]:
    """Probe every (position, target), yielding (position, result) as each completes."""
    ssl_ctx = make_ssl_context()
    bucket = TokenBucket(settings.rate) if settings.rate else None
    hosts = HostLimiter(settings.per_host)
    # Small: finished results hold their bodies; when the consumer falls behind, probes wait instead of memory growing.
    results: asyncio.Queue[tuple[int, TargetResult] | None] = asyncio.Queue(maxsize=64)
    lag = LoopLag()

    async def worker() -> None:
        for position, target in targets:  # a shared iterator: each target is taken by exactly one worker
            if lag.busy:
                await lag.wait()
            if bucket is not None:
                await bucket.take()
            await hosts.acquire(target.host)
            try:
                result = await probe_target(target, ruleset, settings.probe, ssl_ctx)
            except Exception as exc:  # a bug or a hostile response must never end the run
                result = TargetResult(target, Outcome.PROTOCOL_ERROR, error=f"internal error: {exc!r}")
            finally:
                hosts.release(target.host)
            await results.put((position, result))

    async def supervise() -> None:
        try:
            await asyncio.gather(*(worker() for _ in range(max(1, settings.concurrency))))
        finally:
            await results.put(None)

    task = asyncio.create_task(supervise())
    try:
        while True:
            item = await results.get()
            if item is None:
                break
            yield item
    finally:
        lag.close()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
