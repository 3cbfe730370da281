"""Imports of other tools' output: each format yields the open TCP host:port pairs, and bad files are named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisweep.cli import app
from aisweep.errors import TargetError
from aisweep.targets.importers import import_pairs

DATA = Path(__file__).parent / "data"
EXPECTED = {("127.0.0.1", 11434), ("127.0.0.3", 8888)}


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("masscan", "masscan.json", EXPECTED),
        ("masscan", "masscan.list", EXPECTED),
        ("masscan", "masscan.xml", EXPECTED),
        ("nmap", "nmap.xml", EXPECTED),
        ("zmap", "zmap.csv", {("127.0.0.1", 11434), ("127.0.0.3", 11434)}),
        ("shodan", "shodan.json", EXPECTED),
        ("censys", "censys.json", EXPECTED),
    ],
)
def test_formats(kind: str, name: str, expected: set[tuple[str, int]]) -> None:
    assert set(import_pairs(kind, DATA / name)) == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("masscan", "open tcp notaport 127.0.0.1 1\n"),
        ("nmap", "<nmaprun><host>"),
        ("shodan", '{"ip_str": "1.2"\n'),
        ("zmap", "a,b\n1,2\n"),
        ("censys", '[{"services": []}]'),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, kind: str, text: str) -> None:
    bad = tmp_path / f"bad.{kind}"
    bad.write_text(text)
    with pytest.raises(TargetError, match="bad"):
        list(import_pairs(kind, bad))


def test_import_is_reverified_live_and_records_origin(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    listeners = lab.network.listeners()[:10]
    lines = [json.dumps({"ip_str": a, "port": p, "transport": "tcp", "data": "stale banner"}) for a, p in listeners]
    lines.append(json.dumps({"ip_str": "127.78.0.250", "port": 11434, "transport": "tcp", "data": "gone"}))
    export = tmp_path / "shodan.json"
    export.write_text("\n".join(lines) + "\n")
    out = tmp_path / "o.jsonl"
    r = CliRunner().invoke(
        app,
        ["scan", "--from", "shodan", str(export), "--db", str(tmp_path / "i.db"), "-f", "jsonl", "-o", str(out), "-q"],
    )
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    found = {(x["target"]["host"], x["target"]["port"]): x for x in records}
    assert ("127.78.0.250", 11434) not in found  # the stale banner did not survive re-verification
    for address, port in listeners:
        truth = lab.network.truth(address, port)
        assert truth is not None
        if truth.product:
            assert found[(address, port)]["product"] == truth.product
        elif (address, port) in found:  # a look-alike: anything but what it imitates
            assert found[(address, port)]["product"] != truth.sample.expect.get("not_product")
    assert set(found) <= set(listeners)
    assert all(x["target"]["origin"] == "import:shodan" for x in records)


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed (Debian package nmap)")
def test_real_nmap_output_on_loopback(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    address, port = lab.network.listeners()[0]
    xml = tmp_path / "nmap.xml"
    subprocess.run(["nmap", "-Pn", "-sT", "-p", str(port), "-oX", str(xml), address], check=True, capture_output=True)
    assert (address, port) in set(import_pairs("nmap", xml))
