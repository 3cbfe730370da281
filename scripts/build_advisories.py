#!/usr/bin/env python3
"""Build aisweep's shipped advisory data (src/aisweep/advisories/data/advisories.json and kev.json) from public
advisory sources checked out as git mirrors. Run by a maintainer; the output is committed, the sources are not.

Sources, in order of authority (a record from an earlier source wins for the same vulnerability):
  1. golang/vulndb          data/osv/GO-*.json            Go vulnerability database (OSV)
  2. github/advisory-database  GHSA-*.json (a directory of records copied from the repository)
  3. pypa/advisory-database vulns/<package>/PYSEC-*.yaml  PyPA advisory database (OSV)
  4. Tencent/AI-Infra-Guard data/vuln_en/<product>/*.yaml  a public compilation of NVD/GHSA/vendor advisories for AI
     products, used only for vulnerabilities none of the OSV databases above has; converted to OSV with
     database_specific.compiled = true, and for CVSS vectors the OSV records lack
  5. cisagov/kev-data       known_exploited_vulnerabilities.json  (the subset whose CVE is in the advisories)

Usage:
  python scripts/build_advisories.py --vulndb DIR --pypa DIR --aig DIR --kev DIR [--ghsa DIR] [--out DIR]
where each DIR is a git directory (bare or not) of the mirror; HEAD is read with `git show`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aisweep.advisories.database import load_products, normalize_package  # noqa: E402
from aisweep.advisories.versions import Scheme, parse  # noqa: E402

# AI-Infra-Guard product directory → (ecosystem, package) in products.json
AIG_DIRS: dict[str, tuple[str, str]] = {
    "mlflow": ("PyPI", "mlflow"),
    "gradio": ("PyPI", "gradio"),
    "ollama": ("Go", "github.com/ollama/ollama"),
    "ray": ("PyPI", "ray"),
    "LiteLLM": ("PyPI", "litellm"),
    "vllm": ("PyPI", "vllm"),
    "open-webui": ("PyPI", "open-webui"),
    "openwebui": ("PyPI", "open-webui"),
    "jupyter-server": ("PyPI", "jupyter-server"),
    "jupyterlab": ("PyPI", "jupyterlab"),
    "jupyter-notebook": ("PyPI", "notebook"),
    "langflow": ("PyPI", "langflow"),
    "bentoml": ("PyPI", "bentoml"),
    "Xinference": ("PyPI", "xinference"),
    "sglang": ("PyPI", "sglang"),
    "llama-cpp": ("llama.cpp", "ggml-org/llama.cpp"),
    "localai": ("Go", "github.com/mudler/LocalAI"),
    "flowise": ("npm", "flowise"),
    "n8n": ("npm", "n8n"),
    "dify": ("GitHub-Releases", "langgenius/dify"),
    "comfyui": ("GitHub-Releases", "comfyanonymous/ComfyUI"),
    "text-generation-webui": ("GitHub-Releases", "oobabooga/text-generation-webui"),
    "triton-inference-server": ("NVIDIA-Triton", "triton-inference-server"),
}

# Links that show a compiled record is about the product itself (its repositories, vendor pages, its packages).
# A record none of whose references matches is dropped: the compilation files some advisories under the wrong
# product (jupyter-server-proxy under jupyter-server, a Drupal module under ray).
OWN_REFS: dict[str, tuple[str, ...]] = {
    "mlflow": ("github.com/mlflow/mlflow", "pypi.org/project/mlflow"),
    "gradio": ("github.com/gradio-app/gradio", "pypi.org/project/gradio"),
    "ollama": ("github.com/ollama/ollama", "github.com/jmorganca/ollama"),
    "ray": ("github.com/ray-project/ray", "anyscale.com", "docs.ray.io"),
    "LiteLLM": ("github.com/berriai/litellm",),
    "vllm": ("github.com/vllm-project/vllm",),
    "open-webui": ("github.com/open-webui/open-webui",),
    "openwebui": ("github.com/open-webui/open-webui",),
    "jupyter-server": ("github.com/jupyter-server/jupyter_server", "github.com/jupyter/jupyter_server"),
    "jupyterlab": ("github.com/jupyterlab/jupyterlab",),
    "jupyter-notebook": ("github.com/jupyter/notebook",),
    "langflow": ("github.com/langflow-ai/langflow", "github.com/logspace-ai/langflow"),
    "bentoml": ("github.com/bentoml/bentoml",),
    "Xinference": ("github.com/xorbitsai/inference",),
    "sglang": ("github.com/sgl-project/sglang",),
    "llama-cpp": ("github.com/ggml-org/llama.cpp", "github.com/ggerganov/llama.cpp"),
    "localai": ("github.com/mudler/localai", "github.com/go-skynet/localai"),
    "flowise": ("github.com/flowiseai/flowise",),
    "n8n": ("github.com/n8n-io/n8n",),
    "dify": ("github.com/langgenius/dify",),
    "comfyui": ("github.com/comfyanonymous/comfyui/", "github.com/comfy-org/comfyui/", "/comfyui/security"),
    "text-generation-webui": ("github.com/oobabooga/text-generation-webui",),
    "triton-inference-server": ("github.com/triton-inference-server/server", "nvidia.custhelp.com", "nvidia.com"),
}

PRODUCT_WORDS: dict[str, str] = {
    "LiteLLM": "litellm",
    "openwebui": "open webui|open-webui|openwebui",
    "open-webui": "open webui|open-webui|openwebui",
    "jupyter-server": "jupyter server|jupyter_server|jupyter-server",
    "jupyter-notebook": "notebook",
    "Xinference": "xinference",
    "llama-cpp": "llama.cpp|llama-server",
    "triton-inference-server": "triton",
}
_CODE_HOST = re.compile(r"(?:https?://)?(?:www\.)?github\.com/([^/\s]+)/([^/\s#?]+)", re.I)
_NOT_PROJECTS = {"advisories", "cveproject", "github"}


def _attributed(folder: str, refs: list[str], text: str) -> bool:
    """Does the compiled record concern the product? Yes when a reference points at the product's repository or
    vendor; else when the text names the product and no reference points at another project."""
    lowered = [r.lower() + "/" for r in refs]
    if any(pattern in r for r in lowered for pattern in OWN_REFS[folder]):
        return True
    words = PRODUCT_WORDS.get(folder, folder.lower())
    if not re.search(rf"\b(?:{words})\b", text, re.I):
        return False
    for r in refs:
        m = _CODE_HOST.search(r)
        if m and m.group(1).lower() not in _NOT_PROJECTS and "gist.github.com" not in r.lower():
            return False  # a repository, but not the product's own
        if re.search(r"drupal\.org|wordpress\.org|packagist\.org|npmjs\.com/package/(?!n8n|flowise)", r, re.I):
            return False
    return True


GHSA_RE = re.compile(r"GHSA-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}")
CMP_RE = re.compile(r"""^\s*version\s*(>=|<=|==|=|<|>)\s*["']([^"']+)["']\s*$""")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def git_bytes(repo: Path, path: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, check=True).stdout
    return out.decode("utf-8", "replace")


def head(repo: Path) -> tuple[str, str]:
    commit, when = git(repo, "log", "-1", "--format=%H %cI").split()
    return commit, when


def ls(repo: Path, folder: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-z", "--name-only", "HEAD", folder + "/"], capture_output=True, check=True
    ).stdout
    return [p.decode() for p in out.split(b"\0") if p]


def with_source(record: dict[str, Any], source: str) -> dict[str, Any]:
    specific = dict(record.get("database_specific") or {})
    specific["source"] = source
    record["database_specific"] = specific
    return record


def slim(record: dict[str, Any]) -> dict[str, Any]:
    """Drop enumerated `versions` where an ECOSYSTEM/SEMVER range says the same (OSV derives them from ranges)."""
    for a in record.get("affected", []):
        if any(r.get("type") in ("ECOSYSTEM", "SEMVER") for r in a.get("ranges", [])):
            a.pop("versions", None)
    return record


def ids_of(record: dict[str, Any]) -> set[str]:
    return {record["id"].upper(), *(a.upper() for a in record.get("aliases", []))}


def touches(record: dict[str, Any], packages: set[tuple[str, str]]) -> bool:
    return any(
        normalize_package(a.get("package", {}).get("ecosystem", ""), a.get("package", {}).get("name", "")) in packages
        for a in record.get("affected", [])
    )


# --- sources ---------------------------------------------------------------------------------------------------------


def from_vulndb(repo: Path, packages: set[tuple[str, str]]) -> list[dict[str, Any]]:
    commit, _ = head(repo)
    names = {n.lower() for eco, n in packages if eco == "Go"}
    hits = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "grep",
            "-l",
            "-i",
            "-E",
            "|".join(re.escape(n) for n in names),
            "HEAD",
            "--",
            "data/osv",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    out = []
    for hit in hits:
        path = hit.removeprefix("HEAD:")
        rec = json.loads(git_bytes(repo, path))
        if touches(rec, packages) and not rec.get("withdrawn"):
            out.append(with_source(slim(rec), f"golang/vulndb@{commit[:12]} {path}"))
    return out


def from_pypa(repo: Path, packages: set[tuple[str, str]]) -> list[dict[str, Any]]:
    commit, _ = head(repo)
    out = []
    for eco, name in sorted(packages):
        if eco != "PyPI":
            continue
        for path in ls(repo, f"vulns/{name}"):
            rec = yaml.safe_load(git_bytes(repo, path))
            for key in ("modified", "published", "withdrawn"):
                if key in rec and not isinstance(rec[key], str):
                    rec[key] = rec[key].isoformat()
            if touches(rec, packages) and not rec.get("withdrawn"):
                out.append(with_source(slim(rec), f"pypa/advisory-database@{commit[:12]} {path}"))
    return out


def from_ghsa(directory: Path | None, packages: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """GHSA records copied from github/advisory-database; each file may carry `_source` (repo@commit path)."""
    if directory is None or not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("GHSA-*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        source = rec.pop("_source", f"github/advisory-database {path.name}")
        if touches(rec, packages) and not rec.get("withdrawn"):
            out.append(with_source(rec, source))
    return out


def _rule_ranges(rule: str, scheme: Scheme) -> list[dict[str, Any]] | None:
    """AI-Infra-Guard's `rule` (comparisons joined by && and ||) as OSV ranges; None when it cannot be expressed
    exactly (an exclusive lower bound other than 0, free text, or a version the scheme cannot order)."""
    if not rule or "#" in rule or re.search(r"unknown|latest|is_internal|version\s*!=", rule):
        return None
    if scheme is not Scheme.DATE and re.search(r"[\"']v?\d{4,}\.", rule):
        return None  # a date where a release number belongs (e.g. litellm "2026.04.08"): not a version of this product
    ranges: list[dict[str, Any]] = []
    versions: list[str] = []
    for disjunct in rule.split("||"):
        disjunct = disjunct.strip().strip("()").strip()
        lower: str | None = None
        upper: tuple[str, str] | None = None
        for conj in disjunct.split("&&"):
            m = CMP_RE.match(conj.strip().strip("()"))
            if m is None:
                return None
            op, ver = m.groups()
            if parse(scheme, ver, allow_zero=op in (">=", ">")) is None and ver not in ("0", "0.0.0"):
                return None
            if op in (">=",):
                lower = ver
            elif op == ">":
                if ver not in ("0", "0.0.0"):
                    return None
                lower = "0"
            elif op in ("<", "<="):
                upper = (op, ver)
            else:  # == / =
                versions.append(ver)
        if lower is None and upper is None:
            continue
        events: list[dict[str, str]] = [{"introduced": lower or "0"}]
        if upper is not None:
            events.append({"fixed" if upper[0] == "<" else "last_affected": upper[1]})
        ranges.append({"type": "ECOSYSTEM", "events": events})
    if versions and not ranges:
        return [{"type": "ECOSYSTEM", "events": [], "_versions": versions}]  # type: ignore[dict-item]
    if versions:
        return None
    return ranges or None


def _severity(cvss: str) -> list[dict[str, str]]:
    cvss = (cvss or "").strip()
    if cvss.startswith("CVSS:3"):
        return [{"type": "CVSS_V3", "score": cvss}]
    if cvss.startswith("CVSS:4"):
        return [{"type": "CVSS_V4", "score": cvss}]
    if cvss.startswith("AV:"):
        return [{"type": "CVSS_V2", "score": cvss}]
    return []


def from_aig(repo: Path, schemes: dict[tuple[str, str], Scheme]) -> tuple[list[dict[str, Any]], list[str]]:
    commit, when = head(repo)
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for folder, (eco, name) in AIG_DIRS.items():
        scheme = schemes[normalize_package(eco, name)]
        for path in ls(repo, f"data/vuln_en/{folder}"):
            if not path.endswith((".yaml", ".yml")):
                continue
            raw = git_bytes(repo, path)
            if re.search(r"placeholder|replace with (the )?actual|assum(e|ing)|hypothetical|not provided", raw, re.I):
                skipped.append(f"{path}: the compilation marks it as a guess (placeholder/assumed values)")
                continue
            doc = yaml.safe_load(raw)
            if not isinstance(doc, dict) or not isinstance(doc.get("info"), dict):
                continue
            info = doc["info"]
            cve = str(info.get("cve") or "").strip().upper()
            if not re.fullmatch(r"CVE-\d{4}-\d{4,}", cve):
                skipped.append(f"{path}: no CVE id")
                continue
            ranges = _rule_ranges(str(doc.get("rule") or ""), scheme)
            if ranges is None:
                skipped.append(f"{path}: rule {doc.get('rule')!r} cannot be expressed as an OSV range")
                continue
            refs = [str(r) for r in doc.get("references") or [] if isinstance(r, str)]
            all_refs = refs + [str(r) for r in info.get("references") or [] if isinstance(r, str)]
            own_ref = _attributed(folder, all_refs, f"{info.get('summary', '')} {info.get('details', '')}")
            aliases = sorted({m for r in refs for m in GHSA_RE.findall(r)})
            affected: dict[str, Any] = {"package": {"ecosystem": eco, "name": name}}
            if ranges and "_versions" in ranges[0]:
                affected["versions"] = ranges[0]["_versions"]
            else:
                affected["ranges"] = ranges
            specific: dict[str, Any] = {
                "source": f"Tencent/AI-Infra-Guard@{commit[:12]} {path}",
                "compiled": True,
                "note": "compiled from NVD/GHSA/vendor text by AI-Infra-Guard, not an OSV database record",
            }
            if info.get("severity"):
                specific["severity"] = str(info["severity"]).upper()
            if not own_ref:
                specific["_foreign"] = True
            out.append(
                {
                    "schema_version": "1.6.0",
                    "id": cve,
                    "modified": when,
                    "published": when,
                    "aliases": aliases,
                    "summary": str(info.get("summary") or "").strip(),
                    "details": str(info.get("details") or "").strip()[:2000],
                    "severity": _severity(str(info.get("cvss") or "")),
                    "affected": [affected],
                    "references": [{"type": "WEB", "url": r} for r in dict.fromkeys(all_refs)],
                    "database_specific": specific,
                }
            )
    return out, skipped


def _rated(severity: list[dict[str, str]]) -> bool:
    """A vector worth lending: not the all-none impact some compiled records carry in place of a score."""
    return any(not re.search(r"/C:N/I:N/A:N|/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", s.get("score", "")) for s in severity)


def merge(layers: Iterable[list[dict[str, Any]]], skipped: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Keep records in authority order; a compiled record is dropped when an earlier record has any of its ids, and
    its CVSS vector is then lent to that record if it has none. A compiled record that no OSV record confirms and
    whose references never point at the product is dropped (misfiled)."""
    kept: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    lent = 0
    for layer in layers:
        for rec in layer:
            ids = ids_of(rec)
            owner = next((by_id[i] for i in ids if i in by_id), None)
            compiled = bool(rec.get("database_specific", {}).get("compiled"))
            foreign = bool(rec.get("database_specific", {}).pop("_foreign", False))
            if owner is None and foreign:
                skipped.append(f"{rec['database_specific']['source']}: no reference to the product's repository/vendor")
                continue
            if owner is not None and compiled:
                if not owner.get("severity") and _rated(rec.get("severity") or []):
                    owner["severity"] = rec["severity"]
                    owner["database_specific"]["severity_source"] = rec["database_specific"]["source"]
                    lent += 1
                if not owner["database_specific"].get("severity") and rec["database_specific"].get("severity"):
                    owner["database_specific"]["severity"] = rec["database_specific"]["severity"]
                    owner["database_specific"].setdefault("severity_source", rec["database_specific"]["source"])
                continue
            if owner is not None and owner["id"] == rec["id"]:
                continue
            kept.append(rec)
            for i in ids:
                by_id.setdefault(i, rec)
    return kept, lent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vulndb", type=Path, required=True)
    ap.add_argument("--pypa", type=Path, required=True)
    ap.add_argument("--aig", type=Path, required=True)
    ap.add_argument("--kev", type=Path, required=True)
    ap.add_argument("--ghsa", type=Path, default=None, help="directory of GHSA-*.json records")
    ap.add_argument("--out", type=Path, default=ROOT / "src/aisweep/advisories/data")
    args = ap.parse_args()

    products = load_products(args.out / "products.json")
    schemes = {normalize_package(p.ecosystem, p.name): p.scheme for s in products.values() for p in s.packages}
    packages = set(schemes)

    go = from_vulndb(args.vulndb, packages)
    ghsa = from_ghsa(args.ghsa, packages)
    pypa = from_pypa(args.pypa, packages)
    aig, skipped = from_aig(args.aig, schemes)
    records, lent = merge([go, ghsa, pypa, aig], skipped)
    records.sort(key=lambda r: r["id"])

    sources = []
    for name, repo in (
        ("golang/vulndb", args.vulndb),
        ("pypa/advisory-database", args.pypa),
        ("Tencent/AI-Infra-Guard", args.aig),
        ("cisagov/kev-data", args.kev),
    ):
        commit, when = head(repo)
        sources.append({"name": name, "commit": commit, "date": when})
    if ghsa:
        sources.insert(1, {"name": "github/advisory-database", "records": len(ghsa), "note": "selected records"})
    newest = max(s["date"] for s in sources if "date" in s and s["name"] != "cisagov/kev-data")
    meta = {
        "generated": newest[:10],
        "built": datetime.now(UTC).strftime("%Y-%m-%d"),
        "kind": "shipped",
        "generator": "scripts/build_advisories.py",
        "sources": sources,
        "counts": {
            "golang/vulndb": len(go),
            "github/advisory-database": len(ghsa),
            "pypa/advisory-database": len(pypa),
            "compiled (AI-Infra-Guard)": sum(1 for r in records if r["database_specific"].get("compiled")),
            "cvss lent by AI-Infra-Guard": lent,
        },
        "skipped_compiled": skipped,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "advisories.json").write_text(
        json.dumps({"meta": meta, "advisories": records}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    kev_commit, _ = head(args.kev)
    catalog = json.loads(git_bytes(args.kev, "known_exploited_vulnerabilities.json"))
    all_ids = set().union(*(ids_of(r) for r in records))
    kev_entries = [v for v in catalog["vulnerabilities"] if v["cveID"].upper() in all_ids]
    kev_doc = {
        "meta": {
            "source": f"cisagov/kev-data@{kev_commit[:12]} known_exploited_vulnerabilities.json",
            "catalogVersion": catalog.get("catalogVersion"),
            "dateReleased": catalog.get("dateReleased"),
            "note": "subset: entries whose CVE is an alias of an advisory in advisories.json",
        },
        "vulnerabilities": kev_entries,
    }
    (args.out / "kev.json").write_text(json.dumps(kev_doc, indent=1) + "\n", encoding="utf-8")
    print(f"{len(records)} records ({meta['counts']}), {len(kev_entries)} KEV entries, {len(skipped)} compiled skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
