#!/usr/bin/env python3
"""Build aisweep's static-asset fingerprints (src/aisweep/rules/assets/<product>.json) from released wheels on PyPI.

Products that hide their version (Gradio launched with auth=, MLflow behind a proxy that blocks /version, the
JupyterLab / Notebook UI, Open WebUI with /api/config filtered) still serve HTML pages that name content-hashed
bundles (`./assets/index-96c4f758.js`, `static-files/static/js/main.4dd3381c.js`, `/static/lab/main.<hash>.js`,
`/_app/immutable/entry/start.<hash>.js`) or carry content hashes (`static/style/index.css?v=<sha512>`). A bundle's
name changes when its content does, so it appears in one release or a contiguous run of releases. This script
downloads a selection of releases of each package with pip (`pip download --no-deps --only-binary=:all:`), reads
the HTML page(s) inside each wheel, applies the same patterns the scanner applies to a live page, and records which
releases ship each marker. `aisweep.rules.assets.infer_version` turns the markers seen on a live page into a
version range with confidence "inferred".

Each data file lists, per package (primary first): every release on PyPI within the sampled span (`releases`), the
releases whose wheel was read (`sampled`), the runtime `patterns` ({regex, marker template}) and `markers`
(marker -> sampled versions shipping it). Only the handful of assets the HTML pages reference are recorded.

Usage:
  python scripts/build_asset_fingerprints.py [--product ID ...] [--workers 4] [--dry-run]
Wheels are downloaded to .cache/assets/ (git-ignored) one release at a time and deleted once read; what was read
from each wheel is kept in .cache/assets/extracted/ so a re-run only downloads releases it has not read yet.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "assets"
OUT = ROOT / "src" / "aisweep" / "rules" / "assets"


@dataclass(frozen=True)
class Pattern:
    """A regex applied to a live HTML page (and at build time to the wheel's page template); `marker` is a
    str.format template over its named groups, giving the normalised marker name stored in the data file."""

    regex: str
    marker: str


@dataclass(frozen=True)
class Package:
    dist: str  # the name on PyPI
    span: str  # a PEP 440 specifier: the releases considered
    select: str  # "all", "minor-last" (newest patch of every minor) or "spread:N" (the first and newest release of
    # every minor, plus others spread evenly up to N in all)
    patterns: tuple[Pattern, ...]
    html: tuple[str, ...] = ()  # wheel members holding the page templates the product serves
    subst: tuple[tuple[str, str], ...] = ()  # template expressions replaced by what the server renders
    static_dir: str | None = None  # hash every file under this wheel folder (Tornado static_url ?v=<sha512>)
    hash_prefix: int = 16  # hex digits of a content hash kept in a marker


GRADIO = Package(
    dist="gradio",
    span=">=3.0",
    select="all",
    html=("gradio/templates/frontend/index.html",),
    patterns=(Pattern(r"""(?:src|href)=["'][^"'<>]*?/assets/(?P<f>[\w.-]+\.(?:js|css))["']""", "assets/{f}"),),
)
MLFLOW = Package(
    dist="mlflow",
    span=">=2.0",
    select="all",
    html=("mlflow/server/js/build/index.html",),
    patterns=(Pattern(r"static-files/static/(?P<d>js|css)/(?P<f>main\.[0-9a-f]{6,}\.(?:js|css))", "{d}/{f}"),),
)
JUPYTER_SERVER = Package(
    dist="jupyter-server",
    span=">=1.0",
    select="all",
    static_dir="jupyter_server/static/",
    patterns=(Pattern(r"/static/(?P<p>[\w./-]+?)\?v=(?P<v>[0-9a-f]{16})[0-9a-f]{112}(?![0-9a-f])", "{p}?v={v}"),),
)
JUPYTERLAB = Package(
    dist="jupyterlab",
    span=">=3.0",
    select="all",
    html=("jupyterlab/static/index.html",),
    subst=(("{{page_config.fullStaticUrl}}", "/static/lab"),),
    patterns=(Pattern(r"/static/lab/(?P<f>main\.[0-9a-f]{12,}\.js)", "lab/{f}"),),
)
NOTEBOOK = Package(
    dist="notebook",
    span=">=7.0",
    select="all",
    html=("notebook/templates/tree.html",),
    subst=(("{{page_config.fullStaticUrl}}", "/static/notebook"),),
    patterns=(Pattern(r"/static/notebook/(?P<f>main\.[0-9a-f]{12,}\.js)", "notebook/{f}"),),
)
OPEN_WEBUI = Package(
    dist="open-webui",
    span=">=0.4.0",
    select="spread:32",
    html=("open_webui/frontend/index.html",),
    patterns=(Pattern(r"/_app/immutable/(?P<f>(?:entry|chunks|nodes|assets)/[\w.-]+\.(?:js|css))", "{f}"),),
)

# product (rule id) -> packages, the one whose version the product's rule reports first
PRODUCTS: dict[str, tuple[Package, ...]] = {
    "gradio": (GRADIO,),
    "mlflow": (MLFLOW,),
    "jupyter": (JUPYTER_SERVER, JUPYTERLAB, NOTEBOOK),
    "open-webui": (OPEN_WEBUI,),
}


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)


def releases(pkg: Package) -> list[Version]:
    """Every final release of `pkg` within its span, oldest first (`pip index versions`)."""
    proc = _pip("index", "versions", pkg.dist)
    m = re.search(r"Available versions:\s*(.+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"pip index versions {pkg.dist} failed: {proc.stderr.strip()[-500:]}")
    spec = SpecifierSet(pkg.span)
    out: set[Version] = set()
    for raw in m.group(1).split(","):
        try:
            v = Version(raw.strip())
        except InvalidVersion:
            continue
        if not v.is_prerelease and not v.is_devrelease and v in spec:
            out.add(v)
    return sorted(out)


def select(pkg: Package, versions: list[Version]) -> list[Version]:
    if not versions:
        return []
    minor_first: dict[tuple[int, int], Version] = {}
    minor_last: dict[tuple[int, int], Version] = {}
    for v in versions:  # ascending
        minor_first.setdefault((v.major, v.minor), v)
        minor_last[(v.major, v.minor)] = v
    if pkg.select == "all":
        return list(versions)
    chosen = {versions[0], versions[-1], *minor_last.values()}
    if pkg.select.startswith("spread:"):
        want = int(pkg.select.split(":", 1)[1])
        chosen |= set(minor_first.values())
        rest = [v for v in versions if v not in chosen]
        room = max(0, want - len(chosen))
        if rest and room:
            step = len(rest) / room
            chosen.update(rest[int(i * step)] for i in range(room))
    elif pkg.select != "minor-last":
        raise SystemExit(f"{pkg.dist}: unknown selection {pkg.select!r}")
    return sorted(chosen)


def _cache_file(pkg: Package, v: Version) -> Path:
    return CACHE / "extracted" / f"{pkg.dist}-{v}.json"


def read_wheel(pkg: Package, wheel: Path) -> dict[str, Any]:
    """What the data needs from one wheel: the page templates' text and the static files' content hashes."""
    html: dict[str, str] = {}
    static: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        for member in pkg.html:
            if member in names:
                html[member] = z.read(member).decode("utf-8", "replace")
        if pkg.static_dir:
            for name in names:
                if name.startswith(pkg.static_dir) and not name.endswith((".map", "/")):
                    static[name[len(pkg.static_dir) :]] = hashlib.sha512(z.read(name)).hexdigest()
    return {"html": html, "static": static, "wheel": wheel.name}


def fetch(pkg: Package, v: Version) -> tuple[Version, dict[str, Any] | None, str]:
    """Download, read and delete one release's wheel (or use what an earlier run read)."""
    cached = _cache_file(pkg, v)
    if cached.exists():
        return v, json.loads(cached.read_text(encoding="utf-8")), "cached"
    work = CACHE / "wheels" / f"{pkg.dist}-{v}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        proc = _pip("download", "--no-deps", "--only-binary=:all:", f"{pkg.dist}=={v}", "-d", str(work), "-q")
        wheels = sorted(work.glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            return v, None, f"no wheel ({proc.stderr.strip().splitlines()[-1:] or ['?']})"
        data = read_wheel(pkg, wheels[0])
        size = wheels[0].stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(data), encoding="utf-8")
    return v, data, f"read {size / 1e6:.0f} MB"


def markers_of(pkg: Package, data: dict[str, Any]) -> set[str]:
    """The markers a live page of this release shows: the runtime patterns applied to the rendered templates."""
    found: set[str] = set()
    compiled = [(re.compile(p.regex), p.marker) for p in pkg.patterns]
    for text in data["html"].values():
        for old, new in pkg.subst:
            text = text.replace(old, new)
        for rx, template in compiled:
            found.update(template.format(**m.groupdict()) for m in rx.finditer(text))
    for path, digest in data["static"].items():
        found.add(f"{path}?v={digest[: pkg.hash_prefix]}")
    return found


def build_package(pkg: Package, workers: int, dry_run: bool) -> dict[str, Any]:
    every = releases(pkg)
    chosen = select(pkg, every)
    print(f"{pkg.dist}: {len(every)} releases in {pkg.span}, reading {len(chosen)}", flush=True)
    if dry_run:
        print("  " + ", ".join(map(str, chosen)))
        return {}
    markers: dict[str, set[Version]] = {}
    sampled: list[Version] = []
    failed: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fetch, pkg, v) for v in chosen]
        for fut in as_completed(futures):
            v, data, note = fut.result()
            found = markers_of(pkg, data) if data else set()
            print(f"  {pkg.dist} {v}: {note}, {len(found)} markers", flush=True)
            if not found:
                failed[str(v)] = note if data is None else "no asset reference found in the wheel's page"
                continue
            sampled.append(v)
            for marker in found:
                markers.setdefault(marker, set()).add(v)
    sampled.sort()
    if not sampled:
        raise SystemExit(f"{pkg.dist}: no release could be read")
    # the span the data speaks for: from the first to the last release actually read
    span = [v for v in every if sampled[0] <= v <= sampled[-1]]
    return {
        "name": pkg.dist,
        "releases": [str(v) for v in span],
        "sampled": [str(v) for v in sampled],
        "not_read": failed,
        "patterns": [{"regex": p.regex, "marker": p.marker} for p in pkg.patterns],
        "markers": {m: [str(v) for v in sorted(vs)] for m, vs in sorted(markers.items())},
    }


