"""MCP tool risk: the classifier on names, descriptions and argument names (with look-alike negatives), and the
McpToolsCheck findings from a handshake result stored on the service (a recorded MCP sample, replayed)."""

from __future__ import annotations

from typing import Any

import pytest

from aisweep.checks.base import CheckContext
from aisweep.checks.mcp import McpToolsCheck, annotate, classify_tool, name_tokens, riskiest
from aisweep.checks.registry import BUILTIN_CHECKS, run_checks
from aisweep.models import Level, Severity
from tests.checks.planting import plant, rules, scan


@pytest.mark.parametrize(
    ("name", "description", "keys", "expected"),
    [
        # the demo server's tools (as the Python SDK lists them)
        ("read_file", "Read a file from the server's disk.", ["path"], ["filesystem"]),
        ("run_shell_command", "Run a shell command on the server.", ["command"], ["shell"]),
        ("query_database", "Run a SQL query against the application database.", ["sql"], ["database"]),
        ("get_weather", "Current weather for a city.", ["city"], ["network"]),
        # well-known reference servers' tools
        ("fetch", "Fetches a URL from the internet and extracts its contents as markdown.", ["url"], ["network"]),
        (
            "list_directory",
            "Get a detailed listing of all files and directories in a specified path.",
            ["path"],
            ["filesystem"],
        ),
        ("execute_command", "", ["command", "timeout"], ["shell"]),
        ("runPython", "Execute Python code in an isolated sandbox.", ["code"], ["code"]),
        ("kubectl_get", "Get Kubernetes resources", ["resourceType", "namespace"], ["cloud"]),
        ("get_secret_value", "Read a secret from AWS Secrets Manager", ["secret_id"], ["cloud"]),
        ("execute_query", "Execute a SQL query", ["query"], ["database"]),
        ("send_email", "Send an email to a recipient", ["to", "subject", "body"], ["network"]),
        ("write_file", "Create a new file or overwrite an existing one", ["path", "content"], ["filesystem"]),
        # negatives: one risky-looking word is not enough
        ("shell_color_theme", "Pick the colour theme of the shell prompt (colours only).", ["theme"], []),
        ("verify_otp", "Verify a one-time code sent to the user.", ["code"], []),
        ("add", "Add two numbers.", ["a", "b"], []),
        ("count_tokens", "Count the tokens in a text.", ["text"], []),
        ("run_tests", "Report which unit tests passed in the last CI build.", ["suite"], []),
        ("get_profile", "Return the user's display profile.", ["user_id"], []),
        ("command_palette_help", "Show help for the editor's palette.", [], []),
    ],
)
def test_classify_tool(name: str, description: str, keys: list[str], expected: list[str]) -> None:
    assert classify_tool(name, description, keys) == expected


def test_get_weather_is_network_but_not_shell() -> None:
    cats = classify_tool("get_weather", "Current weather for a city.", ["city"])
    assert "network" in cats and "shell" not in cats


def test_name_tokens_and_severity_order() -> None:
    assert name_tokens("runShellCommand") == ["run", "shell", "command"]
    assert name_tokens("fs.read-File_v2") == ["fs", "read", "file", "v2"]
    assert riskiest(["network", "shell"]) is Severity.CRITICAL
    assert riskiest(["code"]) is Severity.CRITICAL
    assert riskiest(["filesystem"]) is Severity.HIGH
    assert riskiest(["cloud", "network"]) is Severity.HIGH
    assert riskiest(["network"]) is Severity.MEDIUM
    assert riskiest([]) is Severity.LOW


def _tool(name: str, description: str, keys: list[str]) -> dict[str, Any]:
    return {"name": name, "description": description, "input_keys": keys}


