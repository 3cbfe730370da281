"""Import candidate host:port pairs from other tools' output (masscan, ZMap, nmap, Shodan, Censys).

Every imported candidate is re-verified live by the scan: cached banners go stale (published studies found about
70% of Shodan's AI-service banners no longer answered the same way). Parsers stream the file and yield
(address, port) pairs; a malformed file raises TargetError naming the file and line."""

from __future__ import annotations

import csv
import ipaddress
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from aisweep.errors import TargetError

FORMATS: Final = ("masscan", "zmap", "nmap", "shodan", "censys", "list")

Pair = tuple[str, int]


def _addr(text: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise TargetError(f"{where}: not an IP address: {text!r}") from None


def _port(value: Any, where: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise TargetError(f"{where}: not a port number: {value!r}") from None
    if not 1 <= port <= 65535:
        raise TargetError(f"{where}: port out of range: {port}")
    return port


def _open(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise TargetError(f"cannot read {path}: {exc.strerror}") from None


def _masscan(path: Path) -> Iterator[Pair]:
    text = _open(path)
    head = text.lstrip()[:1]
    if head == "<":
        yield from _nmap_xml(text, path)  # masscan -oX writes nmap's XML layout
    elif head in ("[", "{"):
        # masscan -oJ: a JSON array, historically with a trailing comma before "]"; one object per line.
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip().rstrip(",")
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise TargetError(f"{path}:{lineno}: malformed masscan JSON line") from None
            where = f"{path}:{lineno}"
            for p in obj.get("ports", []):
                if p.get("status", "open") == "open" and p.get("proto", "tcp") == "tcp":
                    yield _addr(obj["ip"], where), _port(p["port"], where)
    else:
        # masscan -oL: "open tcp 80 10.0.0.1 1390000000"
        for lineno, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            where = f"{path}:{lineno}"
            if len(parts) < 4:
                raise TargetError(f"{where}: expected 'open tcp PORT ADDRESS TIMESTAMP'")
            if parts[0] == "open" and parts[1] == "tcp":
                yield _addr(parts[3], where), _port(parts[2], where)


def _nmap_xml(text: str, path: Path) -> Iterator[Pair]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TargetError(f"{path}:{exc.position[0]}: malformed XML: {exc}") from None
    for host in root.iter("host"):
        status = host.find("status")
        if status is not None and status.get("state") not in (None, "up"):
            continue
        addrs = [a.get("addr", "") for a in host.findall("address") if a.get("addrtype") in ("ipv4", "ipv6")]
        if not addrs:
            continue
        address = _addr(addrs[0], str(path))
        for port in host.iter("port"):
            state = port.find("state")
            if port.get("protocol", "tcp") == "tcp" and state is not None and state.get("state") == "open":
                yield address, _port(port.get("portid"), str(path))


def _nmap(path: Path) -> Iterator[Pair]:
    yield from _nmap_xml(_open(path), path)


def _zmap(path: Path) -> Iterator[Pair]:
    text = _open(path)
    reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    if reader.fieldnames is None or "saddr" not in reader.fieldnames:
        raise TargetError(f"{path}:1: a ZMap CSV needs a header with saddr (and sport, or pass -p)")
    for lineno, row in enumerate(reader, 2):
        where = f"{path}:{lineno}"
        if row.get("success", "1") not in ("1", "true", "True") or row.get("repeat", "0") in ("1", "true"):
            continue
        port = row.get("sport") or row.get("dport")
        if port:
            yield _addr(row["saddr"], where), _port(port, where)
        else:
            yield _addr(row["saddr"], where), 0  # port from -p


def _json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A JSON array or newline-delimited JSON objects."""
    text = _open(path)
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise TargetError(f"{path}: malformed JSON: {exc}") from None
        for i, obj in enumerate(items, 1):
            if isinstance(obj, dict):
                yield f"{path} item {i}", obj
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise TargetError(f"{path}:{lineno}: malformed JSON line") from None
        if isinstance(obj, dict):
            yield f"{path}:{lineno}", obj


def _shodan(path: Path) -> Iterator[Pair]:
    # `shodan download` / `shodan parse`: one banner per line with ip_str, port and transport.
    for where, obj in _json_objects(path):
        if obj.get("transport", "tcp") != "tcp":
            continue
        ip = obj.get("ip_str") or (str(ipaddress.ip_address(obj["ip"])) if isinstance(obj.get("ip"), int) else None)
        if ip is None or "port" not in obj:
            raise TargetError(f"{where}: a Shodan banner needs ip_str and port")
        yield _addr(ip, where), _port(obj["port"], where)


def _censys(path: Path) -> Iterator[Pair]:
    # Censys Search 2.0 host documents: {"ip": ..., "services": [{"port": ..., "transport_protocol": "TCP"}]}
    for where, obj in _json_objects(path):
        ip = obj.get("ip") or obj.get("host", {}).get("ip")
        services = obj.get("services") or obj.get("host", {}).get("services") or []
        if ip is None:
            raise TargetError(f"{where}: a Censys host document needs ip")
        for svc in services:
            if str(svc.get("transport_protocol", "TCP")).upper() == "TCP" and "port" in svc:
                yield _addr(ip, where), _port(svc["port"], where)


def _plain_list(path: Path) -> Iterator[Pair]:
    for lineno, line in enumerate(_open(path).splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        host, sep, port = token.rpartition(":")
        if not sep:
            raise TargetError(f"{path}:{lineno}: expected ADDRESS:PORT")
        yield _addr(host.strip("[]"), f"{path}:{lineno}"), _port(port, f"{path}:{lineno}")


_PARSERS = {
    "masscan": _masscan,
    "zmap": _zmap,
    "nmap": _nmap,
    "shodan": _shodan,
    "censys": _censys,
    "list": _plain_list,
}


def import_pairs(kind: str, path: Path) -> Iterator[Pair]:
    """(address, port) pairs from `path` in the format `kind`; port 0 means "use the scan's port list"."""
    parser = _PARSERS.get(kind)
    if parser is None:
        raise TargetError(f"unknown import format {kind!r}; choose one of {', '.join(FORMATS)}")
    return parser(path)
