"""Run a scan: resolve and expand targets, shard them by host across worker processes (one per core), and stream
each worker's results to the sinks (store, output, progress) as they complete."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import multiprocessing as mp
import os
import queue
import random
import resource
import signal
import ssl
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aisweep.advisories.check import pinned_database
from aisweep.advisories.database import load_database
from aisweep.checks.probes import CATCHALL_PATH
from aisweep.checks.secrets import may_need_redaction, redact_body, redact_headers
from aisweep.errors import AisweepError
from aisweep.models import Finding, Level, Observation, Outcome, Service, Target, TargetResult
from aisweep.net.http import ClientConfig
from aisweep.net.probe import HOST_TIMEOUT, ProbeSettings
from aisweep.net.scheduler import SchedulerSettings, scan_targets
from aisweep.rules.loader import load_rules
from aisweep.rules.plan import RuleSet
from aisweep.rules.rounds import WIDEN
from aisweep.targets.exclude import ExclusionList
from aisweep.targets.expand import PairTable, ResolvedSpec, TargetSpace, resolve_specs
from aisweep.targets.parse import TargetSpec

OBSERVATION_BODY_CAP = 4 * 1024  # stored per observation: enough to re-assess, small enough for 1M services
_BATCH_SECONDS = 0.2
_BATCH_SIZE = 64


@dataclass(slots=True)
class ScanSettings:
    ports: tuple[int, ...]
    level: Level = Level.SAFE
    rate: float | None = None  # total new targets/s across workers
    concurrency: int = 1024  # total targets in flight across workers
    per_host: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_body: int = 1024 * 1024
    widen: int | None = WIDEN  # identify probes of other products for an answer nothing on its port matched
    host_timeout: float | None = HOST_TIMEOUT  # seconds one target may take in all (None: no limit)
    workers: int | None = None  # None: one per core for large scans, in-process for small ones
    seed: int | None = None
    rule_dirs: tuple[Path, ...] = ()
    origin: str = "cli"
    exclude: str | None = None
    ignore_file: str | None = None  # team ignore file (advisories.ignore): suppressed findings never reach outputs
    import_format: str | None = None  # targets are files of another tool's output (--from)
    advisory_data: str | None = None  # the advisory dataset the run judged versions against (`DataStatus.line()`)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanSettings:
        return cls(
            ports=tuple(d["ports"]),
            level=Level(d.get("level", "safe")),
            rate=d.get("rate"),
            concurrency=int(d.get("concurrency", 1024)),
            per_host=int(d.get("per_host", 4)),
            connect_timeout=float(d.get("connect_timeout", 5.0)),
            read_timeout=float(d.get("read_timeout", 10.0)),
            max_body=int(d.get("max_body", 1024 * 1024)),
            widen=d.get("widen", WIDEN),
            host_timeout=d.get("host_timeout", HOST_TIMEOUT),
            workers=d.get("workers"),
            seed=d.get("seed"),
            rule_dirs=tuple(Path(p) for p in d.get("rule_dirs", ())),
            origin=d.get("origin", "cli"),
            exclude=d.get("exclude"),
            import_format=d.get("import_format"),
            advisory_data=d.get("advisory_data"),
            ignore_file=d.get("ignore_file"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ports": list(self.ports),
            "level": self.level.value,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "per_host": self.per_host,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "max_body": self.max_body,
            "widen": self.widen,
            "host_timeout": self.host_timeout,
            "workers": self.workers,
            "seed": self.seed,
            "rule_dirs": [str(d) for d in self.rule_dirs],
            "origin": self.origin,
            "exclude": self.exclude,
            "import_format": self.import_format,
            "advisory_data": self.advisory_data,
            "ignore_file": self.ignore_file,
        }


class ResultSink(Protocol):
    def add(self, record: dict[str, Any]) -> None: ...


class CheckpointSink(Protocol):
    def checkpoint(self, worker: int, state: dict[str, Any], stats: ScanStats) -> None: ...


@dataclass(slots=True)
class ScanStats:
    targets_total: int = 0
    targets_done: int = 0
    services: int = 0
    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    unidentified_by_port: Counter[str] = field(default_factory=Counter)  # HTTP answered, no rule matched
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False
    elapsed_before: float = 0.0  # time spent before a resume
    suppressed: int = 0  # findings removed by the ignore file
    budget_spent: int = 0  # targets concluded early because their time budget (--host-timeout) ran out

    def merge(self, delta: dict[str, int]) -> None:
        for key, value in delta.items():
            if key == "done":
                self.targets_done += value
            elif key == "services":
                self.services += value
            elif key == "requests":
                self.requests += value
            elif key == "suppressed":
                self.suppressed += value
            elif key == "budget_spent":
                self.budget_spent += value
            elif key.startswith("unidentified:"):
                self.unidentified_by_port[key.split(":", 1)[1]] += value
            else:
                self.outcomes[key] += value

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started + self.elapsed_before

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanStats:
        """Counters of an interrupted run, to continue from."""
        return cls(
            targets_total=int(data.get("targets_total", 0)),
            targets_done=int(data.get("targets_done", 0)),
            services=int(data.get("services", 0)),
            requests=int(data.get("requests", 0)),
            outcomes=Counter(data.get("outcomes", {})),
            unidentified_by_port=Counter(data.get("unidentified_by_port", {})),
            elapsed_before=float(data.get("elapsed_s", 0.0)),
            suppressed=int(data.get("suppressed", 0)),
            budget_spent=int(data.get("budget_spent", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets_total": self.targets_total,
            "targets_done": self.targets_done,
            "services": self.services,
            "requests": self.requests,
            "outcomes": dict(self.outcomes),
            "unidentified_by_port": dict(self.unidentified_by_port),
            "suppressed": self.suppressed,
            "budget_spent": self.budget_spent,
            "elapsed_s": round(self.elapsed, 3),
            "interrupted": self.interrupted,
        }


@dataclass(frozen=True, slots=True)
class _WorkerJob:
    index: int
    count: int
    specs: tuple[ResolvedSpec, ...]
    exclusions: ExclusionList
    settings: ScanSettings
    seed: int
    resume: dict[str, Any] | None = None  # this worker's checkpoint from an interrupted run
    pairs: PairTable | None = None


class Checkpoint:
    """Which of a worker's positions are finished: all below `watermark`, plus `done` above it.

    Positions are issued in increasing order and finish out of order; the watermark is the smallest position still
    in flight. Stored with the results in one transaction, so a resumed run neither rescans nor duplicates."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.start = int(state["watermark"]) if state else 0
        self.skip = set(state.get("done", ())) if state else set()
        self.inflight: set[int] = set()
        self.done: set[int] = set(self.skip)
        self.next_position = self.start

    def issue(self, position: int) -> None:
        self.inflight.add(position)
        self.next_position = position + 1

    def finish(self, position: int) -> None:
        self.inflight.discard(position)
        self.done.add(position)

    def state(self) -> dict[str, Any]:
        watermark = min(self.inflight) if self.inflight else self.next_position
        self.done = {p for p in self.done if p >= watermark}
        return {"watermark": watermark, "done": sorted(self.done)}


