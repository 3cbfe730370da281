"""Lazy target expansion in a seeded pseudo-random order that never materialises the target list.

The target space is a list of segments (a network, or a packed array of single addresses) times their ports. An index
in [0, size) maps to one (address, port); a keyed Feistel bijection with cycle-walking permutes the indexes, so a /8
costs the same memory as a /24 and every target is visited exactly once.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aisweep.models import Target
from aisweep.targets.exclude import ExclusionList
from aisweep.targets.parse import TargetSpec

_MASK64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit mixing function."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


class Permutation:
    """A seeded bijection on range(n): a 4-round Feistel network on 2^k >= n, cycle-walked into range."""

    ROUNDS = 4

    def __init__(self, n: int, seed: int) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        self.n = n
        bits = max(2, (n - 1).bit_length()) if n > 1 else 2
        bits += bits & 1
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = [_mix64((seed & _MASK64) ^ (0x9E3779B97F4A7C15 * (r + 1) & _MASK64)) for r in range(self.ROUNDS)]

    def _feistel(self, x: int) -> int:
        half, mask = self._half, self._mask
        left, right = x >> half, x & mask
        for key in self._keys:
            left, right = right, left ^ (_mix64(right ^ key) & mask)
        return (left << half) | right

    def __call__(self, index: int) -> int:
        if not 0 <= index < self.n:
            raise IndexError(index)
        x = self._feistel(index)
        while x >= self.n:  # cycle-walk: stays a bijection on range(n)
            x = self._feistel(x)
        return x

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            yield self(i)


@dataclass(slots=True)
class _Segment:
    version: int
    base: int  # first address as an integer (network segments)
    count: int  # number of addresses
    ports: tuple[int, ...]
    scheme: str | None
    hostname: str | None
    packed: array[int] | list[int] | None = None  # single addresses, when not a contiguous network
    packed_ports: array[int] | None = None  # one port per packed address (imported host:port pairs)

    @property
    def size(self) -> int:
        return self.count if self.packed_ports is not None else self.count * len(self.ports)

    def address(self, offset: int) -> int:
        return self.packed[offset] if self.packed is not None else self.base + offset


class PairTable:
    """Explicit (address, port) targets, packed (8 bytes each for IPv4) and de-duplicated: imported candidates.

    `by_version` sorts and de-duplicates once (`freeze`, in the parent) and keeps the packed arrays, so the copy each
    worker receives is compact and a million imported targets cost megabytes, not hundreds of them."""

    def __init__(self) -> None:
        self._v4: array[int] = array("Q")
        self._v6: list[int] = []
        self._frozen: dict[int, tuple[array[int] | list[int], array[int]]] | None = None

    def add(self, address: str, port: int) -> None:
        ip = ipaddress.ip_address(address)
        key = (int(ip) << 16) | port
        if ip.version == 4:
            self._v4.append(key)
        else:
            self._v6.append(key)
        self._frozen = None

    def __len__(self) -> int:
        if self._frozen is not None:
            return sum(len(ports) for _, ports in self._frozen.values())
        return len(self._v4) + len(self._v6)

    def freeze(self) -> None:
        """Sort and de-duplicate into the packed form the target space reads (the raw keys are dropped)."""
        if self._frozen is not None:
            return
        frozen: dict[int, tuple[array[int] | list[int], array[int]]] = {}
        v4 = array("Q", sorted(set(self._v4)))
        frozen[4] = (array("L", (k >> 16 for k in v4)), array("H", (k & 0xFFFF for k in v4)))
        v6 = sorted(set(self._v6))
        frozen[6] = ([k >> 16 for k in v6], array("H", (k & 0xFFFF for k in v6)))
        self._v4, self._v6, self._frozen = array("Q"), [], frozen

    def by_version(self) -> dict[int, tuple[array[int] | list[int], array[int]]]:
        self.freeze()
        assert self._frozen is not None
        return self._frozen


@dataclass(frozen=True, slots=True)
class ResolvedSpec:
    """A spec whose host name (if any) has been resolved to one address."""

    spec: TargetSpec
    network: ipaddress.IPv4Network | ipaddress.IPv6Network


def resolve_specs(specs: Sequence[TargetSpec], workers: int = 32) -> tuple[list[ResolvedSpec], list[TargetSpec]]:
    """Resolve host names in bulk before scanning. Returns (resolved, names that did not resolve)."""
    names = sorted({s.hostname for s in specs if s.hostname})
    addresses: dict[str, str | None] = {}

    def lookup(name: str) -> tuple[str, str | None]:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return name, None
        v4 = [str(i[4][0]) for i in infos if i[0] == socket.AF_INET]
        any_addr = v4 or [str(i[4][0]) for i in infos]
        return name, str(any_addr[0]) if any_addr else None

    if names:
        with ThreadPoolExecutor(max_workers=min(workers, len(names))) as pool:
            addresses.update(pool.map(lookup, names))
    resolved: list[ResolvedSpec] = []
    failed: list[TargetSpec] = []
    for spec in specs:
        if spec.network is not None:
            resolved.append(ResolvedSpec(spec, spec.network))
        elif spec.hostname and addresses.get(spec.hostname):
            resolved.append(ResolvedSpec(spec, ipaddress.ip_network(addresses[spec.hostname] or "")))
        else:
            failed.append(spec)
    return resolved, failed


class TargetSpace:
    """All (address, port) pairs of a scan, addressable by index and iterable in permuted order."""

    def __init__(
        self,
        specs: Sequence[ResolvedSpec],
        ports: tuple[int, ...],
        *,
        exclusions: ExclusionList | None = None,
        seed: int = 0,
        origin: str = "cli",
        pairs: PairTable | None = None,
    ) -> None:
        self.exclusions = exclusions or ExclusionList()
        self.origin = origin
        self.seed = seed
        self._segments: list[_Segment] = []
        pending: array[int] = array("L")
        pending_key: tuple[int, tuple[int, ...]] | None = None

        def flush() -> None:
            nonlocal pending, pending_key
            if pending_key is not None and len(pending):
                version, pports = pending_key
                self._segments.append(_Segment(version, 0, len(pending), pports, None, None, pending))
            pending = array("L")
            pending_key = None

        for item in specs:
            spec, net = item.spec, item.network
            sports = (spec.port,) if spec.port is not None else ports
            single_v4 = net.num_addresses == 1 and net.version == 4 and not spec.hostname and not spec.scheme
            if single_v4:
                key = (4, sports)
                if pending_key != key:
                    flush()
                    pending_key = key
                pending.append(int(net.network_address))
                continue
            flush()
            self._segments.append(
                _Segment(net.version, int(net.network_address), net.num_addresses, sports, spec.scheme, spec.hostname)
            )
        flush()
        if pairs is not None:
            for version, (addresses, pports) in pairs.by_version().items():
                if len(addresses):
                    self._segments.append(_Segment(version, 0, len(addresses), (0,), None, None, addresses, pports))
        self._starts: list[int] = []
        total = 0
        for seg in self._segments:
            self._starts.append(total)
            total += seg.size
        self.size = total
        self._perm = Permutation(total, seed)

    def target_at(self, index: int) -> Target | None:
        """The target at `index` (unpermuted), or None when the exclusion list covers it."""
        s = bisect.bisect_right(self._starts, index) - 1
        seg = self._segments[s]
        offset = index - self._starts[s]
        if seg.packed_ports is not None:
            addr_index, port = offset, seg.packed_ports[offset]
        else:
            addr_index, port_index = divmod(offset, len(seg.ports))
            port = seg.ports[port_index]
        value = seg.address(addr_index)
        if self.exclusions.contains_int(seg.version, value) or (
            seg.hostname and self.exclusions.contains_name(seg.hostname)
        ):
            return None
        host = str(ipaddress.IPv4Address(value) if seg.version == 4 else ipaddress.IPv6Address(value))
        return Target(host, port, seg.scheme, seg.hostname, self.origin)

    def __iter__(self) -> Iterator[tuple[int, Target | None]]:
        """(permuted position, target or None if excluded), in the seeded pseudo-random order."""
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[tuple[int, Target | None]]:
        """The same sequence, beginning at position `start` (for resuming)."""
        perm = self._perm
        for position in range(start, self.size):
            yield position, self.target_at(perm(position))
