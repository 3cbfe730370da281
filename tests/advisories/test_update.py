"""`aisweep advisories update` against a loopback HTTP server that answers like the OSV API (POST /v1/querybatch with
page tokens, GET /v1/vulns/{id}) and like CISA's KEV feed. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aisweep.advisories.cli import app
from aisweep.advisories.database import AdvisoryDataError, load_database, shipped_dir
from aisweep.advisories.match import assess_version
from aisweep.advisories.update import update_database

SHIPPED = {r["id"]: r for r in json.loads((shipped_dir() / "advisories.json").read_text())["advisories"]}

# Real records, in the OSV API's format (as the shipped copies, minus aisweep's source note).
GO_RECORD = {**SHIPPED["GO-2024-2901"], "database_specific": {"url": "https://pkg.go.dev/vuln/GO-2024-2901"}}
PYSEC_RECORD = {k: v for k, v in SHIPPED["PYSEC-2023-29"].items() if k != "database_specific"}
NEW_RECORD: dict[str, Any] = {
    "schema_version": "1.6.0",
    "id": "GHSA-test-0000-0001",
    "modified": "2026-11-20T00:00:00Z",
    "published": "2026-11-20T00:00:00Z",
    "aliases": ["CVE-2026-99999"],
    "summary": "a newer mlflow advisory the shipped snapshot lacks",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "mlflow", "purl": "pkg:pypi/mlflow"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.17.3"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://github.com/advisories/GHSA-test-0000-0001"}],
    "database_specific": {"severity": "CRITICAL", "github_reviewed": True},
}
OTHER_PACKAGE = {
    **NEW_RECORD,
    "id": "GHSA-test-0000-0002",
    "aliases": [],
    "affected": [
        {"package": {"ecosystem": "PyPI", "name": "not-ours"}, "ranges": [{"type": "ECOSYSTEM", "events": []}]}
    ],
}
RECORDS = {r["id"]: r for r in (GO_RECORD, PYSEC_RECORD, NEW_RECORD, OTHER_PACKAGE)}
KEV = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities",
    "catalogVersion": "2026.11.27",
    "dateReleased": "2026-11-27T17:00:00.000Z",
    "count": 2,
    "vulnerabilities": [
        {"cveID": "CVE-2026-99999", "vendorProject": "LF AI", "product": "MLflow", "vulnerabilityName": "test",
         "dateAdded": "2026-11-27", "shortDescription": "", "requiredAction": "", "dueDate": "2026-12-18",
         "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []},
        {"cveID": "CVE-2020-0001", "vendorProject": "x", "product": "y", "vulnerabilityName": "unrelated",
         "dateAdded": "2020-01-01"},
    ],
}  # fmt: skip


class FakeOsv(BaseHTTPRequestHandler):
    requests: list[tuple[str, Any]] = []  # noqa: RUF012
    fail_vulns = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((self.path, body))
        if self.path != "/v1/querybatch":
            self._send(404, {"code": 5, "message": "Not Found"})
            return
        results: list[dict[str, Any]] = []
        for q in body["queries"]:
            name, eco = q["package"]["name"], q["package"]["ecosystem"]
            if (eco, name) == ("PyPI", "mlflow"):
                if q.get("page_token") == "page-2":
                    results.append({"vulns": [{"id": "GHSA-test-0000-0001", "modified": "2026-11-20T00:00:00Z"}]})
                else:
                    results.append(
                        {
                            "vulns": [
                                {"id": "PYSEC-2023-29", "modified": "2023-05-04T03:49:46Z"},
                                {"id": "GHSA-test-0000-0002", "modified": "2026-11-20T00:00:00Z"},
                            ],
                            "next_page_token": "page-2",
                        }
                    )
            elif (eco, name) == ("Go", "github.com/ollama/ollama"):
                results.append({"vulns": [{"id": "GO-2024-2901", "modified": "2024-06-01T00:00:00Z"}]})
            else:
                results.append({})
        self._send(200, {"results": results})

    def do_GET(self) -> None:
        self.requests.append((self.path, None))
        if self.path == "/kev.json":
            self._send(200, KEV)
            return
        vid = self.path.removeprefix("/v1/vulns/")
        if self.fail_vulns or vid not in RECORDS:
            self._send(404 if not self.fail_vulns else 500, {"code": 5, "message": "Bug not found."})
            return
        self._send(200, RECORDS[vid])


@pytest.fixture
def osv_server() -> Iterator[str]:
    FakeOsv.requests = []
    FakeOsv.fail_vulns = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_update_downloads_rechecks_and_keeps_what_osv_lacks(osv_server: str, tmp_path: Path) -> None:
    out = tmp_path / "adv"
    result = update_database(osv_url=osv_server, kev_url=f"{osv_server}/kev.json", directory=out)
    assert result.fetched == 3  # the record for another package is dropped by the local re-check
    paths = [p for p, _ in FakeOsv.requests]
    assert paths.count("/v1/querybatch") == 2  # the second round follows mlflow's page token
    second = [b for p, b in FakeOsv.requests if p == "/v1/querybatch"][1]
    assert second["queries"] == [{"package": {"ecosystem": "PyPI", "name": "mlflow"}, "page_token": "page-2"}]
    data = json.loads((out / "advisories.json").read_text())
    ids = {r["id"] for r in data["advisories"]}
    assert {"GO-2024-2901", "PYSEC-2023-29", "GHSA-test-0000-0001"} <= ids
    assert "GHSA-test-0000-0002" not in ids
    assert any(r["affected"][0]["package"]["ecosystem"] == "llama.cpp" for r in data["advisories"])  # kept
    assert data["meta"]["kind"] == "updated"
    kev = json.loads((out / "kev.json").read_text())
    assert [v["cveID"] for v in kev["vulnerabilities"]] == ["CVE-2026-99999"]
    assert kev["meta"]["catalogVersion"] == "2026.11.27"


def test_updated_data_is_used_and_dated(osv_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "adv"
    monkeypatch.setenv("AISWEEP_ADVISORIES_DIR", str(out))
    update_database(osv_url=osv_server, kev_url=f"{osv_server}/kev.json")
    db = load_database()
    assert db.status.origin == "updated"
    assert db.status.age_days == 0
    assert "downloaded by `aisweep advisories update`" in db.status.line()
    a = assess_version(db, "mlflow", "3.17.2")
    assert [(h.group.primary, h.fixed) for h in a.hits] == [("CVE-2026-99999", "3.17.3")]
    group = db.find("GHSA-test-0000-0001")
    assert group is not None and group.kev is not None
    assert {h.group.primary for h in assess_version(db, "mlflow", "2.1.1").hits} >= {"CVE-2023-1177"}


def test_a_failed_update_writes_nothing(osv_server: str, tmp_path: Path) -> None:
    FakeOsv.fail_vulns = True
    out = tmp_path / "adv"
    with pytest.raises(AdvisoryDataError, match="OSV answered 500"):
        update_database(osv_url=osv_server, directory=out, refresh_kev=False)
    assert not (out / "advisories.json").exists()


def test_unreachable_osv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AdvisoryDataError, match="cannot reach OSV"):
        update_database(osv_url="http://127.0.0.1:9", directory=tmp_path, timeout=2)


def test_damaged_update_falls_back_to_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISWEEP_ADVISORIES_DIR", str(tmp_path))
    (tmp_path / "advisories.json").write_text("{not json", encoding="utf-8")
    assert load_database().status.origin == "shipped"


def test_cli_update_status_show(osv_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("AISWEEP_ADVISORIES_DIR", str(tmp_path / "adv"))
    monkeypatch.setenv("AISWEEP_OSV_URL", osv_server)
    monkeypatch.setenv("AISWEEP_KEV_URL", f"{osv_server}/kev.json")

    before = runner.invoke(app, ["status"])
    assert before.exit_code == 0, before.output
    assert "shipped with aisweep" in before.output and "old" in before.output

    res = runner.invoke(app, ["update"])
    assert res.exit_code == 0, res.output
    assert "3 records downloaded" in res.output

    st = runner.invoke(app, ["status", "--json"])
    info = json.loads(st.output)
    assert info["origin"] == "updated" and info["age_days"] == 0 and info["products"]["mlflow"] >= 2

    show = runner.invoke(app, ["show", "vuln.CVE-2023-1177"])
    assert show.exit_code == 0, show.output
    assert "PYSEC-2023-29" in show.output and "fixed 2.2.1" in show.output

    missing = runner.invoke(app, ["show", "CVE-1999-0000"])
    assert missing.exit_code == 2


def test_cli_update_failure_keeps_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISWEEP_ADVISORIES_DIR", str(tmp_path / "adv"))
    res = CliRunner().invoke(app, ["update", "--osv-url", "http://127.0.0.1:9", "--no-kev"])
    assert res.exit_code == 2
    assert "still using" in res.output and "shipped with aisweep" in res.output