def shard_of(host: str, count: int) -> int:
    return zlib.crc32(host.encode()) % count if count > 1 else 0


def observation_record(obs: Observation, *, redact: bool = True) -> dict[str, Any]:
    """The stored form of an observation: body capped, and every secret value replaced by a redaction marker
    (type, SHA-256, 4-character prefix) so no credential reaches the database; re-assessment still finds them.
    `redact=False` only where `may_need_redaction` has said that no value in it would be replaced."""
    body = obs.body[:OBSERVATION_BODY_CAP]
    return {
        "method": obs.request.method,
        "path": obs.request.path,
        "request_headers": [list(h) for h in obs.request.headers],
        "outcome": obs.outcome.value,
        "status": obs.status,
        "headers": redact_headers(obs.headers) if redact else [list(h) for h in obs.headers],
        "body": redact_body(body) if redact else body,  # bytes: pickled to the parent as is, stored as a BLOB
        "truncated": obs.truncated or len(obs.body) > OBSERVATION_BODY_CAP,
        "elapsed_ms": round(obs.elapsed_ms, 2),
        "error": obs.error,
    }


def result_record(position: int, result: TargetResult) -> dict[str, Any] | None:
    """The wire record of a target that yielded a service (None otherwise)."""
    if result.service is None:
        return None
    record = result.service.to_record()
    record["position"] = position
    # Misses (404/405/501 to probes of other products) are not kept: they are most of a fallback round and say
    # nothing a re-assessment needs, except the catch-all path that honeypot scoring reads.
    kept = [o for o in result.observations if o.status not in (404, 405, 501) or o.request.path == CATCHALL_PATH]
    # One pre-filter search of everything kept usually shows that nothing needs redacting.
    redact = may_need_redaction((o.body[:OBSERVATION_BODY_CAP] for o in kept), (h for o in kept for h in o.headers))
    record["observations"] = [observation_record(o, redact=redact) for o in kept]
    return record


