"""CPU cost of identifying and assessing one service, without a network: every rule sample is replayed through the
request planner's rounds and `conclude` (checks included), as the engine does for a live target.

    python benchmarks/assess_cpu.py                 # prints µs per service and requests per service
    python benchmarks/assess_cpu.py --golden F      # also compares each sample's record with F (--write-golden F)

The golden file pins what optimisations must not change: each sample's product, version, auth tier, surfaces,
findings (ids and evidence) and credentials.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aisweep.models import Level  # noqa: E402
from aisweep.rules.loader import load_rules  # noqa: E402
from aisweep.rules.plan import RuleSet  # noqa: E402
from aisweep.rules.samples import Sample, load_samples, run_sample, sample_port  # noqa: E402


def replay_one(sample: Sample, ruleset: RuleSet, port: int) -> tuple[dict[str, Any] | None, int]:
    service, observations = run_sample(sample, ruleset, port)
    if service is None:
        return None, len(observations)
    record = service.to_record()
    summary = {
        "product": record["product"],
        "version": record.get("version"),
        "auth": record["auth"],
        "surfaces": record.get("surfaces"),
        "findings": sorted((f["id"], f["evidence"]) for f in record.get("findings", [])),
        "credentials": record.get("credentials"),
        "honeypot": record.get("honeypot"),
    }
    return json.loads(json.dumps(summary, default=str)), len(observations)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--golden", type=Path)
    ap.add_argument("--write-golden", type=Path)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rules = load_rules()
    ruleset = RuleSet(rules, Level.SAFE)
    samples = load_samples()
    ports = [sample_port(s, rules) for s in samples]
    records: dict[str, Any] = {}
    requests = 0
    prof = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if prof:
        prof.enable()
    for _ in range(args.repeat):
        for sample, port in zip(samples, ports, strict=True):
            record, sent = replay_one(sample, ruleset, port)
            records[f"{Path(sample.path).parent.name}/{Path(sample.path).name}"] = record
            requests += sent
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - start
    n = len(samples) * args.repeat
    per = elapsed / n * 1e6
    print(f"{len(samples)} samples x {args.repeat}: {per:.0f} µs per service, {requests / n:.1f} requests")
    if prof:
        pstats.Stats(prof).sort_stats("cumtime").print_stats(40)
    if args.write_golden:
        args.write_golden.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    if args.golden:
        golden = json.loads(args.golden.read_text())
        diff = [k for k in sorted(set(golden) | set(records)) if golden.get(k) != records.get(k)]
        for k in diff[:20]:
            print(f"DIFFERS {k}:\n  golden {golden.get(k)}\n  now    {records.get(k)}")
        print(f"{len(diff)} of {len(records)} samples differ from the golden file")
        sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
