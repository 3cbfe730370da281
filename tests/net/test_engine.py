"""The engine against misbehaving servers on 127.0.0.1: every attempt gets the right Outcome and the run finishes."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from aisweep.models import Outcome, Request, Target
from aisweep.net.http import ClientConfig, make_ssl_context, open_connection
from aisweep.net.probe import ProbeSettings, probe_target
from aisweep.rules.loader import parse_rule_text
from aisweep.rules.plan import RuleSet
from tests.conftest import free_port

RULE = """id: echo
name: Echo
category: generic
ports: any
probes:
  root: {path: /}
  a: {path: /a}
  b: {path: /b}
  head: {path: /h, method: HEAD}
  c: {path: /c, stage: assess}
  d: {path: /d, stage: assess}
identify:
  - all:
      - {probe: root, body: echo-server}
  - all:  # a second way in: a failed GET / leaves /a worth asking
      - {probe: a, body: echo-server /a}
"""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ruleset() -> RuleSet:
    return RuleSet([parse_rule_text(RULE, "echo.yaml")])


def settings(read: float = 1.0, max_body: int = 1024 * 1024) -> ProbeSettings:
    return ProbeSettings(ClientConfig(connect_timeout=1.0, read_timeout=read, max_body=max_body))


async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    port = free_port()
    server = await asyncio.start_server(handler, "127.0.0.1", port, ssl=tls)
    return server, port


async def read_request(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""


def echo_response(request: bytes) -> bytes:
    path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
    body = b"echo-server " + path
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head if request.startswith(b"HEAD") else head + body


def each_request(reply: Callable[[bytes], Awaitable[bytes]]) -> Handler:
    """A handler answering every request of a connection with `reply(request)` until the client goes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await read_request(reader):
            writer.write(await reply(request))
            try:
                await writer.drain()
            except ConnectionError:
                break
        writer.close()

    return handler


async def run(port: int, *, read: float = 1.0, max_body: int = 1024 * 1024, scheme: str | None = None):  # type: ignore[no-untyped-def]
    return await probe_target(
        Target("127.0.0.1", port, scheme), ruleset(), settings(read, max_body), make_ssl_context()
    )


async def test_keep_alive_one_connection_for_all_probes() -> None:
    connections = 0
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while request := await read_request(reader):
            seen.append(request)
            writer.write(echo_response(request))
            await writer.drain()
        writer.close()

    server, port = await serve(handler)
    async with server:
        result = await run(port)
    assert result.outcome is Outcome.OK and result.service is not None
    assert connections == 1
    assert result.requests_sent == len(seen) >= 4  # the rule's 4 probes plus the checks' assessment requests
    assert sum(1 for r in seen if r.count(b"\r\nHost: ") == 1) == len(seen)  # a foreign Host replaces ours
    assert all(b"User-Agent: aisweep/" in r for r in seen)
    head = next(o for o in result.observations if o.request.method == "HEAD")
    assert head.status == 200 and head.body == b""


def split_requests(data: bytes) -> list[bytes]:
    """The requests in one read (these have no bodies): each ends with a blank line."""
    return [part + b"\r\n\r\n" for part in data.split(b"\r\n\r\n") if part]


