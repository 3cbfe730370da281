"""--geoip: country and ASN per host from MaxMind-format databases that the test writes itself (mmdb-writer), read
back with the maxminddb reader, and the report's breakdowns checked against the addresses' known networks."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("maxminddb", reason="the maxminddb reader is an optional dependency (aisweep[geoip])")
mmdb_writer = pytest.importorskip("mmdb_writer", reason="mmdb-writer (a dev dependency) writes the test database")
from netaddr import IPSet  # noqa: E402  (installed with mmdb-writer)

from aisweep.report.cli import render  # noqa: E402
from aisweep.report.geoip import GeoIp, GeoIpError, geo_fields  # noqa: E402
from aisweep.report.load import load_report  # noqa: E402
from aisweep.report.stats import is_confirmed  # noqa: E402

from .conftest import DemoRun  # noqa: E402

LOW, HIGH = "127.77.0.0/25", "127.77.0.128/25"


def write_country_db(path: Path) -> Path:
    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-Country", languages=["en"], description="test")
    w.insert_network(IPSet([LOW]), {"country": {"iso_code": "NL", "names": {"en": "Netherlands"}}})
    w.insert_network(IPSet([HIGH]), {"country": {"iso_code": "DE", "names": {"en": "Germany"}}})
    w.to_db_file(str(path))
    return path


def write_asn_db(path: Path) -> Path:
    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", languages=["en"], description="test")
    w.insert_network(
        IPSet(["127.77.0.0/24"]),
        {"autonomous_system_number": mmdb_writer.MmdbU32(64500), "autonomous_system_organization": "Example Net"},
    )
    w.to_db_file(str(path))
    return path


def test_lookup_combines_country_and_asn_databases(tmp_path: Path) -> None:
    with GeoIp([write_country_db(tmp_path / "c.mmdb"), write_asn_db(tmp_path / "a.mmdb")]) as geo:
        assert geo.lookup("127.77.0.5") == {
            "country": "NL",
            "country_name": "Netherlands",
            "asn": 64500,
            "as_org": "Example Net",
        }
        assert geo.lookup("127.77.0.200")["country"] == "DE"
        assert geo.lookup("10.0.0.1") == {}
        assert geo.lookup("anon-1234") == {}
        assert "GeoLite2-Country" in geo.describe() and "GeoLite2-ASN" in geo.describe()


def test_bad_databases_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoIpError, match="does not exist"):
        GeoIp([tmp_path / "missing.mmdb"])
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database" * 10)
    with pytest.raises(GeoIpError, match="not a MaxMind-format database"):
        GeoIp([junk])
    assert geo_fields({"registered_country": {"iso_code": "US"}}) == {"country": "US"}


def test_report_breaks_down_by_country_and_asn(demo_run: DemoRun, tmp_path: Path) -> None:
    dbs = [write_country_db(tmp_path / "c.mmdb"), write_asn_db(tmp_path / "a.mmdb")]
    report = load_report(str(demo_run.db), demo_run.run_id, geoip=dbs)
    # expected: unique hosts (with a confirmed service) per /25, from the report's own services
    confirmed = [r for r in report.records if is_confirmed(r)]
    hosts = {r["target"]["host"] for r in confirmed}
    low = ipaddress.ip_network(LOW)
    expected = Counter("NL" if ipaddress.ip_address(h) in low else "DE" for h in hosts)
    s = report.survey
    assert s.countries is not None and s.asns is not None
    assert {c.key: c.hosts for c in s.countries} == dict(expected)
    assert {c.key: c.services for c in s.countries} == dict(
        Counter("NL" if ipaddress.ip_address(r["target"]["host"]) in low else "DE" for r in confirmed)
    )
    assert [(a.label, a.hosts) for a in s.asns] == [("AS64500 Example Net", len(hosts))]
    assert report.geoip is not None and "GeoLite2-Country" in report.geoip
    html = render(report, "html")["report.html"]
    assert 'id="countries"' in html and "Netherlands" in html and "AS64500 Example Net" in html
    assert "## Geography and networks" in render(report, "md")["report.md"]
    # anonymised reports keep the breakdown (looked up before the addresses are replaced)
    anon = load_report(str(demo_run.db), demo_run.run_id, geoip=dbs, anonymize=True)
    assert anon.survey.countries is not None
    assert {c.key: c.hosts for c in anon.survey.countries} == dict(expected)
