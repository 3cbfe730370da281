"""Parse target tokens (addresses, CIDRs, ranges, hostnames, host:port, URLs, @file, -) into target specs."""

from __future__ import annotations

import ipaddress
import re
import sys
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aisweep.errors import TargetError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Largest IPv6 block aisweep will sweep address by address (a /64 would never finish).
MAX_V6_HOSTS = 1 << 20

_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One parsed token: a network (a single address is a /32 or /128) or a hostname, with an optional port."""

    network: IPNetwork | None
    hostname: str | None
    port: int | None
    scheme: str | None
    token: str

    @property
    def size(self) -> int:
        return self.network.num_addresses if self.network is not None else 1


def parse_target(token: str) -> list[TargetSpec]:
    """Parse one token. Raises TargetError naming the token when it is malformed."""
    raw = token
    token = token.strip()
    if not token:
        raise TargetError("empty target")
    if "://" in token:
        return [_parse_url(token)]
    # [v6]:port or [v6]
    if token.startswith("["):
        m = re.fullmatch(r"\[([0-9A-Fa-f:.%]+)\](?::(\d+))?", token)
        if not m:
            raise TargetError(f"bad target {raw!r}: expected [IPv6]:port")
        net = _network(m.group(1), raw)
        return [TargetSpec(net, None, _port(m.group(2), raw), None, raw)]
    # a.b.c.d-a.b.c.e or a.b.c.d-e (IPv4 range)
    if "-" in token and re.fullmatch(r"[\d.]+-[\d.]+", token):
        return _parse_range(token, raw)
    # IPv6 literal or CIDR (more than one colon)
    if token.count(":") > 1:
        return [TargetSpec(_network(token, raw), None, None, None, raw)]
    host, port = token, None
    if ":" in token:
        host, _, port_text = token.rpartition(":")
        port = _port(port_text, raw)
    if "/" in host or _looks_numeric(host):
        return [TargetSpec(_network(host, raw), None, port, None, raw)]
    if not _HOSTNAME.match(host):
        raise TargetError(f"bad target {raw!r}: not an IP address, CIDR, range, host name, host:port or URL")
    return [TargetSpec(None, host.rstrip(".").lower(), port, None, raw)]


def _looks_numeric(host: str) -> bool:
    return bool(host) and all(c.isdigit() or c == "." for c in host)


def _parse_url(token: str) -> TargetSpec:
    try:
        parts = urllib.parse.urlsplit(token)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad target {token!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetError(f"bad target {token!r}: only http:// and https:// URLs can be scanned")
    host = parts.hostname
    if not host:
        raise TargetError(f"bad target {token!r}: the URL has no host")
    if port is None:
        port = 443 if scheme == "https" else 80
    try:
        net: IPNetwork | None = ipaddress.ip_network(host)
        name = None
    except ValueError:
        if not _HOSTNAME.match(host):
            raise TargetError(f"bad target {token!r}: bad host name {host!r}") from None
        net, name = None, host.lower()
    return TargetSpec(net, name, port, scheme, token)


def _parse_range(token: str, raw: str) -> list[TargetSpec]:
    start_s, _, end_s = token.partition("-")
    try:
        start = ipaddress.IPv4Address(start_s)
        if "." not in end_s:
            end = ipaddress.IPv4Address(".".join([*start_s.split(".")[:3], end_s]))
        else:
            end = ipaddress.IPv4Address(end_s)
    except ValueError:
        raise TargetError(f"bad target {raw!r}: expected an IPv4 range like 10.0.0.1-10.0.0.20") from None
    if int(end) < int(start):
        raise TargetError(f"bad target {raw!r}: the range ends before it starts")
    return [TargetSpec(net, None, None, None, raw) for net in ipaddress.summarize_address_range(start, end)]


def _network(text: str, raw: str) -> IPNetwork:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise TargetError(f"bad target {raw!r}: not a valid IP address or CIDR") from None
    if net.version == 6 and net.num_addresses > MAX_V6_HOSTS:
        raise TargetError(
            f"bad target {raw!r}: an IPv6 /{net.prefixlen} has {net.num_addresses:.3g} addresses, too many to sweep;"
            " use a /108 or smaller, or a host list"
        )
    return net


def _port(text: str | None, raw: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise TargetError(f"bad target {raw!r}: port must be 1-65535")
    return int(text)


def read_tokens(items: Iterable[str]) -> Iterator[str]:
    """Expand `@file` and `-` (stdin) into tokens; blank lines and `#` comments are skipped."""
    for item in items:
        if item == "-":
            yield from _lines(sys.stdin, "standard input")
        elif item.startswith("@"):
            path = Path(item[1:])
            try:
                with path.open(encoding="utf-8") as fh:
                    yield from _lines(fh, str(path))
            except OSError as exc:
                raise TargetError(f"cannot read target list {path}: {exc.strerror}") from None
        else:
            yield item


def _lines(lines: Iterable[str], where: str) -> Iterator[str]:
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            yield from text.split()


def parse_targets(items: Iterable[str]) -> list[TargetSpec]:
    """Parse every token; the first malformed one raises, before anything is scanned."""
    specs: list[TargetSpec] = []
    for token in read_tokens(items):
        specs.extend(parse_target(token))
    if not specs:
        raise TargetError("no targets given")
    return specs
