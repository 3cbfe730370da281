"""`aisweep diff`: services new, gone and changed by host:port+product; findings new and fixed by fingerprint."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

from aisweep.report.cli import diff_command, report_command
from aisweep.report.diff import diff_runs, render_diff_markdown
from aisweep.store.db import Store

from .conftest import DemoRun
from .test_stats import finding, rec

runner = CliRunner()


def app() -> typer.Typer:
    """The two commands as the lead registers them in aisweep.cli."""
    a = typer.Typer()
    a.command("report")(report_command)
    a.command("diff")(diff_command)
    return a


def test_diff_of_records() -> None:
    a = [
        rec("ollama", "10.0.0.1", 11434, version="0.1.32", findings=[finding("auth.none", n=1)]),
        rec("gradio", "10.0.0.2", 7860, findings=[finding("auth.none", n=2)]),
        rec("mlflow", "10.0.0.3", 5000, version="2.9.2"),
    ]
    b = [
        rec("ollama", "10.0.0.1", 11434, "auth-required", version="0.5.7"),  # upgraded and locked: changed
        rec("mlflow", "10.0.0.3", 5000, version="2.9.2"),  # unchanged
        rec("vllm", "10.0.0.4", 8000, findings=[finding("auth.none", n=4)]),  # new
        rec("jupyter", "10.0.0.2", 7860),  # same port, other product: gradio gone, jupyter new
    ]
    d = diff_runs("A", a, "B", b)
    assert sorted(r["product"] for r in d.new_services) == ["jupyter", "vllm"]
    assert [r["product"] for r in d.fixed_services] == ["gradio"]
    assert len(d.changed_services) == 1 and d.unchanged_services == 1
    changes = {w: (x, y) for w, x, y in d.changed_services[0].changes}
    assert changes == {"version": ("0.1.32", "0.5.7"), "auth tier": ("open-read", "auth-required")}
    assert [f["fingerprint"] for f in d.new_findings] == ["fp-auth.none-4"]
    assert sorted(f["fingerprint"] for f in d.fixed_findings) == ["fp-auth.none-1", "fp-auth.none-2"]
    md = render_diff_markdown(d)
    assert "## New services" in md and "0.1.32 → 0.5.7" in md
    assert diff_runs("A", a, "A", a).empty


def test_diff_command_between_two_stored_runs(demo_run: DemoRun, tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    shutil.copy(demo_run.db, db)
    store = Store(str(db))
    records = list(store.service_records(demo_run.run_id))
    second = store.start_run("scan", ["127.77.0.0/24"], {"ports": [], "level": "safe"})
    gone = records[0]
    changed = copy.deepcopy(records[1])
    changed["version"] = "999.0"
    fixed_findings = {f["fingerprint"] for f in gone["findings"]}
    for r in [changed, *records[2:]]:
        store.add_service(second, r)
    store.finish_run(second, {"targets_total": 1, "targets_done": 1, "outcomes": {}})
    store.close()

    result = runner.invoke(app(), ["diff", demo_run.run_id, second, "--db", str(db), "-f", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert [s["service"] for s in d["services"]["fixed"]] == [f"{gone['target']['host']}:{gone['target']['port']}"]
    assert d["services"]["new"] == []
    assert [c["changes"] for c in d["services"]["changed"]] == [
        [{"field": "version", "before": records[1]["version"], "after": "999.0"}]
    ]
    assert {f["fingerprint"] for f in d["findings"]["fixed"]} == fixed_findings
    assert d["findings"]["new"] == []
    text = runner.invoke(app(), ["diff", "latest~1", "latest", "--db", str(db)])
    flat = " ".join(text.output.split())
    assert text.exit_code == 0 and "1 gone, 1 changed" in flat, flat
    # --fail-on-new: the reverse direction has new findings
    assert runner.invoke(app(), ["diff", second, demo_run.run_id, "--db", str(db), "--fail-on-new"]).exit_code == 1
    bad = runner.invoke(app(), ["diff", "nope", second, "--db", str(db)])
    assert bad.exit_code == 2 and "no run 'nope'" in bad.output and "Traceback" not in bad.output
