"""Exclusion lists: addresses, networks and host names that must never receive a packet."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from aisweep.errors import TargetError
from aisweep.targets.parse import IPAddress, parse_target

# Never scanned whatever the user asks: "this network", multicast and reserved space.
ALWAYS_EXCLUDED = ("0.0.0.0/8", "224.0.0.0/3", "ff00::/8")


class ExclusionList:
    """Merged address ranges per IP version plus host names; membership is a binary search."""

    def __init__(self, networks: Iterable[str] = (), names: Iterable[str] = (), *, defaults: bool = True) -> None:
        ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for text in (*ALWAYS_EXCLUDED, *networks) if defaults else networks:
            net = ipaddress.ip_network(text, strict=False)
            ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, items in ranges.items():
            merged: list[tuple[int, int]] = []
            for lo, hi in sorted(items):
                if merged and lo <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
                else:
                    merged.append((lo, hi))
            self._starts[version] = [lo for lo, _ in merged]
            self._ends[version] = [hi for _, hi in merged]
        self.names = frozenset(n.lower().rstrip(".") for n in names)

    def contains_int(self, version: int, value: int) -> bool:
        starts = self._starts[version]
        i = bisect.bisect_right(starts, value) - 1
        return i >= 0 and value <= self._ends[version][i]

    def contains(self, address: IPAddress) -> bool:
        return self.contains_int(address.version, int(address))

    def contains_name(self, name: str) -> bool:
        return name.lower().rstrip(".") in self.names

    def overlaps_whole(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        """True when every address of `network` is excluded."""
        starts = self._starts[network.version]
        lo, hi = int(network.network_address), int(network.broadcast_address)
        i = bisect.bisect_right(starts, lo) - 1
        return i >= 0 and hi <= self._ends[network.version][i]

    @classmethod
    def from_file(cls, path: Path, *, defaults: bool = True) -> ExclusionList:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TargetError(f"cannot read exclusion list {path}: {exc.strerror}") from None
        nets: list[str] = []
        names: list[str] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            token = line.split("#", 1)[0].strip()
            if not token:
                continue
            try:
                specs = parse_target(token)
            except TargetError as exc:
                raise TargetError(f"{path}:{lineno}: {exc}") from None
            for spec in specs:
                if spec.network is not None:
                    nets.append(str(spec.network))
                elif spec.hostname:
                    names.append(spec.hostname)
        return cls(nets, names, defaults=defaults)
