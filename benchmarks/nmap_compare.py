"""nmap -sV next to aisweep on the same emulated services: wall time and product identification against the truth.

    python benchmarks/nmap_compare.py                     # one command; prints a table, writes JSON

Like scale.py it re-runs itself in a loopback-only network namespace (`unshare -n`) and starts `aisweep lab serve`
there, so every packet of both tools goes to 127.16.x.x inside that namespace. aisweep scans the lab's target list
once; nmap gets one `nmap -sV -Pn -n -T4 -p PORT -iL hosts` per distinct port (nmap takes one port list for all
hosts), run --nmap-jobs at a time (default 2: at 2,000 services 687 s against 1,367 s one at a time; nmap -sV mostly
waits on probe timeouts, so two at once hardly contend for the 2 cores). nmap "identifies" a service when its
name/product/version/extrainfo mentions the true product (word match on the product name or one of the few aliases
below); its raw fingerprints (servicefp) are not counted. --services N scans a prefix: service i is the same for any N.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import ROOT, accuracy, in_namespace_or_reexec, wait_ready

from aisweep.lab.scale import Mix, ScaleNetwork

NMAP = "/usr/bin/nmap"
# Other names nmap (or the product itself) might use; every product also matches its own name.
ALIASES: dict[str, tuple[str, ...]] = {
    "jupyter": ("ipython",),
    "llamacpp": ("llama.cpp", "llama-server"),
    "tgi": ("text-generation-inference", "text generation inference"),
    "open-webui": ("open webui",),
    "automatic1111": ("stable diffusion",),
    "triton": ("triton inference server",),
    "ray": ("ray dashboard",),
    "lm-studio": ("lm studio",),
}
Found = dict[tuple[str, int], dict[str, str]]


def names_product(text: str, product: str) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text, re.I) for a in (product, *ALIASES.get(product, ())))


def run_nmap(targets: Path, work: Path, jobs: int) -> tuple[float, list[list[str]], Found]:
    by_port: dict[int, list[str]] = defaultdict(list)
    for line in targets.read_text().split():
        host, port = line.rsplit(":", 1)
        by_port[int(port)].append(host)
    commands = []
    for number, hosts in sorted(by_port.items(), key=lambda kv: -len(kv[1])):  # biggest first: best packing
        (work / f"hosts_{number}.txt").write_text("\n".join(hosts) + "\n")
        inp, out = str(work / f"hosts_{number}.txt"), str(work / f"out_{number}.xml")
        commands.append([NMAP, "-sV", "-Pn", "-n", "-T4", "-p", str(number), "-iL", inp, "-oX", out])

    def one(cmd: list[str]) -> None:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)

    start = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, commands))
    elapsed = time.monotonic() - start
    found: Found = {}
    for number in by_port:
        for node in ET.parse(work / f"out_{number}.xml").getroot().iter("host"):
            addr = node.find("address[@addrtype='ipv4']")
            for p in node.iter("port"):
                state, svc = p.find("state"), p.find("service")
                if addr is None or state is None:
                    continue
                info = {"state": state.get("state", "")}
                if svc is not None:
                    info |= {k: svc.get(k, "") for k in ("name", "product", "version", "extrainfo", "method")}
                found[(addr.get("addr", ""), int(p.get("portid", "0")))] = info
    return elapsed, commands, found


@dataclass
class NmapScore:
    expected: int  # services with a product to find
    identified: int
    open: int
    reported_as_http: int  # method="probed"; on ports nmap-services calls HTTP its http-server-header script counts
    named_from_port_table_only: int
    top_reports: dict[str, int]
    identified_as: dict[str, int]  # "truth <- what nmap said" for the hits


def score_nmap(network: ScaleNetwork, found: Found) -> NmapScore:
    """Per service, against the same truth accuracy() uses (a product is expected of normal and slow services)."""
    expected = identified = http_probed = port_table = open_ports = 0
    seen: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for svc in network:
        got = found.get((svc.address, svc.port), {})
        open_ports += got.get("state") == "open"
        probed = got.get("method") == "probed"
        http_probed += probed and "http" in got.get("name", "")
        port_table += got.get("method") == "table"
        label = got.get("name", "-") + (f" [{got['product']}]" if got.get("product") else "")
        seen[label + ("" if probed or label == "-" else " (port table)")] += 1
        want = svc.sample.expect.get("product") if svc.behaviour in ("normal", "slow") else None
        if want is None:
            continue
        expected += 1
        text = " ".join(got.get(k, "") for k in ("name", "product", "version", "extrainfo"))
        if names_product(text, str(want)):
            identified += 1
            hits[f"{want} <- {label}"] += 1
    return NmapScore(expected, identified, open_ports, http_probed, port_table, dict(seen.most_common(10)), dict(hits))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hostile", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--nmap-jobs", type=int, default=2, help="nmap processes at once (one per port group)")
    ap.add_argument("--lab-processes", type=int, default=2, help="emulator processes sharing each port")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    if not Path(NMAP).exists():
        sys.exit(f"{NMAP} not found: install it with `apt-get install nmap` (Debian/Ubuntu)")
    in_namespace_or_reexec()

    part = args.hostile / 5
    network = ScaleNetwork(args.services, args.seed, Mix(slow=part, tarpit=part, oversized=part, dead=2 * part))
    work = Path(tempfile.mkdtemp(prefix="aisweep-nmap-"))
    ready, targets, db = work / "ready", work / "targets.txt", work / "bench.db"
    lab_cmd = [sys.executable, "-m", "aisweep", "lab", "serve", "--services", str(args.services)]
    lab_cmd += ["--seed", str(args.seed), "--hostile", str(args.hostile), "--ready-file", str(ready)]
    lab_cmd += ["--targets-file", str(targets), "--processes", str(args.lab_processes)]
    lab = subprocess.Popen(lab_cmd, cwd=work)
    try:
        wait_ready(ready, lab)
        scan = [sys.executable, "-m", "aisweep", "scan", "--from", "list", str(targets), "--db", str(db), "-q"]
        scan += ["--timeout", str(args.timeout), "--seed", "1"]
        start = time.monotonic()
        subprocess.run(scan, cwd=work, check=True)
        ai_elapsed = time.monotonic() - start
        load_ai = os.getloadavg()
        nm_elapsed, commands, found = run_nmap(targets, work, args.nmap_jobs)
        load_nm = os.getloadavg()
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    acc = accuracy(network, db)
    nm = score_nmap(network, found)
    expected, tp = nm.expected, cast(int, acc["true_positives"])

    def share(n: int) -> float:
        return round(n / expected, 4) if expected else 0.0

    tools = {
        "aisweep": {
            "wall_s": round(ai_elapsed, 1),
            "services_per_s": round(args.services / ai_elapsed, 1),
            "product_identified": tp,
            "product_identified_share": share(tp),
            "versions_correct_share": round(cast(float, acc["version_accuracy"]), 4),
            "command": " ".join(scan),
            "load_avg_after": [round(x, 2) for x in load_ai],
            "accuracy": acc,
        },
        "nmap": {
            "wall_s": round(nm_elapsed, 1),
            "services_per_s": round(args.services / nm_elapsed, 1),
            "product_identified": nm.identified,
            "product_identified_share": share(nm.identified),
            "versions_correct_share": None,
            "parallel_jobs": args.nmap_jobs,
            "load_avg_after": [round(x, 2) for x in load_nm],
            "details": asdict(nm),
            "commands": [" ".join(c) for c in commands],
        },
    }
    version = subprocess.run([NMAP, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    result = {
        "services": args.services,
        "seed": args.seed,
        "hostile_share": args.hostile,
        "services_with_expected_product": expected,
        "nmap_version": version,
        "aliases": ALIASES,
        "cpu_count": os.cpu_count(),
        "tools": tools,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"nmap-compare-{args.services}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.services} services, {expected} with a product to find (seed {args.seed}, hostile {args.hostile})")
    print(f"{'tool':<8} {'wall s':>8} {'svc/s':>7} {'identified':>11} {'share':>7} {'versions ok':>12}")
    for name, t in tools.items():
        v = t["versions_correct_share"]
        print(
            f"{name:<8} {t['wall_s']:>8} {t['services_per_s']:>7} {t['product_identified']:>11} "
            f"{t['product_identified_share']:>7.1%} {'-' if v is None else f'{v:.1%}':>12}"
        )
    print(f"nmap: {nm.open} open, {nm.reported_as_http} reported as an HTTP service (method=probed),")
    print(f"{nm.named_from_port_table_only} named only from the port table; most common: {json.dumps(nm.top_reports)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
