"""Real AI services installed from PyPI, started on 127.0.0.1 by the test, scanned by aisweep.

The default set runs in CI (Jupyter Server with and without a token, MLflow, Gradio with and without auth=).
AISWEEP_REALSVC=all runs every spec in tests/realsvc/services.py (older releases and more products too); a spec that
binds ports on all interfaces (`needs_netns`) is skipped unless the test runs in a network namespace holding only
loopback. Each package set is installed into its own virtual environment under .cache/realsvc/ on first use. The full
matrix, on the products' default ports inside namespaces, is `python tests/realsvc/matrix.py` (docs/coverage.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import scan_one_port
from tests.realsvc.services import SPECS, check_record, find_python, loopback_only_netns, running

DEFAULT = ("jupyter-server-open", "jupyter-server-token", "mlflow-current", "gradio-current", "gradio-current-auth")
SELECTED = tuple(SPECS) if os.environ.get("AISWEEP_REALSVC") == "all" else DEFAULT

pytestmark = [pytest.mark.realsvc, pytest.mark.slow]


@pytest.mark.parametrize("name", SELECTED)
def test_real_service_identified(name: str, tmp_path: Path) -> None:
    spec = SPECS[name]
    if spec.needs_netns and not loopback_only_netns():
        pytest.skip("binds ports on all interfaces: runs only in a loopback-only network namespace (matrix.py)")
    if spec.unavailable or find_python(spec.python) is None:
        pytest.skip(spec.unavailable or f"needs Python {spec.python}")
    with running(name) as svc:
        record = scan_one_port(svc.port, tmp_path)
    # Product, version (none where the product hides it in this state) and auth tier. Not the variant: it can rest on
    # assess-stage probes, which a scan of a port no rule lists may not reach (matrix.py checks it on default ports).
    assert [p for p in check_record(spec, record) if not p.startswith("variant")] == []
    if spec.expect_auth != "auth-required":
        # Open sign-up is a medium auth finding; every other open tier is high or critical.
        severe = ("medium", "high", "critical") if spec.expect_auth == "open-signup" else ("high", "critical")
        assert any(f["id"].startswith("auth.") and f["severity"] in severe for f in record["findings"])
    if spec.expect_auth == "auth-required":
        assert not any(f["severity"] in ("high", "critical") for f in record["findings"])
