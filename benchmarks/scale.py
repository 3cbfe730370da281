"""Scale benchmark: aisweep against N emulated services, next to the physical limit (wrk) on the same emulator.

    python benchmarks/scale.py --services 100000          # one command; prints figures, writes JSON

It re-runs itself inside a new network namespace (`unshare -n`, loopback only: needs root or user namespaces), starts
`aisweep lab serve --services N` there (one 0.0.0.0 socket per port answering for all of 127.16.0.0 and up), measures
wrk's new-connection request rate against it, then scans every emulated service with `aisweep scan --from list` and
computes throughput, peak RSS of the whole scanner process tree, and accuracy against the ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aisweep.lab.scale import Mix, ScaleNetwork, ScaleService, only_loopback_here  # noqa: E402


def in_namespace_or_reexec() -> None:
    if only_loopback_here():
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.environ.get("AISWEEP_BENCH_NS"):
        sys.exit("could not create a loopback-only network namespace")
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("unshare (util-linux) is required to create the benchmark's network namespace")
    env = {**os.environ, "AISWEEP_BENCH_NS": "1"}
    os.execve(unshare, [unshare, "-n", "--", sys.executable, *sys.argv], env)


def tree_rss_kb(pid: int) -> tuple[int, int]:
    """Resident memory (KiB) of a process and all its descendants, and of the process alone, from /proc."""
    total = own = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        own = own or int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return total, own


def wait_ready(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return
        if proc.poll() is not None:
            sys.exit(f"the lab exited with {proc.returncode}")
        time.sleep(0.2)
    sys.exit("the lab did not start")


def wrk_rate(network: ScaleNetwork, seconds: int, runs: int) -> dict[str, Any] | None:
    """wrk's request rate against one emulated service, new connection per request and keep-alive: `runs` runs of
    each (the figure moves by ±20% between runs on a shared machine), with their median."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    svc = next(s for s in network if s.behaviour == "normal")
    path = next(iter(svc.sample.exchanges))[1] if svc.sample.exchanges else "/"
    url = f"http://{svc.address}:{svc.port}{path}"
    out: dict[str, Any] = {}
    for label, extra in (("new_connection", ["-H", "Connection: close"]), ("keep_alive", [])):
        rates = []
        for _ in range(runs):
            res = subprocess.run(
                [wrk, "-t2", "-c256", f"-d{seconds}s", *extra, url], capture_output=True, text=True, check=False
            )
            m = re.search(r"Requests/sec:\s+([\d.]+)", res.stdout)
            rates.append(float(m.group(1)) if m else 0.0)
        out[label] = statistics.median(rates)
        out[f"{label}_runs"] = rates
    return out


