"""MCP tool risk: classify each tool an MCP server lists (name, description, argument names) into what it could
reach if called — shell/exec, code, filesystem, database, cloud/credentials, network/HTTP — and report the exposure.

Tools are classified from their declarations only; no tool is ever called (`net/mcp.py` never sends `tools/call`).
The handshake result is read from `Service.mcp` (set by the engine at `--level handshake`).

Scoring: each category has weak (1) and strong (2) signals in three sources — name tokens, description phrases,
argument names — each source contributing at most 2; a category applies at 2 or more. So one weak word ("shell" in
`shell_color_theme`) is not enough, while a verb phrase ("run a shell command") or two agreeing words are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from aisweep.checks.base import CheckContext
from aisweep.models import Control, Finding, Level, Severity

# Category ids, in order of risk, with their labels and the severity a tool of that category gives the finding.
SHELL: Final = "shell"
CODE: Final = "code"
FILESYSTEM: Final = "filesystem"
DATABASE: Final = "database"
CLOUD: Final = "cloud"
NETWORK: Final = "network"

LABELS: Final[dict[str, str]] = {
    SHELL: "shell/exec",
    CODE: "code execution",
    FILESYSTEM: "filesystem",
    DATABASE: "database",
    CLOUD: "cloud/credentials",
    NETWORK: "network/HTTP",
}
SEVERITY: Final[dict[str, Severity]] = {
    SHELL: Severity.CRITICAL,
    CODE: Severity.CRITICAL,
    FILESYSTEM: Severity.HIGH,
    DATABASE: Severity.HIGH,
    CLOUD: Severity.HIGH,
    NETWORK: Severity.MEDIUM,
}
ORDER: Final = (SHELL, CODE, FILESYSTEM, DATABASE, CLOUD, NETWORK)
THRESHOLD: Final = 2


def _rx(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.I) for p in patterns)


@dataclass(frozen=True, slots=True)
class _Lexicon:
    name_strong: frozenset[str] = frozenset()
    name_weak: frozenset[str] = frozenset()
    desc_strong: tuple[re.Pattern[str], ...] = ()
    desc_weak: tuple[re.Pattern[str], ...] = ()
    keys_strong: frozenset[str] = frozenset()
    keys_weak: frozenset[str] = frozenset()


_RUN = r"(?:run|runs|running|execute|executes|executing|exec|invoke|invokes|spawn|spawns|launch|launches)"
_LEXICONS: Final[dict[str, _Lexicon]] = {
    SHELL: _Lexicon(
        name_strong=frozenset({"bash", "powershell", "pwsh", "zsh", "subprocess", "sudo", "ssh", "cmd", "shellexec"}),
        name_weak=frozenset({"shell", "command", "commands", "exec", "execute", "run", "terminal", "process", "spawn"}),
        desc_strong=_rx(
            _RUN + r"\b[^.]{0,40}?\b(?:shell|bash|zsh|powershell|commands?|cmd|terminal|subprocess(?:es)?|"
            r"processe?s?|programs?|binar(?:y|ies)|executables?)\b",
            r"\b(?:shell|bash|zsh|powershell|terminal|command[- ]line|os|system)\s+(?:commands?|sessions?|access|"
            r"execution|scripts?)\b",
            r"\bsubprocess\b",
            r"\barbitrary\s+commands?\b",
        ),
        keys_strong=frozenset({"command", "cmd", "shell_command", "commandline", "command_line", "argv", "shell"}),
        keys_weak=frozenset({"cwd", "workdir", "working_dir", "working_directory", "args", "arguments"}),
    ),
    CODE: _Lexicon(
        name_strong=frozenset({"eval", "repl", "interpreter", "sandbox", "jupyter"}),
        name_weak=frozenset(
            {"code", "python", "javascript", "js", "node", "script", "run", "execute", "exec", "notebook", "cell"}
        ),
        desc_strong=_rx(
            r"\b(?:run|runs|execute|executes|exec|evaluate|evaluates|eval|interpret|interprets)\b[^.]{0,40}?\b(?:"
            r"python|javascript|js|node(?:\.js)?|code|scripts?|snippets?|notebook cells?|expressions?)\b",
            r"\barbitrary\s+code\b",
            r"\b(?:python|javascript|code)\s+(?:interpreter|sandbox|repl|execution|runner)\b",
        ),
        keys_strong=frozenset({"python_code", "source_code", "code_snippet", "js_code", "script_code"}),
        keys_weak=frozenset({"code", "script", "snippet", "language", "expression"}),
    ),
    FILESYSTEM: _Lexicon(
        name_strong=frozenset(
            {"file", "files", "filesystem", "fs", "directory", "directories", "folder", "folders", "mkdir", "glob"}
        ),
        name_weak=frozenset({"path", "paths", "dir", "dirs", "tree", "disk", "upload", "download", "ls", "cat"}),
        desc_strong=_rx(
            r"\b(?:read|reads|write|writes|list|lists|delete|deletes|remove|removes|move|moves|copy|copies|create|"
            r"creates|edit|edits|append|appends|save|saves|open|opens|search|searches)\b[^.]{0,30}?\b(?:files?|"
            r"director(?:y|ies)|folders?|disk|file ?system)\b",
            r"\bfile ?system\b",
            r"\b(?:local|server'?s?|host'?s?)\s+(?:disk|files?|file ?system)\b",
        ),
        desc_weak=_rx(r"\b(?:files?|director(?:y|ies)|folders?)\b"),
        keys_strong=frozenset(
            {"file_path", "filepath", "filename", "file_name", "directory", "dir", "folder", "dirpath", "dir_path"}
        ),
        keys_weak=frozenset({"path", "paths", "file", "files", "pattern", "glob"}),
    ),
    DATABASE: _Lexicon(
        name_strong=frozenset(
            {
                "sql",
                "database",
                "databases",
                "db",
                "postgres",
                "postgresql",
                "mysql",
                "mariadb",
                "sqlite",
                "mongo",
                "mongodb",
                "redis",
                "bigquery",
                "snowflake",
                "dynamodb",
                "elasticsearch",
                "clickhouse",
                "neo4j",
                "cypher",
                "supabase",
                "cassandra",
            }
        ),
        name_weak=frozenset({"query", "table", "tables", "schema", "collection", "collections", "record", "records"}),
        desc_strong=_rx(
            r"\bsql\b",
            r"\bdatabases?\b",
            r"\b(?:postgres(?:ql)?|mysql|mariadb|sqlite|mongo(?:db)?|redis|bigquery|snowflake|dynamodb|"
            r"elasticsearch|clickhouse|neo4j|supabase|cassandra)\b",
        ),
        desc_weak=_rx(r"\b(?:tables?|rows|collections?|records)\b"),
        keys_strong=frozenset({"sql", "sql_query", "database", "db", "table", "table_name", "collection", "schema"}),
        keys_weak=frozenset({"query", "where", "filter"}),
    ),
    CLOUD: _Lexicon(
        name_strong=frozenset(
            {
                "aws",
                "s3",
                "ec2",
                "iam",
                "gcp",
                "gcs",
                "azure",
                "kubernetes",
                "k8s",
                "kubectl",
                "terraform",
                "secret",
                "secrets",
                "credential",
                "credentials",
                "password",
                "passwords",
                "apikey",
                "vault",
                "kms",
            }
        ),
        name_weak=frozenset({"cloud", "bucket", "buckets", "token", "tokens", "key", "keys", "env", "deploy", "pod"}),
        desc_strong=_rx(
            r"\b(?:aws|amazon web services|s3 buckets?|ec2|iam|gcp|google cloud|azure|kubernetes|k8s|terraform)\b",
            r"\b(?:secrets?|credentials?|api[ -]?keys?|access[ -]keys?|passwords?|private[ -]keys?|"
            r"(?:access|bearer|auth(?:entication)?|refresh)[ -]tokens?)\b",
            r"\benvironment\s+variables?\b",
        ),
        desc_weak=_rx(r"\bcloud\b", r"\bbuckets?\b"),
        keys_strong=frozenset(
            {
                "secret",
                "secret_name",
                "secret_id",
                "password",
                "api_key",
                "apikey",
                "access_key",
                "access_key_id",
                "secret_access_key",
                "credentials",
                "aws_region",
                "bucket",
                "bucket_name",
            }
        ),
        keys_weak=frozenset({"token", "region", "namespace", "project_id", "subscription_id"}),
    ),
    NETWORK: _Lexicon(
        name_strong=frozenset(
            {
                "http",
                "https",
                "url",
                "urls",
                "curl",
                "wget",
                "webhook",
                "browse",
                "browser",
                "scrape",
                "crawl",
                "web",
                "website",
                "webpage",
                "email",
                "mail",
                "smtp",
                "slack",
                "weather",
                "forecast",
                "ping",
                "dns",
                "proxy",
            }
        ),
        name_weak=frozenset(
            {"fetch", "request", "download", "post", "send", "search", "news", "stock", "online", "remote", "api"}
        ),
        desc_strong=_rx(
            r"\bhttps?\b",
            r"\b(?:urls?|web ?pages?|websites?|internet|webhooks?|api endpoints?|"
            r"remote (?:servers?|apis?|services?))\b",
            r"\b(?:fetch|fetches|download|downloads|retrieve|retrieves|request|requests|call|calls)\b[^.]{0,30}?"
            r"\b(?:web|online|external|remote|third[- ]party)\b",
            r"\b(?:send|sends)\b[^.]{0,20}?\b(?:e-?mails?|slack|sms)\b",
            r"\b(?:weather|forecasts?|stock prices?|exchange rates?)\b",
        ),
        desc_weak=_rx(r"\b(?:online|live|real-time|external)\b"),
        keys_strong=frozenset({"url", "urls", "uri", "endpoint", "href", "webhook_url", "host", "hostname", "domain"}),
        keys_weak=frozenset({"method", "headers", "city", "location", "recipient", "to"}),
    ),
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def name_tokens(name: str) -> list[str]:
    """`runShellCommand`, `run_shell_command`, `run-shell.command` → ['run', 'shell', 'command']."""
    return [t.lower() for part in _SPLIT.split(name) for t in _CAMEL.split(part) if t]


def _key_norm(key: str) -> str:
    return "_".join(name_tokens(key))


def _score(lex: _Lexicon, tokens: Sequence[str], description: str, keys: Iterable[str]) -> int:
    name = sum(2 if t in lex.name_strong else 1 if t in lex.name_weak else 0 for t in set(tokens))
    desc = 2 if any(p.search(description) for p in lex.desc_strong) else 0
    if not desc and any(p.search(description) for p in lex.desc_weak):
        desc = 1
    normed = {_key_norm(k) for k in keys} | set(keys)
    arg = 2 if normed & lex.keys_strong else 1 if normed & lex.keys_weak else 0
    return min(name, 2) + desc + arg


def classify_tool(name: str, description: str = "", input_keys: Iterable[str] = ()) -> list[str]:
    """The risk categories of one tool (ids from ORDER, riskiest first); [] when none applies."""
    tokens = name_tokens(name)
    keys = list(input_keys)
    return [c for c in ORDER if _score(_LEXICONS[c], tokens, description or "", keys) >= THRESHOLD]


def classify_tools(tools: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """(name, categories) for each tool dict as `net/mcp.py` records it (name, description, input_keys)."""
    out: list[tuple[str, list[str]]] = []
    for tool in tools:
        name = str(tool.get("name") or "")
        keys = tool.get("input_keys")
        out.append(
            (name, classify_tool(name, str(tool.get("description") or ""), keys if isinstance(keys, list) else []))
        )
    return out


def annotate(mcp: dict[str, Any]) -> dict[str, Any]:
    """Add `categories` to each recorded tool (in place) and return the dict, for records and reports."""
    for tool in mcp.get("tools") or []:
        if isinstance(tool, dict):
            keys = tool.get("input_keys")
            tool["categories"] = classify_tool(
                str(tool.get("name") or ""),
                str(tool.get("description") or ""),
                keys if isinstance(keys, list) else [],
            )
    return mcp


def riskiest(categories: Iterable[str]) -> Severity:
    """The finding severity for a set of tool categories: shell/code critical, files/db/cloud high, network medium,
    nothing recognised low."""
    return max((SEVERITY[c] for c in categories if c in SEVERITY), key=lambda s: s.rank, default=Severity.LOW)


MAX_LISTED: Final = 40

_TOOLS_FIX = (
    "Do not expose an MCP server to untrusted networks: bind it to 127.0.0.1 or a private interface, and require "
    "authentication (the transport's OAuth resource-server mode, or an authenticating reverse proxy). Remove tools "
    "that wrap shells, code interpreters, files, databases or cloud credentials unless they are needed, and scope "
    "the rest to least privilege."
)
_GATED_FIX = (
    "No action needed for the gate itself; keep the token audience (resource) and scopes narrow, and make sure every "
    "transport endpoint (/mcp and /sse) is behind the same check."
)


class McpToolsCheck:
    """mcp.tools-exposed: the tools an unauthenticated MCP handshake listed, by risk; mcp.gated: a 401/OAuth gate."""

    id: ClassVar[str] = "mcp"
    level: ClassVar[Level] = Level.HANDSHAKE

    def run(self, ctx: CheckContext) -> list[Finding]:
        mcp = ctx.service.mcp
        if not isinstance(mcp, dict):
            return []
        findings: list[Finding] = []
        transport = str(mcp.get("transport") or "")
        endpoint = str(mcp.get("endpoint") or "")
        if mcp.get("gated"):
            findings.append(self._gated(ctx, mcp, transport, endpoint))
        tools = [t for t in mcp.get("tools") or [] if isinstance(t, dict)]
        if tools:
            findings.append(self._tools(ctx, mcp, tools, transport, endpoint))
        return findings

    def _gated(self, ctx: CheckContext, mcp: Mapping[str, Any], transport: str, endpoint: str) -> Finding:
        parts = [f"{endpoint} ({transport}) answered HTTP {mcp.get('gated_status')} before any JSON-RPC"]
        if mcp.get("www_authenticate"):
            parts.append(f"WWW-Authenticate: {mcp['www_authenticate']}")
        for doc in mcp.get("oauth") or []:
            servers = ", ".join(doc.get("authorization_servers") or []) or "none listed"
            scopes = ", ".join(doc.get("scopes_supported") or []) or "none listed"
            parts.append(
                f"OAuth protected-resource metadata at {doc.get('path')}: resource {doc.get('resource')}, "
                f"authorization servers {servers}, scopes {scopes}"
            )
        return ctx.finding(
            "mcp.gated",
            title=f"{ctx.service.product_name}: handshake requires a token (OAuth/401)",
            severity=Severity.INFO,
            control=Control.AUTHENTICATION,
            evidence="; ".join(parts),
            remediation=_GATED_FIX,
            category="authentication",
            detail=endpoint,
        )

    def _tools(
        self,
        ctx: CheckContext,
        mcp: Mapping[str, Any],
        tools: list[dict[str, Any]],
        transport: str,
        endpoint: str,
    ) -> Finding:
        classified = classify_tools(tools)
        all_categories = {c for _, cats in classified for c in cats}
        severity = riskiest(all_categories)
        ranked = sorted(classified, key=lambda nc: (ORDER.index(nc[1][0]) if nc[1] else len(ORDER), nc[0]))
        listed = [f"{name} [{', '.join(LABELS[c] for c in cats) or 'no risky category'}]" for name, cats in ranked]
        more = len(listed) - MAX_LISTED
        shown = "; ".join(listed[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
        count = mcp.get("tools_count") or len(tools)
        info = mcp.get("server_info") or {}
        server = f"{info.get('name') or '?'} {info.get('version') or ''}".strip() if info else "unknown server"
        counts = f"{mcp.get('resources') or 0} resources, {mcp.get('prompts') or 0} prompts"
        by_cat = ", ".join(
            f"{sum(1 for _, cats in classified if c in cats)} {LABELS[c]}" for c in ORDER if c in all_categories
        )
        cut = " (list cut short)" if mcp.get("tools_truncated") else ""
        evidence = (
            f"An unauthenticated MCP handshake on {endpoint} ({transport}; serverInfo {server}, protocol "
            f"{mcp.get('protocol_version') or '?'}) listed {count} tool(s){cut}{': ' + by_cat if by_cat else ''}; "
            f"{counts}. Tools: {shown}. Listed with tools/list only; no tool was called."
        )
        if mcp.get("oauth"):
            evidence += " The server publishes OAuth protected-resource metadata but answered without a token."
        worst = next((LABELS[c] for c in ORDER if c in all_categories), None)
        title = f"{ctx.service.product_name}: {count} tool(s) callable without authentication" + (
            f", including {worst}" if worst else ""
        )
        return ctx.finding(
            "mcp.tools-exposed",
            title=title,
            severity=severity,
            control=Control.AUTHENTICATION,
            evidence=evidence,
            remediation=_TOOLS_FIX,
            category="exposure",
            detail=",".join(sorted(name for name, _ in classified)),
        )
