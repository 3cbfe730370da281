"""The coverage table: per product, what its rule reads and how it is proved (samples by kind)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aisweep.rules.loader import load_rules
from aisweep.rules.samples import load_samples


@dataclass(slots=True)
class CoverageRow:
    id: str
    name: str
    category: str
    version: bool
    tiers: list[str] = field(default_factory=list)
    surfaces: list[str] = field(default_factory=list)
    positive: int = 0
    negative: int = 0
    recorded: int = 0
    reconstructed: int = 0


def coverage_rows(rule_dirs: Iterable[Path] | None = None) -> list[CoverageRow]:
    rules = load_rules(rule_dirs)
    rows = {
        r.id: CoverageRow(
            r.id,
            r.name,
            r.category,
            bool(r.version),
            sorted({t.tier.value for t in r.tiers} | ({r.default_tier.value} if r.tiers else set())),
            sorted(r.surfaces),
        )
        for r in rules
    }
    for s in load_samples():
        product = s.expect.get("product")
        if product in rows:
            row = rows[str(product)]
            row.positive += 1
            if s.source.get("kind") == "recorded":
                row.recorded += 1
            else:
                row.reconstructed += 1
        not_product = s.expect.get("not_product")
        if not_product in rows:
            rows[str(not_product)].negative += 1
    return sorted(rows.values(), key=lambda r: (r.category, r.id))


def render_markdown(rows: list[CoverageRow]) -> str:
    lines = [
        "| product | category | version | auth tiers | surfaces | samples (recorded / reconstructed) | look-alikes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} (`{r.id}`) | {r.category} | {'yes' if r.version else 'hidden'} | {', '.join(r.tiers) or '-'} "
            f"| {', '.join(r.surfaces) or '-'} | {r.positive} ({r.recorded} / {r.reconstructed}) | {r.negative} |"
        )
    with_version = sum(1 for r in rows if r.version)
    lines.append("")
    lines.append(f"{len(rows)} products; version read for {with_version}.")
    return "\n".join(lines)
