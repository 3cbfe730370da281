"""A minimal HTTP/1.1 client on a raw asyncio.Protocol with httptools parsing: one connection per target,
keep-alive across its probes, a byte cap with a `truncated` flag, and an Outcome for every attempt. Independent
requests can be pipelined (`request_many`): written at once, answered in order (RFC 9112 section 9.3.2).

High-level clients cost 3-13x more CPU per target here (research/performance.md); this one writes request bytes
directly and parses with llhttp.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import hashlib
import ssl
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, cast

import httptools

from aisweep import USER_AGENT
from aisweep.models import Observation, Outcome, Request, TlsFacts

_TLS_RECORD_STARTS = (b"\x15\x03", b"\x16\x03")
_HTTPS_HINTS = (
    b"plain http request was sent to https",
    b"sent an http request to an https server",
    b"speaking plain http to an ssl-enabled server",
    b"this combination of host and port requires tls",
    b"use the https scheme",
)


@dataclass(slots=True)
class ClientConfig:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_body: int = 1024 * 1024
    max_header_bytes: int = 64 * 1024
    user_agent: str = USER_AGENT


@dataclass(slots=True)
class _Pending:
    request: Request
    stream: bool
    started: float
    future: asyncio.Future[None]
    parser: Any = None
    status: int | None = None
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    header_bytes: int = 0
    timed_out: bool = False
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    complete: bool = False
    keep_alive: bool = True
    outcome: Outcome = Outcome.OK
    error: str | None = None
    raw_prefix: bytes = b""
    cap: int = 0
    sniff: bool = False  # a probe that only wants the first `cap` bytes: stopping there is not an error


class HttpConnection(asyncio.Protocol):
    """One client connection. `request()` sends a request and waits for its response; one at a time."""

    def __init__(self, config: ClientConfig, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._pending: _Pending | None = None
        self._queue: collections.deque[_Pending] = collections.deque()  # pipelined requests after `_pending`
        self.last_raw_prefix = b""
        self.reused = False  # a response has completed and left the connection open: the server keeps connections
        self._loop = loop or asyncio.get_running_loop()

    # asyncio.Protocol callbacks -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        p = self._pending
        if p is None or p.complete:
            return  # unsolicited bytes after a completed response: ignore
        if not p.raw_prefix:
            p.raw_prefix = data[:16]
        try:
            p.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(self._pending or p, keep_alive=False)
        except httptools.HttpParserError as exc:
            p = self._pending or p  # a pipelined response after the first may be the malformed one
            if not p.complete:
                p.outcome, p.error = Outcome.PROTOCOL_ERROR, f"malformed HTTP response: {exc}"
                self._finish(p, keep_alive=False)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        p = self._pending
        if p is not None and not p.complete:
            if p.status is not None and p.parser is not None and exc is None:
                # Body delimited by connection close (no Content-Length): what we have is the whole body.
                with contextlib.suppress(httptools.HttpParserError):
                    p.parser.feed_data(b"")
                if not p.complete:
                    self._finish(p, keep_alive=False)
                return
            if isinstance(exc, ConnectionResetError):
                p.outcome, p.error = Outcome.RESET, "connection reset by peer"
            elif isinstance(exc, ssl.SSLError):
                p.outcome, p.error = Outcome.TLS_ERROR, f"TLS error: {exc.reason or exc}"
            elif p.status is None and not p.raw_prefix:
                p.outcome, p.error = Outcome.RESET, "connection closed without a response"
            else:
                p.outcome, p.error = Outcome.PROTOCOL_ERROR, "connection closed mid-response"
            self._finish(p, keep_alive=False)

    # httptools callbacks --------------------------------------------------------------------------------------
    # Each ignores a finished request: the parser goes on through the rest of what arrived, which after an answer
    # cut at its byte cap can hold the answers to pipelined requests that will be asked again.
    def on_status(self, status: bytes) -> None:
        p = self._pending
        if p is not None and not p.complete:
            p.status = p.parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        p = self._pending
        if p is None or p.complete:
            return
        p.header_bytes += len(name) + len(value)
        if p.header_bytes > self.config.max_header_bytes:
            p.outcome, p.error, p.truncated = Outcome.TOO_LARGE, "response headers exceed the cap", True
            self._finish(p, keep_alive=False)
            return
        p.raw_headers.append((name, value))  # decoded once, when the observation is built

    def on_headers_complete(self) -> None:
        p = self._pending
        if p is None or p.complete:
            return
        if p.status is None:
            p.status = p.parser.get_status_code()
        p.keep_alive = bool(p.parser.should_keep_alive())
        if p.request.method == "HEAD" and not (100 <= p.status < 200 and p.status != 101):
            self._finish(p, keep_alive=p.keep_alive)

    def on_body(self, body: bytes) -> None:
        p = self._pending
        if p is None or p.complete:
            return
        room = p.cap - len(p.body)
        if len(body) > room:
            p.body += body[:room]
            p.truncated = True
            if not p.sniff:
                p.outcome, p.error = Outcome.TOO_LARGE, f"body exceeds {p.cap} bytes"
            self._finish(p, keep_alive=False)
            return
        p.body += body
        if p.stream and (b"\n\n" in p.body or b"\r\n\r\n" in p.body or b"\r\r" in p.body):
            # A stream (server-sent events): the first event is all a scanner reads.
            p.truncated = True
            self._finish(p, keep_alive=False)

    def on_message_complete(self) -> None:
        p = self._pending
        if p is not None and not p.complete:
            if p.status is not None and 100 <= p.status < 200 and p.status != 101:
                # An interim answer (103 Early Hints, a stray 100 Continue): the final one follows on the same
                # connection. Taking it for the answer would hand the real one to the next request.
                p.status, p.raw_headers, p.header_bytes, p.keep_alive = None, [], 0, True
                return
            self._finish(p, keep_alive=p.keep_alive)

    # ----------------------------------------------------------------------------------------------------------
    def _finish(self, p: _Pending, *, keep_alive: bool) -> None:
        p.complete = True
        p.keep_alive = keep_alive and p.outcome is Outcome.OK
        if not p.future.done():
            p.future.set_result(None)
        if p is self._pending and self._queue:
            if p.keep_alive:
                # Pipelined: the parser goes on with the next response in the same buffer; route it there.
                self._pending = self._queue.popleft()
            else:
                self._queue.clear()  # the connection ends here: the rest are unanswered

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
            self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.closed = True

    def _head(self, req: Request, host_header: str) -> bytes:
        """The request's bytes: everything but the Host line is rendered once per request and reused."""
        ua = self.config.user_agent
        cached = _HEADS.get(req.key)
        if cached is None or cached[2] != ua:
            names = {k.lower() for k, _ in req.headers}
            lines = [
                f"User-Agent: {ua}",
                "" if "accept" in names else "Accept: */*",
                "Connection: keep-alive",
            ]
            lines.extend(f"{k}: {v}" for k, v in req.headers)
            if req.body or req.method in ("POST", "PUT", "PATCH"):
                lines.append(f"Content-Length: {len(req.body)}")
            line = f"{req.method} {req.path} HTTP/1.1\r\n".encode("latin-1")
            others = ("".join(f"{h}\r\n" for h in lines if h) + "\r\n").encode("latin-1")
            # A probe may test Host validation: its own Host header replaces ours (None: no Host line to add).
            cached = (line + others, None, ua) if "host" in names else (line, others, ua)
            if len(_HEADS) < 4096:
                _HEADS[req.key] = cached
        first, rest, _ = cached
        if rest is None:
            return first + req.body
        return b"%sHost: %s\r\n%s%s" % (first, host_header.encode("latin-1"), rest, req.body)

    def _timed_out(self, p: _Pending) -> None:
        p.timed_out = True
        if not p.future.done():
            p.future.set_result(None)

    async def request(
        self,
        req: Request,
        host_header: str,
        *,
        stream: bool = False,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> Observation:
        if self.transport is None or self.closed:
            return Observation(req, Outcome.RESET, error="connection is closed")
        started = time.perf_counter()
        p = _Pending(req, stream, started, self._loop.create_future())
        p.parser = httptools.HttpResponseParser(self)
        p.cap = min(max_bytes, self.config.max_body) if max_bytes else self.config.max_body
        p.sniff = bool(max_bytes)
        self._pending = p
        self.transport.write(self._head(req, host_header))
        timer = self._loop.call_later(timeout or self.config.read_timeout, self._timed_out, p)
        await p.future
        timer.cancel()
        self._pending = None
        self.last_raw_prefix = p.raw_prefix
        return self._observation(p)

    def _observation(self, p: _Pending) -> Observation:
        """The observation of a finished (or timed-out) request; closes the connection if it cannot go on."""
        req = p.request
        elapsed = (time.perf_counter() - p.started) * 1000
        headers = tuple((n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in p.raw_headers)
        if p.timed_out:
            self.abort()
            if p.status is not None and (p.body or p.stream):
                # Headers arrived but the body trickled or never ended: keep what came, flag the cut.
                return Observation(
                    req, Outcome.TIMEOUT, p.status, headers, bytes(p.body), True, elapsed, "read timed out"
                )
            return Observation(req, Outcome.TIMEOUT, p.status, headers, b"", False, elapsed, "read timed out")
        if not p.keep_alive:
            self.close()
        else:
            self.reused = True
        return Observation(req, p.outcome, p.status, headers, bytes(p.body), p.truncated, elapsed, p.error)

    async def request_many(
        self,
        reqs: list[Request],
        host_header: str,
        *,
        max_bytes: list[int | None] | None = None,
        timeout: float | None = None,
    ) -> list[Observation]:
        """Pipeline `reqs` (GETs and OPTIONS without bodies): write them at once, read the answers in order, each
        with its own read timeout and byte cap (`max_bytes[i]`, as for `request`). Returns the observations of the
        first request and of every one after it that was answered in turn; the list stops short where the
        connection ended, a later answer was malformed or never came (a server that drops pipelined requests), and
        the caller sends the rest one by one."""
        if self.transport is None or self.closed or not reqs:
            return []
        started = time.perf_counter()
        parser = httptools.HttpResponseParser(self)
        batch = []
        for i, req in enumerate(reqs):
            limit = max_bytes[i] if max_bytes else None
            p = _Pending(req, False, started, self._loop.create_future(), parser)
            p.cap = min(limit, self.config.max_body) if limit else self.config.max_body
            p.sniff = bool(limit)
            batch.append(p)
        self._pending, self._queue = batch[0], collections.deque(batch[1:])
        self.transport.write(b"".join([self._head(req, host_header) for req in reqs]))
        out: list[Observation] = []
        for i, p in enumerate(batch):
            timer = self._loop.call_later(timeout or self.config.read_timeout, self._timed_out, p)
            await p.future
            timer.cancel()
            if i == 0:
                self.last_raw_prefix = p.raw_prefix
            elif p.timed_out or (p.status is None and p.outcome is not Outcome.OK):
                self.abort()  # unanswered in turn: not this request's outcome, the caller asks again
                break
            out.append(self._observation(p))
            if self.closed:
                break
        self._pending = None
        self._queue.clear()
        return out


_HEADS: dict[str, tuple[bytes, bytes | None, str]] = {}  # request key -> (request line, other headers, user agent)


def plain_http_hit_tls(obs: Observation, raw_prefix: bytes = b"") -> bool:
    """True when a plain-HTTP attempt reached a TLS port: TLS record bytes came back, or the server said so."""
    if raw_prefix.startswith(_TLS_RECORD_STARTS):
        return True
    if obs.status == 400:
        low = obs.body[:2048].lower()
        return any(h in low for h in _HTTPS_HINTS)
    return False


def make_ssl_context() -> ssl.SSLContext:
    """A scanner's client context: no verification (posture is recorded, not enforced), old versions allowed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old versions are allowed on purpose: posture is measured
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def open_connection(
    host: str,
    port: int,
    config: ClientConfig,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> tuple[HttpConnection | None, Outcome, str | None, TlsFacts | None]:
    """Connect (and handshake, for TLS). Returns (connection or None, outcome, error text, TLS facts)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(config.connect_timeout):
            _, proto = await loop.create_connection(
                lambda: HttpConnection(config, loop),
                host,
                port,
                ssl=ssl_context,
                server_hostname=(server_hostname or "") if ssl_context is not None else None,
                ssl_handshake_timeout=config.connect_timeout if ssl_context is not None else None,
            )
    except TimeoutError:
        return None, Outcome.TIMEOUT, "connect timed out", None
    except ConnectionRefusedError:
        return None, Outcome.REFUSED, "connection refused", None
    except ssl.SSLError as exc:
        return None, Outcome.TLS_ERROR, f"TLS handshake failed: {exc.reason or exc}", None
    except ConnectionResetError:
        return None, Outcome.RESET, "connection reset during connect", None
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            return None, Outcome.UNREACHABLE, exc.strerror or str(exc), None
        if ssl_context is not None and exc.errno is None:
            return None, Outcome.TLS_ERROR, f"TLS handshake failed: {exc}", None
        return None, Outcome.RESET, exc.strerror or str(exc), None
    tls = None
    if ssl_context is not None and proto.transport is not None:
        obj = proto.transport.get_extra_info("ssl_object")
        if obj is not None:
            cipher = obj.cipher()
            der = obj.getpeercert(binary_form=True)
            tls = TlsFacts(
                version=obj.version() or "",
                cipher=cipher[0] if cipher else "",
                cert_sha256=hashlib.sha256(der).hexdigest() if der else None,
                cert_der=der,
            )
    # No TCP_NODELAY here: asyncio and uvloop set it on every TCP transport they create.
    return proto, Outcome.OK, None, tls