def targets_done(db: Path) -> int:
    """Targets finished so far, from the run's counters (the scan commits them with each batch)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT counters FROM runs").fetchone()
    except sqlite3.Error:
        return 0
    return int(json.loads(row[0]).get("targets_done", 0)) if row else 0


def accuracy(network: ScaleNetwork, db: Path) -> dict[str, object]:
    found: dict[tuple[str, int], dict[str, object]] = {}
    with sqlite3.connect(db) as conn:  # columns, not the JSON records: a million records would not fit in memory
        for host, port, product, version, tier in conn.execute(
            "SELECT host, port, product, version, auth_tier FROM services"
        ):
            found[(host, port)] = {"product": product, "version": version, "auth": {"tier": tier}}
    tp = fp = fn = 0
    version_ok = version_total = auth_ok = auth_total = 0
    by_behaviour: Counter[str] = Counter()
    wrong: list[dict[str, object]] = []  # the first few errors, to say which samples and behaviours they were

    def note(svc: ScaleService, want: object, got: object) -> None:
        if len(wrong) < 20:
            sample = str(svc.sample.path).split("samples/")[-1]
            wrong.append(
                {
                    "address": f"{svc.address}:{svc.port}",
                    "sample": sample,
                    "behaviour": svc.behaviour,
                    "want": want,
                    "got": got,
                }
            )

    for svc in network:
        want = svc.sample.expect.get("product") if svc.behaviour in ("normal", "slow") else None
        got = found.pop((svc.address, svc.port), None)
        by_behaviour[svc.behaviour] += 1
        if want is None:
            banned = svc.sample.expect.get("not_product")  # a look-alike is only wrong as what it imitates
            if got is not None and svc.behaviour in ("normal", "slow") and (banned is None or got["product"] == banned):
                fp += 1
                note(svc, None, got["product"])
            continue
        if got is None:
            fn += 1
            note(svc, want, None)
            continue
        if got["product"] == want:
            tp += 1
            if "version" in svc.sample.expect:
                version_total += 1
                version_ok += got["version"] == str(svc.sample.expect["version"])
            if "auth" in svc.sample.expect:
                auth_total += 1
                auth_ok += got["auth"]["tier"] == svc.sample.expect["auth"]  # type: ignore[index]
        else:
            fp += 1
            fn += 1
            note(svc, want, got["product"])
    fp += len(found)
    return {
        "product_precision": tp / (tp + fp) if tp + fp else 1.0,
        "product_recall": tp / (tp + fn) if tp + fn else 1.0,
        "version_accuracy": version_ok / version_total if version_total else 1.0,
        "auth_accuracy": auth_ok / auth_total if auth_total else 1.0,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "behaviours": dict(by_behaviour),
        "errors": wrong,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hostile", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=2048)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--wrk-runs", type=int, default=3, help="wrk runs per mode (the median is used)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--lab-processes", type=int, default=2, help="emulator processes sharing each port")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    in_namespace_or_reexec()

    part = args.hostile / 5
    mix = Mix(slow=part, tarpit=part, oversized=part, dead=2 * part)
    network = ScaleNetwork(args.services, args.seed, mix)
    work = Path(tempfile.mkdtemp(prefix="aisweep-bench-"))
    ready, targets, db = work / "ready", work / "targets.txt", work / "bench.db"
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aisweep",
            "lab",
            "serve",
            "--services",
            str(args.services),
            "--seed",
            str(args.seed),
            "--hostile",
            str(args.hostile),
            "--ready-file",
            str(ready),
            "--targets-file",
            str(targets),
            "--processes",
            str(args.lab_processes),
        ],
        cwd=work,
    )
    try:
        wait_ready(ready, lab)
        physical = wrk_rate(network, args.wrk_seconds, args.wrk_runs)
        cmd = [
            sys.executable,
            "-m",
            "aisweep",
            "scan",
            "--from",
            "list",
            str(targets),
            "--db",
            str(db),
            "-q",
            "--timeout",
            str(args.timeout),
            "--concurrency",
            str(args.concurrency),
            "--seed",
            "1",
        ]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        start = time.monotonic()
        scan = subprocess.Popen(cmd, cwd=work)
        peak = peak_parent = 0
        at_99: float | None = None  # when 99% of the targets were done: the rest is the slow hosts' tail
        polled = 0.0
        while scan.poll() is None:
            total, own = tree_rss_kb(scan.pid)
            peak, peak_parent = max(peak, total), max(peak_parent, own)
            if at_99 is None and time.monotonic() - polled >= 2:
                polled = time.monotonic()
                if targets_done(db) >= 0.99 * args.services:
                    at_99 = polled - start
            time.sleep(0.5)
        elapsed = time.monotonic() - start
        if scan.returncode != 0:
            sys.exit(f"the scan failed with exit code {scan.returncode}")
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        counters = json.loads(conn.execute("SELECT counters FROM runs").fetchone()[0])
    requests = counters.get("requests", 0)
    result = {
        "services": args.services,
        "hostile_share": args.hostile,
        "elapsed_s": round(elapsed, 1),
        "services_per_s": round(args.services / elapsed, 1),
        "elapsed_to_99_percent_s": round(at_99, 1) if at_99 is not None else None,
        "services_per_s_to_99_percent": round(0.99 * args.services / at_99, 1) if at_99 else None,
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "peak_rss_parent_mb": round(peak_parent / 1024, 1),
        "wrk_requests_per_s": physical,
        "ratio_to_wrk_new_connection": round(requests / elapsed / physical["new_connection"], 3)
        if physical and physical.get("new_connection")
        else None,
        "outcomes": counters.get("outcomes"),
        "accuracy": accuracy(network, db),
        "cpu_count": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scale-{args.services}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
