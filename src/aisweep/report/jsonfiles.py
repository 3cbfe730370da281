"""JSON (one document: run, survey, limitations, services) and JSONL (one service record per line) outputs; their
schemas come from `aisweep.report.schema`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aisweep import __version__
from aisweep.report.build import Report
from aisweep.report.schema import REPORT_FORMAT
from aisweep.report.stats import to_jsonable


def report_document(report: Report) -> dict[str, Any]:
    run = {k: v for k, v in report.run.items() if v is not None or k == "finished_at"}
    return {
        "format": REPORT_FORMAT,
        "generator": {"name": "aisweep", "version": __version__},
        "generated_at": report.generated_at,
        "anonymized": report.anonymized,
        "geoip": report.geoip,
        "advisory_data": report.advisory_status,
        "run": run,
        "survey": to_jsonable(report.survey),
        "limitations": list(report.limitations),
        "services": report.records,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2, ensure_ascii=False) + "\n"


def jsonl_lines(report: Report) -> Iterator[str]:
    for record in report.records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def render_jsonl(report: Report) -> str:
    return "".join(jsonl_lines(report))
