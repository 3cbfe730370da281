"""The emulated network's ground truth: which sample each 127.x.y.z:port serves, as a pure function of the
address and the seed. Nothing is stored per host, so the truth can be recomputed at any size."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from functools import cached_property

from aisweep.lab.plants import PLANTS, can_plant, expected_finding
from aisweep.rules.model import Rule
from aisweep.rules.samples import Sample, load_samples, sample_port

DEAD_SHARE = 0.08  # hosts with nothing listening
SECOND_SERVICE_SHARE = 0.25  # hosts with a second service on another port
PLANT_SHARE = 0.3  # services carrying a planted case (TLS, leaked key, CORS, honeypot, indicator)


@dataclass(frozen=True, slots=True)
class Truth:
    """What a scan must conclude for one emulated service."""

    sample: Sample
    port: int
    plant: str | None = None

    @property
    def tls(self) -> bool:
        return bool(self.plant and self.plant.startswith("tls-"))

    @property
    def expected_finding(self) -> str | None:
        return expected_finding(self.plant, self.product) if self.plant else None

    @property
    def product(self) -> str | None:
        value = self.sample.expect.get("product")
        return str(value) if value else None

    @property
    def version(self) -> str | None:
        value = self.sample.expect.get("version")
        return str(value) if value is not None else None

    @property
    def auth(self) -> str | None:
        value = self.sample.expect.get("auth")
        return str(value) if value else None


def _unit(seed: int, *parts: object) -> float:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class LabNetwork:
    """`hosts` emulated hosts at consecutive addresses from `base`, each serving samples on their ports."""

    def __init__(
        self, rules: list[Rule], *, hosts: int, seed: int, base: str = "127.77.0.1", plants: bool = True
    ) -> None:
        self.rules = rules
        self.plants = plants
        self.hosts = hosts
        self.seed = seed
        self.base = int(ipaddress.IPv4Address(base))
        last = ipaddress.IPv4Address(self.base + hosts - 1)
        if not last.is_loopback:
            raise ValueError("the lab network must stay inside 127.0.0.0/8")
        self.samples = sorted(load_samples(), key=lambda s: (s.rule_dir, s.case))

    @cached_property
    def _ports(self) -> list[int]:
        return [sample_port(s, self.rules) for s in self.samples]

    def addresses(self) -> list[str]:
        return [str(ipaddress.IPv4Address(self.base + i)) for i in range(self.hosts)]

    def services_at(self, address: str) -> list[Truth]:
        if _unit(self.seed, address, "dead") < DEAD_SHARE:
            return []
        n = len(self.samples)
        first = int(_unit(self.seed, address, "first") * n)
        out = [Truth(self.samples[first], self._ports[first], self._plant(address, 0, self.samples[first]))]
        if _unit(self.seed, address, "second?") < SECOND_SERVICE_SHARE:
            second = int(_unit(self.seed, address, "second") * n)
            if self._ports[second] != out[0].port:
                sample = self.samples[second]
                out.append(Truth(sample, self._ports[second], self._plant(address, 1, sample)))
        return out

    def _plant(self, address: str, slot: int, sample: Sample) -> str | None:
        if not self.plants or _unit(self.seed, address, slot, "plant?") >= PLANT_SHARE:
            return None
        plant = PLANTS[int(_unit(self.seed, address, slot, "plant") * len(PLANTS))]
        return plant if can_plant(plant, sample) else None

    def truth(self, address: str, port: int) -> Truth | None:
        for t in self.services_at(address):
            if t.port == port:
                return t
        return None

    def listeners(self) -> list[tuple[str, int]]:
        return [(a, t.port) for a in self.addresses() for t in self.services_at(a)]

    def cidr(self) -> str:
        """The smallest CIDR covering every emulated host (what the demo scans)."""
        first = ipaddress.IPv4Address(self.base)
        last = ipaddress.IPv4Address(self.base + self.hosts - 1)
        nets = list(ipaddress.summarize_address_range(first, last))
        prefix = min(n.prefixlen for n in nets)
        while True:
            net = ipaddress.IPv4Network(f"{first}/{prefix}", strict=False)
            if last in net:
                return str(net)
            prefix -= 1
