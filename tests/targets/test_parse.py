"""Target parsing: every accepted form, and one clear error naming the bad token."""

import ipaddress

import pytest

from aisweep.errors import TargetError
from aisweep.targets.parse import parse_target, parse_targets, read_tokens
from aisweep.targets.ports import AI_PORTS, parse_ports


@pytest.mark.parametrize(
    ("token", "network", "hostname", "port", "scheme"),
    [
        ("127.0.0.1", "127.0.0.1/32", None, None, None),
        ("127.0.0.0/24", "127.0.0.0/24", None, None, None),
        ("127.0.0.5/24", "127.0.0.0/24", None, None, None),
        ("127.0.0.1:11434", "127.0.0.1/32", None, 11434, None),
        ("::1", "::1/128", None, None, None),
        ("[::1]:8080", "::1/128", None, 8080, None),
        ("fd00::/120", "fd00::/120", None, None, None),
        ("localhost", None, "localhost", None, None),
        ("Example.COM:8443", None, "example.com", 8443, None),
        ("http://127.0.0.1:5000/some/path", "127.0.0.1/32", None, 5000, "http"),
        ("https://localhost", None, "localhost", 443, "https"),
        ("http://[::1]:8000", "::1/128", None, 8000, "http"),
    ],
)
def test_forms(token: str, network: str | None, hostname: str | None, port: int | None, scheme: str | None) -> None:
    (spec,) = parse_target(token)
    assert (str(spec.network) if spec.network else None) == network
    assert spec.hostname == hostname
    assert spec.port == port
    assert spec.scheme == scheme


def test_ipv4_range() -> None:
    specs = parse_target("127.0.0.1-127.0.0.20")
    addresses = {a for s in specs for a in s.network or []}
    assert addresses == {ipaddress.IPv4Address(f"127.0.0.{i}") for i in range(1, 21)}
    assert sum(s.size for s in parse_target("127.0.0.1-20")) == 20


@pytest.mark.parametrize(
    "token",
    [
        "300.1.1.1",
        "127.0.0.1/33",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        "ftp://x",
        "http://",
        "bad_host!",
        "10.0.0.9-1",
        "fd00::/32",
        "[::1",
        "-leading.example",
    ],
)
def test_bad_tokens_name_the_token(token: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(token)
    message = str(info.value)
    assert token in message and "\n" not in message


def test_one_bad_token_stops_everything() -> None:
    with pytest.raises(TargetError, match="nope!"):
        parse_targets(["127.0.0.1", "nope!", "127.0.0.2"])


def test_file_and_stdin(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "hosts.txt"
    f.write_text("# comment\n127.0.0.1\n\n127.0.0.2 127.0.0.3  # trailing\n")
    assert list(read_tokens([f"@{f}"])) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("127.0.0.9\n"))
    assert list(read_tokens(["-"])) == ["127.0.0.9"]
    with pytest.raises(TargetError, match="cannot read target list"):
        list(read_tokens([f"@{tmp_path / 'missing.txt'}"]))


def test_ports() -> None:
    assert parse_ports("ai") == AI_PORTS
    assert parse_ports("80,443,8000-8002") == (80, 443, 8000, 8001, 8002)
    assert parse_ports("11434,ai")[0] == 11434
    assert len(set(parse_ports("ai,ai,11434"))) == len(AI_PORTS)
    for bad in ("0", "65536", "9-1", "http", ""):
        with pytest.raises(TargetError):
            parse_ports(bad)
