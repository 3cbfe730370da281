"""The MCP handshake (`--level handshake`): the event-stream parser and safety guards as units, then real MCP servers
from the official Python SDK (tests/realsvc/mcp_demo_server.py, harmless tools returning fixed strings) started on
127.0.0.1 and scanned with `aisweep scan --level handshake`. The servers log every HTTP request and JSON-RPC method
they receive, so the tests prove what was (and was not) sent: no tools/call, no DELETE, and no POST at all at the
safe level.

The SDK is installed per version into a venv under .cache/realsvc/ (tests/realsvc/services.py builds it once, under
a lock); a venv left by an earlier session in .cache/helper-e/ is used when present. Without either, and without a
package index to build one, the server tests skip."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aisweep.models import Request, Target
from aisweep.net.mcp import ALLOWED_METHODS, SseEvent, SseParser, _rpc, _same_origin_path
from aisweep.net.probe import mcp_transport
from aisweep.rules.loader import load_rules
from aisweep.rules.samples import load_samples
from tests.conftest import scan_one_port
from tests.realsvc.services import (
    DEFAULT_CACHE_DIR,
    Launch,
    ServiceError,
    ServiceSpec,
    _stop,
    ensure_venv,
    free_port,
    http_get,
    service_env,
    venv_path,
    venv_ready,
)

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "tests/realsvc/mcp_demo_server.py"
LEGACY_VENVS = {"2.3.0": ROOT / ".cache/helper-e/mcpvenv", "1.9.4": ROOT / ".cache/helper-e/mcp1venv"}
TOOLS = {
    "read_file": ["filesystem"],
    "run_shell_command": ["shell"],
    "query_database": ["database"],
    "get_weather": ["network"],
    "shell_color_theme": [],
}


# --------------------------------------------------------------------------------------------------------------------
# Units


def test_sse_parser_line_endings_split_across_chunks() -> None:
    p = SseParser()
    assert p.feed(b"event: endpoint\r") == []
    assert p.feed(b"\ndata: /messages/?session_id=1\r\n") == []
    assert p.feed(b"\r\n") == [SseEvent("endpoint", "/messages/?session_id=1")]
    assert p.feed(b': ping\n\nevent: message\ndata: {"a":\ndata: 1}\n\n') == [SseEvent("message", '{"a":\n1}')]
    assert p.feed(b"data: x\r\rdata:y\n\n") == [SseEvent("message", "x"), SseEvent("message", "y")]


def test_only_lifecycle_methods_can_be_encoded() -> None:
    for method in ALLOWED_METHODS:
        assert json.loads(_rpc(method, 1))["method"] == method
    for method in ("tools/call", "resources/read", "prompts/get", "sampling/createMessage", "logging/setLevel"):
        with pytest.raises(ValueError, match="refusing"):
            _rpc(method, 1)


def test_message_endpoint_must_stay_on_the_target() -> None:
    t = Target("127.0.0.1", 8000)
    assert _same_origin_path(t, "http", "/sse", "/messages/?session_id=ab") == "/messages/?session_id=ab"
    assert _same_origin_path(t, "http", "/sse", "messages/?x=1") == "/messages/?x=1"
    assert _same_origin_path(t, "http", "/sse", "http://127.0.0.1:8000/m") == "/m"
    assert _same_origin_path(t, "http", "/sse", "http://127.0.0.2:8000/m") is None
    assert _same_origin_path(t, "http", "/sse", "http://127.0.0.1:8001/m") is None
    assert _same_origin_path(t, "http", "/sse", "https://127.0.0.1:8000/m") is None
    assert _same_origin_path(t, "http", "/sse", "//evil.example/m") is None


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("mcp-python-sdk-2.3.0-streamable-open", ("streamable-http", "/mcp")),
        ("mcp-python-sdk-1.9.4-streamable-open", ("streamable-http", "/mcp/")),
        ("mcp-python-sdk-2.3.0-sse-open", ("sse", "/sse")),
        ("mcp-python-sdk-1.9.4-sse-open", ("sse", "/sse")),
        ("mcp-python-sdk-2.3.0-streamable-oauth", ("streamable-http", "/mcp")),
        ("mcp-python-sdk-2.3.0-sse-oauth", ("sse", "/sse")),
    ],
)
def test_transport_from_recorded_safe_probes(case: str, expected: tuple[str, str]) -> None:
    rule = next(r for r in load_rules() if r.id == "mcp-server")
    sample = next(s for s in load_samples() if s.case == case)
    requests: list[Request] = rule.requests()
    observations = {r.key: sample.observation(r) for r in requests}
    assert mcp_transport(observations) == expected


# --------------------------------------------------------------------------------------------------------------------
# Real SDK servers


# SDK 1.9.4 predates pydantic 2.12 and starlette 1.x: pin what it was released against.
PINS = {"1.9.4": ("pydantic==2.11.7", "starlette==0.47.0", "sse-starlette==2.3.6", "uvicorn==0.34.3")}


def _spec(version: str) -> ServiceSpec:
    return ServiceSpec(
        name=f"mcp-sdk-{version}",
        product="mcp-server",
        packages=(f"mcp=={version}", *PINS.get(version, ())),
        expect_version=version,
        expect_auth="",
        start=lambda ctx: Launch(()),
        software=f"mcp {version} (PyPI, Python SDK)",
    )


def _has_mcp(venv: Path, version: str) -> bool:
    python = venv / "bin/python"
    if not python.exists():
        return False
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mcp'))"], capture_output=True, text=True
    )
    return out.returncode == 0 and out.stdout.strip() == version


def mcp_venv(version: str) -> Path:
    """A venv with mcp==version: ours under .cache/realsvc/ if built, else the helper's, else build ours now (and
    skip when that fails, e.g. without a package index)."""
    spec = _spec(version)
    if venv_ready(spec):
        return venv_path(spec)
    legacy = LEGACY_VENVS.get(version)
    if legacy is not None and _has_mcp(legacy, version):
        return legacy
    try:
        return ensure_venv(spec)
    except ServiceError as exc:
        pytest.skip(f"no venv with mcp=={version} and building one under {DEFAULT_CACHE_DIR} failed: {exc}")


@dataclass
class DemoServer:
    port: int
    log: Path
    version: str
    transport: str

    def received(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def posts(self) -> list[str]:
        return [e["path"] for e in self.received() if e.get("http") == "POST"]

    def rpc_methods(self) -> list[str]:
        return [e["rpc"] for e in self.received() if "rpc" in e]


@contextlib.contextmanager
def demo_server(version: str, transport: str, tmp: Path, auth: bool = False) -> Iterator[DemoServer]:
    venv = mcp_venv(version)
    port = free_port()
    log = tmp / f"requests-{port}.jsonl"
    argv = [str(venv / "bin/python"), str(SERVER), transport, str(port), "--log", str(log), *(["--auth"] * auth)]
    work = tmp / f"work-{port}"
    work.mkdir()
    with open(tmp / f"server-{port}.out", "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=work,
            env=service_env(venv, work),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise AssertionError((tmp / f"server-{port}.out").read_text()[-3000:])
            try:
                http_get(port, "/aisweep-ready", timeout=2)
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"MCP demo server on {port} did not start") from None
                time.sleep(0.3)
        log.write_text("")  # forget the readiness poll
        yield DemoServer(port, log, version, transport)
    finally:
        _stop(proc)


def scan(port: int, tmp: Path, level: str) -> dict[str, object]:
    return scan_one_port(port, tmp, "--level", level)


SERVERS = [("2.3.0", "streamable-http"), ("2.3.0", "sse"), ("1.9.4", "streamable-http"), ("1.9.4", "sse")]


@pytest.mark.realsvc
@pytest.mark.slow
@pytest.mark.parametrize(("version", "transport"), SERVERS, ids=[f"{v}-{t}" for v, t in SERVERS])
def test_handshake_lists_and_classifies_tools(version: str, transport: str, tmp_path: Path) -> None:
    with demo_server(version, transport, tmp_path) as srv:
        record = scan(srv.port, tmp_path, "handshake")
        methods, posts, received = srv.rpc_methods(), srv.posts(), srv.received()
    assert record["product"] == "mcp-server" and record["variant"] == transport
    mcp = record["mcp"]
    assert isinstance(mcp, dict)
    assert mcp["transport"] == transport and not mcp["gated"] and mcp["errors"] == []
    assert mcp["server_info"]["name"] == "aisweep-demo"
    assert {t["name"]: t["categories"] for t in mcp["tools"]} == TOOLS
    assert next(t for t in mcp["tools"] if t["name"] == "read_file")["input_keys"] == ["path"]
    assert record["surfaces"] == {"tools": 5, "resources": 1, "prompts": 1}
    (finding,) = [f for f in record["findings"] if f["id"] == "mcp.tools-exposed"]  # type: ignore[union-attr]
    assert finding["severity"] == "critical"
    assert "run_shell_command [shell/exec]" in finding["evidence"]
    assert "shell_color_theme [no risky category]" in finding["evidence"]
    # What reached the server: the lifecycle, the lists, nothing else.
    assert methods == ["initialize", "notifications/initialized", "tools/list", "resources/list", "prompts/list"]
    assert len(posts) == 5
    assert not any(e.get("http") == "DELETE" for e in received)


@pytest.mark.realsvc
@pytest.mark.slow
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_oauth_gated_server_reported_as_gated(transport: str, tmp_path: Path) -> None:
    with demo_server("2.3.0", transport, tmp_path, auth=True) as srv:
        record = scan(srv.port, tmp_path, "handshake")
        methods, posts = srv.rpc_methods(), srv.posts()
    assert record["auth"]["tier"] == "auth-required"  # type: ignore[index]
    mcp = record["mcp"]
    assert isinstance(mcp, dict)
    assert mcp["gated"] and mcp["gated_status"] == 401 and mcp["tools"] == []
    assert mcp["resource_metadata"].endswith(
        "/.well-known/oauth-protected-resource" + ("/sse" if transport == "sse" else "/mcp")
    )
    assert mcp["oauth"] and mcp["oauth"][0]["scopes_supported"] == ["mcp"]
    ids = {f["id"]: f for f in record["findings"]}  # type: ignore[union-attr]
    assert "mcp.tools-exposed" not in ids and ids["mcp.gated"]["severity"] == "info"
    assert methods == []  # the 401 came before any JSON-RPC was read
    assert len(posts) == (1 if transport == "streamable-http" else 0)


@pytest.mark.realsvc
@pytest.mark.slow
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_safe_level_sends_no_post(transport: str, tmp_path: Path) -> None:
    with demo_server("2.3.0", transport, tmp_path) as srv:
        record = scan(srv.port, tmp_path, "safe")
        received = srv.received()
    assert record["product"] == "mcp-server" and record["mcp"] is None
    assert received and all(e.get("http") in ("GET", "HEAD", "OPTIONS") for e in received), received
    assert not any(f["id"].startswith("mcp.") for f in record["findings"])  # type: ignore[union-attr]


def test_handshake_never_raises_on_a_closed_port() -> None:
    from aisweep.net.http import ClientConfig
    from aisweep.net.mcp import mcp_handshake

    port = free_port()
    result = asyncio.run(
        mcp_handshake(Target("127.0.0.1", port), "http", "streamable-http", "/mcp", ClientConfig(1.0, 1.0), None)
    )
    assert not result.initialized and result.errors and result.methods == ["initialize"]
