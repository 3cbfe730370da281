"""The emulated internet at benchmark scale: up to millions of services on 127.16.0.0 and up, one listening
socket per port bound to 0.0.0.0, each connection answered according to the address it dialled.

Binding 0.0.0.0 is only allowed inside a network namespace whose only interface is loopback (the benchmark creates
one with `unshare -n`); connections from non-loopback peers are dropped. Every service's behaviour is a pure
function of (seed, index), so the ground truth is recomputed, never stored, and the lab's memory stays small."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from aisweep.errors import LabError
from aisweep.lab.server import LabProtocol, render
from aisweep.rules.loader import load_rules
from aisweep.rules.samples import Response, Sample, load_samples, sample_port
from aisweep.targets.expand import _mix64

BASE = int(ipaddress.IPv4Address("127.16.0.0"))
BEHAVIOURS = ("normal", "slow", "tarpit", "oversized", "dead")


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of hostile behaviours (the rest behave normally)."""

    slow: float = 0.01
    tarpit: float = 0.01
    oversized: float = 0.01
    dead: float = 0.02

    @property
    def hostile(self) -> float:
        return self.slow + self.tarpit + self.oversized + self.dead


@dataclass(frozen=True, slots=True)
class ScaleService:
    index: int
    address: str
    port: int
    sample: Sample
    behaviour: str


def _u64(seed: int, index: int, salt: int) -> int:
    """A well-mixed 64-bit value for (seed, index, salt): cheap enough to compute per connection."""
    return _mix64((seed * 0x9E3779B97F4A7C15 + index * 0xC2B2AE3D27D4EB4F + salt) & 0xFFFFFFFFFFFFFFFF)


def address_of(index: int) -> str:
    """Service i lives at 127.16.0.0 + i, skipping .0 and .255 host octets."""
    n = BASE + (index // 254) * 256 + index % 254 + 1
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def index_of(address: str) -> int | None:
    try:
        value = int.from_bytes(socket.inet_aton(address), "big") - BASE
    except OSError:
        return None
    if value < 0:
        return None
    block, last = divmod(value, 256)
    if last == 0 or last == 255:
        return None
    return block * 254 + last - 1


class ScaleNetwork:
    def __init__(self, services: int, seed: int, mix: Mix | None = None) -> None:
        if services > 16_000_000:
            raise LabError("at most 16 million emulated services fit in 127.16.0.0 and up")
        self.services = services
        self.seed = seed
        self.mix = mix or Mix()
        edges, edge = [], 0.0
        for name in ("slow", "tarpit", "oversized", "dead"):
            edge += getattr(self.mix, name)
            edges.append((edge, name))
        self._edges = tuple(edges)
        rules = load_rules()
        self.samples = [s for s in sorted(load_samples(), key=lambda s: (s.rule_dir, s.case))]
        self.ports = [sample_port(s, rules) for s in self.samples]

    @cached_property
    def distinct_ports(self) -> list[int]:
        return sorted(set(self.ports))

    def service(self, index: int) -> ScaleService:
        pick = _u64(self.seed, index, 1) % len(self.samples)
        roll = (_u64(self.seed, index, 2) >> 11) / 2**53
        behaviour = "normal"
        if roll < self._edges[-1][0]:
            behaviour = next(name for edge, name in self._edges if roll < edge)
        return ScaleService(index, address_of(index), self.ports[pick], self.samples[pick], behaviour)

    def __iter__(self) -> Iterator[ScaleService]:
        for i in range(self.services):
            yield self.service(i)

    def resolve(self, address: str, port: int) -> ScaleService | None:
        index = index_of(address)
        if index is None or index >= self.services:
            return None
        svc = self.service(index)
        return svc if svc.port == port else None


def only_loopback_here() -> bool:
    """True inside a network namespace whose only interface is `lo` (/proc/self/net is per namespace)."""
    try:
        with open("/proc/self/net/dev") as fh:
            names = {line.split(":", 1)[0].strip() for line in fh.readlines()[2:] if ":" in line}
    except OSError:
        return False
    return names == {"lo"}


_OVERSIZE = 3 * 1024 * 1024
_OVERSIZED_BODY = b"x" * _OVERSIZE  # one buffer for every oversized answer


class ScaleProtocol(LabProtocol):
    """Answers one connection as the service at the dialled address would (see ScaleNetwork)."""

    cache: ClassVar[dict[tuple[int, str, str, bool], bytes]] = {}  # rendered responses, shared

    def __init__(self, network: ScaleNetwork) -> None:
        super().__init__()
        self.network = network
        self.service: ScaleService | None = None
        self.trickle: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        dialled = self.accept(transport)
        if dialled is None:
            return
        self.service = self.network.resolve(*dialled)
        if (self.service is None or self.service.behaviour == "dead") and self.transport is not None:
            self.transport.abort()

    def on_message_complete(self) -> None:
        tr, svc = self.transport, self.service
        if tr is None or svc is None or tr.is_closing():
            return
        method, path, keep = self.take_request()
        if svc.behaviour == "oversized" and method == "GET":
            tr.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % _OVERSIZE)
            tr.write(_OVERSIZED_BODY)
            tr.close()
            return
        key = (id(svc.sample), method, path, keep)
        payload = self.cache.get(key)
        if payload is None:
            response: Response = svc.sample.respond(method, path)
            payload = render(response, method == "HEAD", keep)
            if len(self.cache) < 200_000:
                self.cache[key] = payload
        if svc.behaviour == "slow":
            asyncio.get_running_loop().call_later(1.5, self._write, payload, keep)
        elif svc.behaviour == "tarpit":
            self.trickle = asyncio.ensure_future(self._trickle(payload))
        else:
            self._write(payload, keep)

    def _write(self, payload: bytes, keep: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)
            if not keep:
                self.transport.close()

    async def _trickle(self, payload: bytes) -> None:
        for i in range(0, min(len(payload), 40)):
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(payload[i : i + 1])
            await asyncio.sleep(0.5)
        if self.transport is not None:
            self.transport.close()


