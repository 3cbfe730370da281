"""Version inference from static assets (aisweep.rules.assets), proved on the real recorded samples: the pages of a
release whose version is hidden still name the content-hashed bundles that ship with it."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from packaging.version import Version

from aisweep.models import Observation, Outcome, Request
from aisweep.rules.assets import InferredVersion, _infer, _Package, infer_version, infer_versions
from aisweep.rules.samples import Sample, load_samples

SAMPLES = {s.case: s for s in load_samples()}
PRODUCTS = ("gradio", "mlflow", "jupyter", "open-webui")
DATA_DIR = Path(str(resources.files("aisweep.rules") / "assets"))


def observations(sample: Sample, *paths: str) -> dict[str, Observation]:
    """The sample's answers to GET `paths` (every recorded GET when none are given), keyed like the scanner's."""
    wanted = paths or tuple(p for (m, p) in sample.exchanges if m == "GET")
    out: dict[str, Observation] = {}
    for path in wanted:
        request = Request("GET", path)
        out[request.key] = sample.observation(request)
    return out


def html(body: str, path: str = "/") -> dict[str, Observation]:
    request = Request("GET", path)
    headers = (("content-type", "text/html; charset=utf-8"),)
    return {request.key: Observation(request, Outcome.OK, 200, headers, body.encode())}


def contains(inferred: InferredVersion | None, version: str) -> bool:
    assert inferred is not None
    low, high, v = Version(inferred.low), Version(inferred.high), Version(version)
    return low <= v <= high and version in inferred.versions


# ---- the versions hidden by the auth / proxy samples are recovered from the root page ----


@pytest.mark.parametrize(
    ("case", "version"),
    [("gradio-3.50.2-auth", "3.50.2"), ("gradio-4.10.0-auth", "4.10.0"), ("gradio-6.31.0-auth", "6.31.0")],
)
def test_gradio_auth_root_page_gives_a_range_containing_the_release(case: str, version: str) -> None:
    sample = SAMPLES[case]
    assert "version" not in sample.expect  # the rule cannot read it: /config answers 401
    inferred = infer_version("gradio", observations(sample, "/"))
    assert contains(inferred, version)
    assert inferred is not None and inferred.package == "gradio" and inferred.primary
    assert "GET /" in inferred.evidence and "assets/index-" in inferred.evidence
    assert len(inferred.versions) <= 5  # a narrow range, not "some 4.x"


def test_gradio_4_10_0_is_pinned_to_its_release() -> None:
    inferred = infer_version("gradio", observations(SAMPLES["gradio-4.10.0-auth"], "/"))
    assert inferred is not None
    assert (inferred.low, inferred.high, inferred.range, str(inferred)) == ("4.10.0", "4.10.0", "4.10.0", "4.10.0")


@pytest.mark.parametrize(("case", "version"), [("mlflow-2.1.1-open", "2.1.1"), ("mlflow-2.9.2-open", "2.9.2"),
                                               ("mlflow-3.17.2-open", "3.17.2")])  # fmt: skip
def test_mlflow_root_page_without_version_endpoint(case: str, version: str) -> None:
    # a proxy that blocks /version leaves the UI's root page: only GET / is used
    inferred = infer_version("mlflow", observations(SAMPLES[case], "/"))
    assert contains(inferred, version)
    assert inferred is not None and "js/main." in inferred.evidence


@pytest.mark.parametrize("case", ["jupyterlab-4.6.6-open", "notebook-7.6.5-open"])
def test_jupyterlab_page_gives_the_jupyterlab_version(case: str) -> None:
    inferred = infer_version("jupyter", observations(SAMPLES[case], "/lab"))
    assert contains(inferred, "4.6.6")
    assert inferred is not None and inferred.package == "jupyterlab" and not inferred.primary
    assert inferred.text.startswith("jupyterlab ")  # never passed off as jupyter-server's version


def test_notebook_tree_page_gives_the_notebook_version() -> None:
    found = infer_versions("jupyter", observations(SAMPLES["notebook-7.6.5-open"], "/tree", "/lab"))
    assert contains(found["notebook"], "7.6.5")
    assert contains(found["jupyterlab"], "4.6.6")


@pytest.mark.parametrize("case", ["jupyter-server-2.21.1-token", "jupyterlab-4.6.6-token", "notebook-7.6.5-token"])
def test_jupyter_server_pages_give_the_primary_version(case: str) -> None:
    # /login and the 404 page name static files with ?v=<sha512 of the content>: jupyter-server's own files
    obs = observations(SAMPLES[case], "/login", "/nonexistent-aisweep-probe")
    inferred = infer_version("jupyter", obs)
    assert contains(inferred, "2.21.1")
    assert inferred is not None and inferred.package == "jupyter-server" and inferred.primary


@pytest.mark.parametrize("case", sorted(c for c, s in SAMPLES.items() if s.expect.get("product") == "open-webui"))
def test_open_webui_root_page(case: str) -> None:
    # /api/config filtered by a proxy: the SvelteKit shell at / names its immutable entry and chunk files
    inferred = infer_version("open-webui", observations(SAMPLES[case], "/"))
    assert contains(inferred, "0.12.4")
    assert inferred is not None and len(inferred.versions) <= 5 and "GET /" in inferred.evidence


# ---- never contradicts what the product says about itself ----


def _recorded(sample: Sample) -> dict[str, str]:
    """'jupyterlab 4.6.6 on jupyter_server 2.21.1 (PyPI)' -> {jupyterlab: 4.6.6, jupyter-server: 2.21.1}"""
    pairs = re.findall(r"([a-z][\w-]*) (\d+\.\d+(?:\.\d+)?)", str(sample.source.get("software", "")))
    return {name.replace("_", "-"): version for name, version in pairs}


@pytest.mark.parametrize("case", sorted(c for c, s in SAMPLES.items() if s.expect.get("product") in PRODUCTS))
def test_every_sample_of_these_products_is_recognised_and_consistent(case: str) -> None:
    sample = SAMPLES[case]
    recorded = _recorded(sample)
    product = str(sample.expect["product"])
    found = infer_versions(product, observations(sample))
    assert found, f"{case}: no asset recognised"
    for package, inferred in found.items():  # (notebook 7 also serves the jupyterlab it depends on)
        if package in recorded:
            assert contains(inferred, recorded[package]), (package, inferred)
    if "version" in sample.expect:  # the rule's exact version lies in the primary package's range
        primary = infer_version(product, observations(sample))
        assert primary is not None and primary.primary
        assert contains(primary, str(sample.expect["version"]))


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_no_sample_of_any_product_is_given_a_wrong_version(case: str) -> None:
    # look-alike samples (an Open WebUI on port 3000, a Gradio app shaped like text-generation-webui, ...) are
    # inferred as what produced them; everything else gives nothing
    sample = SAMPLES[case]
    recorded = _recorded(sample)
    for product in PRODUCTS:
        found = infer_versions(product, observations(sample))
        if found:
            assert any(package in recorded for package in found), (product, found)
        for package, inferred in found.items():
            if package in recorded:
                assert contains(inferred, recorded[package]), (product, package, inferred)


# ---- negatives ----


def test_a_page_of_another_product_gives_nothing() -> None:
    mlflow_root = observations(SAMPLES["mlflow-2.9.2-open"], "/")
    gradio_root = observations(SAMPLES["gradio-4.10.0-auth"], "/")
    assert infer_version("gradio", mlflow_root) is None
    assert infer_version("mlflow", gradio_root) is None
    assert infer_version("open-webui", gradio_root) is None
    assert infer_version("jupyter", observations(SAMPLES["open-webui-0.12.4-login"], "/")) is None


def test_markers_of_two_releases_disagree() -> None:
    old = SAMPLES["gradio-3.50.2-auth"].respond("GET", "/").body.decode()
    new = SAMPLES["gradio-6.31.0-auth"].respond("GET", "/").body.decode()
    assert infer_version("gradio", html(old + new)) is None
    # also when they come from two different responses
    both = {**html(old, "/"), **html(new, "/other")}
    assert infer_version("gradio", both) is None
    lab_3 = '<script defer src="/static/lab/main.4999cab70933d690f75e.js?v=4999cab70933d690f75e"></script>'
    lab_4 = SAMPLES["jupyterlab-4.6.6-open"].respond("GET", "/lab").body.decode()
    assert infer_version("jupyter", html(lab_4 + lab_3, "/lab")) is None


def test_an_unknown_bundle_next_to_a_known_one_points_at_an_unread_release_or_nothing() -> None:
    page = SAMPLES["gradio-6.31.0-auth"].respond("GET", "/").body.decode()
    # a rebuilt or newer bundle alongside 6.31.0's stylesheet: 6.31.0 itself would name its own bundle, and no unread
    # release sits next to it, so nothing can be claimed
    forged = page.replace("index-DphvyggB.js", "index-Zz9Zz9Zz.js")
    assert forged != page
    assert infer_version("gradio", html(forged)) is None


def test_unknown_products_without_assets_and_non_html_give_nothing() -> None:
    page = SAMPLES["gradio-4.10.0-auth"].respond("GET", "/").body.decode()
    assert infer_version("ollama", html(page)) is None
    assert infer_version("../gradio", html(page)) is None
    assert infer_version("gradio", {}) is None
    assert infer_version("gradio", html("<html><body>Hello</body></html>")) is None
    request = Request("GET", "/api/info")
    as_json = Observation(request, Outcome.OK, 200, (("content-type", "application/json"),), json.dumps(page).encode())
    assert infer_version("gradio", {request.key: as_json}) is None
    refused = Observation(Request("GET", "/"), Outcome.REFUSED)
    assert infer_version("gradio", {"GET /": refused}) is None


# ---- the gap logic on a small synthetic data set ----


def _package(sampled: list[str], releases: list[str], markers: dict[str, list[str]]) -> _Package:
    def vs(xs: list[str]) -> list[Version]:
        return sorted(Version(x) for x in xs)

    return _Package(
        "demo",
        tuple(vs(releases)),
        frozenset(vs(sampled)),
        tuple(vs(sampled)),
        ((re.compile(r"/assets/(?P<f>[\w.-]+\.js)"), "{f}"),),
        {m: frozenset(vs(v)) for m, v in markers.items()},
    )


def _page(*names: str) -> dict[str, Observation]:
    return html("".join(f'<script src="/assets/{n}"></script>' for n in names))


def test_unread_releases_next_to_a_shipping_release_stay_possible() -> None:
    pkg = _package(
        sampled=["1.0", "1.2", "1.4"],
        releases=["1.0", "1.1", "1.2", "1.3", "1.3.1", "1.4"],
        markers={"a.js": ["1.0"], "b.js": ["1.2"], "c.js": ["1.2", "1.4"], "d.js": ["1.4"]},
    )
    one = _infer(pkg, _page("b.js"), primary=True)
    assert one is not None and one.versions == ("1.1", "1.2", "1.3", "1.3.1") and one.range == "1.1–1.3.1"
    # c.js and d.js: 1.4, or an unread release between 1.2 and 1.4 that already had d.js
    two = _infer(pkg, _page("c.js", "d.js"), primary=True)
    assert two is not None and two.versions == ("1.3", "1.3.1", "1.4")
    # a.js and b.js were never read together, but 1.1 (unread, between them) may have shipped both
    gap = _infer(pkg, _page("a.js", "b.js"), primary=True)
    assert gap is not None and gap.versions == ("1.1",)
    assert _infer(pkg, _page("a.js", "d.js"), primary=True) is None  # disagree
    # an unknown name: the release is not one that was read
    unread = _infer(pkg, _page("c.js", "new.js"), primary=True)
    assert unread is not None and unread.versions == ("1.1", "1.3", "1.3.1")
    assert "match no release read" in unread.evidence


# ---- the data files ----


@pytest.mark.parametrize("product", PRODUCTS)
def test_data_files_are_small_consistent_and_ordered(product: str) -> None:
    path = DATA_DIR / f"{product}.json"
    assert path.stat().st_size < 200_000
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["product"] == product and doc["built"] and doc["packages"]
    for pkg in doc["packages"]:
        sampled = [Version(v) for v in pkg["sampled"]]
        releases = [Version(v) for v in pkg["releases"]]
        assert sampled == sorted(sampled) and releases == sorted(releases) and set(sampled) <= set(releases)
        assert len(sampled) >= 10, pkg["name"]
        for marker, versions in pkg["markers"].items():
            assert versions and set(versions) <= set(pkg["sampled"]), marker
        for pattern in pkg["patterns"]:
            assert re.compile(pattern["regex"]).groupindex


def test_scan_reports_an_inferred_version_when_the_product_hides_it() -> None:
    from aisweep.rules.loader import load_rules
    from aisweep.rules.samples import replay

    sample = next(s for s in load_samples() if s.case == "gradio-4.10.0-auth")
    service = replay(sample, load_rules())
    assert service is not None and service.product == "gradio"
    assert service.version == "4.10.0"
    assert service.version_confidence.value == "inferred"
    assert service.version_source and service.version_source.startswith("inferred from static assets")
    exact = replay(next(s for s in load_samples() if s.case == "gradio-4.10.0-open"), load_rules())
    assert exact is not None and exact.version_confidence.value == "exact"
