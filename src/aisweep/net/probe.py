"""Examine one target: connect (plain HTTP or TLS, whichever the port suggests, falling back to the other), send
the planned requests over one keep-alive connection in rounds, identify, assess, and run the checks."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field

from aisweep.assess import conclude
from aisweep.checks.mcp import annotate
from aisweep.checks.registry import run_checks
from aisweep.models import Level, Observation, Outcome, Request, Target, TargetResult, TlsFacts
from aisweep.net.http import ClientConfig, HttpConnection, open_connection, plain_http_hit_tls
from aisweep.net.mcp import mcp_handshake
from aisweep.net.tls import add_tls_posture
from aisweep.rules.identify import Match
from aisweep.rules.plan import RuleSet
from aisweep.rules.rounds import ASSESS_BYTES, WIDEN, run_rounds
from aisweep.targets.ports import TLS_FIRST_PORTS

MAX_TIMEOUTS = 2
MAX_TOO_LARGE = 2  # a target answering every probe with more than --max-body is given up like a silent one
HOST_TIMEOUT = 120.0  # seconds one target may take in all (None: no limit); see ProbeSettings.host_timeout
_GIVE_UP = (Outcome.REFUSED, Outcome.TIMEOUT, Outcome.UNREACHABLE)
_PIPELINED = frozenset({"GET", "OPTIONS"})  # HEAD answers carry no body the parser could find the end of
# A target whose answer took this long is "slow": identification then sends its next AHEAD wanted requests at once
# (pipelined) instead of one round trip each, at the cost of up to AHEAD-1 requests past the deciding answer.
SLOW_MS = 500.0
AHEAD = 4


@dataclass(slots=True)
class ProbeSettings:
    client: ClientConfig = field(default_factory=ClientConfig)
    level: Level = Level.SAFE
    widen: int | None = WIDEN
    # A host answering every request just inside the read timeout would otherwise hold its slot for ~90 requests x
    # the read timeout; past this budget nothing more is sent and the target is concluded on what came back.
    host_timeout: float | None = HOST_TIMEOUT


def _host_header(target: Target, scheme: str) -> str:
    name = target.hostname or (f"[{target.host}]" if ":" in target.host else target.host)
    default = 443 if scheme == "https" else 80
    return name if target.port == default else f"{name}:{target.port}"


def _scheme_order(target: Target) -> tuple[str, ...]:
    if target.scheme:
        return (target.scheme,)
    return ("https", "http") if target.port in TLS_FIRST_PORTS else ("http", "https")


class _Session:
    """The connection state for one target: reconnects when the server closes between requests."""

    def __init__(
        self,
        target: Target,
        scheme: str,
        settings: ProbeSettings,
        ctx: ssl.SSLContext | None,
        deadline: float | None = None,
    ) -> None:
        self.target = target
        self.scheme = scheme
        self.settings = settings
        self.ctx = ctx
        self.conn: HttpConnection | None = None
        self.tls: TlsFacts | None = None
        self.requests = 0
        self.timeouts = 0
        self.too_large = 0
        self.dead: Outcome | None = None
        self.host_header = _host_header(target, scheme)
        self.deadline = deadline  # time.monotonic() after which nothing more is sent (the host's time budget)
        self.budget_spent = False
        self.slow = False  # an answer took SLOW_MS or more

    async def connect(self) -> tuple[Outcome, str | None]:
        conn, outcome, error, tls = await open_connection(
            self.target.host,
            self.target.port,
            self.settings.client,
            self.ctx if self.scheme == "https" else None,
            self.target.hostname,
        )
        self.conn = conn
        if tls is not None:
            self.tls = tls
        return outcome, error

    async def send(self, request: Request, stream: bool, max_bytes: int | None = None) -> Observation:
        if not request.safe and self.settings.level is Level.SAFE:
            raise ValueError(f"refusing {request.method} {request.path} at --level safe")  # a rule/check bug
        if self.dead is not None:
            return Observation(request, self.dead, error="not sent: the target stopped answering")
        read_timeout = None
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.dead, self.budget_spent = Outcome.TIMEOUT, True
                return Observation(request, Outcome.TIMEOUT, error="not sent: the host's time budget is spent")
            read_timeout = min(left, self.settings.client.read_timeout)
        if self.conn is None or self.conn.closed:
            outcome, error = await self.connect()
            if outcome is not Outcome.OK:
                self.dead = outcome
                return Observation(request, outcome, error=error)
        assert self.conn is not None
        self.requests += 1
        obs = await self.conn.request(
            request, self.host_header, stream=stream, max_bytes=max_bytes, timeout=read_timeout
        )
        self._count(obs)
        return obs

    async def send_many(self, requests: list[Request], max_bytes: list[int | None]) -> list[Observation]:
        """Send independent requests, pipelined on the open connection when the server has shown it keeps
        connections open (the leading GETs and OPTIONS); what the pipeline did not answer, and the rest, are sent one
        by one (`send`). `max_bytes[i]` caps the answer to `requests[i]`. Stops, like a loop of `send`, once the
        target is given up: the list then has fewer entries than `requests`."""
        out: list[Observation] = []
        conn = self.conn
        n = 0  # the leading requests that can be pipelined (GET and OPTIONS without a body)
        while n < len(requests) and requests[n].method in _PIPELINED and not requests[n].body:
            n += 1
        if n > 1 and self.dead is None and conn is not None and not conn.closed and conn.reused:
            if self.settings.level is Level.SAFE and not all(r.safe for r in requests[:n]):
                raise ValueError("refusing an unsafe request at --level safe")  # a rule/check bug
            timeout = self.settings.client.read_timeout
            if self.deadline is not None:
                timeout = min(timeout, self.deadline - time.monotonic())
            if timeout > 0:
                self.requests += n
                batch = requests[:n]
                for obs in await conn.request_many(batch, self.host_header, max_bytes=max_bytes[:n], timeout=timeout):
                    self._count(obs)
                    out.append(obs)
        for i in range(len(out), len(requests)):
            if self.dead is not None:
                break
            out.append(await self.send(requests[i], False, max_bytes[i]))
        return out

    def _count(self, obs: Observation) -> None:
        if obs.elapsed_ms >= SLOW_MS and obs.answered:
            self.slow = True
        if obs.outcome is Outcome.TIMEOUT:  # silent servers and tarpits alike
            self.timeouts += 1
            if self.timeouts >= MAX_TIMEOUTS:
                self.dead = Outcome.TIMEOUT
        elif obs.outcome is Outcome.TOO_LARGE:
            self.too_large += 1
            if self.too_large >= MAX_TOO_LARGE:
                self.dead = Outcome.TOO_LARGE

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


async def _open_session(
    target: Target, first: Request, settings: ProbeSettings, ssl_ctx: ssl.SSLContext, stream_keys: set[str]
) -> tuple[_Session | None, Observation | None, Outcome, str | None]:
    """Find the scheme that speaks HTTP on this port; returns the session and the first observation."""
    last_outcome, last_error = Outcome.REFUSED, None
    budget = settings.host_timeout
    deadline = time.monotonic() + budget if budget else None
    for scheme in _scheme_order(target):
        session = _Session(target, scheme, settings, ssl_ctx, deadline)
        outcome, error = await session.connect()
        if outcome is not Outcome.OK:
            last_outcome, last_error = outcome, error
            if outcome in _GIVE_UP:
                return None, None, outcome, error
            continue
        obs = await session.send(first, first.key in stream_keys)
        raw = session.conn.last_raw_prefix if session.conn is not None else b""
        if scheme == "http" and (plain_http_hit_tls(obs, raw) or (obs.outcome is Outcome.RESET and obs.status is None)):
            session.close()
            last_outcome, last_error = obs.outcome, obs.error or "plain HTTP refused by a TLS port"
            continue
        if scheme == "https" and obs.outcome in (Outcome.TLS_ERROR, Outcome.RESET) and obs.status is None:
            session.close()
            last_outcome, last_error = obs.outcome, obs.error
            continue
        return session, obs, obs.outcome, obs.error
    return None, None, last_outcome, last_error


async def probe_target(
    target: Target, ruleset: RuleSet, settings: ProbeSettings, ssl_ctx: ssl.SSLContext
) -> TargetResult:
    plan = ruleset.first_round(target.port)
    if not plan:
        return TargetResult(target, Outcome.OK, error="no rules apply to this port")
    stream_keys = ruleset.stream_keys
    session, first_obs, outcome, error = await _open_session(target, plan[0], settings, ssl_ctx, stream_keys)
    if session is None or first_obs is None:
        return TargetResult(target, outcome, error=error)
    observations: dict[str, Observation] = {first_obs.request.key: first_obs}

    caps = ruleset.byte_caps

    async def send(request: Request) -> Observation:
        return await session.send(request, request.key in stream_keys, caps.get(request.key))

    async def send_many(requests: list[Request]) -> list[Observation]:
        if any(r.key in stream_keys for r in requests):  # a stream is read to its first event, never pipelined
            out = []
            for r in requests:
                if stopped():
                    break
                out.append(await send(r))
            return out
        return await session.send_many(requests, [caps.get(r.key) for r in requests])

    async def assess(requests: list[Request]) -> list[Observation]:
        return await session.send_many(requests, [caps.get(r.key, ASSESS_BYTES) for r in requests])

    def stopped() -> bool:
        # The request budget is enforced by run_rounds for identification; the assessment round after it is sent
        # whenever the target still answers.
        return session.dead is not None

    try:
        matches = await run_rounds(
            ruleset,
            target.port,
            send,
            observations,
            stopped,
            assess,
            settings.widen,
            send_many,
            lambda: AHEAD if session.slow else 1,
        )
    finally:
        session.close()
    if session.scheme == "https" and session.tls is not None and matches:
        await add_tls_posture(session.tls, target, settings.client)
    answered = any(o.answered for o in observations.values())
    result = TargetResult(
        target,
        Outcome.OK if answered else first_obs.outcome,
        scheme=session.scheme,
        observations=list(observations.values()),
        requests_sent=session.requests,
        error=None if answered else first_obs.error,
        budget_spent=session.budget_spent,
    )
    result.service = conclude(target, session.scheme, matches, observations, session.tls, settings.level)
    # --level handshake on an identified MCP server: run the MCP lifecycle (net/mcp.py: initialize,
    # notifications/initialized, tools/resources/prompts list; never tools/call), keep its result on the service,
    # and run the checks again so McpToolsCheck sees it. Network-only: sample replay has no handshake.
    if settings.level is Level.HANDSHAKE and result.service is not None and result.service.product == "mcp-server":
        await _mcp_stage(result, matches, observations, settings, ssl_ctx)
    return result


def mcp_transport(observations: dict[str, Observation]) -> tuple[str, str] | None:
    """(transport, endpoint) from the safe-level probes: Streamable HTTP (/mcp, /mcp/ answering 406/400/401)
    before SSE (/sse opening an event stream that names its endpoint, or 401); None when neither answered so."""
    answers: dict[str, Observation] = {}
    for o in observations.values():  # the rule's own probe first: later CORS/Host checks reuse the path
        if (
            o.request.method == "GET"
            and o.answered
            and not any(k.lower() in ("origin", "host") for k, _ in o.request.headers)
        ):
            answers.setdefault(o.request.path, o)
    for path in ("/mcp", "/mcp/"):
        obs = answers.get(path)
        if obs is not None and obs.status in (400, 401, 406):
            return "streamable-http", path
    sse = answers.get("/sse")
    if sse is not None and (
        sse.status == 401
        or (
            sse.status == 200
            and (sse.header("content-type") or "").startswith("text/event-stream")
            and sse.body.startswith(b"event: endpoint")
        )
    ):
        return "sse", "/sse"
    return None


async def _mcp_stage(
    result: TargetResult,
    matches: list[Match],
    observations: dict[str, Observation],
    settings: ProbeSettings,
    ssl_ctx: ssl.SSLContext,
) -> None:
    service = result.service
    found = mcp_transport(observations)
    if service is None or found is None or result.scheme is None:
        return
    transport, endpoint = found
    mcp = await mcp_handshake(result.target, result.scheme, transport, endpoint, settings.client, ssl_ctx)
    result.requests_sent += mcp.requests
    service.mcp = annotate(mcp.to_dict())
    for key, count in (("tools", mcp.tools_count), ("resources", mcp.resources), ("prompts", mcp.prompts)):
        if count is not None:
            service.surfaces[key] = count
    if mcp.initialized:
        info = mcp.server_info or {}
        service.evidence.append(
            f"MCP handshake ({transport} {mcp.endpoint}): serverInfo {info.get('name', '?')} "
            f"{info.get('version', '')}".rstrip()
            + f", protocol {mcp.protocol_version}, {mcp.tools_count or 0} tools"
        )
    rule = next((m.rule for m in matches if m.rule.id == service.product), None)
    if rule is not None:
        service.findings = run_checks(service, rule, observations, settings.level)