async def serve_wildcard(network: ScaleNetwork, ready: Path | None = None) -> None:
    """One 0.0.0.0 listener per port. Refuses to run outside a loopback-only network namespace."""
    if not only_loopback_here():
        raise LabError(
            "binding 0.0.0.0 is only allowed inside a network namespace that has nothing but loopback "
            "(run the benchmark, which creates one with `unshare -n`)"
        )
    loop = asyncio.get_running_loop()
    servers: list[Any] = []
    for port in network.distinct_ports:
        servers.append(
            await loop.create_server(lambda: ScaleProtocol(network), "0.0.0.0", port, backlog=4096, reuse_port=True)
        )
    if ready is not None:
        ready.write_text(f"{len(servers)} ports\n")
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def _run_one(network: ScaleNetwork, ready: Path | None) -> None:
    try:
        import uvloop

        uvloop.run(serve_wildcard(network, ready))
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        asyncio.run(serve_wildcard(network, ready))


def serve_scale(network: ScaleNetwork, ready: Path | None = None, processes: int = 1) -> None:
    """Serve with `processes` forked servers sharing each port (SO_REUSEPORT: the kernel spreads connections).
    The ready file is written once every process listens; SIGTERM stops them all."""
    if processes <= 1:
        _run_one(network, ready)
        return
    if not only_loopback_here():  # checked before forking too, so no child ever binds
        raise LabError("binding 0.0.0.0 is only allowed inside a network namespace that has nothing but loopback")
    import os
    import shutil
    import tempfile
    import time

    marks = Path(tempfile.mkdtemp(prefix="aisweep-lab-"))
    children: list[int] = []
    for i in range(processes):
        pid = os.fork()
        if pid == 0:  # child: serve until SIGTERM, never return into the caller's code
            code = 0
            try:
                _run_one(network, marks / f"ready-{i}")
            except BaseException:  # a child must exit, whatever happened; say why first
                import traceback

                traceback.print_exc()
                code = 1
            os._exit(code)
        children.append(pid)

    def stop(_sig: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while len(list(marks.glob("ready-*"))) < processes:
        if any(os.waitpid(pid, os.WNOHANG)[0] for pid in children):
            stop(signal.SIGTERM, None)
            shutil.rmtree(marks, ignore_errors=True)
            raise LabError("an emulator process exited while starting")
        time.sleep(0.05)
    shutil.rmtree(marks, ignore_errors=True)
    if ready is not None:
        ready.write_text(f"{len(network.distinct_ports)} ports, {processes} processes\n")
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