def pipelining_echo(per_read: list[list[bytes]], delay: float = 0.0) -> Handler:
    """An echo server that answers whatever arrived together in order, in one write (after `delay`), noting the
    paths of each read's requests."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffered = b""
        while data := await reader.read(65536):
            *requests, buffered = (buffered + data).split(b"\r\n\r\n")  # these requests have no bodies
            if requests:
                per_read.append([r.split(b" ", 2)[1] for r in requests])
                await asyncio.sleep(delay)
                writer.write(b"".join(echo_response(r + b"\r\n\r\n") for r in requests))
                await writer.drain()
        writer.close()

    return handler


async def test_independent_requests_are_pipelined_and_each_answer_reaches_its_request() -> None:
    per_read: list[list[bytes]] = []
    server, port = await serve(pipelining_echo(per_read))
    async with server:
        result = await run(port)
    assert result.outcome is Outcome.OK and result.service is not None
    assert [b"/c", b"/d"] in per_read  # the identified product's own assess probes came together
    assert max(len(paths) for paths in per_read) >= 6  # and so did the checks' assessment round
    assert result.requests_sent == sum(len(paths) for paths in per_read)  # nothing was sent twice
    for o in result.observations:  # every answer is the one to its own request (the echo names the path)
        if o.request.method != "HEAD":
            assert o.body == b"echo-server " + o.request.path.encode(), o.request.key


async def test_a_slow_target_gets_its_identification_requests_ahead_of_their_turn() -> None:
    per_read: list[list[bytes]] = []
    server, port = await serve(pipelining_echo(per_read, delay=0.6))  # over SLOW_MS
    async with server:
        result = await run(port, read=2.0)
    assert result.outcome is Outcome.OK and result.service is not None and result.service.product == "echo"
    assert per_read[0] == [b"/"]  # the first answer shows the target is slow
    assert per_read[1] == [b"/a", b"/b"]  # then the rule's other GETs go together (HEAD is never pipelined)
    assert [b"/h"] in per_read
    assert len(per_read) <= 6  # / · /a /b · /h · /c /d · the checks' round (and a retry at most)


async def test_an_answer_cut_at_its_cap_keeps_its_own_status_and_headers_when_more_answers_follow() -> None:
    # Three pipelined answers in one write; the first is cut at its byte cap, which ends the connection. The parser
    # still runs through the other two: they must not leak into the first one's status or headers.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        big = b"HTTP/1.1 200 OK\r\nX-Which: first\r\nContent-Length: 10000\r\n\r\n" + b"x" * 10000
        small = b"HTTP/1.1 404 Not Found\r\nX-Which: later\r\nContent-Length: 2\r\n\r\nno"
        writer.write(big + small + small)
        await writer.drain()
        await reader.read(65536)  # until the client goes
        writer.close()

    server, port = await serve(handler)
    async with server:
        conn, outcome, _, _ = await open_connection("127.0.0.1", port, ClientConfig())
        assert conn is not None, outcome
        requests = [Request("GET", "/big"), Request("GET", "/a"), Request("GET", "/b")]
        answers = await conn.request_many(requests, f"127.0.0.1:{port}", max_bytes=[1024, None, None], timeout=2)
    assert len(answers) == 1  # the other two are the caller's to ask again, on a new connection
    first = answers[0]
    assert first.status == 200 and first.truncated and len(first.body) == 1024
    assert first.header_all("x-which") == ["first"]
    assert conn.closed


async def test_a_server_dropping_pipelined_requests_is_asked_again_one_at_a_time() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            first = split_requests(data)[0]  # a broken server: the rest of what arrived together is lost
            writer.write(echo_response(first))
            await writer.drain()
        writer.close()

    server, port = await serve(handler)
    async with server:
        result = await run(port, read=0.5)
    assert result.outcome is Outcome.OK and result.service is not None
    assert all(o.outcome is Outcome.OK for o in result.observations)  # the lost answer is no timeout of the target
    for o in result.observations:
        if o.request.method != "HEAD":
            assert o.body == b"echo-server " + o.request.path.encode(), o.request.key
    assert len(result.observations) >= 10  # the whole assessment round came back


async def test_server_closing_between_requests_reconnects() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        writer.write(echo_response(request).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        await writer.drain()
        writer.close()

    server, port = await serve(handler)
    async with server:
        result = await run(port)
    assert result.outcome is Outcome.OK
    assert all(o.status == 200 for o in result.observations)


async def test_refused() -> None:
    result = await run(free_port())
    assert result.outcome is Outcome.REFUSED and result.service is None


async def test_server_that_never_answers_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server, port = await serve(handler)
    async with server:
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await run(port, read=0.5, scheme="http")
        assert loop.time() - start < 5
    assert result.outcome is Outcome.TIMEOUT


async def test_fifty_megabytes_is_capped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        size = 50 * 1024 * 1024
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"echo-server " + b"x" * 65524
        try:
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server, port = await serve(handler)
    async with server:
        result = await run(port, max_body=256 * 1024, read=5.0)
    first = next(o for o in result.observations if o.request.method == "GET")
    assert first.outcome is Outcome.TOO_LARGE and first.truncated
    assert len(first.body) == 256 * 1024
    assert result.service is not None  # the prefix still identified it


async def test_malformed_http_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HELLO THIS IS NOT HTTP\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()

    server, port = await serve(handler)
    async with server:
        result = await run(port, scheme="http")
    assert result.outcome is Outcome.PROTOCOL_ERROR
    assert result.observations == [] or result.service is None


async def test_reset_by_peer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    server, port = await serve(handler)
    async with server:
        result = await run(port, scheme="http")
    assert result.outcome is Outcome.RESET


async def test_trickling_tarpit_times_out_with_partial_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\necho-server ")
        try:
            for _ in range(100):
                writer.write(b".")
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass

    server, port = await serve(handler)
    async with server:
        result = await run(port, read=0.5, scheme="http")
    first = result.observations[0]
    assert result.outcome is Outcome.TIMEOUT
    assert first.outcome is Outcome.TIMEOUT and first.truncated and first.body.startswith(b"echo-server .")
    assert result.requests_sent == 2  # two timeouts and the target is given up


async def test_tls_only_port_falls_back_to_tls(self_signed_cert: tuple[Path, Path]) -> None:
    cert, key = self_signed_cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await read_request(reader):
            writer.write(echo_response(request))
            await writer.drain()
        writer.close()

    server, port = await serve(handler, tls=ctx)
    async with server:
        result = await run(port)
    assert result.outcome is Outcome.OK, result.error
    assert result.scheme == "https"
    assert result.service is not None and result.service.tls is not None
    assert result.service.tls.version.startswith("TLS")


async def test_internal_errors_never_end_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in one target's handling becomes that target's outcome; the scheduler carries on."""
    from aisweep.net import scheduler

    calls = 0

    async def broken(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        raise ValueError("boom")

    monkeypatch.setattr(scheduler, "probe_target", broken)
    targets = iter([(i, Target("127.0.0.1", 1 + i)) for i in range(5)])
    results = [
        r async for _, r in scheduler.scan_targets(targets, ruleset(), scheduler.SchedulerSettings(concurrency=2))
    ]
    assert calls == 5 and len(results) == 5
    assert all(r.outcome is Outcome.PROTOCOL_ERROR and "boom" in (r.error or "") for r in results)


async def test_event_stream_with_crlf_events_ends_after_first_event() -> None:
    """sse-starlette (MCP's Python SDK) separates events with CRLF; the first event must end the read."""
    from aisweep.models import Request
    from aisweep.net.http import open_connection

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        event = b"event: endpoint\r\ndata: /messages/?session_id=abc\r\n\r\n"
        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
        await asyncio.sleep(5)

    server, port = await serve(handler)
    async with server:
        conn, *_ = await open_connection("127.0.0.1", port, ClientConfig(read_timeout=3.0))
        assert conn is not None
        obs = await conn.request(Request("GET", "/sse"), "127.0.0.1", stream=True)
        conn.close()
    assert obs.outcome is Outcome.OK and obs.truncated and b"event: endpoint" in obs.body


async def test_bodies_and_posts_refused_at_safe_level() -> None:
    from aisweep.models import Request
    from aisweep.net.probe import _Session

    session = _Session(Target("127.0.0.1", 1), "http", settings(), None)
    with pytest.raises(ValueError, match="refusing POST"):
        await session.send(Request("POST", "/mcp", body=b"{}"), False)
    assert not Request("POST", "/x").safe and Request("OPTIONS", "/x").safe


async def test_a_target_answering_every_probe_oversized_is_given_up_after_two() -> None:
    async def oversized(_: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"echo-server " + b"x" * 299988

    server, port = await serve(each_request(oversized))
    async with server:
        result = await run(port, max_body=64 * 1024)
    too_large = [o for o in result.observations if o.outcome is Outcome.TOO_LARGE]
    assert len(too_large) == 2 and result.requests_sent == 2  # then the target is given up, like a silent one
    assert all(len(o.body) == 64 * 1024 and o.truncated for o in too_large)


async def test_loop_lag_reports_a_blocked_loop_and_recovers() -> None:
    import time

    from aisweep.net.scheduler import LoopLag

    lag = LoopLag(interval=0.01, limit=0.05)
    await asyncio.sleep(0.05)
    assert not lag.busy
    for _ in range(3):  # the loop is held up: timers run late
        time.sleep(0.2)
        await asyncio.sleep(0)
    assert lag.busy
    await asyncio.wait_for(lag.wait(), timeout=5)  # returns once timers run on time again
    assert not lag.busy
    lag.close()


async def test_a_host_answering_slowly_stops_at_its_time_budget_and_keeps_what_it_answered() -> None:
    async def late(request: bytes) -> bytes:  # 0.3 s late, inside the 1 s read timeout: only the budget ends it
        await asyncio.sleep(0.3)
        return echo_response(request)

    server, port = await serve(each_request(late))
    async with server:
        slow = ProbeSettings(ClientConfig(connect_timeout=1.0, read_timeout=1.0), host_timeout=1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await probe_target(Target("127.0.0.1", port), ruleset(), slow, make_ssl_context())
        took = loop.time() - started
        unlimited = await probe_target(
            Target("127.0.0.1", port),
            ruleset(),
            ProbeSettings(ClientConfig(1.0, 1.0), host_timeout=None),
            make_ssl_context(),
        )
    assert result.budget_spent and not unlimited.budget_spent
    assert took < 1.6  # the last request's read timeout is cut to what is left of the budget
    assert 2 <= result.requests_sent < unlimited.requests_sent
    assert result.service is not None and result.service.product == "echo"  # concluded on what came back
    assert any(o.error == "not sent: the host's time budget is spent" for o in result.observations)


@pytest.mark.parametrize("use_uvloop", [False, True])
def test_connections_send_small_requests_without_delay(use_uvloop: bool) -> None:
    # open_connection leaves TCP_NODELAY to the event loop (asyncio and uvloop both set it); a loop that stopped
    # doing so would hold each small request back waiting for an ACK (Nagle), so check it under both.
    async def main() -> int:
        server = await asyncio.start_server(each_request(lambda r: asyncio.sleep(0, echo_response(r))), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            conn, outcome, _, _ = await open_connection("127.0.0.1", port, ClientConfig())
            assert conn is not None and conn.transport is not None, outcome
            sock = conn.transport.get_extra_info("socket")
            value = int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            conn.close()
            return value

    if use_uvloop:
        import uvloop

        assert uvloop.run(main()) == 1
    else:
        assert asyncio.run(main()) == 1


async def test_an_interim_103_answer_is_not_taken_for_the_final_one() -> None:
    # Servers behind some proxies and CDNs send 103 Early Hints before every answer; each observation must be the
    # final answer to its own request, whether sent alone or pipelined.
    async def hinted(request: bytes) -> bytes:
        return b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n" + echo_response(request)

    server, port = await serve(each_request(hinted))
    async with server:
        result = await run(port)
    assert result.outcome is Outcome.OK and result.service is not None
    assert len(result.observations) >= 10
    for o in result.observations:
        assert o.status == 200 and ("link", "</app.css>; rel=preload") not in o.headers, o.request.key
        if o.request.method != "HEAD":
            assert o.body == b"echo-server " + o.request.path.encode(), o.request.key
