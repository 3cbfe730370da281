"""The real-service matrix: every spec of services.py installed, started on 127.0.0.1, scanned and checked.

    python tests/realsvc/matrix.py                    # all specs (about an hour once the venvs exist)
    python tests/realsvc/matrix.py --only ray-2.6.3 dask

1. Prepares the venvs of the selected specs (outside any namespace: PyPI is needed), three at a time.
2. Runs each spec in its own namespaces, `unshare --net --pid --fork --mount-proc`, with loopback up and nothing
   else: the service, its seed (data so surface counts are non-zero) and the scan
   (`python -m aisweep scan 127.0.0.1:PORT -f jsonl --timeout 10`) all run inside. Nothing the service binds is
   reachable from outside, whatever address it picks, and when the run ends the kernel ends every process left in
   the PID namespace. Any listener on a non-loopback address is reported; a spec without `needs_netns` fails on it.
   `--no-netns` runs the specs without `needs_netns` directly on this host's 127.0.0.1 instead and skips the others.
3. Compares product, version, auth tier and variant with the spec (services.check_record), prints a table, writes
   .cache/realsvc/matrix.json (a run with --only replaces just those rows) and regenerates docs/coverage.md: the
   product table of `aisweep rules coverage` and the matrix.

Needs root (for unshare). Stdlib plus the project venv's aisweep (run it with .venv/bin/python).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from services import (
    DEFAULT_PORTS,
    SPECS,
    ServiceError,
    ServiceSpec,
    cache_dir_default,
    check_record,
    ensure_venv,
    find_python,
    loopback_only_netns,
    running,
    venv_info,
    venv_path,
    wildcard_listeners,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/coverage.md"
SCAN_TIMEOUT = 300.0
RUN_SLACK = 600.0  # on top of a spec's ready timeout, for seed, scan and stop


# --------------------------------------------------------------------------------------------------------------------
# Inside the namespace: one spec


def scan(port: int, workdir: Path) -> dict[str, Any] | None:
    """`aisweep scan 127.0.0.1:PORT -f jsonl --timeout 10`: the one record (None if nothing was identified)."""
    out = workdir / "scan.jsonl"
    argv = [sys.executable, "-m", "aisweep", "scan", f"127.0.0.1:{port}", "-f", "jsonl", "--timeout", "10"]
    argv += ["-o", str(out), "--db", str(workdir / "scan.db"), "-q"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    res = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SCAN_TIMEOUT)
    if res.returncode not in (0, 1):  # 1: --fail-on (not used) or findings, depending on the CLI
        raise ServiceError(f"scan failed ({res.returncode}): {res.stderr[-2000:]}")
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    return records[0] if records else None


def run_one(name: str, result_path: Path, in_netns: bool) -> None:
    result: dict[str, Any] = {"netns": in_netns}
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"aisweep-{name}-"))
    try:
        # In the namespace the product's well-known port is free: scan it there, as it is found in the wild.
        port = DEFAULT_PORTS.get(SPECS[name].product) if in_netns else None
        with running(name, workdir, port=port) as svc:
            result["port"] = svc.port
            result["ready_seconds"] = round(time.monotonic() - started, 1)
            if in_netns:
                result["listeners"] = wildcard_listeners()
            record = scan(svc.port, workdir)
            result["alive_after_scan"] = svc.alive()
        result["record"] = record
    except (ServiceError, subprocess.TimeoutExpired, OSError) as err:
        result["error"] = str(err)[-3000:]
    finally:
        result["seconds"] = round(time.monotonic() - started, 1)
        result_path.write_text(json.dumps(result, indent=1) + "\n")
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------------------
# Outside: prepare, run each spec in its namespace, compare, report


def netns_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", "ip link set lo up"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


def pinned_versions(spec: ServiceSpec) -> dict[str, str]:
    """Installed versions of the spec's main package and of everything it pins with ==."""
    try:
        freeze = venv_info(venv_path(spec)).get("freeze", [])
    except (OSError, ValueError):
        return {}
    installed = {}
    for line in freeze if isinstance(freeze, list) else []:
        dist, _, version = str(line).partition("==")
        installed[norm(dist)] = version
    wanted = []
    for i, req in enumerate(spec.pre_packages + spec.packages):
        if i == len(spec.pre_packages) or "==" in req:
            wanted.append(norm(re.split(r"[\[<>=!~;]", req, maxsplit=1)[0]))
    return {dist: installed[dist] for dist in dict.fromkeys(wanted) if dist in installed}


def norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower().strip()


def prepare(specs: list[ServiceSpec], jobs: int) -> dict[str, str]:
    """Build the venvs (each once); returns spec name -> error for those that could not be built."""
    errors: dict[str, str] = {}
    by_venv: dict[Path, list[ServiceSpec]] = {}
    for spec in specs:
        if spec.unavailable or find_python(spec.python) is None:
            continue
        by_venv.setdefault(venv_path(spec), []).append(spec)

    def build(group: list[ServiceSpec]) -> None:
        t0 = time.monotonic()
        try:
            ensure_venv(group[0])
        except ServiceError as err:
            for spec in group:
                errors[spec.name] = f"venv: {str(err)[-1500:]}"
            print(f"  venv for {', '.join(s.name for s in group)}: FAILED", flush=True)
        else:
            print(f"  venv for {', '.join(s.name for s in group)}: ready ({time.monotonic() - t0:.0f} s)", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(build, by_venv.values()))
    return errors


def run_spec(spec: ServiceSpec, use_netns: bool, logdir: Path) -> dict[str, Any]:
    """Run one spec in a child process (inside fresh namespaces unless use_netns is False)."""
    result_path = logdir / f"{spec.name}.result.json"
    result_path.unlink(missing_ok=True)
    inner = [sys.executable, str(Path(__file__).resolve()), "--run-one", spec.name, "--result", str(result_path)]
    if use_netns:
        argv = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child", "--"]
        argv += ["/bin/sh", "-c", 'ip link set lo up && exec "$@"', "sh", *inner, "--in-netns"]
    else:
        argv = inner
    timeout = spec.ready_timeout + RUN_SLACK
    with open(logdir / f"{spec.name}.log", "wb") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"error": f"no result within {timeout:.0f} s (killed)"}
    if not result_path.exists():
        return {"error": f"the run exited with {proc.returncode} and wrote no result (log: {logdir / spec.name}.log)"}
    data: dict[str, Any] = json.loads(result_path.read_text())
    return data


def evaluate(spec: ServiceSpec, raw: dict[str, Any], when: str) -> dict[str, Any]:
    record = raw.get("record")
    row: dict[str, Any] = {
        "spec": spec.name,
        "product": spec.product,
        "state": spec.state,
        "software": spec.software,
        "packages": list(spec.pre_packages + spec.packages),
        "python": spec.python or f"{sys.version_info.major}.{sys.version_info.minor}",
        "versions": pinned_versions(spec),
        "needs_netns": spec.needs_netns,
        "netns": raw.get("netns", False),
        "expected": {
            "product": spec.product,
            "version": spec.expect_version,
            "tier": spec.expect_auth,
            "variant": spec.expect_variant,
        },
        "date": when,
        "seconds": raw.get("seconds"),
    }
    if raw.get("skipped"):
        row |= {"result": "skipped", "problems": [raw["skipped"]]}
        return row
    if record is not None:
        findings = record.get("findings") or []
        row["found"] = {
            "product": record.get("product"),
            "version": record.get("version"),
            "version_confidence": record.get("version_confidence"),
            "version_source": record.get("version_source"),
            "tier": (record.get("auth") or {}).get("tier"),
            "variant": record.get("variant"),
            "surfaces": record.get("surfaces") or {},
            "auth_evidence": (record.get("auth") or {}).get("evidence"),
            "evidence": record.get("evidence"),
            "findings": sorted({f"{f['id']} ({f['severity']})" for f in findings}),
        }
    if "error" in raw:
        row |= {"result": "error", "problems": [raw["error"]]}
        return row
    problems = check_record(spec, record)
    listeners = raw.get("listeners") or []
    row["listeners"] = listeners
    if listeners and not spec.needs_netns:
        problems.append(f"listens on non-loopback addresses {listeners}: the spec must set needs_netns")
    if raw.get("alive_after_scan") is False:
        problems.append("the service exited during the scan")
    row |= {"result": "fail" if problems else "pass", "problems": problems}
    return row


