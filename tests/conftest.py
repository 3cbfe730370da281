"""Shared fixtures. Every server a test starts listens on 127.0.0.0/8 only."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def lab():  # type: ignore[no-untyped-def]
    """An emulated network of 60 hosts on 127.78.0.0/26 replaying the rule samples (its own process)."""
    from aisweep.lab.demo import RunningLab

    with RunningLab(hosts=60, seed=11, base="127.78.0.1") as running:
        yield running


def scan_one_port(port: int, tmp: Path, *extra: str) -> dict[str, object]:
    """Scan 127.0.0.1:PORT through the CLI (JSONL out) and return the one service record it must yield."""
    import json

    from typer.testing import CliRunner

    from aisweep.cli import app

    out = tmp / f"out-{port}-{'-'.join(extra) or 'default'}.jsonl"
    args = ["scan", f"127.0.0.1:{port}", *extra, "--db", str(out.with_suffix(".db")), "-f", "jsonl", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "-q", "--timeout", "10"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1, records
    record: dict[str, object] = records[0]
    return record