class BodyDedupe:
    """Sends each distinct stored body to the parent once per worker: an observation carries the body's SHA-256,
    and the bytes only the first time this worker sees them (the store keeps one copy per content). Bounded: the
    memory is forgotten past `limit` digests, which only costs a body sent twice (stored once)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.sent: set[bytes] = set()

    def apply(self, record: dict[str, Any]) -> None:
        for o in record.get("observations") or ():
            body = o.get("body")
            if body is None:
                continue
            digest = hashlib.sha256(body).digest()
            o["body_sha"] = digest.hex()
            if digest in self.sent:
                o["body"] = None
            else:
                if len(self.sent) >= self.limit:
                    self.sent.clear()
                self.sent.add(digest)


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _shard_targets(
    job: _WorkerJob, space: TargetSpace, excluded: list[int], checkpoint: Checkpoint
) -> Iterator[tuple[int, Target]]:
    for position, target in space.iter_from(checkpoint.start):
        if position in checkpoint.skip:
            continue
        if target is None:
            if job.index == 0:
                excluded[0] += 1
            continue
        if job.count == 1 or shard_of(target.host, job.count) == job.index:
            checkpoint.issue(position)
            yield position, target


Emit = Callable[[list[dict[str, Any]], dict[str, int], dict[str, Any]], None]


def _quiet_network_noise(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Peers that reset a TLS handshake leave uvloop futures nobody awaits; that is an outcome, not an error."""
    exc = context.get("exception")
    if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError):
        return
    loop.default_exception_handler(context)


@contextlib.contextmanager
def long_lived_heap() -> Iterator[None]:
    """Collect garbage rarely and never walk what lives for the whole scan.

    A scan allocates millions of short-lived objects (observations, parsed JSON, records) while the rules and the
    advisory database live throughout. With the default thresholds the cyclic collector took ~25% of a worker's CPU;
    at 10,000 young objects 7% (each collection still costs ~50 ms), at 50,000 under 1% (0.2 s of collections for
    20,000 services, down from 2.5 s), with the same peak memory. The frozen objects are never collected; both
    settings are undone on exit."""
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


async def _drive(job: _WorkerJob, emit: Emit) -> None:
    asyncio.get_running_loop().set_exception_handler(_quiet_network_noise)
    s = job.settings
    ruleset = RuleSet(load_rules(s.rule_dirs), s.level)
    advisories = load_database()  # loaded before the heap is frozen, with the rules
    with pinned_database(advisories), long_lived_heap():
        await _scan_shard(job, emit, ruleset)