def _compact(text: str) -> str:
    """Lists of strings on one line: one line per marker keeps the file readable and its diffs small."""
    return re.sub(
        r'\[\s*((?:"(?:[^"\\]|\\.)*",?\s*)+)\]', lambda m: "[" + re.sub(r",\s+", ", ", m.group(1).strip()) + "]", text
    )


def build(product: str, packages: Iterable[Package], workers: int, dry_run: bool) -> None:
    built = [build_package(pkg, workers, dry_run) for pkg in packages]
    if dry_run:
        return
    doc = {
        "product": product,
        "about": (
            "Static-asset fingerprints: the content-hashed assets this product's HTML pages reference, and the "
            "released versions whose wheels ship each (aisweep.rules.assets.infer_version). Packages are listed "
            "primary first; `releases` are all PyPI releases in the sampled span, `sampled` those whose wheel was "
            "read."
        ),
        "built": datetime.now(UTC).date().isoformat(),
        "generator": "scripts/build_asset_fingerprints.py",
        "packages": built,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{product}.json"
    path.write_text(_compact(json.dumps(doc, indent=1, ensure_ascii=False)) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--product", action="append", choices=sorted(PRODUCTS), help="default: every product")
    ap.add_argument("--workers", type=int, default=4, help="wheels downloaded at once")
    ap.add_argument("--dry-run", action="store_true", help="list the releases that would be read")
    args = ap.parse_args()
    for product in args.product or sorted(PRODUCTS):
        build(product, PRODUCTS[product], max(1, args.workers), args.dry_run)


if __name__ == "__main__":
    main()