def _mcp(tools: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transport": "streamable-http",
        "endpoint": "/mcp",
        "gated": False,
        "gated_status": None,
        "www_authenticate": None,
        "resource_metadata": None,
        "oauth": [],
        "server_info": {"name": "demo-tools", "version": "1.9.4"},
        "protocol_version": "2025-03-26",
        "tools": tools,
        "tools_count": len(tools),
        "tools_truncated": False,
        "resources": 2,
        "prompts": 1,
        "errors": [],
    }
    return annotate(base | extra)


def _run(mcp: dict[str, Any] | None, case: str = "mcp-python-sdk-2.3.0-streamable-open") -> list[Any]:
    service = scan(plant(case))
    service.mcp = mcp
    rule = next(r for r in rules() if r.id == "mcp-server")
    return McpToolsCheck().run(CheckContext(service, rule, {}))


def test_tools_exposed_severity_follows_the_riskiest_tool() -> None:
    shell = _tool("run_shell_command", "Run a shell command on the server.", ["command"])
    files = _tool("read_file", "Read a file from the server's disk.", ["path"])
    weather = _tool("get_weather", "Current weather for a city.", ["city"])
    plain = _tool("add", "Add two numbers.", ["a", "b"])
    (f,) = _run(_mcp([weather, files, shell, plain]))
    assert f.id == "mcp.tools-exposed" and f.severity is Severity.CRITICAL
    assert f.evidence.index("run_shell_command [shell/exec]") < f.evidence.index("read_file [filesystem]")
    assert "add [no risky category]" in f.evidence and "2 resources, 1 prompts" in f.evidence
    assert "no tool was called" in f.evidence
    assert _run(_mcp([weather, files]))[0].severity is Severity.HIGH
    assert _run(_mcp([weather]))[0].severity is Severity.MEDIUM
    assert _run(_mcp([plain]))[0].severity is Severity.LOW


def test_fingerprint_is_stable_and_tracks_the_tool_set() -> None:
    a = _run(_mcp([_tool("read_file", "", ["path"])]))[0]
    b = _run(_mcp([_tool("read_file", "", ["path"])]))[0]
    c = _run(_mcp([_tool("read_file", "", ["path"]), _tool("add", "", [])]))[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_gated_server_is_info_with_oauth_details() -> None:
    mcp = _mcp(
        [],
        gated=True,
        gated_status=401,
        server_info=None,
        www_authenticate='Bearer error="invalid_token", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp"',
        resource_metadata="http://h/.well-known/oauth-protected-resource/mcp",
        oauth=[
            {
                "path": "/.well-known/oauth-protected-resource/mcp",
                "resource": "http://h/mcp",
                "authorization_servers": ["https://auth.example/"],
                "scopes_supported": ["mcp"],
            }
        ],
    )
    (f,) = _run(mcp, "mcp-python-sdk-2.3.0-streamable-oauth")
    assert f.id == "mcp.gated" and f.severity is Severity.INFO
    assert "HTTP 401" in f.evidence and "https://auth.example/" in f.evidence and "scopes mcp" in f.evidence


def test_no_handshake_no_findings_and_safe_level_skips_the_check() -> None:
    assert _run(None) == []
    assert _run(_mcp([])) == []
    service = scan(plant("mcp-python-sdk-2.3.0-streamable-open"))
    service.mcp = _mcp([_tool("run_shell_command", "Run a shell command.", ["command"])])
    rule = next(r for r in rules() if r.id == "mcp-server")
    checks = (*BUILTIN_CHECKS, McpToolsCheck())
    assert not any(f.id.startswith("mcp.") for f in run_checks(service, rule, {}, Level.SAFE, checks))
    assert any(f.id == "mcp.tools-exposed" for f in run_checks(service, rule, {}, Level.HANDSHAKE, checks))


def test_annotate_adds_categories_and_the_record_carries_them() -> None:
    service = scan(plant("mcp-python-sdk-2.3.0-streamable-open"))
    service.mcp = _mcp([_tool("read_file", "Read a file.", ["path"])])
    record = service.to_record()
    assert record["mcp"]["tools"][0]["categories"] == ["filesystem"]
