"""A harmless MCP server on 127.0.0.1 for aisweep's handshake tests, built on the official Python SDK (1.x FastMCP or
2.x MCPServer, whichever is installed). Runs inside a venv that has `mcp` installed, not the project venv.

    python mcp_demo_server.py {sse|streamable-http} PORT [--auth] [--log FILE]

Every tool returns a fixed string: nothing is executed, read, queried or fetched. The names and descriptions are
what a risky server would declare, so the scanner's classifier has something to classify. `--log FILE` appends one
JSON line per HTTP request ({"http": METHOD, "path": PATH}) and per JSON-RPC message read from a POST body
({"rpc": METHOD}), so a test can prove what reached the server. `--auth` (SDK 2.x) turns on the OAuth
resource-server mode with a token verifier that accepts one fixed token no test sends.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn

try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp >= 2

    SDK2 = True
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server

    SDK2 = False

HOST = "127.0.0.1"


class RequestLog:
    """ASGI middleware: log each HTTP request line and each JSON-RPC method in a request body."""

    def __init__(self, app: Any, path: str | None) -> None:
        self.app = app
        self.path = path

    def write(self, entry: dict[str, Any]) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.write({"http": scope["method"], "path": scope["path"]})
        chunks: list[bytes] = []

        async def logged_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        doc = json.loads(b"".join(chunks) or b"null")
                    except ValueError:
                        doc = None
                    for item in doc if isinstance(doc, list) else [doc]:
                        if isinstance(item, dict) and "method" in item:
                            self.write({"rpc": item["method"]})
            return message

        await self.app(scope, logged_receive, send)


def build(transport: str, port: int, auth: bool) -> Any:
    kwargs: dict[str, Any] = {}
    if auth:
        if not SDK2:
            raise SystemExit("--auth needs mcp >= 2")
        from mcp.server.auth.provider import AccessToken
        from mcp.server.auth.settings import AuthSettings

        class FixedTokenVerifier:
            async def verify_token(self, token: str) -> AccessToken | None:
                if token == "aisweep-demo-token-never-sent":
                    return AccessToken(token=token, client_id="demo", scopes=["mcp"])
                return None

        path = "/sse" if transport == "sse" else "/mcp"
        kwargs["token_verifier"] = FixedTokenVerifier()
        kwargs["auth"] = AuthSettings(
            issuer_url="http://127.0.0.1:9/",  # a closed port: nothing ever talks to it
            resource_server_url=f"http://{HOST}:{port}{path}",
            required_scopes=["mcp"],
            **({"validate_token_resource": False} if "validate_token_resource" in AuthSettings.model_fields else {}),
        )
    mcp = Server("aisweep-demo", **kwargs)

    @mcp.tool()
    def read_file(path: str) -> str:
        """Read a file from the server's disk."""
        return "fixed demo content"

    @mcp.tool()
    def run_shell_command(command: str) -> str:
        """Run a shell command on the server."""
        return "this demo does not run commands"

    @mcp.tool()
    def query_database(sql: str) -> str:
        """Run a SQL query against the application database."""
        return "[]"

    @mcp.tool()
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return "sunny, 21 C"

    @mcp.tool()
    def shell_color_theme(theme: str) -> str:
        """Pick the colour theme of the shell prompt (colours only)."""
        return "solarized"

    @mcp.resource("demo://readme")
    def readme() -> str:
        """A fixed read-me text."""
        return "aisweep demo"

    @mcp.prompt()
    def greeting(name: str) -> str:
        """A fixed greeting prompt."""
        return "Hello"

    if SDK2:
        if transport == "sse":
            return mcp.sse_app(host=HOST)
        return mcp.streamable_http_app(host=HOST)
    mcp.settings.host = HOST
    mcp.settings.port = port
    return mcp.sse_app() if transport == "sse" else mcp.streamable_http_app()


def main() -> None:
    transport, port = sys.argv[1], int(sys.argv[2])
    auth = "--auth" in sys.argv
    log = sys.argv[sys.argv.index("--log") + 1] if "--log" in sys.argv else None
    app = RequestLog(build(transport, port, auth), log)
    uvicorn.run(app, host=HOST, port=port, log_level="warning")


if __name__ == "__main__":
    main()
