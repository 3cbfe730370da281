"""Record a real service's responses into a rule sample file (see docs/rules.md, "Samples").

Run against software started on 127.0.0.1 only. It sends plain GET/HEAD requests to the paths given and writes
one YAML sample with every exchange, so the rule tests and the lab can replay the real product's bytes.

    python tests/realsvc/record.py --base http://127.0.0.1:5000 --product mlflow --case mlflow-2.9.2-open \
        --software "mlflow 2.9.2 (PyPI)" --expect-version 2.9.2 --expect-auth open-read \
        --path / --path /version --path "/api/2.0/mlflow/experiments/search?max_results=1000"

A path may carry request headers after a `|`: `--path "/sse|Accept: text/event-stream"`.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import ipaddress
import socket
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

BODY_CAP = 256 * 1024
STREAM_READ_SECONDS = 2.0
USER_AGENT = "aisweep-recorder/0.1 (+https://github.com/aisweep/aisweep)"


class _LiteralStr(str):
    pass


def _literal_representer(dumper: yaml.SafeDumper, data: _LiteralStr) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.SafeDumper.add_representer(_LiteralStr, _literal_representer)


def _check_loopback(host: str) -> None:
    addr = ipaddress.ip_address(socket.gethostbyname(host))
    if not addr.is_loopback:
        sys.exit(f"refusing to record from {host} ({addr}): only loopback targets are allowed")


def _read_capped(resp: http.client.HTTPResponse, streaming: bool) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    truncated = False
    if streaming:
        # Server-sent events never end: read what arrives in a short window, then stop.
        sock = resp.fp.raw._sock if hasattr(resp.fp, "raw") else None  # type: ignore[union-attr]
        if sock is not None:
            sock.settimeout(STREAM_READ_SECONDS)
    while True:
        try:
            chunk = resp.read1(65536) if streaming else resp.read(65536)
        except TimeoutError:
            truncated = True
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_CAP:
            truncated = True
            break
        if streaming and b"\n\n" in b"".join(chunks):
            truncated = True
            break
    return b"".join(chunks)[:BODY_CAP], truncated


def record_one(base: str, spec: str, method: str, timeout: float) -> dict[str, Any]:
    path, _, header_text = spec.partition("|")
    headers = {"User-Agent": USER_AGENT}
    req_headers: list[list[str]] = []
    for item in filter(None, (h.strip() for h in header_text.split(";;"))):
        name, _, value = item.partition(":")
        headers[name.strip()] = value.strip()
        req_headers.append([name.strip(), value.strip()])
    parsed = urllib.parse.urlsplit(base)
    conn_cls = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    kwargs: dict[str, Any] = {"timeout": timeout}
    if parsed.scheme == "https":
        import ssl

        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        kwargs["context"] = ctx
    conn = conn_cls(parsed.hostname or "127.0.0.1", parsed.port, **kwargs)
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    streaming = "text/event-stream" in (resp.getheader("content-type") or "")
    body, truncated = _read_capped(resp, streaming) if method != "HEAD" else (b"", False)
    conn.close()
    exchange: dict[str, Any] = {"request": {"method": method, "path": path}}
    if req_headers:
        exchange["request"]["headers"] = req_headers
    response: dict[str, Any] = {
        "status": resp.status,
        "headers": [[k.lower(), v] for k, v in resp.getheaders()],
    }
    try:
        text = body.decode("utf-8")
        response["body"] = _LiteralStr(text) if "\n" in text else text
    except UnicodeDecodeError:
        response["body_b64"] = base64.b64encode(body).decode("ascii")
    if truncated:
        response["truncated"] = True
    exchange["response"] = response
    return exchange


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT of the running product")
    ap.add_argument("--product", required=True, help="rule id the sample belongs to (directory name)")
    ap.add_argument("--case", required=True, help="sample name, e.g. mlflow-2.9.2-open")
    ap.add_argument("--software", required=True, help="what was running, e.g. 'mlflow 2.9.2 (PyPI)'")
    ap.add_argument("--how", default="", help="how it was started (command line, env)")
    ap.add_argument("--path", action="append", default=[], help="path to GET (repeatable)")
    ap.add_argument("--head", action="append", default=[], help="path to HEAD (repeatable)")
    ap.add_argument("--expect-product", help="expected product id (default: --product)")
    ap.add_argument("--negative", action="store_true", help="a look-alike: must NOT be identified as --product")
    ap.add_argument("--expect-version")
    ap.add_argument("--expect-auth", help="expected auth tier")
    ap.add_argument("--expect-surface", action="append", default=[], help="name=count, e.g. models=2")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[2] / "src/aisweep/rules/samples"))
    args = ap.parse_args()

    host = urllib.parse.urlsplit(args.base).hostname or ""
    _check_loopback(host)
    exchanges = [record_one(args.base, p, "GET", args.timeout) for p in args.path]
    exchanges += [record_one(args.base, p, "HEAD", args.timeout) for p in args.head]
    expect: dict[str, Any] = {}
    if args.negative:
        expect["not_product"] = args.product
        if args.expect_product:
            expect["product"] = args.expect_product
    else:
        expect["product"] = args.expect_product or args.product
    if args.expect_version:
        expect["version"] = args.expect_version
    if args.expect_auth:
        expect["auth"] = args.expect_auth
    if args.expect_surface:
        expect["surfaces"] = {k: int(v) for k, v in (s.split("=", 1) for s in args.expect_surface)}
    sample = {
        "case": args.case,
        "source": {
            "kind": "recorded",
            "software": args.software,
            "how": args.how,
            "recorded": dt.date.today().isoformat(),
        },
        "expect": expect,
        "exchanges": exchanges,
    }
    out = Path(args.out_dir) / args.product / f"{args.case}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(sample, sort_keys=False, allow_unicode=True, width=120))
    print(out)


if __name__ == "__main__":
    main()
