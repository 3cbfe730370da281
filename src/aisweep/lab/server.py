"""An HTTP/1.1 server protocol that answers with a rule sample's recorded responses.

Which sample a connection gets is decided from the dialled address and port (`getsockname()`), so one listener can
answer for many emulated hosts, and every host's behaviour is a pure function of its address."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import cast

import httptools

from aisweep.rules.samples import Response, Sample

Resolver = Callable[[str, int], Sample | None]

_HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def render(response: Response, head_only: bool, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines.extend(f"{k}: {v}" for k, v in response.headers if k not in _HOP_HEADERS)
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head if head_only else head + response.body


class LabProtocol(asyncio.Protocol):
    """What every lab server shares: loopback-only peers, httptools request parsing, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def accept(self, transport: asyncio.BaseTransport) -> tuple[str, int] | None:
        """Keep the transport; returns the dialled (address, port), or None (and aborts) for a non-loopback peer."""
        self.transport = tr = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        sockname = tr.get_extra_info("sockname")
        peer = tr.get_extra_info("peername")
        if not sockname or not peer or not _is_loopback(str(peer[0])):
            tr.abort()  # the lab answers loopback peers only
            return None
        return str(sockname[0]), int(sockname[1])

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def take_request(self) -> tuple[str, str, bool]:
        """(method, path, keep-alive) of the request just parsed."""
        method = self.parser.get_method().decode("latin-1")
        path = self.url.decode("latin-1")
        self.url = b""
        return method, path, bool(self.parser.should_keep_alive())


class SampleServerProtocol(LabProtocol):
    def __init__(self, resolver: Resolver) -> None:
        super().__init__()
        self.resolver = resolver
        self.sample: Sample | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        dialled = self.accept(transport)
        if dialled is None:
            return
        self.sample = self.resolver(*dialled)
        if self.sample is None and self.transport is not None:
            self.transport.abort()

    def on_message_complete(self) -> None:
        if self.transport is None or self.sample is None or self.transport.is_closing():
            return
        method, path, keep_alive = self.take_request()
        response = self.sample.respond(method, path)
        self.transport.write(render(response, method == "HEAD", keep_alive))
        if not keep_alive:
            self.transport.close()


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or host.startswith("::ffff:127.")
