"""TLS posture of an identified HTTPS service: which protocol versions it accepts (one handshake each), its
certificate facts, and whether the chain verifies against the system trust store.

TLS 1.0 and 1.1 are probed with a hand-built ClientHello and the ServerHello is read back, so the probe works even
where the local OpenSSL refuses to negotiate old protocols. TLS 1.2 and 1.3 use the ssl module pinned to one version.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import ipaddress
import os
import ssl
import struct
import warnings
from typing import Any

from aisweep.models import Target, TlsFacts
from aisweep.net.http import ClientConfig

_LEGACY = {"TLSv1.0": 0x0301, "TLSv1.1": 0x0302}
_MODERN = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# CBC/RC4/3DES suites old servers speak, plus the renegotiation SCSV.
_LEGACY_SUITES = (0xC013, 0xC014, 0xC009, 0xC00A, 0x0033, 0x0039, 0x002F, 0x0035, 0x000A, 0x0005, 0x0004, 0x00FF)


def client_hello(version: int, server_name: str | None) -> bytes:
    """A minimal TLS 1.0/1.1 ClientHello record offering only `version`."""
    suites = b"".join(struct.pack("!H", s) for s in _LEGACY_SUITES)
    extensions = b""
    if server_name:
        name = server_name.encode("idna")
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        sni = struct.pack("!H", len(entry)) + entry
        extensions += struct.pack("!HH", 0x0000, len(sni)) + sni
    groups = struct.pack("!HHH", 0x0017, 0x0018, 0x001D)
    extensions += struct.pack("!HHH", 0x000A, len(groups) + 2, len(groups)) + groups
    extensions += struct.pack("!HHB", 0x000B, 2, 1) + b"\x00"
    body = (
        struct.pack("!H", version)
        + os.urandom(32)
        + b"\x00"
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + struct.pack("!HH", 0x0301, len(handshake)) + handshake


def server_accepts(reply: bytes, version: int) -> bool:
    """True when `reply` starts with a ServerHello that selected exactly `version`."""
    if len(reply) < 11 or reply[0] != 0x16:
        return False  # an alert (0x15), garbage or nothing: not accepted
    return reply[5] == 0x02 and struct.unpack("!H", reply[9:11])[0] == version


async def _legacy_probe(host: str, port: int, name: str | None, version: int, timeout: float) -> bool:
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(client_hello(version, name))
            await writer.drain()
            head = await reader.readexactly(5)
            size = struct.unpack("!H", head[3:5])[0]
            rest = await reader.readexactly(min(size, 64))
        return server_accepts(head + rest, version)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        if writer is not None:
            writer.close()


async def _handshake(host: str, port: int, ctx: ssl.SSLContext, name: str | None, timeout: float) -> str | None:
    """Handshake only; returns None on success or the error text."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=name or None)
        return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or exc)
    except ssl.SSLError as exc:
        return str(exc.reason or exc)
    except (OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()


def _pinned(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


def certificate_facts(der: bytes, hostname: str | None, ip: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Parse a DER certificate into the facts the TLS check and the report use."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    now = now or dt.datetime.now(dt.UTC)

    def cn(name: x509.Name) -> str | None:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else None

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ip_names = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ip_names = [], []
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, key_bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, key_bits = "EC", key.curve.key_size
    elif isinstance(key, dsa.DSAPublicKey):
        key_type, key_bits = "DSA", key.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key_type, key_bits = "EdDSA", 256
    else:
        key_type, key_bits = type(key).__name__, 0
    self_signed = cert.issuer == cert.subject
    if self_signed:
        try:
            cert.verify_directly_issued_by(cert)
        except Exception:  # signature does not verify with its own key: not self-signed after all
            self_signed = False
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    mismatch: bool | None = None
    if hostname:
        mismatch = not _name_matches(hostname, dns_names or ([cn(cert.subject) or ""]))
    elif ip_names:
        mismatch = ip not in {str(ipaddress.ip_address(i)) for i in ip_names}
    hash_alg = cert.signature_hash_algorithm
    return {
        "subject_cn": cn(cert.subject),
        "sans": dns_names + ip_names,
        "issuer_cn": cn(cert.issuer),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "self_signed": self_signed,
        "key_type": key_type,
        "key_bits": key_bits,
        "signature_hash": hash_alg.name if hash_alg is not None else None,
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "name_mismatch": mismatch,
    }


def _name_matches(hostname: str, patterns: list[str]) -> bool:
    host = hostname.lower().rstrip(".")
    for pattern in patterns:
        p = pattern.lower().rstrip(".")
        if p == host:
            return True
        if p.startswith("*.") and "." in host and host.split(".", 1)[1] == p[2:]:
            return True
    return False


@functools.lru_cache(maxsize=2)
def _verify_context(check_hostname: bool) -> ssl.SSLContext:
    """Built once: loading the system trust store costs ~40 ms."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = check_hostname
    return ctx


async def add_tls_posture(facts: TlsFacts, target: Target, config: ClientConfig) -> None:
    """Fill `facts` with accepted versions, certificate facts and the verification result."""
    name = target.hostname
    timeout = config.connect_timeout
    legacy = [_legacy_probe(target.host, target.port, name, v, timeout) for v in _LEGACY.values()]
    modern = [_handshake(target.host, target.port, _pinned(v), name, timeout) for v in _MODERN.values()]
    verify_ctx = _verify_context(bool(name))
    results = await asyncio.gather(*legacy, *modern, _handshake(target.host, target.port, verify_ctx, name, timeout))
    versions: dict[str, bool] = {}
    for label, ok in zip(_LEGACY, results[: len(_LEGACY)], strict=True):
        versions[label] = bool(ok)
    for label, err in zip(_MODERN, results[len(_LEGACY) : len(_LEGACY) + len(_MODERN)], strict=True):
        versions[label] = err is None
    facts.versions = versions
    verify = results[-1]
    facts.verify_error = verify if isinstance(verify, str) else None
    if facts.cert_der:
        try:
            cert = certificate_facts(facts.cert_der, name, target.host)
        except Exception as exc:  # a malformed certificate is a fact, not a crash
            facts.cert = {"parse_error": f"{type(exc).__name__}: {exc}"}
        else:
            facts.cert = cert
            facts.expired = bool(cert["expired"])
            facts.not_yet_valid = bool(cert["not_yet_valid"])
            facts.name_mismatch = cert["name_mismatch"]
