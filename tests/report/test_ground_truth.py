"""The report of a real demo scan against the emulated network's ground truth: every per-product number the report
publishes (services, hosts, honeypots excluded, auth tiers and their rates, versions, data surfaces, HTTPS and
certificate problems, leaked keys, compromise indicators) must equal what the lab serves."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aisweep.lab.network import LabNetwork
from aisweep.report.build import Report
from aisweep.report.htmlpage import render_html
from aisweep.report.markdown import render_markdown
from aisweep.report.stats import rate

from .conftest import DemoRun


@dataclass
class Expected:
    services: int = 0  # confirmed: honeypots excluded
    hosts: set[str] = field(default_factory=set)
    tiers: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)  # "" = not disclosed
    surfaces: Counter[str] = field(default_factory=Counter)
    honeypots: int = 0
    https: int = 0
    tls: Counter[str] = field(default_factory=Counter)  # certificate problems planted
    credentials: int = 0
    indicators: int = 0


def _add_scanned(e: Expected, address: str, record: dict[str, Any]) -> None:
    e.services += 1
    e.hosts.add(address)
    e.tiers[record["auth"]["tier"]] += 1
    e.versions[record["version"] or ""] += 1
    for name, count in record["surfaces"].items():
        e.surfaces[name] += int(count)


def ground_truth(network: LabNetwork, records: list[dict[str, Any]]) -> dict[str, Expected]:
    """Per-product truth of every emulated service, including the lab's planted cases (honeypot, TLS problems,
    leaked key, compromise indicator) where the lab plants them.

    A look-alike sample that only says which product it must not be ("not_product") leaves its identity open, and
    one without "auth" or "version" leaves those open: there the scan's own answer is taken (a look-alike's checked
    not to be the product it imitates), so the comparison stays exact for everything the lab does define."""
    found = {(r["target"]["host"], r["target"]["port"]): r for r in records}
    out: dict[str, Expected] = defaultdict(Expected)
    for address, port in network.listeners():
        truth = network.truth(address, port)
        assert truth is not None
        record = found.get((address, port))
        if truth.product is None:
            if record is not None:
                assert record["product"] != truth.sample.expect.get("not_product"), (address, port)
                _add_scanned(out[record["product"]], address, record)
            continue
        e = out[truth.product]
        planted = getattr(truth, "expected_finding", None)  # what the lab planted here, if it plants
        if planted == "honeypot.likely":
            e.honeypots += 1  # excluded from every statistic
            continue
        if planted is not None and record is not None and planted.startswith("indicator."):
            _add_scanned(e, address, record)  # the indicator adds an item to a surface: counts come from the scan
            assert record["version"] == (truth.version or record["version"]), (address, port)
            assert record["auth"]["tier"] == (truth.auth or record["auth"]["tier"]), (address, port)
            e.indicators += 1
            continue
        e.services += 1
        e.hosts.add(address)
        # a sample that states no auth tier leaves it open too (the demo's check does not constrain it)
        e.tiers[truth.auth or (record["auth"]["tier"] if record else "unknown")] += 1
        if truth.version is not None:
            e.versions[truth.version] += 1
        elif record is not None:  # the sample states no version: the scan's answer stands
            e.versions[record["version"] or ""] += 1
        surfaces = truth.sample.expect.get("surfaces")
        for name, count in (surfaces if surfaces is not None else (record or {}).get("surfaces", {})).items():
            e.surfaces[name] += int(count)
        if planted in ("tls.self-signed", "tls.expired"):
            e.https += 1
            e.tls["self_signed"] += 1  # the lab's certificates are both self-signed
            e.tls["expired"] += planted == "tls.expired"
        elif planted is not None and planted.startswith("secret."):
            e.credentials += 1
    return dict(out)


def test_per_product_numbers_equal_ground_truth(demo_run: DemoRun, demo_report: Report) -> None:
    truth = ground_truth(demo_run.network, demo_report.records)
    expected = {product: e for product, e in truth.items() if e.services}
    s = demo_report.survey
    assert len(expected) >= 8, "the demo network should serve many products"
    assert {p.product for p in s.products if p.confirmed} == set(expected)
    assert s.services == sum(e.services for e in expected.values())
    assert s.hosts == len(set().union(*(e.hosts for e in expected.values())))
    assert s.honeypots == sum(e.honeypots for e in truth.values()) and s.low_confidence == 0
    for product, e in truth.items():
        p = s.product(product)
        assert p is not None, product
        where = f"{product}: report vs truth"
        assert p.honeypots == e.honeypots, where
        assert p.confirmed == e.services, where
        assert p.hosts == len(e.hosts), where
        assert p.tiers == dict(e.tiers), where
        determined = e.services - e.tiers["unknown"]
        assert p.no_auth == rate(e.tiers["open-read"] + e.tiers["open-admin"], determined), where
        assert p.open_admin == rate(e.tiers["open-admin"], determined), where
        assert p.signup == rate(e.tiers["open-signup"] + e.tiers["first-visitor-admin"], determined), where
        assert p.auth_required == rate(e.tiers["auth-required"], determined), where
        assert dict(p.versions) == dict(e.versions), where
        assert p.with_version.k == e.services - e.versions[""], where
        for name, total in e.surfaces.items():
            assert name in p.surfaces and p.surfaces[name].total == total, f"{where}: surface {name}"
        assert p.https == rate(e.https, e.services), where
        for check, k in e.tls.items():
            assert p.tls_checks[check].k == k, f"{where}: {check}"
        assert p.credentials.k == e.credentials, where
        assert p.indicators.k == e.indicators, where
    # the sum over products is the pooled row, and nothing else is counted
    assert s.pooled.confirmed == s.services and s.pooled.hosts == s.hosts < s.services
    assert s.pooled.no_auth.k == sum(e.tiers["open-read"] + e.tiers["open-admin"] for e in expected.values())


class _HeadlineTable(HTMLParser):
    """Cells of the HTML report's per-product table, by product id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._product: str | None = None
        self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id") == "headline":
            self._in_table = True
        elif self._in_table and tag == "tr" and a.get("data-product"):
            self._product = a["data-product"]
            self.rows[self._product or ""] = []
        elif self._product and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._product and self._cell is not None:
            self.rows[self._product].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._product = None
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_html_and_markdown_show_the_ground_truth_numbers(demo_run: DemoRun, demo_report: Report) -> None:
    truth = ground_truth(demo_run.network, demo_report.records)
    expected = {p: e for p, e in truth.items() if e.services}
    parser = _HeadlineTable()
    parser.feed(render_html(demo_report))
    markdown = render_markdown(demo_report)
    # A product whose only emulated services are planted honeypots keeps its row (0 services, honeypots excluded).
    assert set(parser.rows) == {p for p, e in truth.items() if e.services or e.honeypots}
    for product, e in expected.items():
        cells = parser.rows[product]
        services, hosts, no_auth = cells[1], cells[2], cells[4]
        k = e.tiers["open-read"] + e.tiers["open-admin"]
        n = e.services - e.tiers["unknown"]
        assert (services, hosts) == (str(e.services), str(len(e.hosts))), product
        assert re.search(rf"(^|\s){k}/{n}(\s|$)", no_auth), (product, no_auth)
        assert f"(`{product}`) | {e.services} | {len(e.hosts)} |" in markdown, product
