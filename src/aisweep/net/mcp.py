"""The MCP lifecycle handshake (`--level handshake` only): initialize → notifications/initialized → tools/list,
resources/list, prompts/list. Never `tools/call`, never any other method, never DELETE (sessions expire on their own).

Two transports (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports):

* Streamable HTTP: every JSON-RPC message is a POST to the endpoint (`/mcp`, or `/mcp/` in Python SDK 1.x) on one
  keep-alive `HttpConnection`; the answer is JSON or an event stream whose `message` event carries the response.
  `Mcp-Session-Id` and `MCP-Protocol-Version` are sent after initialize.
* SSE (legacy): `GET /sse` stays open; its first `endpoint` event names the message URL; each POST there is answered
  `202 Accepted` and the JSON-RPC response arrives as a `message` event on the GET stream. The stream reader below
  (asyncio streams + httptools) is the only streaming client code; `net/http.py` is not changed.

Also GETs (safe) the OAuth protected-resource metadata (RFC 9728) at `/.well-known/oauth-protected-resource` and its
endpoint-suffixed variant. A 401/403 (with its WWW-Authenticate) is recorded as `gated` and nothing more is sent.

Sample replay (`rules test`, the lab) does not cover the handshake: samples are keyed by method and path, and the
handshake POSTs differ only by body. The handshake is network-only.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import re
import ssl
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httptools

from aisweep import __version__
from aisweep.models import Observation, Outcome, Request, Target
from aisweep.net.http import ClientConfig, HttpConnection, open_connection

# The only methods this module ever sends. Anything else is a bug and raises before a byte is written.
ALLOWED_METHODS: Final = frozenset(
    {"initialize", "notifications/initialized", "tools/list", "resources/list", "prompts/list"}
)
PROTOCOL_VERSION: Final = "2025-06-18"  # what we ask for; the server answers with the version it speaks
MAX_RESPONSE_BYTES: Final = 1024 * 1024  # one JSON-RPC answer (a tools list) at most
MAX_STREAM_BYTES: Final = 4 * 1024 * 1024  # everything read from a kept-open /sse stream
MAX_PAGES: Final = 5  # cursor pages followed per list method
MAX_TOOLS: Final = 500  # tools recorded (the count goes on)
MAX_DESCRIPTION: Final = 300
MAX_NAME: Final = 128
MAX_KEYS: Final = 50
OAUTH_PRM: Final = "/.well-known/oauth-protected-resource"

_RESOURCE_METADATA = re.compile(r'resource_metadata="([^"]*)"', re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: Any, limit: int) -> str:
    value = _CONTROL.sub("", text if isinstance(text, str) else "" if text is None else str(text))
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass(slots=True)
class McpTool:
    name: str
    description: str
    input_keys: list[str]
    annotations: dict[str, bool] = field(default_factory=dict)  # readOnlyHint, destructiveHint, ... as declared

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "description": self.description, "input_keys": list(self.input_keys)}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass(slots=True)
class McpResult:
    """What the handshake learnt: gated or not, server identity, the tool list (names, descriptions, argument
    names), resource and prompt counts, the OAuth discovery documents, and every error on the way."""

    transport: str
    endpoint: str
    gated: bool = False
    gated_status: int | None = None
    www_authenticate: str | None = None
    resource_metadata: str | None = None
    oauth: list[dict[str, Any]] = field(default_factory=list)
    server_info: dict[str, str] | None = None
    protocol_version: str | None = None
    capabilities: list[str] = field(default_factory=list)
    session: bool = False  # the server issued a session (Mcp-Session-Id or an SSE message endpoint)
    initialized: bool = False
    tools: list[McpTool] = field(default_factory=list)
    tools_count: int | None = None
    tools_truncated: bool = False
    resources: int | None = None
    prompts: int | None = None
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    methods: list[str] = field(default_factory=list)  # JSON-RPC methods sent, in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "transport": self.transport,
            "endpoint": self.endpoint,
            "gated": self.gated,
            "gated_status": self.gated_status,
            "www_authenticate": self.www_authenticate,
            "resource_metadata": self.resource_metadata,
            "oauth": [dict(d) for d in self.oauth],
            "server_info": dict(self.server_info) if self.server_info is not None else None,
            "protocol_version": self.protocol_version,
            "capabilities": list(self.capabilities),
            "session": self.session,
            "initialized": self.initialized,
            "tools": [t.to_dict() for t in self.tools],
            "tools_count": self.tools_count,
            "tools_truncated": self.tools_truncated,
            "resources": self.resources,
            "prompts": self.prompts,
            "errors": list(self.errors),
            "requests": self.requests,
            "methods": list(self.methods),
        }


class McpError(Exception):
    """A step failed; the message goes into `McpResult.errors`."""


class _Gated(Exception):
    def __init__(self, status: int, www_authenticate: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.www_authenticate = www_authenticate


# --------------------------------------------------------------------------------------------------------------------
# Server-sent events


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str


class SseParser:
    """Incremental text/event-stream parser (HTML Living Standard, "Server-sent events"): lines end in CRLF, LF or
    CR; `event`/`data` fields; comments (`:`) ignored; an event is dispatched on a blank line when it has data."""

    _LINE = re.compile(r"\r\n|\r|\n")

    def __init__(self, max_event: int = MAX_RESPONSE_BYTES) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self.max_event = max_event

    def feed(self, data: bytes) -> list[SseEvent]:
        text = self._pending + self._decoder.decode(data)
        hold = ""
        if text.endswith("\r"):  # maybe the first half of a CRLF: wait for the next byte
            text, hold = text[:-1], "\r"
        lines = self._LINE.split(text)
        self._pending = lines.pop() + hold
        if len(self._pending) > self.max_event:
            raise McpError(f"event-stream line exceeds {self.max_event} bytes")
        events: list[SseEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(SseEvent(self._event or "message", "\n".join(self._data)))
                self._event, self._data, self._size = "", [], 0
                continue
            if line.startswith(":"):
                continue
            name, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            if name == "event":
                self._event = value
            elif name == "data":
                self._size += len(value)
                if self._size > self.max_event:
                    raise McpError(f"event exceeds {self.max_event} bytes")
                self._data.append(value)
        return events


class _EventStream:
    """A GET kept open to read server-sent events (the SSE transport's /sse), on asyncio streams + httptools."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = httptools.HttpResponseParser(self)
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.headers_done = False
        self.ended = False
        self.read_bytes = 0
        self.sse = SseParser()
        self.events: list[SseEvent] = []
        self.body_prefix = bytearray()

    # httptools callbacks
    def on_status(self, status: bytes) -> None:
        self.status = self.parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) < 100:
            self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        if len(self.body_prefix) < 2048:
            self.body_prefix += body[: 2048 - len(self.body_prefix)]
        if self.header("content-type", "").startswith("text/event-stream"):
            self.events.extend(self.sse.feed(body))

    def on_message_complete(self) -> None:
        self.ended = True

    def header(self, name: str, default: str = "") -> str:
        for k, v in self.headers:
            if k == name:
                return v
        return default

    async def _pump(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            data = await self.reader.read(65536)
        if not data:
            with contextlib.suppress(httptools.HttpParserError):
                self.parser.feed_data(b"")
            self.ended = True
            return
        self.read_bytes += len(data)
        if self.read_bytes > MAX_STREAM_BYTES:
            raise McpError(f"event stream exceeds {MAX_STREAM_BYTES} bytes")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            raise McpError("unexpected protocol upgrade on the event stream") from exc
        except httptools.HttpParserError as exc:
            raise McpError(f"malformed HTTP response on the event stream: {exc}") from exc

    async def read_headers(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.headers_done:
            if self.ended:
                raise McpError("event stream closed before its headers")
            await self._pump(max(0.0, deadline - loop.time()))

    async def next_event(self, timeout: float) -> SseEvent:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.events:
            if self.ended:
                raise McpError("event stream ended")
            await self._pump(max(0.0, deadline - loop.time()))
        return self.events.pop(0)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# --------------------------------------------------------------------------------------------------------------------
# JSON-RPC over HTTP


def _host_header(target: Target, scheme: str) -> str:
    name = target.hostname or (f"[{target.host}]" if ":" in target.host else target.host)
    default = 443 if scheme == "https" else 80
    return name if target.port == default else f"{name}:{target.port}"


def _rpc(method: str, ident: int | None, params: dict[str, Any] | None = None) -> bytes:
    if method not in ALLOWED_METHODS:
        raise ValueError(f"refusing to send MCP method {method!r}")  # tools/call and friends are never sent
    msg: dict[str, Any] = {"jsonrpc": "2.0"}
    if ident is not None:
        msg["id"] = ident
    msg["method"] = method
    if params is not None:
        msg["params"] = params
    return json.dumps(msg, separators=(",", ":")).encode()


def _match_response(doc: Any, ident: int) -> dict[str, Any] | None:
    """The JSON-RPC response with this id in a message or batch, or None."""
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if isinstance(item, dict) and item.get("id") == ident and ("result" in item or "error" in item):
            return item
    return None


def _result(response: dict[str, Any], method: str) -> dict[str, Any]:
    if "error" in response:
        err = response["error"]
        msg = err.get("message") if isinstance(err, dict) else err
        code = err.get("code") if isinstance(err, dict) else None
        raise McpError(f"{method}: JSON-RPC error {code}: {_clean(msg, 200)}")
    result = response.get("result")
    if not isinstance(result, dict):
        raise McpError(f"{method}: result is not an object")
    return result


class _Poster:
    """POSTs (and GETs) on one keep-alive HttpConnection to the target, reconnecting when the server closes."""

    def __init__(
        self, target: Target, scheme: str, config: ClientConfig, ssl_ctx: ssl.SSLContext | None, out: McpResult
    ) -> None:
        self.target = target
        self.scheme = scheme
        self.config = config
        self.ctx = ssl_ctx if scheme == "https" else None
        self.out = out
        self.conn: HttpConnection | None = None

    async def send(self, request: Request) -> Observation:
        if self.conn is None or self.conn.closed:
            conn, outcome, error, _ = await open_connection(
                self.target.host, self.target.port, self.config, self.ctx, self.target.hostname
            )
            if conn is None:
                raise McpError(f"{request.method} {request.path}: {error or outcome.value}")
            self.conn = conn
        self.out.requests += 1
        return await self.conn.request(request, _host_header(self.target, self.scheme))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _json_post(path: str, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> Request:
    headers = (("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"), *extra)
    return Request("POST", path, headers, body)


def _check_gate(obs: Observation) -> None:
    if obs.status in (401, 403):
        raise _Gated(obs.status, obs.header("www-authenticate"))


class _Transport:
    """Sends one JSON-RPC message and returns the matching response (None for notifications)."""

    async def call(self, method: str, ident: int | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError


class _StreamableHttp(_Transport):
    def __init__(self, poster: _Poster, endpoint: str, out: McpResult) -> None:
        self.poster = poster
        self.endpoint = endpoint
        self.out = out
        self.session_id: str | None = None
        self.protocol: str | None = None

    async def call(self, method: str, ident: int | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = _rpc(method, ident, params)
        self.out.methods.append(method)
        extra: list[tuple[str, str]] = []
        if self.session_id:
            extra.append(("Mcp-Session-Id", self.session_id))
        if self.protocol:
            extra.append(("MCP-Protocol-Version", self.protocol))
        obs = await self.poster.send(_json_post(self.endpoint, body, tuple(extra)))
        if method == "initialize" and obs.status in (307, 308):
            # Python SDK 1.x mounts /mcp/ and redirects /mcp (and 2.x the other way round): one same-origin hop.
            location = obs.header("location") or ""
            path = _same_origin_path(self.poster.target, self.poster.scheme, self.endpoint, location)
            if path is None:
                raise McpError(f"initialize redirected off the target ({_clean(location, 200)}); not followed")
            self.endpoint = self.out.endpoint = path
            obs = await self.poster.send(_json_post(self.endpoint, body, tuple(extra)))
        _check_gate(obs)
        if obs.status is None:
            raise McpError(f"{method}: {obs.error or obs.outcome.value}")
        if obs.outcome is Outcome.TOO_LARGE:
            raise McpError(f"{method}: answer exceeds {MAX_RESPONSE_BYTES} bytes")
        if method == "initialize" and obs.header("mcp-session-id"):
            self.session_id = obs.header("mcp-session-id")
            self.out.session = True
        if ident is None:
            if obs.status not in (200, 202, 204):
                raise McpError(f"{method}: HTTP {obs.status}")
            return {}
        if obs.status != 200:
            raise McpError(f"{method}: HTTP {obs.status}")
        ctype = (obs.header("content-type") or "").lower()
        response: dict[str, Any] | None = None
        if ctype.startswith("text/event-stream"):
            # The POST's own stream: the response is the `message` event with our id (the server may send
            # notifications first, and normally closes the stream after the response).
            for event in SseParser().feed(obs.body + b"\n\n"):
                if event.event == "message":
                    with contextlib.suppress(ValueError):
                        response = _match_response(json.loads(event.data), ident)
                    if response is not None:
                        break
        else:
            with contextlib.suppress(ValueError):
                response = _match_response(json.loads(obs.body), ident)
        if response is None:
            cut = " (cut short)" if obs.outcome is not Outcome.OK else ""
            raise McpError(f"{method}: no JSON-RPC response with id {ident} in the answer{cut}")
        return _result(response, method)


class _Sse(_Transport):
    def __init__(
        self, poster: _Poster, stream: _EventStream, message_path: str, config: ClientConfig, out: McpResult
    ) -> None:
        self.poster = poster
        self.stream = stream
        self.message_path = message_path
        self.config = config
        self.out = out

    async def call(self, method: str, ident: int | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = _rpc(method, ident, params)
        self.out.methods.append(method)
        obs = await self.poster.send(_json_post(self.message_path, body))
        _check_gate(obs)
        if obs.status is None:
            raise McpError(f"{method}: {obs.error or obs.outcome.value}")
        if obs.status not in (200, 202, 204):
            raise McpError(f"{method}: HTTP {obs.status}")
        if ident is None:
            return {}
        if obs.status == 200 and obs.body.lstrip()[:1] in (b"{", b"["):  # a server that answers in the POST
            with contextlib.suppress(ValueError):
                direct = _match_response(json.loads(obs.body), ident)
                if direct is not None:
                    return _result(direct, method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.read_timeout
        while True:
            try:
                event = await self.stream.next_event(max(0.0, deadline - loop.time()))
            except TimeoutError as exc:
                raise McpError(f"{method}: no response on the event stream within the read timeout") from exc
            if event.event != "message":
                continue
            try:
                doc = json.loads(event.data)
            except ValueError:
                continue
            response = _match_response(doc, ident)
            if response is not None:
                return _result(response, method)


def _same_origin_path(target: Target, scheme: str, base_path: str, url: str) -> str | None:
    """The path (+ query) of `url` resolved against the target, or None when it points at another origin."""
    origin = f"{scheme}://{_host_header(target, scheme)}"
    try:
        parts = urlsplit(urljoin(origin + base_path, url))
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme != scheme or port != target.port:
        return None
    host = (parts.hostname or "").lower()
    if host not in {target.host.lower(), (target.hostname or "").lower()}:
        return None
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------------------------------------------------
# The lifecycle


def _tool(item: Any) -> McpTool | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    schema = item.get("inputSchema")
    props = schema.get("properties") if isinstance(schema, dict) else None
    keys = [_clean(k, 64) for k in list(props)[:MAX_KEYS]] if isinstance(props, dict) else []
    ann = item.get("annotations")
    hints = (
        {k: v for k, v in ann.items() if k.endswith("Hint") and isinstance(v, bool)} if isinstance(ann, dict) else {}
    )
    return McpTool(_clean(item["name"], MAX_NAME), _clean(item.get("description"), MAX_DESCRIPTION), keys, hints)


async def _list(transport: _Transport, method: str, key: str, ids: list[int]) -> tuple[list[Any], bool]:
    """All items of a paginated list (at most MAX_PAGES pages), and whether more pages were left unread."""
    items: list[Any] = []
    cursor: str | None = None
    for page_no in range(MAX_PAGES):
        ids[0] += 1
        result = await transport.call(method, ids[0], {"cursor": cursor} if cursor else None)
        page = result.get(key)
        if not isinstance(page, list):
            raise McpError(f"{method}: result has no {key} list")
        items.extend(page)
        nxt = result.get("nextCursor")
        if not isinstance(nxt, str) or not nxt:
            return items, False
        if page_no == MAX_PAGES - 1:
            return items, True
        cursor = nxt
    return items, False


async def _lifecycle(transport: _Transport, out: McpResult) -> None:
    ids = [0]
    ids[0] += 1
    init = await transport.call(
        "initialize",
        ids[0],
        {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "aisweep", "version": __version__},
        },
    )
    info = init.get("serverInfo")
    if isinstance(info, dict):
        out.server_info = {"name": _clean(info.get("name"), MAX_NAME), "version": _clean(info.get("version"), 64)}
    version = init.get("protocolVersion")
    out.protocol_version = _clean(version, 32) if isinstance(version, str) else None
    if isinstance(transport, _StreamableHttp) and out.protocol_version:
        transport.protocol = out.protocol_version
    caps = init.get("capabilities")
    declared: dict[str, Any] = caps if isinstance(caps, dict) else {}
    out.capabilities = sorted(_clean(k, 32) for k in declared)
    out.initialized = True
    await transport.call("notifications/initialized", None)
    # List only what the server declares (tools also when it declares nothing at all).
    wanted = [("tools/list", "tools"), ("resources/list", "resources"), ("prompts/list", "prompts")]
    for method, key in wanted:
        if key not in declared and not (key == "tools" and not declared):
            continue
        try:
            items, more = await _list(transport, method, key, ids)
        except McpError as exc:
            out.errors.append(str(exc))
            continue
        if key == "tools":
            tools = [t for t in (_tool(i) for i in items) if t is not None]
            out.tools_count = len(tools)
            out.tools_truncated = more or len(tools) > MAX_TOOLS
            out.tools = tools[:MAX_TOOLS]
        elif key == "resources":
            out.resources = len(items)
        else:
            out.prompts = len(items)


async def _oauth_discovery(poster: _Poster, endpoint: str, out: McpResult) -> None:
    """GET the RFC 9728 protected-resource metadata (safe requests) and record the documents found."""
    suffix = endpoint.rstrip("/")
    paths = [OAUTH_PRM, OAUTH_PRM + suffix] if suffix else [OAUTH_PRM]
    if out.resource_metadata:
        extra = _same_origin_path(poster.target, poster.scheme, "/", out.resource_metadata)
        if extra is not None and extra not in paths:
            paths.append(extra)
    for path in paths:
        obs = await poster.send(Request("GET", path, (("Accept", "application/json"),)))
        if obs.status != 200:
            continue
        doc = obs.json()
        if not isinstance(doc, dict) or "resource" not in doc:
            continue
        entry: dict[str, Any] = {"path": path, "resource": _clean(doc.get("resource"), 300)}
        for key in ("authorization_servers", "scopes_supported", "bearer_methods_supported"):
            value = doc.get(key)
            if isinstance(value, list):
                entry[key] = [_clean(v, 300) for v in value[:20]]
        out.oauth.append(entry)


def _gate(out: McpResult, gated: _Gated) -> None:
    out.gated = True
    out.gated_status = gated.status
    if gated.www_authenticate:
        out.www_authenticate = _clean(gated.www_authenticate, 500)
        m = _RESOURCE_METADATA.search(gated.www_authenticate)
        if m:
            out.resource_metadata = _clean(m.group(1), 300)


async def _open_sse(
    target: Target, scheme: str, endpoint: str, config: ClientConfig, ssl_ctx: ssl.SSLContext | None, out: McpResult
) -> tuple[_EventStream, str]:
    """GET the SSE endpoint, keep it open, and read its `endpoint` event (the message URL, same origin only)."""
    ctx = ssl_ctx if scheme == "https" else None
    try:
        async with asyncio.timeout(config.connect_timeout):
            reader, writer = await asyncio.open_connection(
                target.host,
                target.port,
                ssl=ctx,
                server_hostname=(target.hostname or "") if ctx is not None else None,
                limit=MAX_RESPONSE_BYTES,
            )
    except (OSError, TimeoutError) as exc:
        raise McpError(f"GET {endpoint}: {exc or 'connect timed out'}") from exc
    stream = _EventStream(reader, writer)
    head = (
        f"GET {endpoint} HTTP/1.1\r\nHost: {_host_header(target, scheme)}\r\nUser-Agent: {config.user_agent}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n"
    )
    out.requests += 1
    writer.write(head.encode("latin-1"))
    try:
        await stream.read_headers(config.read_timeout)
        if stream.status in (401, 403):
            raise _Gated(stream.status, stream.header("www-authenticate") or None)
        if stream.status != 200 or not stream.header("content-type").startswith("text/event-stream"):
            raise McpError(f"GET {endpoint}: HTTP {stream.status} {_clean(stream.header('content-type'), 60)}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.read_timeout
        while True:
            event = await stream.next_event(max(0.0, deadline - loop.time()))
            if event.event == "endpoint":
                break
    except TimeoutError as exc:
        stream.close()
        raise McpError(f"GET {endpoint}: no endpoint event within the read timeout") from exc
    except BaseException:
        stream.close()
        raise
    path = _same_origin_path(target, scheme, endpoint, event.data.strip())
    if path is None:
        stream.close()
        raise McpError(f"the endpoint event names another origin ({_clean(event.data, 200)}); not followed")
    out.session = True
    return stream, path


async def mcp_handshake(
    target: Target, scheme: str, transport: str, endpoint: str, config: ClientConfig, ssl_ctx: ssl.SSLContext | None
) -> McpResult:
    """Run the MCP lifecycle against `endpoint` ("streamable-http": /mcp or /mcp/; "sse": /sse).

    Never raises for network or protocol trouble: every failure is an entry in `errors`, and what was learnt before
    it is kept. Only for `--level handshake` (the caller checks the level)."""
    if transport not in ("streamable-http", "sse"):
        raise ValueError(f"unknown MCP transport {transport!r}")
    out = McpResult(transport=transport, endpoint=endpoint)
    cfg = replace(config, max_body=MAX_RESPONSE_BYTES)
    poster = _Poster(target, scheme, cfg, ssl_ctx, out)
    stream: _EventStream | None = None
    budget = cfg.connect_timeout * 2 + cfg.read_timeout * 12
    try:
        async with asyncio.timeout(budget):
            try:
                if transport == "sse":
                    stream, message_path = await _open_sse(target, scheme, endpoint, cfg, ssl_ctx, out)
                    await _lifecycle(_Sse(poster, stream, message_path, cfg, out), out)
                else:
                    await _lifecycle(_StreamableHttp(poster, endpoint, out), out)
            except _Gated as gated:
                _gate(out, gated)
            except McpError as exc:
                out.errors.append(str(exc))
            if stream is not None:
                stream.close()
                stream = None
            try:
                await _oauth_discovery(poster, out.endpoint if transport != "sse" else endpoint, out)
            except McpError as exc:
                out.errors.append(f"OAuth discovery: {exc}")
    except TimeoutError:
        out.errors.append(f"handshake stopped after {budget:.0f} s")
    finally:
        if stream is not None:
            stream.close()
        poster.close()
    return out