# --------------------------------------------------------------------------------------------------------------------
# Output


def _fmt(product: str | None, version: str | None, tier: str | None, variant: str | None = None) -> str:
    text = f"{product or '-'} {version or '(no version)'} · {tier or '-'}"
    return text + (f" · {variant}" if variant else "")


def _versions(row: dict[str, Any]) -> str:
    parts = [f"{dist} {ver}" for dist, ver in (row.get("versions") or {}).items()]
    if row.get("python") and row["python"] != f"{sys.version_info.major}.{sys.version_info.minor}":
        parts.append(f"Python {row['python']}")
    return ", ".join(parts) or " ".join(row.get("packages") or [])


def matrix_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| spec | packages | state | expected: product version · tier (· variant) | found | surfaces | result | date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        exp = row["expected"]
        found = row.get("found")
        found_text = "-"
        if found:
            version = found["version"]
            if version and found.get("version_confidence") != "exact":
                version += f" ({found.get('version_confidence')})"
            found_text = _fmt(found["product"], version, found["tier"], found["variant"] if exp["variant"] else None)
        surfaces = ", ".join(f"{k} {v}" for k, v in sorted((found or {}).get("surfaces", {}).items())) or "-"
        result = row["result"]
        if row.get("problems"):
            why = "; ".join(row["problems"]).replace("|", "/").replace("\n", " ")
            result += ": " + (why[:200] + "…" if len(why) > 200 else why)
        netns = " (netns only)" if row.get("needs_netns") else ""
        lines.append(
            f"| `{row['spec']}`{netns} | {_versions(row)} | {row['state'] or '-'} "
            f"| {_fmt(exp['product'], exp['version'], exp['tier'], exp['variant'])} | {found_text} | {surfaces} "
            f"| {result} | {row['date']} |"
        )
    return "\n".join(lines)


