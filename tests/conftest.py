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