async def _scan_shard(job: _WorkerJob, emit: Emit, ruleset: RuleSet) -> None:
    s = job.settings
    space = TargetSpace(job.specs, s.ports, exclusions=job.exclusions, seed=job.seed, origin=s.origin, pairs=job.pairs)
    excluded = [0]
    sched = SchedulerSettings(
        concurrency=max(1, s.concurrency // job.count),
        rate=(s.rate / job.count) if s.rate else None,
        per_host=s.per_host,
        probe=ProbeSettings(
            ClientConfig(connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, max_body=s.max_body),
            s.level,
            s.widen,
            s.host_timeout,
        ),
    )
    records: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    last = time.monotonic()
    checkpoint = Checkpoint(job.resume)
    suppress = _suppressor(s.ignore_file)
    dedupe = BodyDedupe()
    async for position, result in scan_targets(_shard_targets(job, space, excluded, checkpoint), ruleset, sched):
        checkpoint.finish(position)
        if suppress is not None and result.service is not None:
            before = len(result.service.findings)
            result.service.findings = suppress(result.service)
            counts["suppressed"] += before - len(result.service.findings)
        counts["done"] += 1
        counts[result.outcome.value] += 1
        counts["requests"] += result.requests_sent
        if result.budget_spent:
            counts["budget_spent"] += 1
        record = result_record(position, result)
        if record is not None:
            dedupe.apply(record)
            counts["services"] += 1
            records.append(record)
        elif result.outcome is Outcome.OK:
            counts[f"unidentified:{result.target.port}"] += 1
        if excluded[0]:
            counts[Outcome.EXCLUDED.value] += excluded[0]
            counts["done"] += excluded[0]
            excluded[0] = 0
        now = time.monotonic()
        if len(records) >= _BATCH_SIZE or now - last >= _BATCH_SECONDS:
            emit(records, dict(counts), checkpoint.state())
            records, counts, last = [], Counter(), now
    if excluded[0]:
        counts[Outcome.EXCLUDED.value] += excluded[0]
        counts["done"] += excluded[0]
    emit(records, dict(counts), checkpoint.state())


def _suppressor(path: str | None) -> Callable[[Service], list[Finding]] | None:
    """A filter removing the findings an ignore file's active entries suppress (None without a file)."""
    if not path:
        return None
    from aisweep.advisories import IgnoreReport, filter_findings, load_ignore_file
    from aisweep.advisories.ignore import default_alias_lookup

    ignores = load_ignore_file(path)
    aliases = default_alias_lookup()
    report = IgnoreReport()

    def apply(service: Service) -> list[Finding]:
        return filter_findings(service, service.findings, ignores, report, aliases=aliases)

    return apply


def _run_worker(job: _WorkerJob, put: Callable[[Any], None]) -> None:
    try:
        _raise_fd_limit()
        runner = _new_runner()
        with runner:
            runner.run(_drive(job, lambda recs, counts, cp: put(("batch", job.index, recs, (counts, cp)))))
        put(("done", job.index, None, None))
    except Exception as exc:  # report, never hang the parent
        put(("error", job.index, f"{type(exc).__name__}: {exc}", None))


def _new_runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.Runner()


def _process_main(job: _WorkerJob, out: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _run_worker(job, out.put)


def plan_workers(settings: ScanSettings, total: int) -> int:
    if settings.workers:
        return max(1, settings.workers)
    return 1 if total < 2048 else max(1, os.cpu_count() or 1)


def run_scan(
    specs: list[TargetSpec],
    settings: ScanSettings,
    exclusions: ExclusionList,
    sinks: list[ResultSink],
    on_progress: Callable[[ScanStats], None] | None = None,
    stats: ScanStats | None = None,
    checkpoints: CheckpointSink | None = None,
    resume: dict[str, dict[str, Any]] | None = None,
    on_start: Callable[[ScanSettings], None] | None = None,
    pairs: PairTable | None = None,
) -> ScanStats:
    """Scan everything in `specs`; every service record goes to each sink as soon as its worker reports it.

    With `resume` (worker index -> checkpoint of an interrupted run, same settings and seed), finished positions
    are skipped; `stats` then carries the interrupted run's counters."""
    stats = stats or ScanStats()
    resuming = resume is not None
    resolved, failed = resolve_specs(specs)
    for spec in [] if resuming else failed:
        if spec.hostname and exclusions.contains_name(spec.hostname):
            stats.outcomes[Outcome.EXCLUDED.value] += 1
        else:
            stats.outcomes[Outcome.DNS_ERROR.value] += 1
        stats.targets_done += 1
        stats.targets_total += 1
    seed = settings.seed if settings.seed is not None else random.SystemRandom().getrandbits(63)
    settings.seed = seed
    space = TargetSpace(resolved, settings.ports, exclusions=exclusions, seed=seed, origin=settings.origin, pairs=pairs)
    if not resuming:
        stats.targets_total += space.size
    if space.size == 0:
        return stats
    count = plan_workers(settings, space.size)
    settings.workers = count  # recorded, so a resumed run shards the same way
    if on_start is not None:
        on_start(settings)
    jobs = [
        _WorkerJob(i, count, tuple(resolved), exclusions, settings, seed, (resume or {}).get(str(i)), pairs)
        for i in range(count)
    ]
    messages: queue.Queue[Any] | Any
    procs: list[Any] = []
    if count == 1:
        messages = queue.Queue(maxsize=64)
        thread = threading.Thread(target=_run_worker, args=(jobs[0], messages.put), daemon=True)
        thread.start()
    else:
        ctx = mp.get_context("spawn")
        messages = ctx.Queue(maxsize=16)  # bounded: a slow store slows the workers, memory stays flat
        procs = [ctx.Process(target=_process_main, args=(job, messages), daemon=True) for job in jobs]
        for p in procs:
            p.start()
    running = count
    errors: list[str] = []
    # The parent unpickles and stores every record: the same garbage profile as a worker's (in-process, the worker
    # thread's own setting covers the process).
    heap = long_lived_heap() if procs else contextlib.nullcontext()
    with heap:
        try:
            while running:
                try:
                    kind, _index, payload, counts = messages.get(timeout=0.25)
                except queue.Empty:
                    if procs and not any(p.is_alive() for p in procs):
                        # Workers died without saying so (killed); keep what we have.
                        with contextlib.suppress(queue.Empty):
                            while True:
                                kind, _index, payload, counts = messages.get_nowait()
                                _consume(kind, payload, counts, sinks, stats, errors)
                                if kind == "batch" and checkpoints is not None:
                                    checkpoints.checkpoint(_index, counts[1], stats)
                        break
                    if on_progress:
                        on_progress(stats)
                    continue
                if kind in ("done", "error"):
                    running -= 1
                _consume(kind, payload, counts, sinks, stats, errors)
                if kind == "batch" and checkpoints is not None:
                    checkpoints.checkpoint(_index, counts[1], stats)
                if on_progress:
                    on_progress(stats)
        except KeyboardInterrupt:
            stats.interrupted = True
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
    if errors and not stats.interrupted:
        raise AisweepError("a scan worker failed: " + "; ".join(errors))
    return stats


def _consume(
    kind: str, payload: Any, counts: Any, sinks: list[ResultSink], stats: ScanStats, errors: list[str]
) -> None:
    if kind == "error":
        errors.append(str(payload))
        return
    if kind != "batch":
        return
    for record in payload:
        for sink in sinks:
            sink.add(record)
    stats.merge(counts[0])