def render_doc(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    from aisweep.rules.coverage import coverage_rows, render_markdown

    counts = {k: sum(1 for r in rows if r["result"] == k) for k in ("pass", "fail", "error", "skipped")}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    return f"""# Coverage

What aisweep identifies, how each rule is proved, and which real releases it was checked against. This file is
generated by `python tests/realsvc/matrix.py` (do not edit it by hand); the product table alone is also
`aisweep rules coverage --markdown`.

## Products

Per rule: whether it reads a version, the auth tiers and data surfaces it can report, and its samples (recorded from
the real software on 127.0.0.1, or reconstructed from the product's source code; see [samples.md](samples.md)).
Look-alikes are samples of other software that must not be identified as the product.

{render_markdown(coverage_rows())}

## Real services

Each spec in `tests/realsvc/services.py` is installed from PyPI into its own venv, started on 127.0.0.1 in the state
shown (auth on or off, old or current release), given some data where that makes surface counts non-zero, and scanned
with `python -m aisweep scan 127.0.0.1:PORT -f jsonl --timeout 10`; the scan must report the expected product,
version, auth tier and, where given, variant. `(no version)` means the product does not reveal its version in that
state: the scan must report none, or the right one marked as inferred (from static asset hashes). Every spec runs in
its own network namespace holding only loopback, with the scan inside it, on the product's well-known port (as
services are found in the wild); "netns only" marks products that bind extra ports on all interfaces whatever they
are told, which must never run outside such a namespace.

Run it with one command (as root; PyPI must be reachable while it builds the venvs; the last full run took
{meta.get("minutes", "?")} minutes):

```
.venv/bin/python tests/realsvc/matrix.py            # or --only NAME... to rerun some specs
```

The light specs also run in CI as `tests/integration/test_realsvc.py` (Jupyter Server with and without a token,
MLflow, Gradio with and without auth); `AISWEEP_REALSVC=all` runs every spec that needs no namespace there.

Last run: {meta.get("date", "?")}, {len(rows)} specs: {summary}.

{matrix_table(rows)}
"""


def print_table(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        exp, found = row["expected"], row.get("found") or {}
        print(
            f"{row['result']:7} {row['spec']:30} expected {_fmt(exp['product'], exp['version'], exp['tier']):45} "
            f"found {_fmt(found.get('product'), found.get('version'), found.get('tier'), found.get('variant'))}"
        )
        for problem in row.get("problems") or []:
            print(f"        - {problem.splitlines()[0][:300] if problem else ''}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=sorted(SPECS), metavar="NAME", help="run just these specs")
    ap.add_argument("--skip-prepare", action="store_true", help="do not build missing venvs (their specs error)")
    ap.add_argument("--no-netns", action="store_true", help="run on the host's 127.0.0.1; skip needs_netns specs")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/coverage.md")
    ap.add_argument("--jobs", type=int, default=3, help="venvs built at once (default 3)")
    ap.add_argument("--run-one", metavar="NAME", help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.run_one:
        if args.in_netns and not loopback_only_netns():
            sys.exit("--in-netns given, but this network namespace has more than loopback")
        run_one(args.run_one, args.result, args.in_netns)
        return 0

    t0 = time.monotonic()
    names = args.only or list(SPECS)
    specs = [SPECS[n] for n in names]
    use_netns = not args.no_netns
    if use_netns and not netns_available():
        sys.exit("cannot create a loopback-only network namespace (needs root, unshare and ip); see --no-netns")
    cache = cache_dir_default()
    logdir = cache / "matrix-logs"
    logdir.mkdir(parents=True, exist_ok=True)

    print(f"preparing venvs for {len(specs)} specs", flush=True)
    venv_errors = {} if args.skip_prepare else prepare(specs, args.jobs)

    when = dt.datetime.now(dt.UTC).date().isoformat()
    rows = []
    for spec in specs:
        if spec.unavailable or find_python(spec.python) is None:
            why = spec.unavailable or f"Python {spec.python} is not installed here"
            raw: dict[str, Any] = {"skipped": f"not runnable here: {why}"}
        elif spec.needs_netns and not use_netns:
            raw = {"skipped": "needs a loopback-only network namespace (run without --no-netns)"}
        elif spec.name in venv_errors:
            raw = {"error": venv_errors[spec.name]}
        else:
            print(f"running {spec.name} ...", flush=True)
            raw = run_spec(spec, use_netns, logdir)
        row = evaluate(spec, raw, when)
        rows.append(row)
        print_table([row])

    minutes = round((time.monotonic() - t0) / 60)
    out = cache / "matrix.json"
    previous: dict[str, Any] = json.loads(out.read_text()) if out.exists() and args.only else {}
    merged = {r["spec"]: r for r in previous.get("rows", [])}
    merged.update({r["spec"]: r for r in rows})
    ordered = [merged[n] for n in SPECS if n in merged]
    meta = previous.get("meta", {}) if args.only else {}
    meta |= {"date": when, "netns": use_netns}
    if not args.only:
        meta["minutes"] = minutes
    out.write_text(json.dumps({"meta": meta, "rows": ordered}, indent=1) + "\n")
    print(f"\n{len(rows)} specs in {minutes} min; results in {out}")
    print_table(ordered)
    if not args.no_docs:
        DOC.write_text(render_doc(ordered, meta))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if all(r["result"] in ("pass", "skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
