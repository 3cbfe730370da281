"""Real AI services installed from PyPI, started on 127.0.0.1 by the test, scanned by aisweep.

The default set runs in CI (Jupyter Server with and without a token, MLflow, Gradio with and without auth=).
AISWEEP_REALSVC=all runs every spec in tests/realsvc/services.py (older releases too). Each service is installed
into its own virtual environment under .cache/realsvc/ on first use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisweep.cli import app
from tests.realsvc.services import SPECS, running

DEFAULT = ("jupyter-server-open", "jupyter-server-token", "mlflow-current", "gradio-current", "gradio-current-auth")
SELECTED = tuple(SPECS) if os.environ.get("AISWEEP_REALSVC") == "all" else DEFAULT

pytestmark = [pytest.mark.realsvc, pytest.mark.slow]


@pytest.mark.parametrize("name", SELECTED)
def test_real_service_identified(name: str, tmp_path: Path) -> None:
    spec = SPECS[name]
    with running(name) as svc:
        out = tmp_path / "out.jsonl"
        result = CliRunner().invoke(
            app,
            [
                "scan",
                f"127.0.0.1:{svc.port}",
                "--db",
                str(tmp_path / "r.db"),
                "-f",
                "jsonl",
                "-o",
                str(out),
                "-q",
                "--timeout",
                "10",
            ],
        )
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1, records
    (record,) = records
    assert record["product"] == spec.product
    assert record["auth"]["tier"] == spec.expect_auth
    if spec.expect_auth != "auth-required" or spec.product != "gradio":  # Gradio hides its version behind login
        assert record["version"] == spec.expect_version
        assert record["version_confidence"] == "exact"
    if spec.expect_auth != "auth-required":
        assert any(f["id"].startswith("auth.") and f["severity"] in ("high", "critical") for f in record["findings"])
    else:
        assert not any(f["severity"] in ("high", "critical") for f in record["findings"])
