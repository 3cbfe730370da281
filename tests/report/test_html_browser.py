"""The HTML report of a real demo scan, opened in headless Chromium at desktop (1366 px) and phone (390 px) widths:
tables and charts are there and drawn, nothing is requested from the network, no console error, no sideways
scrolling, and the service filters work. Screenshots are written next to the test's temporary files.

AISWEEP_UPDATE_SCREENSHOT=1 also refreshes docs/report-screenshot.png from the desktop rendering."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aisweep.report.build import Report
from aisweep.report.htmlpage import render_html

from .browser import Chromium, Page, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); the HTML check needs a real browser"
)
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"

DOM_FACTS = """(() => {
  const rect = el => el.getBoundingClientRect();
  const charts = [...document.querySelectorAll('svg.chart')].filter(svg => svg.getClientRects().length).map(svg => ({
    marks: svg.querySelectorAll('rect, circle, line').length,
    width: rect(svg).width, height: rect(svg).height,
  }));
  const headline = [...document.querySelectorAll('#headline tbody tr')].map(tr => ({
    product: tr.dataset.product, cells: tr.querySelectorAll('td').length,
  }));
  const links = [...document.querySelectorAll('[src], [href]')]
    .map(el => el.getAttribute('src') || el.getAttribute('href'));
  return {
    title: document.title,
    tables: document.querySelectorAll('table').length,
    headline, charts, links,
    sections: [...document.querySelectorAll('main section')].map(s => s.id),
    services: document.querySelectorAll('#service-list details.svc').length,
    count: document.getElementById('f-count').textContent,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    limitations: document.querySelectorAll('#limitations li').length,
  };
})()"""

FILTER = """((product, text) => {
  const select = document.getElementById('f-product');
  select.value = product; select.dispatchEvent(new Event('change'));
  const visibleProduct = [...document.querySelectorAll('#service-list details.svc:not(.hidden)')];
  const q = document.getElementById('f-text');
  q.value = text; q.dispatchEvent(new Event('input'));
  const visibleBoth = document.querySelectorAll('#service-list details.svc:not(.hidden)').length;
  select.value = ''; select.dispatchEvent(new Event('change'));
  q.value = ''; q.dispatchEvent(new Event('input'));
  return {
    products: [...new Set(visibleProduct.map(d => d.dataset.product))],
    shown: visibleProduct.length, both: visibleBoth,
    reset: document.querySelectorAll('#service-list details.svc:not(.hidden)').length,
    count: document.getElementById('f-count').textContent,
  };
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    assert CHROMIUM is not None
    b = Chromium(CHROMIUM)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def report_file(demo_report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(demo_report), encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [1366, 390])
def test_report_renders_offline_in_chromium(
    browser: Chromium, report_file: Path, demo_report: Report, width: int, tmp_path: Path
) -> None:
    page = Page(browser, width)
    page.load(report_file.as_uri())
    facts: dict[str, Any] = page.evaluate(DOM_FACTS)
    s = demo_report.survey

    assert demo_report.run_id in facts["title"]
    assert [row["product"] for row in facts["headline"]] == [p.product for p in s.products]
    assert {row["cells"] for row in facts["headline"]} == {11}
    assert facts["tables"] >= 6
    assert len(facts["charts"]) >= 3
    for chart in facts["charts"]:
        assert chart["marks"] > 0 and chart["width"] > 100 and chart["height"] > 20, chart
    assert {"summary", "auth", "versions", "tls", "exposure", "outcomes", "limitations", "services"} <= set(
        facts["sections"]
    )
    assert facts["services"] == len(demo_report.records)
    assert facts["count"] == f"{len(demo_report.records)} of {len(demo_report.records)} services"
    assert facts["limitations"] == len(demo_report.limitations)
    assert all(link.startswith("#") for link in facts["links"]), facts["links"]
    # the page itself never scrolls sideways; wide tables scroll inside their own box
    assert facts["scrollWidth"] <= facts["innerWidth"], (facts["scrollWidth"], facts["innerWidth"])

    top = max(s.products, key=lambda p: p.confirmed)
    filtered = page.evaluate(f"({FILTER})({top.product!r}, 'no such text')")
    listed = sum(1 for r in demo_report.records if r["product"] == top.product)  # honeypots are listed, flagged
    assert filtered["products"] == [top.product] and filtered["shown"] == listed
    assert filtered["both"] == 0 and filtered["reset"] == len(demo_report.records)

    png = page.screenshot(tmp_path / f"report-{width}.png", height=2400 if width > 600 else 3200)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30_000
    page.evaluate("document.querySelector('#service-list details.svc').open = true")
    page.screenshot(tmp_path / f"report-{width}-full.png")

    assert page.console_errors() == []
    assert page.requests() == [report_file.as_uri()], page.requests()

    if width > 600 and os.environ.get("AISWEEP_UPDATE_SCREENSHOT"):
        page.evaluate("document.querySelector('#service-list details.svc').open = false; window.scrollTo(0, 0)")
        page.screenshot(DOCS_SCREENSHOT, height=1500)  # the top of page one: cards, lede, per-product table
