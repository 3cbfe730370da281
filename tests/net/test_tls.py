"""TLS posture against real TLS servers on 127.0.0.1 with certificates the test generates."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from aisweep.models import Target, TlsFacts
from aisweep.net.http import ClientConfig, make_ssl_context, open_connection
from aisweep.net.tls import add_tls_posture, client_hello, server_accepts
from tests.conftest import free_port

NOW = dt.datetime.now(dt.UTC)


def make_cert(tmp: Path, cn: str, *, days_from: int = -1, days_to: int = 30, bits: int = 2048) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days_from))
        .not_valid_after(NOW + dt.timedelta(days=days_to))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{cn}-{days_to}-{bits}.crt", tmp / f"{cn}-{days_to}-{bits}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextlib.asynccontextmanager
async def tls_server(cert: tuple[Path, Path], low: ssl.TLSVersion, high: ssl.TLSVersion) -> AsyncIterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = low
        ctx.maximum_version = high
    ctx.load_cert_chain(*cert)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read(100)
        writer.close()

    port = free_port()
    server = await asyncio.start_server(handler, "127.0.0.1", port, ssl=ctx)
    async with server:
        yield port


async def posture(port: int, hostname: str | None = None) -> TlsFacts:
    cfg = ClientConfig(connect_timeout=3.0)
    conn, _outcome, error, facts = await open_connection("127.0.0.1", port, cfg, make_ssl_context(), hostname)
    assert conn is not None and facts is not None, error
    conn.close()
    await add_tls_posture(facts, Target("127.0.0.1", port, "https", hostname), cfg)
    return facts


async def test_self_signed_tls13_only(tmp_path: Path) -> None:
    async with tls_server(make_cert(tmp_path, "localhost"), ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3) as port:
        facts = await posture(port, "localhost")
    assert facts.versions == {"TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": True}
    assert facts.cert is not None and facts.cert["self_signed"] is True
    assert facts.name_mismatch is False and not facts.expired
    assert facts.verify_error and "self" in facts.verify_error.lower()


async def test_tls12_only(tmp_path: Path) -> None:
    async with tls_server(make_cert(tmp_path, "localhost"), ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2) as port:
        facts = await posture(port)
    assert facts.versions["TLSv1.2"] and not facts.versions["TLSv1.3"]


async def test_expired_and_mismatched(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "other.example", days_from=-30, days_to=-1)
    async with tls_server(cert, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3) as port:
        facts = await posture(port, "localhost")
    assert facts.expired and facts.name_mismatch is True
    assert facts.cert is not None and facts.cert["sans"] == ["other.example"]


async def test_weak_key_is_reported(tmp_path: Path) -> None:
    async with tls_server(
        make_cert(tmp_path, "localhost", bits=1024), ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    ) as port:
        facts = await posture(port)
    assert facts.cert is not None and facts.cert["key_bits"] == 1024


async def test_old_protocols_detected_by_raw_client_hello(tmp_path: Path) -> None:
    """A TLS 1.0-capable server is detected even though the client never negotiates 1.0 through OpenSSL."""
    try:
        server_cm = tls_server(make_cert(tmp_path, "localhost"), ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2)
        async with server_cm as port:
            facts = await posture(port)
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"this OpenSSL cannot serve TLS 1.0: {exc}")
    if not facts.versions["TLSv1.0"]:
        pytest.skip("this OpenSSL build refuses to serve TLS 1.0 even at SECLEVEL=0")
    assert facts.versions["TLSv1.0"] and facts.versions["TLSv1.1"] and facts.versions["TLSv1.2"]


def test_server_hello_parsing() -> None:
    hello = client_hello(0x0301, "example.org")
    assert hello[0] == 0x16 and hello[5] == 0x01 and b"example.org" in hello
    server_hello = bytes([0x16, 0x03, 0x01, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2C, 0x03, 0x01]) + b"\x00" * 40
    assert server_accepts(server_hello, 0x0301)
    assert not server_accepts(server_hello, 0x0302)
    assert not server_accepts(bytes([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]), 0x0301)  # protocol_version alert
    assert not server_accepts(b"", 0x0301)
